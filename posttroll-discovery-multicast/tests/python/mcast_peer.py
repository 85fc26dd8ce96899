"""The Python side of tests/multicast.rs: posttroll.bbmcast on loopback.

The group, port, interface and TTL come from the environment the Rust test
sets (POSTTROLL_MC_GROUP, POSTTROLL_BROADCAST_PORT,
POSTTROLL_MULTICAST_INTERFACE=127.0.0.1, PYTROLL_MC_TTL=0), so the
reference reads them through its own configuration.

Usage:
    mcast_peer.py check
    mcast_peer.py send HEX COUNT   # send the bytes HEX (UTF-8 text) COUNT times
    mcast_peer.py recv TIMEOUT     # print READY, then one JSON line
"""

import json
import sys
import time

from posttroll.bbmcast import (
    TTL_LOCALNET,
    MulticastReceiver,
    MulticastSender,
    get_configured_broadcast_port,
)


def main():
    # Refuse to run with a TTL above 0: nothing may leave the host.
    if TTL_LOCALNET != 0:
        sys.exit(f"PYTROLL_MC_TTL must be 0, not {TTL_LOCALNET}")
    mode = sys.argv[1]
    if mode == "check":
        return
    port = int(get_configured_broadcast_port())
    if mode == "send":
        text = bytes.fromhex(sys.argv[2]).decode()
        sender = MulticastSender(port)
        try:
            for _ in range(int(sys.argv[3])):
                sender(text)
                time.sleep(0.05)
        finally:
            sender.close()
    elif mode == "recv":
        receiver = MulticastReceiver(port).settimeout(float(sys.argv[2]))
        try:
            print("READY", receiver.group, flush=True)
            data, sender = receiver()
        finally:
            receiver.close()
        print(json.dumps({"hex": data.encode().hex(), "ip": sender[0]}), flush=True)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

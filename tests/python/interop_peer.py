"""The Python side of tests/interop_python.rs: the reference (posttroll 1.16.0)
as a separate process talking to the Rust implementation over loopback.

The ports, the multicast group and the interface come from the POSTTROLL_*
variables the Rust test sets (the reference reads them through its donfig
configuration); PYTROLL_MC_TTL=0 keeps multicast on the host. Every mode
prints a line starting with READY once it is set up, and bounds every wait
with a deadline (DEADLINE seconds at most), so a failing test never hangs.

Usage (the script is run with `python -c <source> MODE ARGS...`):

    publish NAME NAMESERVERS INTERVAL
        A NoisyPublisher NAME (alias NAME-alias) announcing every INTERVAL
        seconds to NAMESERVERS (comma-separated hosts; "multicast" for
        none, i.e. multicast announcements). Prints `READY <port>` and
        `SENT <hex>` (the encoded sample message), then sends that frame
        every 50 ms until stdin says `stop` (or closes), then stops the
        publisher and prints `STOPPED`.
    lookup NAME NAMESERVER
        Prints `READY`, then asks get_pub_address(NAME, nameserver=NAMESERVER)
        until it answers with some address; prints `FOUND <json>`.
    subscribe SERVICE NAMESERVER TOPIC
        Subscribe(services=[SERVICE], topics=[TOPIC], nameserver=NAMESERVER);
        prints `READY <uris json>`, then, for the first message received,
        `MSG <hex of msg.encode()>`, and for the first frame of a raw pyzmq
        SUB socket connected to the same addresses, `RAW <hex>`.
    listen SERVICE NAMESERVER
        Subscribe(services=[SERVICE], addr_listener=True, timeout=0.3,
        nameserver=NAMESERVER); prints `READY`, then `ADD <uri> <uris json>`
        and `REMOVE <uri> <uris json>` each time the address listener has
        handled an address event for SERVICE (the subscriber's addresses
        after it), until stdin closes or the deadline.
    nameserver ARGS...
        The reference's `nameserver` console script (posttroll.ns:main) with
        ARGS as its command line.
    nameserver-max-age SECONDS
        The reference's NameServer(max_age=SECONDS, multicast_enabled=False)
        (the console script has no max-age option).
"""

import datetime as dt
import json
import sys
import threading
import time

import posttroll.publisher
import zmq
from posttroll.message import Message

# Every announced URI on loopback (PROTOCOL.md section 8).
posttroll.publisher.get_own_ip = lambda: "127.0.0.1"

DEADLINE = 30


def out(*parts):
    print(*parts, flush=True)


def sample_message():
    """A message with a non-ASCII subject, datetimes and floats."""
    data = {
        "start_time": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
        "end_time": dt.datetime(2024, 5, 6, 7, 9, 0, tzinfo=dt.timezone.utc),
        "station": "Norrköping/Kiruna ÅÄÖ €",
        "sun_zenith": 97.3,
        "tiny": 1.5e-07,
        "third": 1 / 3,
        "count": 42,
        "flags": [True, None, 2.0, "ñ"],
    }
    msg = Message("/interop/smörgåsbord/ñ", "file", data)
    msg.sender = "interop@localhost"
    msg.time = dt.datetime(2024, 5, 6, 7, 8, 9, 987654, tzinfo=dt.timezone.utc)
    return msg


def stdin_watcher():
    """An event set when stdin says `stop` or closes."""
    stop = threading.Event()

    def watch():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop


def publish(name, nameservers, interval):
    from posttroll.publisher import NoisyPublisher

    nameservers = None if nameservers == "multicast" else nameservers.split(",")
    pub = NoisyPublisher(name, aliases=[name + "-alias"], broadcast_interval=float(interval),
                         nameservers=nameservers)
    pub.start()
    try:
        out("READY", pub.port_number)
        frame = sample_message().encode()
        out("SENT", frame.encode("utf-8").hex())
        stop = stdin_watcher()
        deadline = time.monotonic() + DEADLINE
        while not stop.is_set() and time.monotonic() < deadline:
            pub.send(frame)
            stop.wait(0.05)
    finally:
        pub.stop()
    out("STOPPED")


def lookup(name, nameserver):
    from posttroll.ns import get_pub_address

    out("READY")
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = get_pub_address(name, timeout=2, nameserver=nameserver)
        if found:
            out("FOUND", json.dumps(found, default=dt.datetime.isoformat))
            return
        time.sleep(0.05)
    sys.exit(f"no address for {name} after {DEADLINE} s")


def subscribe(service, nameserver, topic):
    from posttroll.subscriber import Subscribe, Subscriber

    with Subscribe(services=[service], topics=[topic], nameserver=nameserver, timeout=5) as sub:
        uris = [addr["URI"] for addr in sub.addresses]
        ctx = zmq.Context()
        raw = ctx.socket(zmq.SUB)
        raw.setsockopt(zmq.LINGER, 0)
        raw.setsockopt(zmq.RCVTIMEO, 50)
        raw.setsockopt_string(zmq.SUBSCRIBE, Subscriber._magickfy_topics([topic])[0])
        for uri in uris:
            raw.connect(uri)
        out("READY", json.dumps(uris))
        got_msg = got_raw = False
        deadline = time.monotonic() + DEADLINE
        for msg in sub.recv(timeout=0.05):
            if msg is not None and not got_msg:
                out("MSG", msg.encode().encode("utf-8").hex())
                got_msg = True
            if not got_raw:
                try:
                    out("RAW", raw.recv().hex())
                    got_raw = True
                except zmq.Again:
                    pass
            if (got_msg and got_raw) or time.monotonic() > deadline:
                break
        raw.close()
        ctx.term()


def listen(service, nameserver):
    from posttroll import subscriber
    from posttroll.subscriber import Subscribe

    original = subscriber._AddressListener.handle_msg

    def handle_msg(self, msg):
        result = original(self, msg)
        if service in (msg.data.get("service") or []):
            now = sorted(addr["URI"] for addr in self.subscriber.addresses)
            out("ADD" if msg.data.get("status", True) else "REMOVE", msg.data["URI"],
                json.dumps(now))
        return result

    subscriber._AddressListener.handle_msg = handle_msg
    stop = stdin_watcher()
    with Subscribe(services=[service], addr_listener=True, nameserver=nameserver,
                   timeout=0.3) as sub:
        out("READY")
        deadline = time.monotonic() + DEADLINE
        for _ in sub.recv(timeout=0.05):
            if stop.is_set() or time.monotonic() > deadline:
                break


def nameserver(args):
    from posttroll.ns import main

    sys.argv = ["nameserver"] + args
    out("READY")
    main()


def nameserver_max_age(seconds):
    from posttroll.ns import NameServer

    ns = NameServer(max_age=dt.timedelta(seconds=float(seconds)), multicast_enabled=False)
    out("READY")
    ns.run()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "publish":
        publish(*args)
    elif mode == "lookup":
        lookup(*args)
    elif mode == "subscribe":
        subscribe(*args)
    elif mode == "listen":
        listen(*args)
    elif mode == "nameserver":
        nameserver(args)
    elif mode == "nameserver-max-age":
        nameserver_max_age(*args)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

"""The Python side of tests/interop.rs: the reference (posttroll 1.16.0) with
backend secure_zmq, as a separate process talking CURVE to the Rust
implementation over loopback.

The backend, ports and key files come from the POSTTROLL_* variables the
Rust test sets. Every mode prints a line starting with READY once set up,
and bounds every wait (DEADLINE seconds), so a failing test never hangs.

Usage (`python -c <source> MODE ARGS...`):

    create DIR NAME      zmq.auth.create_certificates(DIR, NAME); prints
                         `READY <public file> <secret file>`.
    load FILE            zmq.auth.load_certificate(FILE); prints
                         `KEYS <public> <secret or -> <public matches secret>`.
    publish              A Publisher on tcp://127.0.0.1:0; prints
                         `READY <port>`, then sends MESSAGE every 50 ms until
                         stdin says `stop` or closes; prints `STOPPED`.
    noisy NAME           As publish, from a NoisyPublisher NAME announcing
                         itself by multicast every 0.2 s.
    subscribe URI TOPIC  A Subscriber on URI (a bare URI: the configured
                         backend decides the security); prints `READY`, then
                         `MSG <encoded>` for the first message.
    lookup NAME NS       get_pub_address(NAME, nameserver=NS) until it
                         answers; prints `READY` then `FOUND <json>`.
    nameserver ARGS...   The reference's `nameserver` console script.
"""

import datetime as dt
import json
import sys
import threading
import time

import posttroll.publisher

posttroll.publisher.get_own_ip = lambda: "127.0.0.1"

DEADLINE = 30
MESSAGE = "pytroll://secure/py info py@localhost 2024-05-06T07:08:09 v1.01 text/ascii from python"


def out(*parts):
    print(*parts, flush=True)


def stdin_watcher():
    stop = threading.Event()

    def watch():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop


def create(directory, name):
    import zmq.auth

    public, secret = zmq.auth.create_certificates(directory, name)
    out("READY", public, secret)


def load(path):
    import zmq
    import zmq.auth

    public, secret = zmq.auth.load_certificate(path)
    matches = secret is not None and zmq.curve_public(secret) == public
    out("KEYS", public.decode(), secret.decode() if secret else "-", matches)


def publish(name=None):
    from posttroll.publisher import NoisyPublisher, Publisher

    if name is None:
        pub = Publisher("tcp://127.0.0.1:0", name="py_secure")
    else:
        pub = NoisyPublisher(name, broadcast_interval=0.2)
    pub.start()
    try:
        out("READY", pub.port_number)
        stop = stdin_watcher()
        deadline = time.monotonic() + DEADLINE
        while not stop.is_set() and time.monotonic() < deadline:
            pub.send(MESSAGE)
            stop.wait(0.05)
    finally:
        pub.stop()
    out("STOPPED")


def subscribe(uri, topic):
    from posttroll.subscriber import Subscriber

    sub = Subscriber([uri], topics=[topic])
    try:
        out("READY")
        deadline = time.monotonic() + DEADLINE
        for msg in sub.recv(timeout=0.05):
            if msg is not None:
                out("MSG", msg.encode())
                return
            if time.monotonic() > deadline:
                sys.exit(f"nothing from {uri} after {DEADLINE} s")
    finally:
        sub.stop()


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


def nameserver(*args):
    from posttroll import ns

    sys.argv = ["nameserver", *args]
    out("READY")
    ns.main()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {
        "create": create,
        "load": load,
        "publish": publish,
        "noisy": publish,
        "subscribe": subscribe,
        "lookup": lookup,
        "nameserver": nameserver,
    }[mode](*args)

"""Live cross-check of the Rust codec against the Python reference posttroll.

Driven by ``tests/python_crosscheck.rs``; two modes:

``python crosscheck.py roundtrip``
    Reads hex-encoded frames, one per line, from stdin. For each line prints
    one line: the hex of the UTF-8 bytes of
    ``Message.decode(frame).encode()``, or ``ERR <exception>``.

``python crosscheck.py generate COUNT SEED``
    Builds COUNT varied messages with ``Message(...)`` (seeded, so the batch
    is reproducible), each with a fixed sender and time, and prints one JSON
    object per line: ``{"hex": hex of the UTF-8 encoding, "subject", "type",
    "sender", "time": isoformat as decoded, "version": as decoded, "kind":
    "none" | "text" | "binary" | "json", "text": the str data or null,
    "keys": top-level keys of dict data or null, "datetimes": {key:
    isoformat} for top-level datetime values of dict data}``. The expected
    fields come from Python decoding its own encoding.

``python crosscheck.py check``
    Exits 0 when ``posttroll.message`` imports (and prints its version).
"""

import datetime as dt
import json
import math
import random
import struct
import sys
import warnings

warnings.simplefilter("ignore")

from posttroll import config  # noqa: E402
from posttroll.message import Message  # noqa: E402

UTC = dt.timezone.utc

# Characters for random strings: ASCII, escapes, controls, Latin-1, BMP,
# astral (surrogate pairs in JSON), no lone surrogates.
CHARS = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" _-./:@#%&*+=!?,;'\"\\{}[]()<>|~^`$")
    + ["\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\x85", "\xa0", "\xad"]
    + list("åäöÅÄÖéèüßøæñç€£¥§°µ")
    + ["字", "中", "日本", "\u2028", "\u200b", "\ufeff", "\uffff", "😀", "𝄞", "\U0010ffff"]
)
TOKEN_CHARS = [c for c in CHARS if c.strip() == c and c and not c.isspace()]


def rand_str(rng, lo=0, hi=12, chars=CHARS):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def is_datetime(s):
    try:
        dt.datetime.fromisoformat(s)
        return True
    except ValueError:
        return False


def plain_str(rng, lo=0, hi=12):
    """A random string that does not parse as a datetime."""
    while True:
        s = rand_str(rng, lo, hi)
        if not is_datetime(s):
            return s


def token(rng, lo=1, hi=10):
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randint(lo, hi)))


def rand_offset(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return dt.timedelta(0)
    if kind == 1:
        return dt.timedelta(hours=rng.randint(-23, 23))
    if kind == 2:
        return dt.timedelta(hours=rng.randint(-23, 23), minutes=rng.choice([15, 30, 45]))
    if kind == 3:
        return dt.timedelta(seconds=rng.randint(-86399, 86399))
    if kind == 4:
        # At least one whole second: Python reads "+00:00:00.5" back as UTC.
        secs = rng.randint(1, 86398) * rng.choice([-1, 1])
        return dt.timedelta(seconds=secs, microseconds=rng.randint(1, 999999) * (1 if secs > 0 else -1))
    return dt.timedelta(hours=5, minutes=45)


def rand_time(rng, aware=None):
    t = dt.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                    rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                    rng.choice([0, rng.randint(0, 999999)]))
    if aware is None:
        aware = rng.random() < 0.6
    if aware:
        t = t.replace(tzinfo=dt.timezone(rand_offset(rng)))
    return t


def rand_float(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0, 1e16, 1e17, 1e-4, 1e-5,
                           1e20, 1.2345, 2.0, 0.1, 5e-324, sys.float_info.max])
    if kind == 1:
        while True:
            f = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(f):
                return f
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind == 3:
        return float(rng.randint(-10**6, 10**6))
    return rng.random() * 10 ** rng.randint(-30, 30)


def rand_int(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randint(-3, 3)
    if kind == 1:
        return rng.randint(-2**63, 2**63 - 1)
    if kind == 2:
        return rng.randint(2**63, 2**64 - 1) * rng.choice([-1, 1])
    return rng.getrandbits(rng.randint(65, 300)) * rng.choice([-1, 1])


def rand_leaf(rng, in_dict):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rand_int(rng)
    if kind == 2:
        return rand_float(rng)
    if kind in (3, 4):
        return plain_str(rng)
    if kind == 5 and in_dict:
        return rand_time(rng)
    if kind == 5:
        return plain_str(rng)
    if kind == 6 and in_dict:
        # A canonical naive ISO string: read back as a datetime, written
        # back identically in any version.
        return rand_time(rng, aware=False).isoformat()
    return rand_int(rng)


def rand_value(rng, depth, in_dict):
    if depth >= 4 or rng.random() < 0.35:
        return rand_leaf(rng, in_dict)
    if rng.random() < 0.5:
        return [rand_value(rng, depth + 1, in_dict) for _ in range(rng.randint(0, 5))]
    return {plain_str(rng, 0, 8): rand_value(rng, depth + 1, True) for _ in range(rng.randint(0, 5))}


def rand_dict(rng):
    return {plain_str(rng, 1, 8): rand_value(rng, 1, True) for _ in range(rng.randint(1, 6))}


def metadata(rng):
    start = rand_time(rng)
    return {
        "platform_name": rng.choice(["NOAA-20", "Metop-B", "Suomi-NPP", "Sentinel-3A"]),
        "sensor": rng.choice(["viirs", ["avhrr-3", "mhs"], "olci"]),
        "start_time": start,
        "end_time": start + dt.timedelta(minutes=rng.randint(1, 100)),
        "orbit_number": rng.randint(1, 99999),
        "uri": "/data/" + token(rng) + "/file.h5",
        "uid": "file_" + token(rng) + ".h5",
        "format": "HDF5",
        "data_processing_level": rng.choice(["1B", "2", "0"]),
        "station": rng.choice(["norrköping", "kiruna", "tromsø"]),
    }


def text_data(rng):
    s = rand_str(rng, 1, 40)
    return s if not s[0].isspace() else "x" + s


def build(rng, i):
    kind = i % 10
    subject = rng.choice(["/", ""]) + token(rng)
    atype = token(rng)
    binary = False
    version = None
    if kind == 0:
        data = metadata(rng)
        atype = rng.choice(["file", "dataset", "collection"])
    elif kind == 1:
        data = text_data(rng)
    elif kind == 2:
        binary = True
        data = text_data(rng)
    elif kind == 3:
        subject = "/" + "/".join(rand_str(rng, 1, 6, TOKEN_CHARS) for _ in range(rng.randint(1, 4)))
        data = rand_dict(rng)
    elif kind == 4:
        data = {"t": rand_time(rng), "nested": {"list": [rand_time(rng), {"u": rand_time(rng)}]},
                "naive_str": rand_time(rng, aware=False).isoformat()}
        if rng.random() < 0.3:
            # Outside every dict, datetime-like strings stay strings.
            data = [data, "20201201", "2020-12-01", "2020-12-01T00:00:00+01:00"]
    elif kind == 5:
        data = {"floats": [rand_float(rng) for _ in range(rng.randint(1, 8))], "f": rand_float(rng)}
    elif kind == 6:
        data = {"ints": [rand_int(rng) for _ in range(rng.randint(1, 8))], "big": rand_int(rng)}
    elif kind == 7:
        version = rng.choice(["v1.01", "v1.1", "v1.2"])
        data = metadata(rng) if rng.random() < 0.5 else rand_dict(rng)
    elif kind == 8:
        data = rng.choice(["", {}, [], 0, None, False, 0.0])
    else:
        data = rand_value(rng, 0, False)
        if isinstance(data, str) and (not data or data[0].isspace()):
            data = "x" + data
    msg = Message(subject, atype, data=data, binary=binary, version=version)
    msg.sender = rng.choice([token(rng) + "@" + token(rng), "user@host", token(rng)])
    msg.time = rand_time(rng)
    return msg


def describe(encoded):
    m = Message.decode(encoded.encode("utf-8"))
    data = m.data
    if m.binary:
        kind = "binary"
    elif isinstance(data, str):
        kind = "text" if data else "none"
    else:
        kind = "json"
    return {
        "hex": encoded.encode("utf-8").hex(),
        "subject": m.subject,
        "type": m.type,
        "sender": m.sender,
        "time": m.time.isoformat(),
        "version": m.version,
        "kind": kind,
        "text": data if isinstance(data, str) else None,
        "keys": list(data) if isinstance(data, dict) else None,
        "datetimes": {k: v.isoformat() for k, v in data.items() if isinstance(v, dt.datetime)}
        if isinstance(data, dict) else {},
    }


def generate(count, seed):
    rng = random.Random(seed)
    out = sys.stdout
    for i in range(count):
        msg = build(rng, i)
        out.write(json.dumps(describe(msg.encode())) + "\n")


def roundtrip():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            encoded = Message.decode(bytes.fromhex(line)).encode().encode("utf-8").hex()
        except Exception as e:  # noqa: BLE001 - report every failure
            encoded = "ERR " + repr(e).replace("\n", "\\n")
        sys.stdout.write(encoded + "\n")


def main():
    if config.get("message_version", None) is not None:
        sys.exit("message_version is configured; unset POSTTROLL_MESSAGE_VERSION")
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "check":
        from importlib.metadata import version
        print(version("posttroll"))
    elif mode == "roundtrip":
        roundtrip()
    elif mode == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} check | roundtrip | generate COUNT SEED")


if __name__ == "__main__":
    main()

"""Generate golden test vectors from the Python reference posttroll (1.16.0).

Run from the repository root with the reference venv (scripts/setup-python.sh)::

    .venv/bin/python posttroll-core/tests/golden/generate.py

It writes, next to this script:

``vectors.jsonl``
    One JSON object per line, either a *decode* case or an *encode* case.

    Decode case::

        {"name": str, "kind": "decode", "input_hex": hex of the frame bytes,
         "input_is_utf8": bool, "python": R}

    The script calls ``Message.decode(frame_bytes)`` then ``.encode()`` on the
    result.  ``R`` is either::

        {"ok": true, "encoded_hex": hex of the UTF-8 bytes of the re-encoded str,
         "subject": str, "type": str, "sender": str,
         "time": msg.time.isoformat(), "version": str, "binary": bool,
         "data": TAGGED(msg.data)}

    or ``{"ok": false, "error_class": str, "error": str, "stage": "decode"|"encode"}``.
    (An encoded str that cannot be UTF-8 encoded is recorded as
    ``UnicodeEncodeError`` at stage ``encode``.)

    Encode case::

        {"name": str, "kind": "encode", "message": M,
         "config_message_version": null | str, "python": R2}

    where ``M = {"subject", "type", "sender", "time": isoformat, "version": null|str,
    "binary": bool, "data": TAGGED(data)}``.  The script builds
    ``Message(subject, type, data=data, binary=binary, version=version)``,
    overrides ``.sender`` and ``.time`` with the fixed values of ``M`` and calls
    ``.encode()``.  When ``config_message_version`` is not null both steps run
    inside ``posttroll.config.set(message_version=...)``.  ``R2`` is
    ``{"ok": true, "encoded_hex": ...}`` or
    ``{"ok": false, "error_class": ..., "error": ...}`` (the error can come from
    the constructor's validation or from ``encode``).

    TAGGED(x): dict -> object (same key order); list/tuple -> array; str -> string;
    bool -> true/false; None -> null; int -> number if -2**63 <= x < 2**64 else
    {"$bigint": "<decimal>"}; float -> {"$float": repr(x)} always;
    datetime -> {"$datetime": x.isoformat()}; bytes -> {"$bytes": "<hex>"}.

    A case whose recorded values contain a lone surrogate (only possible through
    JSON ``\\udXXX`` escapes in the input) carries ``"lone_surrogate": true``
    (placed right after "kind"); its line contains ``\\ud800``-style escapes that
    strict JSON parsers such as serde_json reject.

``isoformat.jsonl``
    Differential corpus for Python 3.12 ``datetime.datetime.fromisoformat``:
    ``{"input": str, "ok": bool, "iso": fromisoformat(input).isoformat() | null,
    "error": str(exception) | null}``.  Hand-picked inputs first, then seeded
    random mutations of valid strings (deduplicated, no lone surrogates).

Everything is deterministic: fixed senders/times, a seeded RNG, stable order.
"""

import datetime as dt
import json
import os
import random
import sys
import warnings

from posttroll import config
from posttroll.message import Message

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
UTC = dt.timezone.utc
MAGIC = "pytroll:/"

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def tagged(x):
    if isinstance(x, dict):
        return {k: tagged(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [tagged(v) for v in x]
    if isinstance(x, str):
        return x
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        if -2**63 <= x < 2**64:
            return x
        return {"$bigint": str(x)}
    if isinstance(x, float):
        return {"$float": repr(x)}
    if isinstance(x, dt.datetime):
        return {"$datetime": x.isoformat()}
    if isinstance(x, bytes):
        return {"$bytes": x.hex()}
    raise TypeError(f"cannot tag {type(x)}")


def has_lone_surrogate(x):
    stack = [x]
    while stack:
        y = stack.pop()
        if isinstance(y, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in y):
                return True
        elif isinstance(y, dict):
            stack.extend(y.keys())
            stack.extend(y.values())
        elif isinstance(y, (list, tuple)):
            stack.extend(y)
    return False


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def err(e, stage=None):
    r = {"ok": False, "error_class": type(e).__name__, "error": str(e)}
    if stage is not None:
        r["stage"] = stage
    return r


def run_decode(frame):
    try:
        msg = Message.decode(frame)
    except Exception as e:  # noqa: BLE001 - we record every failure
        return err(e, "decode")
    try:
        enc = msg.encode()
    except Exception as e:  # noqa: BLE001
        return err(e, "encode")
    try:
        enc_b = enc.encode("utf-8")
    except UnicodeEncodeError as e:
        return err(e, "encode")
    return {"ok": True, "encoded_hex": enc_b.hex(), "subject": msg.subject, "type": msg.type,
            "sender": msg.sender, "time": msg.time.isoformat(), "version": msg.version,
            "binary": msg.binary, "data": tagged(msg.data)}


def run_encode(subject, atype, sender, time, data, binary, version, cfg):
    def go():
        msg = Message(subject, atype, data=data, binary=binary, version=version)
        msg.sender = sender
        msg.time = time
        return msg.encode()
    try:
        if cfg is not None:
            with config.set(message_version=cfg):
                enc = go()
        else:
            enc = go()
        return {"ok": True, "encoded_hex": enc.encode("utf-8").hex()}
    except Exception as e:  # noqa: BLE001
        return err(e)


CASES = []
NAMES = set()


def add(case, surrogate):
    assert case["name"] not in NAMES, case["name"]
    NAMES.add(case["name"])
    if surrogate:
        case = {"name": case["name"], "kind": case["kind"], "lone_surrogate": True,
                **{k: v for k, v in case.items() if k not in ("name", "kind")}}
    CASES.append(case)


def dec(name, frame):
    if isinstance(frame, str):
        frame = frame.encode("utf-8")
    r = run_decode(frame)
    sur = r.get("ok") and (has_lone_surrogate(r["data"]) or any(
        has_lone_surrogate(r[k]) for k in ("subject", "type", "sender", "version")))
    add({"name": "dec_" + name, "kind": "decode", "input_hex": frame.hex(),
         "input_is_utf8": is_utf8(frame), "python": r}, sur)


T0 = dt.datetime(2026, 11, 25, 21, 12, 20, 275840, tzinfo=UTC)
T0_US0 = dt.datetime(2026, 11, 25, 21, 12, 20, tzinfo=UTC)
SENDER = "user@host"


def enc(name, data="", subject="/test/golden", atype="info", sender=SENDER, time=T0,
        binary=False, version=None, cfg=None):
    r = run_encode(subject, atype, sender, time, data, binary, version, cfg)
    m = {"subject": subject, "type": atype, "sender": sender, "time": time.isoformat(),
         "version": version, "binary": binary, "data": tagged(data)}
    add({"name": "enc_" + name, "kind": "encode", "message": m, "config_message_version": cfg,
         "python": r}, has_lone_surrogate(data))


# --------------------------------------------------------------------------
# decode cases
# --------------------------------------------------------------------------

H = "pytroll://a/b info user@host 2008-04-11T22:13:22 v1.2"   # header, 5 fields
HZ = "pytroll://a/b info user@host 2008-04-11T22:13:22+00:00 v1.2"


def decode_cases():
    for tag, dstr in (("naive", "2008-04-11T22:13:22.123000"),
                      ("aware", "2008-04-11T22:13:22.123000+00:00")):
        norr = ("pytroll://PPS-monitorplot/3/norrköping/utv/polar/direct_readout/ file "
                "safusr.u@lxserv1096.smhi.se " + dstr + ' v1.2 application/json'
                ' {"start_time": "' + dstr + '"}')
        dec(f"ref_norrkoping_utf8_{tag}", norr.encode("utf-8"))
        dec(f"ref_norrkoping_latin1_{tag}", norr.encode("iso-8859-1"))
        dec(f"ref_test_decode_text_{tag}", MAGIC + "/test/1/2/3 info ras@hawaii " + dstr +
            " v1.2" + ' text/ascii "what' + "'" + 's up doc"')
        dec(f"ref_test_unicode_escape_{tag}", "pytroll://oper/polar/direct_readout/norrköping pong "
            "sat@MERLIN " + dstr + r' v1.2 application/json {"station": "norrk\u00f6ping"}')
        iso = ("pytroll://oper/polar/direct_readout/norrköping pong sat@MERLIN " + dstr +
               ' v1.01 application/json {"station": "norrköping"}')
        dec(f"ref_test_iso_latin1_{tag}", iso.encode("iso-8859-1"))
        dec(f"ref_test_iso_utf8_{tag}", iso.encode("utf-8"))
    dec("protocol_example", "pytroll://sat/polar/smb/level1 file user@host 2026-11-25T21:12:20.275840+00:00 "
        'v1.2 application/json {"start_time": "2020-12-01T12:00:00+00:00", "orbit": 1222, '
        '"afloat": 1.2345, "big": 1e+20, "station": "norrk\\u00f6ping", "list": [1, 2.0, null, true]}')
    dec("ref_encode_decode_text", "pytroll://test/whatup/doc info user@host 2010-12-01T12:21:11.123456 "
        "v1.01 text/ascii not much to say")

    # structure / magic word
    dec("subject_no_leading_slash", "pytroll:/a info user@host 2008-04-11T22:13:22 v1.01 text/ascii hi")
    dec("missing_magic", "/a/b info user@host 2008-04-11T22:13:22 v1.2")
    dec("wrong_magic_pytroll_colon", "pytroll:a/b info user@host 2008-04-11T22:13:22 v1.2")
    dec("wrong_magic_uppercase", "PYTROLL://a/b info user@host 2008-04-11T22:13:22 v1.2")
    dec("wrong_magic_leading_space", " pytroll://a/b info user@host 2008-04-11T22:13:22 v1.2")
    dec("wrong_magic_bom", "\ufeffpytroll://a/b info user@host 2008-04-11T22:13:22 v1.2")
    dec("empty_frame", b"")
    dec("only_magic", "pytroll:/")
    dec("only_magic_double_slash", "pytroll://")
    dec("fields_4", "pytroll://a/b info user@host 2008-04-11T22:13:22")
    dec("fields_1", "pytroll://a/b")
    dec("fields_5_no_data", H)
    dec("fields_5_no_data_aware", HZ)
    dec("fields_6_mime_no_data", H + " application/json")
    dec("fields_6_text_no_data", H + " text/ascii")
    dec("trailing_space_after_version", H + " ")
    dec("trailing_newline_after_version", H + "\n")
    dec("trailing_crlf_after_version", H + "\r\n")
    dec("mime_then_single_space_empty_data", H + " text/ascii ")
    dec("mime_then_spaces_empty_data", H + " text/ascii   ")
    dec("json_mime_then_space_empty_data", H + " application/json ")
    dec("leading_space_after_magic_shifted", "pytroll:/ /a info user@host 2008-04-11T22:13:22 v1.2")
    dec("leading_space_after_magic_empty_subject", "pytroll:/ info user@host 2008-04-11T22:13:22 v1.2")
    dec("tab_separators", "pytroll://a/b\tinfo\tuser@host\t2008-04-11T22:13:22\tv1.2\ttext/ascii\thello")
    dec("newline_separators", "pytroll://a/b\ninfo\nuser@host\n2008-04-11T22:13:22\nv1.2\ntext/ascii\nhello")
    dec("multi_space_separators", "pytroll://a/b   info  user@host \t\r\n 2008-04-11T22:13:22     v1.2"
        "  text/ascii     hello  world ")
    dec("vt_ff_separators", "pytroll://a/b\x0binfo\x0cuser@host 2008-04-11T22:13:22 v1.2")
    for cp, nm in ((0xA0, "nbsp"), (0x2003, "em_space"), (0x3000, "ideographic_space"),
                   (0x85, "nel"), (0x1C, "x1c"), (0x1D, "x1d"), (0x1E, "x1e"), (0x1F, "x1f"),
                   (0x2028, "line_sep"), (0x2029, "para_sep"), (0x1680, "ogham_space"),
                   (0x202F, "narrow_nbsp"), (0x200B, "zero_width_space_not_ws"),
                   (0xFEFF, "bom_not_ws"), (0x180E, "mongolian_vowel_sep")):
        c = chr(cp)
        dec(f"unicode_ws_sep_{nm}", f"pytroll://a/b{c}info user@host 2008-04-11T22:13:22 v1.2"
            f"{c}text/ascii{c}hello{c}world{c}")
    dec("nbsp_latin1_frame", b"pytroll://a/b\xa0info user@host 2008-04-11T22:13:22 v1.2 text/ascii \xff")
    dec("data_inner_and_trailing_ws_text", H + " text/ascii  hello   world\t\n \n")
    dec("data_trailing_ws_json", H + ' application/json {"a":   1,\n "b" : [1 ,2]}  \n\t')
    dec("data_leading_ws_json", H + ' application/json \n\t {"a": 1}')
    dec("data_trailing_ws_binary", H + " binary/octet-stream  abc def \n")

    # versions
    for v in ("v1.01", "v1.1", "v1.2", "v1.3", "v2.0", "1.0", "abc", "v1.19", "v1.2.1", "v1.20",
              "V9", "v", "w1", "v1.2a", "v1.0", "v0", "v1.", "é", "v1.1\u00e9"):
        nm = v.replace(".", "_").replace("\u00e9", "e_acute")
        if nm != nm.lower():
            nm = "upper_" + nm.lower()
        dec(f"version_{nm}", f"pytroll://a/b info user@host 2008-04-11T22:13:22 {v} application/json "
            '{"t": "2020-12-01T12:00:00+02:00"}')
    dec("version_v1_01_aware_header_time", "pytroll://a/b info user@host 2008-04-11T22:13:22+02:00 v1.01")
    dec("version_v1_01_aware_header_time_with_dt_data", "pytroll://a/b info user@host "
        '2008-04-11T22:13:22-05:30 v1.01 application/json {"t": "2020-12-01T12:00:00-05:30"}')

    # times
    for nm, t in (("naive", "2008-04-11T22:13:22"), ("micro", "2008-04-11T22:13:22.123000"),
                  ("micro_full", "2008-04-11T22:13:22.123456"), ("utc", "2008-04-11T22:13:22+00:00"),
                  ("z", "2008-04-11T22:13:22Z"), ("minus_0530", "2008-04-11T22:13:22-05:30"),
                  ("plus_053015", "2008-04-11T22:13:22+05:30:15"),
                  ("plus_offset_micro", "2008-04-11T22:13:22+05:30:15.5"),
                  ("compact", "20081104T221322"), ("date_only", "2008-04-11"),
                  ("date_hour", "2008-04-11T22"), ("date_hour_minute", "2008-04-11T22:13"),
                  ("frac_1", "2008-04-11T22:13:22.1"), ("frac_comma", "2008-04-11T22:13:22,5"),
                  ("frac_7", "2008-04-11T22:13:22.1234567"), ("lower_t", "2008-04-11t22:13:22"),
                  ("week", "2008-W15-5T22:13:22"), ("any_sep", "2008-04-11x22:13:22"),
                  ("nonascii_sep", "2008-04-11ö22:13:22"), ("hour_24", "2008-04-11T24:00:00"),
                  ("leap_second", "2008-04-11T23:59:60"), ("bad_text", "notatime"),
                  ("bad_month", "2008-13-11T22:13:22"), ("feb_29_nonleap", "2007-02-29T00:00:00"),
                  ("feb_29_leap", "2008-02-29T00:00:00"), ("year_1", "0001-01-01T00:00:00"),
                  ("year_0", "0000-01-01T00:00:00"), ("year_9999", "9999-12-31T23:59:59.999999"),
                  ("lower_z", "2008-04-11T22:13:22z"), ("offset_hh", "2008-04-11T22:13:22+05"),
                  ("offset_hhmm", "2008-04-11T22:13:22+0530"), ("offset_24h", "2008-04-11T22:13:22+24:00")):
        dec(f"time_{nm}", f"pytroll://a/b info user@host {t} v1.2")
    dec("time_utc_under_v1_01", "pytroll://a/b info user@host 2008-04-11T22:13:22.5+00:00 v1.01 text/ascii x")

    # mime types
    dec("mime_upper_json", H + ' APPLICATION/JSON {"a": 1}')
    dec("mime_mixed_text", H + " Text/Ascii hello")
    dec("mime_binary", H + " binary/octet-stream hello world")
    dec("mime_binary_upper", H + " BINARY/Octet-Stream hello")
    dec("mime_unknown", H + " text/plain hello")
    dec("mime_unknown_xml", H + " application/xml <a/>")
    dec("mime_unknown_no_data", H + " foo/bar")

    # JSON data with datetimes
    J = H + " application/json "
    dec("json_nested_iso_everywhere", J + json.dumps({
        "a": "2020-12-01T12:00:00", "b": {"c": "2020-12-01T12:00:00+00:00", "d": ["2020-12-01T12:00:00.5",
              {"e": "20201201T120000Z"}, ["2020-12-01"]]}, "f": [[["2021-01-01T00:00"]]], "g": "not a date"}))
    dec("json_top_list_iso_not_converted", J + '["2020-12-01T12:00:00", "2020-12-01", ["2020-12-01"]]')
    dec("json_top_list_dict_converted", J + '["2020-12-01", {"a": "2020-12-01", "b": ["2020-12-01"]}]')
    dec("json_list_in_dict_converted", J + '{"l": ["2020-12-01T12:00:00", "x", 1]}')
    dec("json_top_string_iso_not_converted", J + '"2020-12-01T12:00:00"')
    dec("json_date_forms_in_dict", J + json.dumps({
        "date": "2020-12-01", "compact": "20201201", "week": "2020-W01-1", "week_compact": "2020W011",
        "week_nodays": "2020-W01", "ordinal": "2020-335", "ordinal_compact": "2020335",
        "hour": "2020-12-01T12", "compact_dt": "20201201T1200", "z": "2020-12-01T12:00Z",
        "key_2020-12-01": 1}))
    dec("json_almost_dates_in_dict", J + json.dumps({
        "a": "2020-12-1", "b": "2020-1-01", "c": "12:00", "d": "2020", "e": "20201", "f": "2020-12-01T",
        "g": "2020-12-01 ", "h": " 2020-12-01", "i": "1234567890", "j": "12345678", "k": "99991231",
        "l": "2020-12-01T12:00:00z", "m": "2020-13-01", "n": "2020-02-30", "o": "2020-12-01T24:00",
        "p": "2020-12-01T12:00:00.1234567", "q": "2020-12-01ö12", "r": "", "s": "2020-12-01T12:00:00+0",
        "t": "00010101", "u": "2020-12-01T12:00:00-00:00"}))
    dec("json_id_like_digits_converted", J + '{"orbit_id": "20201201", "uid": "19700101"}')
    dec("json_key_datetime_not_converted", J + '{"2020-12-01": "x"}')

    # floats / numbers
    dec("json_floats_in_dict", J + '{"a": 1.2345, "b": 2.0, "c": 1e+20, "d": 1E400, "e": -0.0, "f": 1e-05, '
        '"g": 0.1, "h": 123456789012345678.0, "i": 1e16, "j": 1e15, "k": 0.0001, "l": 1.0e2, "m": 1E2, '
        '"n": -1e-7, "o": 5e-324, "p": 1.7976931348623157e308, "q": 2.5e-308, "r": 123456789.123456789, '
        '"s": 0.000001, "t": 1e-400, "u": -1E400, "v": 1.5e300, "w": 100000000000000000000.0}')
    dec("json_floats_top_list", J + "[1.2345, 2.0, 1e+20, 1E400, -0.0, 1e-05, 0.1, 123456789012345678.0, "
        "1e16, 1e15, 0.0001]")
    dec("json_nan_inf_literals", J + '{"a": NaN, "b": Infinity, "c": -Infinity, "d": [NaN]}')
    dec("json_nan_top", J + "NaN")
    dec("json_lower_nan_invalid", J + '{"a": nan}')
    dec("json_big_ints", J + '{"a": 18446744073709551616, "b": 18446744073709551615, "c": -9223372036854775808, '
        '"d": -9223372036854775809, "e": 9223372036854775808, "f": 123456789012345678901234567890}')
    dec("json_int_4300_digits", J + '{"a": ' + "9" * 4300 + "}")
    dec("json_int_4301_digits", J + '{"a": ' + "9" * 4301 + "}")
    dec("json_negative_zero_int", J + '{"a": -0, "b": [-0]}')
    dec("json_leading_zero_invalid", J + '{"a": 01}')
    dec("json_duplicate_keys", J + '{"a": 1, "b": 2, "a": 3}')
    dec("json_duplicate_keys_nested", J + '{"x": {"k": "2020-12-01", "k": "y"}, "x": {"z": 1}}')
    dec("json_unicode_escapes", J + r'{"a": "norrk\u00f6ping", "b": "\ud83d\ude00", "c": "\u65e5\u672c", '
        r'"\u00e9": "key escape", "d": "\u2028\u2029"}')
    dec("json_raw_nonascii", J + '{"a": "norrköping", "b": "😀", "日本": "語", "c": "\u2028"}')
    dec("json_lone_high_surrogate", J + r'{"a": "\ud800"}')
    dec("json_lone_low_surrogate_key", J + r'{"\udc00": 1}')
    dec("json_reversed_surrogates", J + r'["\ude00\ud83d"]')
    dec("json_control_escapes", J + r'{"a": "\n\t\r\b\f\u0001\u001f\u007f\"\\\/", "k\u0000": 0}')
    dec("json_raw_tab_in_string_invalid", J + '{"a": "x\ty"}')
    dec("json_raw_del_in_string", J + '{"a": "x\x7fy"}')
    for nm, v in (("empty_obj", "{}"), ("empty_list", "[]"), ("zero", "0"), ("null", "null"),
                  ("false", "false"), ("empty_string", '""'), ("zero_float", "0.0"),
                  ("neg_zero_float", "-0.0"), ("true", "true"), ("one", "1")):
        dec(f"json_falsy_{nm}", J + v)
    dec("json_top_string", J + '"abc"')
    dec("json_top_string_nonascii", J + '"\\u00e9t\u00e9"')
    dec("json_top_int", J + "42")
    dec("json_top_negative", J + "-3")
    dec("json_top_float", J + "1.5")
    dec("json_top_inf", J + "1e400")
    dec("json_top_bigint", J + "18446744073709551616")
    dec("json_compact_reformatted", J + '{"a":1,"b":[1,2,{"c":null}]}')
    dec("json_invalid_brace", J + "{")
    dec("json_invalid_single_quotes", J + "{'a': 1}")
    dec("json_invalid_trailing_comma", J + "[1,]")
    dec("json_trailing_garbage", J + '{"a": 1} x')
    dec("json_two_objects", J + '{"a": 1}{"b": 2}')
    dec("json_deep_100", J + "[" * 100 + "]" * 100)
    dec("json_deep_dict_100", J + '{"a": ' * 100 + "1" + "}" * 100)
    dec("json_deep_300", J + "[" * 300 + "]" * 300)
    dec("json_deep_dict_300", J + '{"a": ' * 300 + "1" + "}" * 300)
    # Beyond ~1000 levels the reference dies with RecursionError (the exact limit
    # depends on the interpreter's recursion limit and stack, so only far-off depths).
    dec("json_deep_3000", J + "[" * 3000 + "]" * 3000)
    dec("json_deep_dict_3000", J + '{"a": ' * 3000 + "1" + "}" * 3000)

    # text / binary
    dec("text_nonascii", H + " text/ascii héllo wörld 😀 日本")
    dec("text_looks_like_json", H + ' text/ascii {"a": 1}')
    dec("text_nul_byte", H + " text/ascii a\x00b")
    dec("binary_utf8_text", H + " binary/octet-stream héllo 😀")
    dec("binary_invalid_utf8", H.encode() + b" binary/octet-stream \xff\xfe\x00\x01\x80abc")
    dec("binary_all_bytes_latin1", H.encode() + b" binary/octet-stream " + bytes(range(256)))
    dec("text_invalid_utf8_latin1", H.encode() + b" text/ascii caf\xe9")
    dec("json_invalid_utf8_latin1", H.encode() + b' application/json {"a": "caf\xe9"}')
    dec("subject_invalid_utf8", b"pytroll://a\xe9b info user@host 2008-04-11T22:13:22 v1.2 text/ascii x")
    dec("subject_cesu_surrogate_bytes", b"pytroll://a\xed\xa0\x80b info user@host 2008-04-11T22:13:22 v1.2")
    dec("subject_overlong_utf8", b"pytroll://a\xc0\xafb info user@host 2008-04-11T22:13:22 v1.2")
    dec("subject_nonascii_utf8", "pytroll://日本/ö info usér@höst 2008-04-11T22:13:22 v1.2")
    dec("sender_no_at", "pytroll://a info userhost 2008-04-11T22:13:22 v1.2")
    dec("sender_two_at", "pytroll://a info u@h@x 2008-04-11T22:13:22 v1.2")
    dec("very_long_text", H + " text/ascii " + ("lorem ipsum dolor sit amet " * 800))
    dec("very_long_json", J + json.dumps({"vals": list(range(3000)),
                                          "s": "x" * 5000, "t": ["2020-12-01T00:00:00"] * 50}))


# --------------------------------------------------------------------------
# encode cases
# --------------------------------------------------------------------------


def typical_data():
    # ../shared/reference/python-bench/metadata.py (beside the repository)
    return {
        "start_time": dt.datetime(2020, 12, 1, 12, 0, 0),
        "end_time": dt.datetime(2020, 12, 1, 12, 1, 25, 600000),
        "platform_name": "NOAA-20",
        "sensor": "viirs",
        "orbit_number": 12345,
        "uri": "/data/viirs/SVM01_npp_d20201201_t1200000.h5",
        "uid": "SVM01_npp_d20201201_t1200000.h5",
        "format": "SDR",
        "data_processing_level": "1B",
        "sun_elevation": 23.4567,
    }


TZ2 = dt.timezone(dt.timedelta(hours=2))
TZS = dt.timezone(dt.timedelta(hours=5, minutes=30, seconds=15))
TZN = dt.timezone(dt.timedelta(hours=-5))
TZN30 = dt.timezone(dt.timedelta(minutes=-30))
TZUS = dt.timezone(dt.timedelta(microseconds=1))
FLOATS = [1.2345, 2.0, 1e20, float("inf"), -0.0, 1e-05, 0.1, 123456789012345678.0, 1e16, 1e15, 0.0001,
          float("nan"), float("-inf"), 5e-324, 1.7976931348623157e308, 1/3, 100.0, 1e22, 1e-7, 0.5]


def encode_cases():
    S, A = "/sat/polar/smb/level1", "file"
    enc("metadata_time_aware_micro", typical_data(), S, A)
    enc("metadata_time_aware_micro0", typical_data(), S, A, time=T0_US0)
    enc("metadata_time_naive", typical_data(), S, A, time=T0.replace(tzinfo=None))
    enc("metadata_version_v1_01", typical_data(), S, A, version="v1.01")
    enc("metadata_config_v1_01", typical_data(), S, A, cfg="v1.01")
    aware = {"utc": dt.datetime(2020, 12, 1, 12, 0, 0, tzinfo=UTC),
             "plus2": dt.datetime(2020, 12, 1, 12, 0, 0, 500, tzinfo=TZ2)}
    enc("aware_data_default_version", aware)
    enc("aware_data_version_v1_01", aware, version="v1.01")
    enc("aware_data_config_v1_01", aware, cfg="v1.01")
    enc("aware_data_config_v1_2", aware, cfg="v1.2")
    enc("aware_data_version_overrides_config", aware, version="v1.2", cfg="v1.01")
    enc("aware_time_plus2_version_v1_01", "x", time=dt.datetime(2020, 1, 1, 12, tzinfo=TZ2), version="v1.01")
    enc("aware_time_plus2_default", "x", time=dt.datetime(2020, 1, 1, 12, tzinfo=TZ2))
    enc("aware_time_plus2_dt_data", aware, time=dt.datetime(2020, 1, 1, 12, tzinfo=TZ2))
    enc("naive_time_text", "hello", time=dt.datetime(2020, 1, 1, 12, 0, 0, 123))
    enc("naive_time_dt_data", {"t": dt.datetime(2020, 1, 1)}, time=dt.datetime(2020, 1, 1, 12))
    enc("config_v1_2_plain_data", {"a": 1}, cfg="v1.2")
    enc("config_v1_1_plain_data", {"a": 1}, cfg="v1.1")
    enc("config_v1_2_text", "hi", cfg="v1.2")
    enc("config_v1_2_empty", "", cfg="v1.2")
    enc("config_v1_2_binary", "bin", binary=True, cfg="v1.2")
    enc("version_v1_1_aware", aware, version="v1.1")
    enc("version_v1_0_aware", aware, version="v1.0")
    enc("version_v1_1_text", "hi", version="v1.1")
    enc("version_v9_not_checked", {"a": 1}, version="v9")
    enc("version_empty_string_falls_back", aware, version="")
    # data shapes
    enc("data_str", "not much to say")
    enc("data_str_nonascii", "grüße ü 😀 日本")
    enc("data_str_with_ws", "  a  b\tc\n")
    enc("data_str_iso_like", "2020-12-01T12:00:00")
    for nm, v in (("empty_str", ""), ("empty_dict", {}), ("empty_list", []), ("zero", 0), ("none", None),
                  ("false", False), ("zero_float", 0.0), ("neg_zero_float", -0.0)):
        enc(f"data_falsy_{nm}", v)
    enc("data_true", True)
    enc("data_int", 5)
    enc("data_float", 1.5)
    enc("data_nan_top", float("nan"))
    enc("data_datetime_top", dt.datetime(2020, 12, 1, 12, tzinfo=UTC))
    enc("data_datetime_top_naive", dt.datetime(2020, 12, 1, 12))
    enc("data_list_top", [1, "a", None, True, 2.5, dt.datetime(2020, 12, 1, tzinfo=UTC)])
    enc("data_list_top_no_dt", [1, "2020-12-01", [], {}])
    enc("data_nested_dt", {"a": [{"b": [dt.datetime(2020, 1, 1, 0, 0, 0, 1)]}, [dt.datetime(1999, 12, 31,
                           23, 59, 59, tzinfo=TZN)]], "c": {"d": {"e": dt.datetime(2000, 2, 29, tzinfo=UTC)}}})
    enc("data_floats_dict", {f"f{i}": f for i, f in enumerate(FLOATS)})
    enc("data_floats_list", FLOATS)
    enc("data_floats_version_v1_2", {"x": 0.1, "y": float("inf")}, version="v1.2")
    enc("data_ints", {"a": 0, "b": -1, "c": 2**63 - 1, "d": -2**63, "e": 2**63, "f": 2**64 - 1, "g": 2**64,
                      "h": -2**63 - 1, "i": 10**30, "j": -10**40})
    enc("data_bools_none", {"t": True, "f": False, "n": None, "l": [None, True, False]})
    enc("data_unicode_keys", {"ö": 1, "😀": 2, "日本": "語", "norrköping": "norrköping", "": "empty key"})
    enc("data_escape_keys", {'q"uote': 1, "back\\slash": 2, "new\nline": 3, "ctl\x01": 4, "del\x7f": 5,
                             "ls\u2028": 6, "tab\t": 7, "nul\x00": 8, "slash/": 9, "\x1f": 10})
    enc("data_escape_values", {"v": "\"\\\n\r\t\b\f\x00\x01\x1f\x7f\x80\u2028\u2029\ufeff😀/"})
    enc("data_lone_surrogate_value", {"v": "\ud800"})
    enc("data_bytes_value_invalid", {"a": b"x"})
    enc("data_bytes_top_text", b"abc")
    # binary
    enc("binary_str", "binary payload \x00\x01", binary=True)
    enc("binary_nonascii", "grüße 😀", binary=True)
    enc("binary_empty", "", binary=True)
    enc("binary_dict_error", {"a": 1}, binary=True)
    enc("binary_list_error", [1], binary=True)
    enc("binary_with_version_v1_2", "x", binary=True, version="v1.2")
    enc("binary_dict_empty", {}, binary=True)
    # subjects / senders / type
    enc("subject_no_leading_slash", "c", subject="a", atype="b")
    enc("subject_with_space", "c", subject="/a b")
    enc("subject_empty_error", "c", subject="")
    enc("type_empty_error", "c", atype="")
    enc("sender_empty_error", "c", sender="")
    enc("subject_nonascii", {"a": 1}, subject="/norrköping/日本", sender="usér@höst")
    # times
    enc("time_micro0", {"a": 1}, time=T0_US0)
    enc("time_micro0_naive_dt_data", {"t": dt.datetime(2020, 1, 1, 0, 0, 0)}, time=T0_US0)
    enc("time_year_1", {"t": dt.datetime(1, 1, 1, tzinfo=UTC)}, time=dt.datetime(1, 1, 1, tzinfo=UTC))
    enc("time_year_9999", {"t": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        time=dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    enc("time_year_1_v1_01", "x", time=dt.datetime(1, 1, 1, tzinfo=UTC))
    enc("time_offset_seconds", {"t": dt.datetime(2020, 6, 1, 1, 2, 3, tzinfo=TZS)},
        time=dt.datetime(2020, 6, 1, 1, 2, 3, 4, tzinfo=TZS))
    enc("time_offset_seconds_v1_01", {"t": dt.datetime(2020, 6, 1, 1, 2, 3, tzinfo=TZS)}, version="v1.01",
        time=dt.datetime(2020, 6, 1, 1, 2, 3, 4, tzinfo=TZS))
    enc("time_negative_offsets", {"t": dt.datetime(2020, 6, 1, tzinfo=TZN), "u": dt.datetime(2020, 6, 1,
                                  tzinfo=TZN30)}, time=dt.datetime(2020, 6, 1, tzinfo=TZN30))
    enc("time_offset_microseconds", {"t": dt.datetime(2020, 6, 1, tzinfo=TZUS)},
        time=dt.datetime(2020, 6, 1, tzinfo=TZUS))


# --------------------------------------------------------------------------
# isoformat corpus
# --------------------------------------------------------------------------

ISO_HAND = [
    # dates
    "2020-12-01", "20201201", "2020-W01", "2020-W01-1", "2020W01", "2020W011", "2020-W53", "2020-W53-7",
    "2021-W53", "2021-W53-1", "2020-W00", "2020-W01-0", "2020-W01-8", "2020-w01", "2020-335", "2020335",
    "2020-366", "2020-12", "202012", "2020", "20", "2020-1-1", "2020-12-1", "+2020-12-01", "0000-01-01",
    "0001-01-01", "9999-12-31", "2020-02-29", "2021-02-29", "1900-02-29", "2000-02-29", "2020-13-01",
    "2020-00-01", "2020-12-00", "2020-12-32", "2020-04-31", "2020/12/01", "2020-1201", "202012-01",
    "2020-12-01T", "2020-12-01 ", " 2020-12-01", "2020-12-01\n", "", " ", "T", "x",
    "١٢٣٤-12-01", "２０２０-12-01", "2020\u201012\u201001",
    # time forms
    "2020-12-01T12", "2020-12-01T12:30", "2020-12-01T12:30:45", "2020-12-01T1230", "2020-12-01T123045",
    "2020-12-01T12:3045", "2020-12-01T1230:45", "2020-12-01T1", "2020-12-01T123", "2020-12-01T12345",
    "2020-12-01T1234567", "2020-12-01T12:30:4", "2020-12-01T12:3",
    "2020-12-01T12:30:45.1", "2020-12-01T12:30:45.12", "2020-12-01T12:30:45.123", "2020-12-01T12:30:45.1234",
    "2020-12-01T12:30:45.12345", "2020-12-01T12:30:45.123456", "2020-12-01T12:30:45.1234567",
    "2020-12-01T12:30:45.12345678", "2020-12-01T12:30:45.123456789", "2020-12-01T12:30:45.9999999",
    "2020-12-01T12:30:45,1", "2020-12-01T12:30:45,123456", "2020-12-01T12:30:45,123456789",
    "2020-12-01T12:30:45.", "2020-12-01T12:30:45,", "2020-12-01T12:30.5", "2020-12-01T12.5",
    "2020-12-01T123045.5", "2020-12-01T123045,5", "2020-12-01T12:30:45.1.2", "2020-12-01T12:30:45..1",
    # timezones
    "2020-12-01T12:30:45Z", "2020-12-01T12:30:45z", "2020-12-01T12Z", "2020-12-01T12:30Z",
    "2020-12-01T12:30:45+05", "2020-12-01T12:30:45+0530", "2020-12-01T12:30:45+05:30",
    "2020-12-01T12:30:45+05:30:15", "2020-12-01T12:30:45+05:30:15.123456", "2020-12-01T12:30:45+05:30:15.5",
    "2020-12-01T12:30:45+053015", "2020-12-01T12:30:45+053015.5", "2020-12-01T12:30:45-05:30",
    "2020-12-01T12:30:45-00:00", "2020-12-01T12:30:45+00:00", "2020-12-01T12:30:45+23:59",
    "2020-12-01T12:30:45+24:00", "2020-12-01T12:30:45+23:59:59.999999", "2020-12-01T12:30:45+00:60",
    "2020-12-01T12:30:45+5", "2020-12-01T12:30:45+530", "2020-12-01T12:30:45+05:3", "2020-12-01T12:30:45+",
    "2020-12-01T12:30:45ZZ", "2020-12-01T12:30:45Z+00:00", "2020-12-01T12:30:45.123Z",
    "2020-12-01T12:30:45.123+01:00", "2020-12-01T12:30:45 +01:00", "2020-12-01T12:30:45+01:00 ",
    "2020-12-01T12:30:45+01:00:00.000001", "2020-12-01Z", "2020-12-01+01:00", "20201201T123045Z",
    "20201201T123045+0100", "2020-12-01T12:30:45.123456+00:00:00.123456",
    "2020-12-01T12:30:45+00:00:00.5", "2020-12-01T12:30:45-00:00:00.5", "2020-12-01T12:30:45-00:00:01.5",
    # special times
    "2020-12-01T24:00", "2020-12-01T24:00:00", "2020-12-01T23:59:60", "2020-12-01T25:00",
    "2020-12-01T12:60", "2020-12-01T00:00:00", "2020-12-31T23:59:59.999999",
    # separators
    "2020-12-01 12:30:45", "2020-12-01x12:30:45", "2020-12-01t12:30:45", "2020-12-01W12:30:45",
    "2020-12-01-12:30:45", "2020-12-01:12:30:45", "2020-12-01ö12:30:45", "2020-12-01日12:30:45",
    "2020-12-01😀12:30:45", "2020-12-01\u00a012:30:45", "2020-12-0112:30:45", "2020-12-01TT12:30:45",
    "20201201 123045", "20201201x1230", "2020-W01-1T12:30", "2020W011T1230", "2020-W01T12:00",
    "2020-335T12:00", "2020-12-01T12:30:45\x00", "2020-12-01\x0012:30:45",
    # whitespace / lengths
    " 2020-12-01T12:30:45", "2020-12-01T12:30:45 ", "\t2020-12-01T12:30:45",
    "2020-12-01T12:30:45." + "1" * 100, "2020-12-01T12:30:45" + "0" * 100, "2" * 200, "2020-12-01T" + "9" * 50,
    "2020-12-01T12:30:45+01:00" * 3,
    # quirks of the 3.12 C parser
    "2020-12-01T12:30:45.1234567abc+01:00", "2020-12-01T12:30:45.1234567abc", "2020-12-01612:30:45",
    "20201201T12000Z", "20201201T12000", "2020-12-01T12:30:45\x00xyz", "2020-12-01\x00",
    "2020-12-01T12:30:45+01:00\x00", "2020-12-01T12:30+01", "2020-12-01T12+01:00",
]

BASES = [
    "2008-04-11T22:13:22.123000+00:00", "2008-04-11T22:13:22", "2020-12-01", "20201201T120000Z",
    "2020-W01-1T12:00", "2020W011T1200+0530", "2020-12-01 12:30:45,5-05:30", "2020-12-01T12:30:45.123456789Z",
    "2020-12-01T12", "2020-02-29T23:59:59.999999+23:59:59", "0001-01-01T00:00:00", "9999-12-31t23:59",
]
ALPHABET = "0123456789-:TW .,+Zztw"
NONASCII = "ö日\u00a0١２é"


def mutate(rng, s):
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(3)
        pos = rng.randint(0, len(s))
        ch = rng.choice(NONASCII) if rng.random() < 0.03 else rng.choice(ALPHABET)
        if op == 0 and s:
            pos = min(pos, len(s) - 1)
            s = s[:pos] + s[pos + 1:]
        elif op == 1:
            s = s[:pos] + ch + s[pos:]
        elif s:
            pos = min(pos, len(s) - 1)
            s = s[:pos] + ch + s[pos + 1:]
    return s


def iso_entry(s):
    try:
        return {"input": s, "ok": True, "iso": dt.datetime.fromisoformat(s).isoformat(), "error": None}
    except Exception as e:  # noqa: BLE001
        return {"input": s, "ok": False, "iso": None, "error": str(e)}


def iso_corpus():
    seen, out = set(), []
    for s in ISO_HAND:
        if s not in seen and not has_lone_surrogate(s):
            seen.add(s)
            out.append(iso_entry(s))
    rng = random.Random(20241125)
    n_mut = 0
    while n_mut < 3200:
        s = mutate(rng, rng.choice(BASES))
        if s in seen or has_lone_surrogate(s):
            continue
        seen.add(s)
        out.append(iso_entry(s))
        n_mut += 1
    return out


def main():
    assert sys.version_info[:2] == (3, 12), "run with the Python 3.12 reference venv"
    from importlib.metadata import version
    assert version("posttroll") == "1.16.0", version("posttroll")
    assert config.get("message_version", None) is None, "unset POSTTROLL_MESSAGE_VERSION first"
    sys.setrecursionlimit(1000)
    decode_cases()
    encode_cases()
    with open(os.path.join(HERE, "vectors.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for c in CASES:
            f.write(json.dumps(c, ensure_ascii=bool(c.get("lone_surrogate")),
                               allow_nan=False) + "\n")
    iso = iso_corpus()
    with open(os.path.join(HERE, "isoformat.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for e in iso:
            f.write(json.dumps(e, ensure_ascii=False, allow_nan=False) + "\n")
    nd = sum(c["kind"] == "decode" for c in CASES)
    print(f"vectors.jsonl: {nd} decode, {len(CASES) - nd} encode; isoformat.jsonl: {len(iso)} entries")


if __name__ == "__main__":
    main()

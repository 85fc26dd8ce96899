//! Property tests of the message codec (proptest, default 256 cases each).
//!
//! 1. Round trip: for a generated message `m`, `Message::decode(&m.encode_with(None))`
//!    succeeds and gives exactly [`expected_decoding`]`(m)` (the *normal form*
//!    of `m`, documented there); when `m` is already in normal form
//!    ([`is_normal_form`]) that is `m` itself. Re-encoding the decoded message
//!    gives the very bytes of the first encoding whenever `m` is *wire-stable*
//!    ([`wire_drift`] says when it is not, and why); otherwise the second
//!    encoding is a fixed point.
//! 2. Robustness: `Message::decode` never panics on arbitrary bytes, on
//!    arbitrary and on structured strings starting with `pytroll:/`, nor on
//!    mutated valid frames; whatever it decodes re-encodes, the re-encoding
//!    decodes, and (unless [`reencoding_drift`] names a wire limitation) the
//!    re-encoding is a fixed point: decode + encode gives the same bytes again.
//! 3. `DateTime::parse_isoformat` never panics; what it parses, its
//!    `isoformat()` parses back to the same value.
//! 4. The typed path (`Message<T>`) writes the bytes of the dynamic path:
//!    for any generated message data (as `Message<Value>`, `Message<String>`
//!    or `Message<()>`), and for generated structs with chrono, `DateTime`,
//!    string, integer, float, option, list, map and enum fields; decoding
//!    straight into the struct gives it back, and so does decoding into a
//!    `Value` what the dynamic decoder reads from any generated dict.
//!
//! Value comparisons use [`same_message`]: field by field, object keys in
//! order (`Map`'s `==` ignores order), floats by bits (so `-0.0` differs
//! from `0.0`) with every NaN equal to every NaN (the wire has one `NaN`).
//! Where no NaN is involved the derived `==` is asserted as well.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, Utc};
use posttroll_core::{Data, DateTime, Message, Value};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde::{Deserialize, Serialize};

const DAY_US: i64 = 86_400_000_000;

// ---------------------------------------------------------------------------
// Helpers mirroring the wire rules (PROTOCOL.md section 1).
// ---------------------------------------------------------------------------

/// Python's `str.isspace()` (what `re`'s `\s` matches).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `version <= "v1.01"`: datetimes are written naive.
fn naive_version(v: &str) -> bool {
    v <= "v1.01"
}

/// `d` as written and read back: Python 3.12's `fromisoformat` reads an
/// offset under one second (`+00:00:00.000001`) as `+00:00` (its C parser
/// drops the microseconds when the whole seconds are 0), and so does ours.
fn wire_datetime(d: DateTime) -> DateTime {
    match d.offset_micros() {
        Some(off) if off != 0 && off.abs() < 1_000_000 => {
            DateTime::with_offset_micros(d.local(), 0).unwrap()
        }
        _ => d,
    }
}

/// `d` as written under `naive` (offset dropped) and read back.
fn written_datetime(d: DateTime, naive: bool) -> DateTime {
    if naive {
        d.without_offset()
    } else {
        wire_datetime(d)
    }
}

/// Binary `bytes` without the leading whitespace the field split eats: the
/// header of a frame we write is UTF-8, and the decoder reads it (and the
/// valid UTF-8 start of the data) as UTF-8 even when the data is not.
fn strip_leading_space(bytes: &[u8]) -> &[u8] {
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("the valid prefix"),
    };
    let n = valid.len() - valid.trim_start_matches(is_py_space).len();
    &bytes[n..]
}

fn has_nan(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_nan(),
        Value::Array(a) => a.iter().any(has_nan),
        Value::Object(o) => o.values().any(has_nan),
        _ => false,
    }
}

fn data_has_nan(d: &Data) -> bool {
    matches!(d, Data::Json(v) if has_nan(v))
}

/// Structural equality: keys in order, floats by bits, NaN == NaN.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same_value(v1, v2))
        }
        _ => a == b,
    }
}

fn same_data(a: &Data, b: &Data) -> bool {
    match (a, b) {
        (Data::Json(x), Data::Json(y)) => same_value(x, y),
        _ => a == b,
    }
}

fn same_message(a: &Message, b: &Message) -> bool {
    a.subject() == b.subject()
        && a.msg_type() == b.msg_type()
        && a.sender() == b.sender()
        && a.time == b.time
        && a.version() == b.version()
        && same_data(&a.data, &b.data)
}

fn build(
    subject: &str,
    msg_type: &str,
    sender: &str,
    time: DateTime,
    version: Option<&str>,
    data: Data,
) -> Message {
    let m = Message::new(subject, msg_type, data)
        .unwrap()
        .with_sender(sender)
        .unwrap()
        .with_time(time);
    match version {
        Some(v) => m.with_version(v).unwrap(),
        None => m,
    }
}

/// The JSON value a receiver gets for `v` written with `naive` datetimes:
/// datetimes lose their offset under `v1.01`; strings anywhere below an
/// object (arrays included) that parse as ISO datetimes come back as
/// `DateTime`s (the reference's `datetime_decoder`); outside every object
/// (top level, top-level lists) nothing is converted, so a datetime there
/// comes back as its ISO string; keys stay strings.
fn expected_value(v: &Value, in_object: bool, naive: bool) -> Value {
    match v {
        Value::String(s) if in_object => match DateTime::parse_isoformat(s) {
            Ok(d) => Value::DateTime(d),
            Err(_) => v.clone(),
        },
        Value::DateTime(d) if in_object => Value::DateTime(written_datetime(*d, naive)),
        // Written, not parsed back: an offset under one second stays.
        Value::DateTime(d) if naive => Value::from(d.without_offset().isoformat()),
        Value::DateTime(d) => Value::from(d.isoformat()),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| expected_value(x, in_object, naive))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), expected_value(x, true, naive)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The normal form of `m`: what `Message::decode(&m.encode_with(None))` must
/// return. It differs from `m` in exactly these ways:
///
/// - version: always `Some`, the version written (`m`'s own, else the
///   smallest needed: `v1.2` when the data holds a datetime, else `v1.01`);
/// - time, and datetimes inside JSON data: the offset dropped (wall clock
///   kept) when that version is `<= "v1.01"`, else an offset under one
///   second read as `+00:00` (see [`wire_datetime`]);
/// - false data (`Data::None`, `""`, empty bytes, JSON `null`/`false`/`0`/
///   `0.0`/`-0.0`/`""`/`[]`/`{}`) is `Data::None`: nothing is written;
/// - a top-level JSON string is `Data::Text` (written as `text/ascii`);
/// - text and binary data lose leading whitespace (the field split eats it;
///   for binary data, whitespace characters in its valid UTF-8 start);
/// - JSON: see [`expected_value`].
///
/// Frames that are not UTF-8 (binary data) keep a UTF-8 header: the decoder
/// reads the header of a binary frame as UTF-8 when it is valid UTF-8
/// (`binary_frame_reads_a_utf8_header_as_utf8` pins that).
fn expected_decoding(m: &Message) -> Message {
    let version = m.rendered_version(None).to_owned();
    let naive = naive_version(&version);
    let time = written_datetime(m.time, naive);
    let data = if !m.data.is_truthy() {
        Data::None
    } else {
        match &m.data {
            Data::Text(s) => Data::Text(s.trim_start_matches(is_py_space).to_owned()),
            Data::Json(Value::String(s)) => {
                Data::Text(s.trim_start_matches(is_py_space).to_owned())
            }
            Data::Binary(b) => Data::Binary(strip_leading_space(b).to_vec()),
            // A top-level datetime comes back as a string, hence text.
            Data::Json(v) => Data::from(expected_value(v, false, naive)),
            Data::None => unreachable!("false data"),
        }
    };
    build(
        m.subject(),
        m.msg_type(),
        m.sender(),
        time,
        Some(&version),
        data,
    )
}

fn value_is_normal(v: &Value, in_object: bool, naive: bool) -> bool {
    match v {
        Value::String(s) => !(in_object && DateTime::parse_isoformat(s).is_ok()),
        Value::DateTime(d) => in_object && written_datetime(*d, naive) == *d,
        Value::BigInt(s) => s.parse::<i64>().is_err(),
        Value::Array(a) => a.iter().all(|x| value_is_normal(x, in_object, naive)),
        Value::Object(o) => o.values().all(|x| value_is_normal(x, true, naive)),
        _ => true,
    }
}

/// The normal form stated directly (the fixed points of [`expected_decoding`]):
/// an explicit version; a naive time and naive JSON datetimes under `v1.01`,
/// no offset under one second otherwise, no datetime outside every object;
/// data `None` or true; no top-level JSON string; no leading whitespace in
/// text or binary data; no string below an object that parses as a datetime;
/// big ints only beyond 64 bits.
fn is_normal_form(m: &Message) -> bool {
    let Some(version) = m.version() else {
        return false;
    };
    let naive = naive_version(version);
    if written_datetime(m.time, naive) != m.time {
        return false;
    }
    match &m.data {
        Data::None => true,
        d if !d.is_truthy() => false,
        Data::Text(s) => !s.starts_with(is_py_space),
        Data::Binary(b) => strip_leading_space(b).len() == b.len(),
        Data::Json(Value::String(_)) => false,
        Data::Json(v) => value_is_normal(v, false, naive),
    }
}

/// Why re-encoding the decoding of `m` may not give `m`'s bytes back, if it
/// may not: leading whitespace of the data is lost, a string below an
/// object parses as a datetime whose isoformat (as the written version
/// writes it) is not that string, or an offset under one second is written
/// (and read back as `+00:00`).
fn wire_drift(m: &Message) -> Option<String> {
    let version = m.rendered_version(None);
    let naive = naive_version(version);
    fn strings(v: &Value, in_object: bool, naive: bool) -> Option<String> {
        match v {
            Value::String(s) if in_object => {
                let d = DateTime::parse_isoformat(s).ok()?;
                let d = written_datetime(d, naive);
                (d.isoformat() != *s).then(|| format!("datetime string {s:?}"))
            }
            Value::DateTime(d) if !naive && in_object && wire_datetime(*d) != *d => {
                Some("offset under one second in data".into())
            }
            Value::Array(a) => a.iter().find_map(|x| strings(x, in_object, naive)),
            Value::Object(o) => o.values().find_map(|x| strings(x, true, naive)),
            _ => None,
        }
    }
    if !naive && wire_datetime(m.time) != m.time {
        return Some("offset under one second in time".into());
    }
    match &m.data {
        d if !d.is_truthy() => None,
        Data::Text(s) if s.starts_with(is_py_space) => Some("leading whitespace in text".into()),
        Data::Json(Value::String(s)) if s.starts_with(is_py_space) => {
            Some("leading whitespace in text".into())
        }
        Data::Binary(b) if strip_leading_space(b).len() != b.len() => {
            Some("leading whitespace in binary".into())
        }
        Data::Json(Value::DateTime(_)) => Some("top-level datetime (read back as text)".into()),
        Data::Json(v) => strings(v, false, naive),
        _ => None,
    }
}

/// Why decode(encode(d)) may not re-encode to encode(d) for a decoded `d`:
/// data starting with whitespace (from a top-level JSON string, or binary
/// data that starts with whitespace once the frame reads as UTF-8).
fn reencoding_drift(d: &Message) -> Option<&'static str> {
    match &d.data {
        Data::Text(s) if s.starts_with(is_py_space) => Some("leading whitespace"),
        Data::Binary(b) if strip_leading_space(b).len() != b.len() => Some("leading whitespace"),
        _ => None,
    }
}

/// Decodes `input`; on success checks that the decoding re-encodes, that the
/// re-encoding decodes, and that it is a fixed point (or, for leading
/// whitespace, becomes one a round later).
fn check_any_input(input: &[u8]) -> Result<(), TestCaseError> {
    let Ok(d) = Message::decode(input) else {
        return Ok(());
    };
    let e1 = d.encode_with(None);
    match reencoding_drift(&d) {
        Some(_) => {
            let d2 = Message::decode(&e1).expect("a re-encoding decodes");
            let e2 = d2.encode_with(None);
            let e3 = Message::decode(&e2).expect("decodes").encode_with(None);
            prop_assert_eq!(e3, e2);
        }
        None => {
            let d2 = Message::decode(&e1).expect("a re-encoding decodes");
            prop_assert_eq!(d2.encode_with(None), e1);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

const ODD_CHARS: &[char] = &[
    'ö',
    'é',
    'ø',
    'Å',
    'ß',
    '字',
    '€',
    '😀',
    '𝄞',
    '\u{7f}',
    '\u{80}',
    '\u{ad}',
    '\u{200b}',
    '\u{feff}',
    '\u{ffff}',
    '\u{10ffff}',
    '"',
    '\\',
    '/',
    '{',
    '}',
    '[',
    ']',
    ':',
    ',',
    '@',
];

const SPACES: &[char] = &[
    ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{1c}', '\u{1f}', '\u{85}', '\u{a0}', '\u{2000}',
    '\u{2028}', '\u{3000}',
];

/// A character that is not whitespace: mostly ASCII, some non-ASCII.
fn token_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range('!', '~'),
        1 => select(ODD_CHARS),
        1 => any::<char>().prop_filter("no whitespace", |c| !is_py_space(*c)),
    ]
}

fn token() -> impl Strategy<Value = String> {
    proptest::collection::vec(token_char(), 1..12).prop_map(|v| v.into_iter().collect())
}

fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => token().prop_map(|t| format!("/{t}")),
        1 => token(),
    ]
}

fn sender() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (token(), token()).prop_map(|(u, h)| format!("{u}@{h}")),
        1 => token(),
    ]
}

/// Any character, whitespace and controls included (often ASCII).
fn any_text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => select(ODD_CHARS),
        1 => select(SPACES),
        1 => any::<char>(),
    ]
}

fn naive_datetime() -> impl Strategy<Value = NaiveDateTime> {
    let micros = prop_oneof![Just(0u32), 0u32..1_000_000];
    (
        1i32..=9999,
        1u32..=12,
        1u32..=31,
        0u32..24,
        0u32..60,
        0u32..60,
        micros,
    )
        .prop_map(|(y, mo, d, h, mi, s, us)| {
            let date = NaiveDate::from_ymd_opt(y, mo, d)
                .or_else(|| NaiveDate::from_ymd_opt(y, mo, 28))
                .unwrap();
            date.and_hms_micro_opt(h, mi, s, us).unwrap()
        })
}

/// An offset in microseconds, `None` for naive: whole hours, odd minutes,
/// seconds, microseconds, the extremes.
fn offset() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(0)),
        1 => (-23i64..=23).prop_map(|h| Some(h * 3_600_000_000)),
        1 => (-23i64..=23, 0i64..60).prop_map(|(h, m)| Some(h * 3_600_000_000 + h.signum() * m * 60_000_000)),
        1 => (-(DAY_US - 1)..DAY_US).prop_map(Some),
        1 => (-(DAY_US / 1_000_000 - 1)..DAY_US / 1_000_000).prop_map(|s| Some(s * 1_000_000)),
        1 => select(&[1, -1, DAY_US - 1, 1 - DAY_US, 5 * 3_600_000_000 + 45 * 60_000_000, -30_000_000][..]).prop_map(Some),
    ]
}

fn datetime() -> impl Strategy<Value = DateTime> {
    (naive_datetime(), offset()).prop_map(|(local, off)| match off {
        None => DateTime::naive(local),
        Some(us) => DateTime::with_offset_micros(local, us).unwrap(),
    })
}

/// Strings for JSON: arbitrary (escapes, controls, astral characters), and
/// ISO datetimes in canonical and other accepted forms.
fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(any_text_char(), 0..12).prop_map(|v| v.into_iter().collect::<String>()),
        1 => datetime().prop_map(|d| d.isoformat()),
        1 => select(&[
            "2020-12-01", "20201201", "2020-W49-2", "2020W492", "2020-12-01T12", "2020-12-01 12:00:00,5",
            "20201201T120000Z", "2020-12-01T12:00:00.1234567-05:30", "2020-12-01T24:00:00", "2020-13-01",
            "2020-12-01T12:00:00+24:00", "1234567",
        ][..]).prop_map(String::from),
    ]
}

fn big_int() -> impl Strategy<Value = String> {
    prop_oneof![
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(|u| u.to_string()),
        ((i64::MAX as u64 + 2)..=u64::MAX).prop_map(|u| format!("-{u}")),
        "-?[1-9][0-9]{19,60}",
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<f64>(),
        2 => -1e6f64..1e6,
        1 => any::<u64>().prop_map(f64::from_bits),
        2 => select(&[
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e16, 1e17, 1e-4, 1e-5, 1e20,
            1.2345, 2.0, 0.1, f64::MIN_POSITIVE, 5e-324, f64::MAX, f64::MIN, 9007199254740993.0,
        ][..]),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::Int),
        1 => (-3i64..=3).prop_map(Value::Int),
        1 => big_int().prop_map(Value::BigInt),
        2 => float().prop_map(Value::Float),
        3 => json_string().prop_map(Value::from),
        2 => datetime().prop_map(Value::DateTime),
    ]
}

/// A JSON value at most 5 levels deep (4 levels of containers + leaves).
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        let key = proptest::collection::vec(any_text_char(), 0..8)
            .prop_map(|v| v.into_iter().collect::<String>());
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    })
}

/// Non-empty text without leading whitespace (the wire cannot keep it).
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any_text_char(), 1..40).prop_map(|v| {
        let s: String = v.into_iter().collect();
        if s.starts_with(is_py_space) {
            format!("x{s}")
        } else {
            s
        }
    })
}

fn data() -> impl Strategy<Value = Data> {
    let binary = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..64),
        text().prop_map(String::into_bytes),
    ];
    let json = json_value().prop_map(|v| match v {
        Value::String(s) if s.starts_with(is_py_space) => Value::from(format!("x{s}")),
        v => v,
    });
    let falsy = select(vec![
        Data::Text(String::new()),
        Data::Binary(Vec::new()),
        Data::Json(Value::Null),
        Data::Json(Value::Bool(false)),
        Data::Json(Value::Int(0)),
        Data::Json(Value::Float(-0.0)),
        Data::Json(Value::String(Default::default())),
        Data::Json(Value::Array(Vec::new())),
        Data::Json(Value::Object(Default::default())),
    ]);
    prop_oneof![
        1 => Just(Data::None),
        1 => falsy,
        3 => text().prop_map(Data::Text),
        3 => binary.prop_map(Data::Binary),
        6 => json.prop_map(Data::Json),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let version = select(&[None, Some("v1.01"), Some("v1.1"), Some("v1.2")][..]);
    (subject(), token(), sender(), datetime(), version, data()).prop_map(
        |(subject, msg_type, sender, time, version, data)| {
            build(&subject, &msg_type, &sender, time, version, data)
        },
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    InsertSpace(Index, char),
    Delete(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        any::<u8>(),
        select(
            &[
                b' ', b'\t', b'\n', 0x1c, 0x85, 0xa0, 0xc2, 0xc3, 0xff, b'{', b'"', b'\\', b'0',
                b'T', b'+'
            ][..]
        ),
    ];
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        2 => (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), select(SPACES)).prop_map(|(i, c)| Mutation::InsertSpace(i, c)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut frame: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = frame.len();
        match m {
            Mutation::Flip(i, mask) if n > 0 => frame[i.index(n)] ^= mask,
            Mutation::Insert(i, b) => frame.insert(i.index(n + 1), *b),
            Mutation::InsertSpace(i, c) => {
                let at = i.index(n + 1);
                let mut buf = [0u8; 4];
                frame.splice(at..at, c.encode_utf8(&mut buf).bytes());
            }
            Mutation::Delete(i) if n > 0 => {
                frame.remove(i.index(n));
            }
            Mutation::Truncate(i) => frame.truncate(i.index(n + 1)),
            _ => {}
        }
    }
    frame
}

/// `pytroll:/` then tokens a frame is made of, joined by whitespace runs.
fn structured_frame() -> impl Strategy<Value = String> {
    let tok = prop_oneof![
        3 => select(&[
            "/a", "b", "c@d", "", "2020-01-01T00:00:00", "2020-01-01T00:00:00.5+01:00", "2020-W01",
            "v1.2", "v1.01", "v1.3", "v0", "text/ascii", "TEXT/ASCII", "application/json",
            "Application/JSON", "binary/octet-stream", "image/png", "{", "}", "[", "]", "\"", "\\u00e9",
            "\\ud83d\\ude00", "\\ud800", "NaN", "-Infinity", "1e999", "-0", "01", "1.", ".5",
            "123456789012345678901234567890", "{\"t\": \"2020-01-01\"}", "[\"2020-01-01\"]", ",", ":",
            "true", "null", "\u{85}", "é",
        ][..]).prop_map(String::from),
        1 => json_string(),
        1 => json_value().prop_map(|v| Message::new("/a", "b", v).unwrap().encode_with(None))
            .prop_map(|e| String::from_utf8_lossy(&e).into_owned()),
    ];
    let sep = proptest::collection::vec(select(SPACES), 0..3).prop_map(|v| {
        if v.is_empty() {
            " ".to_owned()
        } else {
            v.into_iter().collect()
        }
    });
    proptest::collection::vec((tok, sep), 0..10).prop_map(|parts| {
        let mut s = String::from("pytroll:/");
        for (t, sep) in parts {
            s.push_str(&t);
            s.push_str(&sep);
        }
        s
    })
}

/// A frame close to valid: good or odd header fields, any whitespace runs
/// between them, mime-types in any case, JSON, text or raw bytes as data.
fn near_valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let sep = proptest::collection::vec(select(SPACES), 1..3)
        .prop_map(|v| v.into_iter().collect::<String>());
    let time = prop_oneof![
        3 => datetime().prop_map(|d| d.isoformat()),
        1 => json_string(),
    ];
    let version = select(&["v1.01", "v1.1", "v1.2", "v1.3", "V1.2", "1", "v1.1é", "v2"][..]);
    let mime = select(
        &[
            "application/json",
            "APPLICATION/JSON",
            "text/ascii",
            "Text/ASCII",
            "binary/octet-stream",
            "BINARY/octet-stream",
            "text/plain",
        ][..],
    );
    let payload = prop_oneof![
        json_value().prop_map(|v| {
            let e = Message::new("/a", "b", v)
                .unwrap()
                .encode_with(Some("v1.2"));
            let s = String::from_utf8(e).unwrap();
            s.splitn(8, ' ').nth(7).unwrap_or("").as_bytes().to_vec()
        }),
        text().prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..32),
    ];
    let tail = proptest::option::of((sep.clone(), mime, sep.clone(), payload));
    (
        subject(),
        sep.clone(),
        token(),
        sep.clone(),
        sender(),
        sep.clone(),
        time,
        sep,
        version,
        tail,
    )
        .prop_map(
            |(subject, s1, t, s2, sender, s3, time, s4, version, tail)| {
                let mut f = format!("pytroll:/{subject}{s1}{t}{s2}{sender}{s3}{time}{s4}{version}")
                    .into_bytes();
                if let Some((s5, mime, s6, payload)) = tail {
                    f.extend_from_slice(s5.as_bytes());
                    f.extend_from_slice(mime.as_bytes());
                    f.extend_from_slice(s6.as_bytes());
                    f.extend_from_slice(&payload);
                }
                f
            },
        )
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

proptest! {
    /// decode(encode(m)) is the normal form of m (m itself when m is in
    /// normal form), encodes like it, and gives m's bytes back unless
    /// `wire_drift` names the reason; after one round trip the bytes are a
    /// fixed point regardless.
    #[test]
    fn round_trip(m in message()) {
        let frame = m.encode_with(None);
        let decoded = Message::decode(&frame)
            .map_err(|e| TestCaseError::fail(format!("{e} on {:?}", String::from_utf8_lossy(&frame))))?;
        let expected = expected_decoding(&m);
        prop_assert!(same_message(&decoded, &expected), "decoded {decoded:?}\nexpected {expected:?}");
        if !data_has_nan(&expected.data) {
            prop_assert_eq!(&decoded, &expected);
        }
        let again = decoded.encode_with(None);
        prop_assert_eq!(&again, &expected.encode_with(None));
        if is_normal_form(&m) {
            prop_assert!(same_message(&decoded, &m), "normal form not kept: {m:?}");
            prop_assert!(same_message(&expected_decoding(&m), &m));
        }
        match wire_drift(&m) {
            None => prop_assert_eq!(
                &again, &frame,
                "\n{}\n{}", String::from_utf8_lossy(&again), String::from_utf8_lossy(&frame)
            ),
            Some(_) => {
                let third = Message::decode(&again).expect("decodes").encode_with(None);
                prop_assert_eq!(third, again);
            }
        }
    }

    #[test]
    fn decode_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_any_input(&bytes)?;
        let mut framed = b"pytroll:/".to_vec();
        framed.extend_from_slice(&bytes);
        check_any_input(&framed)?;
    }

    #[test]
    fn decode_never_panics_on_magic_strings(
        s in any::<String>(),
        structured in structured_frame(),
        near in near_valid_frame(),
    ) {
        check_any_input(format!("pytroll:/{s}").as_bytes())?;
        check_any_input(structured.as_bytes())?;
        let latin1: Vec<u8> = structured.chars().map(|c| c as u32 as u8).collect();
        check_any_input(&latin1)?;
        check_any_input(&near)?;
        // The same frame read as ISO-8859-1 (when it is not UTF-8 already).
        let text = String::from_utf8_lossy(&near);
        if text.chars().all(|c| (c as u32) < 256) {
            let latin1: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
            check_any_input(&latin1)?;
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_frames(
        m in message(),
        mutations in proptest::collection::vec(mutation(), 1..5),
    ) {
        check_any_input(&mutate(m.encode_with(None), &mutations))?;
    }

    #[test]
    fn parse_isoformat_never_panics_and_round_trips(
        s in any::<String>(),
        like in "[0-9]{0,9}[-W]?[0-9]{0,3}[-]?[0-9]{0,3}[T ,.é]?[0-9:.,]{0,18}([+-][0-9:.]{0,16}|Z)?",
        d in datetime(),
    ) {
        for input in [s.as_str(), like.as_str(), &d.isoformat()] {
            if let Ok(t) = DateTime::parse_isoformat(input) {
                let iso = t.isoformat();
                prop_assert_eq!(DateTime::parse_isoformat(&iso).ok(), Some(t), "{:?} -> {:?}", input, iso);
            }
        }
        prop_assert_eq!(DateTime::parse_isoformat(&d.isoformat()).ok(), Some(wire_datetime(d)));
    }
}

/// A binary frame whose data is not UTF-8 keeps its UTF-8 header: it is
/// read as UTF-8, not as ISO-8859-1 (where the reference gives mojibake).
#[test]
fn binary_frame_reads_a_utf8_header_as_utf8() {
    let m = build(
        "/ö",
        "t",
        "a@b",
        DateTime::parse_isoformat("2020-01-01T00:00:00").unwrap(),
        Some("v1.01"),
        Data::Binary(vec![0xff, b' ', 0x00]),
    );
    let e1 = m.encode_with(None);
    let d = Message::decode(&e1).unwrap();
    assert_eq!(d.subject(), "/ö");
    assert_eq!(d.data, Data::Binary(vec![0xff, b' ', 0x00]));
    assert_eq!(d.encode_with(None), e1);
}

/// The wire limitations `reencoding_drift` names, on fixed frames: they are
/// real (the re-encoding is not a fixed point) and handled (no panic; one
/// more round makes it one where the header is ASCII).
#[test]
fn known_drifts() {
    let leading = b"pytroll://a b c@d 2020-01-01T00:00:00 v1.2 application/json \"  x\"".as_slice();
    let d = Message::decode(leading).unwrap();
    assert_eq!(d.data, Data::Text("  x".into()));
    let e1 = d.encode_with(None);
    assert_eq!(reencoding_drift(&d), Some("leading whitespace"));
    assert_eq!(Message::decode(&e1).unwrap().data, Data::Text("x".into()));
    check_any_input(leading).unwrap();

    // Read as ISO-8859-1 (0xe9), binary data starting with UTF-8 NBSP: the
    // re-encoding is UTF-8, where the NBSP is whitespace.
    let mut nbsp = b"pytroll://\xe9 b c@d 2020-01-01T00:00:00 v1.01 binary/octet-stream ".to_vec();
    nbsp.extend_from_slice("\u{a0}x".as_bytes());
    let d = Message::decode(&nbsp).unwrap();
    assert_eq!(d.subject(), "/é");
    let e1 = d.encode_with(None);
    assert_eq!(reencoding_drift(&d), Some("leading whitespace"));
    assert_eq!(
        Message::decode(&e1).unwrap().data,
        Data::Binary(b"x".to_vec())
    );
    check_any_input(&nbsp).unwrap();

    // Read as ISO-8859-1 (0xe9), binary data not UTF-8: the re-encoding has
    // a UTF-8 header, read back as UTF-8 (no mojibake), a fixed point.
    let mut latin1 =
        b"pytroll://\xe9 b c@d 2020-01-01T00:00:00 v1.01 binary/octet-stream \xff".to_vec();
    let d = Message::decode(&latin1).unwrap();
    let e1 = d.encode_with(None);
    assert_eq!(reencoding_drift(&d), None);
    assert_eq!(Message::decode(&e1).unwrap().subject(), "/é");
    assert_eq!(Message::decode(&e1).unwrap().encode_with(None), e1);
    latin1.push(b'!');
    check_any_input(&latin1).unwrap();
}

// ---------------------------------------------------------------------------
// The typed path.
// ---------------------------------------------------------------------------

/// `m` with its data as the typed path carries it; `None` for binary data,
/// which only the dynamic path has.
fn typed_frame(m: &Message, configured: Option<&str>) -> Option<Vec<u8>> {
    let header = m.clone();
    Some(
        match &m.data {
            Data::None => header.with_data(()).encode_typed_with(configured),
            Data::Text(s) => header.with_data(s.clone()).encode_typed_with(configured),
            Data::Json(v) => header.with_data(v.clone()).encode_typed_with(configured),
            Data::Binary(_) => return None,
        }
        .expect("any Value serializes"),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Shape {
    Point,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Pair(i64, String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Inner {
    name: String,
    values: Vec<f64>,
}

/// A struct as a Rust program would describe message data.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Typed {
    start: NaiveDateTime,
    end: chrono::DateTime<Utc>,
    own: DateTime,
    maybe_time: Option<NaiveDateTime>,
    name: String,
    count: u64,
    delta: i32,
    ratio: f64,
    flag: bool,
    tags: Vec<String>,
    extra: Option<Inner>,
    shapes: Vec<Shape>,
    table: BTreeMap<String, i64>,
}

fn finite_float() -> impl Strategy<Value = f64> {
    float().prop_filter("finite", |f| f.is_finite())
}

fn text_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(any_text_char(), 0..16).prop_map(|v| v.into_iter().collect())
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Point),
        finite_float().prop_map(Shape::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        (any::<i64>(), text_string()).prop_map(|(a, b)| Shape::Pair(a, b)),
    ]
}

fn typed() -> impl Strategy<Value = Typed> {
    let times = (
        naive_datetime(),
        naive_datetime(),
        datetime(),
        proptest::option::of(naive_datetime()),
    );
    let scalars = (
        text_string(),
        any::<u64>(),
        any::<i32>(),
        finite_float(),
        any::<bool>(),
    );
    let inner = (
        text_string(),
        proptest::collection::vec(finite_float(), 0..4),
    )
        .prop_map(|(name, values)| Inner { name, values });
    let nested = (
        proptest::collection::vec(text_string(), 0..4),
        proptest::option::of(inner),
        proptest::collection::vec(shape(), 0..4),
        proptest::collection::btree_map(text_string(), any::<i64>(), 0..4),
    );
    (times, scalars, nested).prop_map(
        |(
            (start, end, own, maybe_time),
            (name, count, delta, ratio, flag),
            (tags, extra, shapes, table),
        )| Typed {
            start,
            end: end.and_utc(),
            // A time as the wire gives it back.
            own: wire_datetime(own),
            maybe_time,
            name,
            count,
            delta,
            ratio,
            flag,
            tags,
            extra,
            shapes,
            table,
        },
    )
}

/// Field by field, floats by bits.
fn same_typed(a: &Typed, b: &Typed) -> bool {
    let floats = |x: &[f64], y: &[f64]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
    };
    let shapes = a.shapes.len() == b.shapes.len()
        && a.shapes.iter().zip(&b.shapes).all(|(x, y)| match (x, y) {
            (Shape::Circle(p), Shape::Circle(q)) => p.to_bits() == q.to_bits(),
            _ => format!("{x:?}") == format!("{y:?}"),
        });
    a.start == b.start
        && a.end == b.end
        && a.own == b.own
        && a.maybe_time == b.maybe_time
        && a.name == b.name
        && a.count == b.count
        && a.delta == b.delta
        && a.ratio.to_bits() == b.ratio.to_bits()
        && a.flag == b.flag
        && a.tags == b.tags
        && match (&a.extra, &b.extra) {
            (Some(x), Some(y)) => x.name == y.name && floats(&x.values, &y.values),
            (None, None) => true,
            _ => false,
        }
        && shapes
        && a.table == b.table
}

proptest! {
    /// The typed path writes the dynamic path's bytes for any message data,
    /// with and without a configured version.
    #[test]
    fn typed_and_dynamic_write_the_same_bytes(m in message()) {
        for configured in [None, Some("v1.01"), Some("v1.2")] {
            if let Some(typed) = typed_frame(&m, configured) {
                let dynamic = m.encode_with(configured);
                prop_assert_eq!(
                    &typed, &dynamic,
                    "\n{}\n{}", String::from_utf8_lossy(&typed), String::from_utf8_lossy(&dynamic)
                );
            }
        }
    }

    /// Structs: the typed bytes are the dynamic ones, and both decoders read
    /// the struct back.
    #[test]
    fn typed_structs_round_trip(data in typed(), version in select(&[None, Some("v1.2")][..])) {
        let mut m = Message::new_typed("/typed", "file", data.clone())
            .unwrap()
            .with_sender("a@b")
            .unwrap();
        if let Some(v) = version {
            m = m.with_version(v).unwrap();
        }
        let frame = m.encode_typed_with(None).unwrap();
        prop_assert_eq!(&frame, &m.to_dynamic().unwrap().encode_with(None));
        let back = Message::decode_typed::<Typed>(&frame)
            .map_err(|e| TestCaseError::fail(format!("{e} on {}", String::from_utf8_lossy(&frame))))?;
        prop_assert!(same_typed(&back.data, &data), "{:?}\n{:?}", back.data, data);
        let dynamic = Message::decode(&frame).unwrap().data_as::<Typed>().unwrap();
        prop_assert!(same_typed(&dynamic, &data), "{dynamic:?}\n{data:?}");
    }

    /// Decoding a dict into a `Value` gives what the dynamic decoder gives.
    #[test]
    fn typed_decode_into_value_matches_dynamic(m in message()) {
        let frame = m.encode_with(None);
        let dynamic = Message::decode(&frame).unwrap();
        if let Data::Json(v @ Value::Object(_)) = &dynamic.data {
            let typed = Message::decode_typed::<Value>(&frame)
                .map_err(|e| TestCaseError::fail(format!("{e} on {}", String::from_utf8_lossy(&frame))))?;
            prop_assert!(same_value(&typed.data, v), "{:?}\n{v:?}", typed.data);
            prop_assert_eq!(typed.encode_typed_with(None).unwrap(), dynamic.encode_with(None));
        }
    }

    /// The typed decoder never panics, and never reads what the dynamic
    /// one refuses.
    #[test]
    fn typed_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), m in message()) {
        let mut frame = m.encode_with(None);
        let cut = bytes.first().map_or(0, |&b| usize::from(b) % (frame.len() + 1));
        frame.truncate(cut);
        frame.extend_from_slice(&bytes);
        for input in [&bytes[..], &frame[..]] {
            let dynamic = Message::decode(input);
            let value = Message::decode_typed::<Value>(input);
            let _ = Message::decode_typed::<Typed>(input);
            let _ = Message::decode_typed::<BTreeMap<String, Value>>(input);
            if dynamic.is_err() {
                prop_assert!(value.is_err(), "typed read what the dynamic decoder refuses");
            }
        }
    }
}

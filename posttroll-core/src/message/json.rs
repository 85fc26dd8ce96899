//! JSON exactly as Python's `json` module reads and writes it.
//!
//! Reading follows `json.loads` (strict): `NaN`, `Infinity` and `-Infinity`
//! are accepted, integers have no bound, duplicate keys keep the first
//! position and the last value, raw control characters in strings are
//! refused. With the reference's `object_hook`, every string below an object
//! that is an ISO datetime becomes a [`Value::DateTime`].
//!
//! Writing follows `json.dumps` with default arguments: separators `", "` and
//! `": "`, everything outside printable ASCII escaped as `\uXXXX` (lower-case
//! hex, surrogate pairs above U+FFFF), floats as Python's `repr`, datetimes
//! as ISO strings (naive for `v1.01`, as Python's `replace(tzinfo=None)`).

use compact_str::CompactString;

use super::datetime::{DateTime, DIGIT_PAIRS};
use super::lexer::{Literal, Number, Reader, Result, MAX_DEPTH};
use super::map::Map;
use super::pyfloat::write_json_float;
use super::scan;
use super::value::{string_datetime, Value};

/// Parses JSON text as the reference does (with its datetime hook).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<Value> {
    let mut v = Value::Null;
    parse_into(text, &mut v)?;
    Ok(v)
}

/// Parses JSON text as the reference does (with its datetime hook) into
/// `slot` (which holds `Null`).
pub(crate) fn parse_into(text: &str, slot: &mut Value) -> Result<()> {
    let mut r = Reader::new(text);
    r.skip_ws();
    value_into(&mut r, slot, false, 0)?;
    r.end()
}

// The parser writes each value straight into its final place (`slot`): a
// `Value` returned by value and then moved into a vector is copied through
// memory right after being written, and those copies (store-to-load
// forwarding stalls) cost more than the parsing itself.

/// Parses the value at the current position into `slot` (which holds
/// `Null`); `in_object`: below an object, where ISO strings are datetimes.
fn value_into(r: &mut Reader<'_>, slot: &mut Value, in_object: bool, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(r.err("nesting too deep"));
    }
    match r.peek() {
        Some(b'"') => string_into(r, slot, in_object),
        Some(b'{') => object_into(r, slot, depth),
        Some(b'[') => array_into(r, slot, in_object, depth),
        _ => scalar_into(r, slot),
    }
}

/// A number or a literal word into `slot`.
#[inline(always)]
fn scalar_into(r: &mut Reader<'_>, slot: &mut Value) -> Result<()> {
    *slot = match r.literal() {
        Some(Literal::Null) => Value::Null,
        Some(Literal::Bool(b)) => Value::Bool(b),
        Some(Literal::Float(f)) => Value::Float(f),
        None => match r.number()? {
            Number::Int(i) => Value::Int(i),
            Number::Float(f) => Value::Float(f),
            Number::BigInt(digits) => Value::BigInt(digits.to_owned()),
        },
    };
    Ok(())
}

/// A string into `slot`; below an object, an ISO datetime becomes a datetime.
#[inline(always)]
fn string_into(r: &mut Reader<'_>, slot: &mut Value, in_object: bool) -> Result<()> {
    let s = r.str()?;
    let s = s.as_str();
    if in_object {
        if let Some(d) = string_datetime(s) {
            *slot = Value::DateTime(d);
            return Ok(());
        }
    }
    // Filled in place (see above).
    *slot = Value::String(CompactString::default());
    if let Value::String(to) = slot {
        to.push_str(s);
    }
    Ok(())
}

fn object_into(r: &mut Reader<'_>, slot: &mut Value, depth: usize) -> Result<()> {
    r.pos += 1;
    // Room for 10 entries: typical metadata fits in one allocation.
    *slot = Value::Object(Map::with_capacity(10));
    let Value::Object(map) = slot else {
        return Ok(());
    };
    let mut first = true;
    while r.next_item(first, b'}')? {
        first = false;
        let key = r.key()?;
        // A repeated key keeps its first place and takes the last value,
        // as in Python's dict.
        let v = match map.get_index_of(key.as_str()) {
            Some(i) => map.value_at_mut(i),
            None => map.push_key(key.as_str()),
        };
        *v = Value::Null;
        match r.peek() {
            // The usual values skip the general dispatch and its recursion
            // (`value_into` would refuse nothing at this depth).
            Some(b'"') if depth < MAX_DEPTH => string_into(r, v, true)?,
            Some(b'-' | b'0'..=b'9' | b'n' | b't' | b'f') if depth < MAX_DEPTH => {
                scalar_into(r, v)?
            }
            _ => value_into(r, v, true, depth + 1)?,
        }
    }
    Ok(())
}

fn array_into(r: &mut Reader<'_>, slot: &mut Value, in_object: bool, depth: usize) -> Result<()> {
    r.pos += 1;
    *slot = Value::Array(Vec::new());
    let Value::Array(items) = slot else {
        return Ok(());
    };
    let mut first = true;
    while r.next_item(first, b']')? {
        first = false;
        items.push(Value::Null);
        if let Some(v) = items.last_mut() {
            value_into(r, v, in_object, depth + 1)?;
        }
    }
    Ok(())
}

/// Writes `v` as `json.dumps(v)` would; datetimes naive when `naive_times`.
pub(crate) fn write(out: &mut Vec<u8>, v: &Value, naive_times: bool) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => write_i64(out, *i),
        Value::BigInt(s) => out.extend_from_slice(s.as_bytes()),
        Value::Float(f) => write_json_float(out, *f),
        Value::String(s) => write_string(out, s),
        Value::DateTime(d) => write_datetime(out, d, naive_times),
        Value::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write(out, item, naive_times);
            }
            out.push(b']');
        }
        Value::Object(o) => {
            out.push(b'{');
            for (i, (k, item)) in o.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_string(out, k);
                out.extend_from_slice(b": ");
                write(out, item, naive_times);
            }
            out.push(b'}');
        }
    }
}

/// Writes a datetime as a JSON string, naive when `naive`.
pub(crate) fn write_datetime(out: &mut Vec<u8>, d: &DateTime, naive: bool) {
    out.push(b'"');
    write_isoformat(out, d, naive);
    out.push(b'"');
}

/// Writes [`DateTime::isoformat`], naive when `naive`.
#[inline]
pub(crate) fn write_isoformat(out: &mut Vec<u8>, d: &DateTime, naive: bool) {
    let d = if naive { d.without_offset() } else { *d };
    let mut buf = [0u8; 48];
    let n = d.isoformat_bytes(&mut buf);
    if n <= 32 {
        // A fixed-size copy (not a call to memcpy), cut back to the text.
        let mut head = [0u8; 32];
        head.copy_from_slice(&buf[..32]);
        out.extend_from_slice(&head);
        out.truncate(out.len() - (32 - n));
    } else {
        out.extend_from_slice(&buf[..n]);
    }
}

/// Writes the decimal digits of `i`.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, i: i64) {
    if i < 0 {
        out.push(b'-');
    }
    write_u128(out, u128::from(i.unsigned_abs()));
}

/// Writes the decimal digits of `n`.
#[inline]
pub(crate) fn write_u128(out: &mut Vec<u8>, n: u128) {
    match u64::try_from(n) {
        Ok(small) => write_u64(out, small),
        Err(_) => {
            // Beyond 64 bits: rare, done simply.
            let mut buf = [0u8; 40];
            let mut pos = buf.len();
            let mut n = n;
            while n > 0 {
                pos -= 1;
                buf[pos] = b'0' + (n % 10) as u8;
                n /= 10;
            }
            out.extend_from_slice(&buf[pos..]);
        }
    }
}

/// Writes the decimal digits of `n`, two at a time, with a fixed-size copy.
#[inline]
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    let mut buf = [0u8; 20];
    let mut end = len;
    while end >= 2 {
        let pair = 2 * (n % 100) as usize;
        buf[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        n /= 100;
        end -= 2;
    }
    if end == 1 {
        buf[0] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf);
    out.truncate(out.len() - (20 - len));
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a JSON string with Python's `ensure_ascii` escaping.
#[inline]
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    // Most keys and values are short and need no escape: two words, a
    // fixed-size copy, no call.
    let b = s.as_bytes();
    if b.len() <= 16 {
        let w0 = scan::word_at(b, 0);
        let w1 = scan::word_at(b, 8);
        if scan::escape_mask(w0) | scan::escape_mask(w1) == 0 {
            out.reserve(18);
            out.push(b'"');
            out.extend_from_slice(&w0.to_le_bytes());
            out.extend_from_slice(&w1.to_le_bytes());
            out.truncate(out.len() - (16 - b.len()));
            out.push(b'"');
            return;
        }
    }
    write_any_string(out, s);
}

/// [`write_string`] for any string.
fn write_any_string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 10);
    out.push(b'"');
    let mut i = 0;
    loop {
        // Eight bytes at a time: each word is stored whole (a fixed-size
        // copy, not a call to memcpy) and cut back to its bytes that need
        // no escape.
        let rest = bytes.get(i..).unwrap_or_default();
        let (word, avail) = match rest.get(..8) {
            Some(w) => (scan::load(w), 8),
            None => (scan::short_word(rest), rest.len()),
        };
        let mask = scan::escape_mask(word);
        let clean = if mask == 0 {
            avail
        } else {
            ((mask.trailing_zeros() / 8) as usize).min(avail)
        };
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(out.len() - (8 - clean));
        i += clean;
        if clean == avail {
            if avail < 8 {
                break;
            }
            continue;
        }
        let b = bytes[i];
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => push_u_escape(out, u32::from(b)),
            }
            i += 1;
        } else {
            let c = s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            let cp = c as u32;
            if cp < 0x10000 {
                push_u_escape(out, cp);
            } else {
                let v = cp - 0x10000;
                push_u_escape(out, 0xD800 | (v >> 10));
                push_u_escape(out, 0xDC00 | (v & 0x3FF));
            }
            i += c.len_utf8();
        }
    }
    out.push(b'"');
}

fn push_u_escape(out: &mut Vec<u8>, cp: u32) {
    out.extend_from_slice(&[
        b'\\',
        b'u',
        HEX[(cp >> 12 & 0xF) as usize],
        HEX[(cp >> 8 & 0xF) as usize],
        HEX[(cp >> 4 & 0xF) as usize],
        HEX[(cp & 0xF) as usize],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumps(v: &Value) -> String {
        let mut out = Vec::new();
        write(&mut out, v, false);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_python() {
        let v = Value::from("a\"b\\c\n\u{1}\u{7f}é😀\u{2028}");
        assert_eq!(
            dumps(&v),
            r#""a\"b\\c\n\u0001\u007f\u00e9\ud83d\ude00\u2028""#
        );
    }

    #[test]
    fn parses_python_extensions() {
        assert_eq!(parse("NaN").map(|v| v.as_f64().unwrap().is_nan()), Ok(true));
        assert_eq!(parse("-Infinity"), Ok(Value::Float(f64::NEG_INFINITY)));
        assert_eq!(parse("1E400"), Ok(Value::Float(f64::INFINITY)));
        assert_eq!(
            parse("123456789012345678901234567890"),
            Ok(Value::BigInt("123456789012345678901234567890".into()))
        );
        assert_eq!(parse("-0"), Ok(Value::Int(0)));
    }

    /// Straightforward versions of the number fast paths agree with them.
    #[test]
    fn number_fast_paths_match_str_parse() {
        let mut cases: Vec<String> =
            "0 -0 0.0 -0.0 1 -1 23.4567 12345 0.1 0.3 1e22 1e23 1E-22 1e-23 \
             9007199254740992 9007199254740993 9007199254740993.0 900719925474099.3 \
             1.7976931348623157e308 5e-324 123456789012345678 1234567890123456789 \
             -999999999999999999 1e0000 1e+0005 1.5e-0007 0.000001 4.35 2.5e-3 123.456e2 \
             0.1e-22 10000000000000000000000.0"
                .split_whitespace()
                .map(str::to_owned)
                .collect();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = (x >> 11) % 10u64.pow((x % 11) as u32 + 1);
            let frac_len = (x >> 5) % 12;
            let frac = (x >> 17) % 10u64.pow(frac_len as u32);
            let exp = (x >> 40) as i64 % 30;
            let sign = if x & 1 == 0 { "-" } else { "" };
            let mut s = format!("{sign}{int}");
            if frac_len > 0 {
                s += &format!(".{frac:0w$}", w = frac_len as usize);
            }
            if x & 2 == 0 {
                s += &format!("e{exp}");
            }
            cases.push(s);
        }
        for s in &cases {
            let v = parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
            if s.contains(['.', 'e', 'E']) {
                let want: f64 = s.parse().unwrap();
                let got = v.as_f64().unwrap();
                assert!(matches!(v, Value::Float(_)), "{s}");
                assert_eq!(got.to_bits(), want.to_bits(), "{s}");
            } else {
                match s.parse::<i64>() {
                    Ok(i) => assert_eq!(v, Value::Int(i), "{s}"),
                    Err(_) => assert_eq!(v, Value::BigInt(s.clone()), "{s}"),
                }
            }
        }
    }

    #[test]
    fn duplicate_keys_keep_first_position_last_value() {
        let v = parse(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(dumps(&v), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn datetimes_only_below_objects() {
        let v = parse(r#"["2020-12-01", {"t": ["2020-12-01"]}]"#).unwrap();
        let a = v.as_array().unwrap();
        assert!(matches!(a[0], Value::String(_)));
        assert!(matches!(
            a[1]["t"].as_array().unwrap()[0],
            Value::DateTime(_)
        ));
    }

    #[test]
    fn refuses_bad_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "\"\u{1}\"",
            "01",
            "1 2",
            "\"\\x\"",
            "\"\\ud800\"",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).is_err());
    }
}

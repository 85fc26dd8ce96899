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

use super::datetime::DateTime;
use super::map::Map;
use super::pyfloat::write_json_float;
use super::scan;
use super::value::{string_datetime, string_value, Value};

/// Nesting deeper than this is refused (the reference hits Python's
/// recursion limit near 1000 and crashes).
pub(crate) const MAX_DEPTH: usize = 512;

/// Python's default limit on the digits of an integer read from text.
const MAX_INT_DIGITS: usize = 4300;

/// Why JSON data was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) reason: &'static str,
    pub(crate) offset: usize,
}

type Result<T> = std::result::Result<T, JsonError>;

/// Parses JSON text as the reference does (with its datetime hook).
pub(crate) fn parse(text: &str) -> Result<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    p.skip_ws();
    let v = p.value(false, 0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("extra data after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            reason,
            offset: self.pos,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, in_object: bool, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some(b'"') => self.string_value(in_object),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(in_object, depth),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat(b"NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat(b"Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.s[self.pos..].starts_with(b"-Infinity") => {
                self.pos += 9;
                Ok(Value::Float(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expecting a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.pos += 1;
        // Room for 10 entries: typical metadata fits, and the entries
        // buffer (10 × 96 bytes) stays small enough for the allocator's
        // per-thread cache (glibc: up to 1032 bytes), which a 16-entry one
        // misses on every decode.
        let mut map = Map::with_capacity(10);
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expecting a property name in double quotes"));
            }
            let key = match self.plain_string() {
                Some(raw) => CompactString::from(raw),
                None => self.string()?.into(),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expecting ':' delimiter"));
            }
            self.pos += 1;
            self.skip_ws();
            // String values, the usual case, skip the general dispatch and
            // its recursion (`value` would refuse nothing at this depth).
            let v = if self.peek() == Some(b'"') && depth < MAX_DEPTH {
                self.string_value(true)?
            } else {
                self.value(true, depth + 1)?
            };
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expecting ',' delimiter")),
            }
        }
    }

    fn array(&mut self, in_object: bool, depth: usize) -> Result<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(in_object, depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expecting ',' delimiter")),
            }
        }
    }

    /// Moves past a run of ASCII digits.
    #[inline]
    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.err("expecting a value")),
        }
        let int_end = self.pos;
        let mut frac_end = int_end;
        if self.peek() == Some(b'.') && matches!(self.s.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            self.skip_digits();
            frac_end = self.pos;
        }
        let mut exp = None;
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                self.skip_digits();
                exp = Some(&self.s[save + 1..self.pos]);
            } else {
                // Python's number pattern stops before a bare `e`.
                self.pos = save;
            }
        }
        let text = &self.text[start..self.pos];
        if frac_end != int_end || exp.is_some() {
            let int = &self.s[int_start..int_end];
            let frac = self.s.get(int_end + 1..frac_end).unwrap_or_default();
            if let Some(f) = fast_float(negative, int, frac, exp.unwrap_or_default()) {
                return Ok(Value::Float(f));
            }
            // Rust's parser is correctly rounded, as Python's `float()`;
            // overflow gives infinity in both.
            return text
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| self.err("invalid number"));
        }
        let digits = &self.s[int_start..int_end];
        if let Some(v) = small_uint(digits) {
            // Below 10^18: fits in an i64 with either sign.
            let v = v as i64;
            return Ok(Value::Int(if negative { -v } else { v }));
        }
        match text.parse::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            // Python refuses to read integers of more than 4300 digits.
            Err(_) if digits.len() > MAX_INT_DIGITS => {
                self.pos = start;
                Err(self.err("integer of more than 4300 digits"))
            }
            Err(_) => Ok(Value::BigInt(text.to_owned())),
        }
    }

    /// The content of the string at the opening quote when it has no
    /// escapes and no control characters (the common case), moving past
    /// its closing quote; `None`, with nothing consumed, otherwise.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let end = scan::find_string_stop(self.s, start);
        if self.s.get(end) != Some(&b'"') {
            return None;
        }
        // Both ends are next to an ASCII quote: character boundaries.
        let raw = self.text.get(start..end)?;
        self.pos = end + 1;
        Some(raw)
    }

    /// A string value; below an object, an ISO datetime becomes a datetime.
    #[inline]
    fn string_value(&mut self, in_object: bool) -> Result<Value> {
        // Most strings have no escapes: take the slice, so a datetime costs
        // no String allocation.
        if let Some(raw) = self.plain_string() {
            return Ok(match in_object.then(|| string_datetime(raw)).flatten() {
                Some(d) => Value::DateTime(d),
                None => Value::String(raw.into()),
            });
        }
        let s = self.string()?;
        Ok(string_value(s.into(), in_object))
    }

    /// A string starting at the opening quote; returns its content.
    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let start = self.pos;
        self.pos = scan::find_string_stop(self.s, start);
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.s[self.pos..].starts_with(b"\\u") {
                                    let save = self.pos;
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        self.pos = save;
                                        return Err(self
                                            .err("lone surrogate in string (not representable)"));
                                    }
                                } else {
                                    return Err(
                                        self.err("lone surrogate in string (not representable)")
                                    );
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(
                                    self.err("lone surrogate in string (not representable)")
                                );
                            } else {
                                hi
                            };
                            match char::from_u32(c) {
                                Some(ch) => out.push(ch),
                                None => return Err(self.err("invalid \\u escape")),
                            }
                        }
                        _ => return Err(self.err("invalid \\escape")),
                    }
                }
                Some(_) => return Err(self.err("invalid control character in string")),
            }
            let chunk = self.pos;
            self.pos = scan::find_string_stop(self.s, chunk);
            out.push_str(&self.text[chunk..self.pos]);
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("invalid \\uXXXX escape"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\uXXXX escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }
}

/// The value of up to 18 ASCII digits (so below 10^18, which fits in an
/// `i64` with either sign); `None` when there are more.
#[inline]
fn small_uint(digits: &[u8]) -> Option<u64> {
    (digits.len() <= 18).then(|| {
        digits
            .iter()
            .fold(0, |v, &d| v * 10 + u64::from(d.wrapping_sub(b'0')))
    })
}

/// Exact powers of ten as `f64` (10^22 is the largest exact one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Clinger's fast path, the first thing `str::parse::<f64>` tries: the
/// float of `±int.frac × 10^exp` (all ASCII digits, `exp` with an optional
/// sign) when the digits make an integer `m <= 2^53` and the resulting power
/// of ten `e` is within ±22. Then `m` and `10^|e|` are exact doubles and one
/// multiplication or division, correctly rounded, gives the correctly rounded
/// result. `None` otherwise (the caller then uses `str::parse`).
#[inline]
fn fast_float(negative: bool, int: &[u8], frac: &[u8], exp: &[u8]) -> Option<f64> {
    // x87 arithmetic rounds twice; every other target is plain IEEE 754.
    if cfg!(all(target_arch = "x86", not(target_feature = "sse2"))) {
        return None;
    }
    if int.len() + frac.len() > 19 || exp.len() > 4 {
        return None;
    }
    let digit = |v: u64, &d: &u8| v * 10 + u64::from(d.wrapping_sub(b'0'));
    let m = frac.iter().fold(int.iter().fold(0, digit), digit);
    if m > 1 << 53 {
        return None;
    }
    let e = match exp.split_first() {
        Some((b'-', d)) => -(d.iter().fold(0, digit) as i64),
        Some((b'+', d)) => d.iter().fold(0, digit) as i64,
        _ => exp.iter().fold(0, digit) as i64,
    } - frac.len() as i64;
    let f = if e < 0 {
        m as f64 / *POW10.get(e.unsigned_abs() as usize)?
    } else {
        m as f64 * *POW10.get(e as usize)?
    };
    Some(if negative { -f } else { f })
}

/// Writes `v` as `json.dumps(v)` would; datetimes naive when `naive_times`.
pub(crate) fn write(out: &mut Vec<u8>, v: &Value, naive_times: bool) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => {
            let mut buf = itoa_buf(*i);
            out.extend_from_slice(buf.as_bytes_mut());
        }
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
    let d = if naive { d.without_offset() } else { *d };
    let mut buf = [0u8; 48];
    let n = d.isoformat_bytes(&mut buf);
    out.push(b'"');
    out.extend_from_slice(&buf[..n]);
    out.push(b'"');
}

struct IntBuf {
    buf: [u8; 20],
    start: usize,
}

impl IntBuf {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(i: i64) -> IntBuf {
    let mut buf = [0u8; 20];
    let mut pos = 20;
    let mut n = i.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    IntBuf { buf, start: pos }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a JSON string with Python's `ensure_ascii` escaping.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        // Copy runs of printable ASCII as they are.
        let run = i;
        i = scan::find_escape(bytes, i);
        out.extend_from_slice(&bytes[run..i]);
        let Some(&b) = bytes.get(i) else {
            break;
        };
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

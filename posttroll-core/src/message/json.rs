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
use super::pyfloat::write_json_float;
use super::value::{string_datetime, string_value, Map, Value};

/// Nesting deeper than this is refused (the reference hits Python's
/// recursion limit near 1000 and crashes).
pub(crate) const MAX_DEPTH: usize = 512;

/// Bytes that end the plain part of a JSON string: `"`, `\\` and controls.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

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

impl Parser<'_> {
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
            Some(b'"') => {
                // Most strings have no escapes: look at the slice first, so a
                // datetime costs no String allocation.
                if let Some(raw) = self.plain_string_ahead() {
                    let len = raw.len();
                    let v = match in_object.then(|| string_datetime(raw)).flatten() {
                        Some(d) => Value::DateTime(d),
                        None => Value::String(raw.into()),
                    };
                    self.pos += len + 2;
                    return Ok(v);
                }
                let s = self.string()?;
                Ok(string_value(s.into(), in_object))
            }
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
        let mut map = Map::with_capacity_and_hasher(16, Default::default());
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expecting a property name in double quotes"));
            }
            let key = match self.plain_string_ahead() {
                Some(raw) => {
                    let key = CompactString::from(raw);
                    self.pos += raw.len() + 2;
                    key
                }
                None => self.string()?.into(),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expecting ':' delimiter"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(true, depth + 1)?;
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

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err("expecting a value")),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') && matches!(self.s.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
                is_float = true;
            } else {
                // Python's number pattern stops before a bare `e`.
                self.pos = save;
            }
        }
        let text = &self.text[start..self.pos];
        if is_float {
            // Rust's parser is correctly rounded, as Python's `float()`;
            // overflow gives infinity in both.
            return text
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| self.err("invalid number"));
        }
        debug_assert_eq!(int_end, self.pos);
        match text.parse::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            // Python refuses to read integers of more than 4300 digits.
            Err(_) if text.trim_start_matches('-').len() > MAX_INT_DIGITS => {
                self.pos = start;
                Err(self.err("integer of more than 4300 digits"))
            }
            Err(_) => Ok(Value::BigInt(text.to_owned())),
        }
    }

    /// The content of the string starting at the opening quote, when it has
    /// no escapes and no control characters (the common case).
    fn plain_string_ahead(&self) -> Option<&str> {
        let start = self.pos + 1;
        let rest = self.s.get(start..)?;
        let len = rest.iter().position(|&c| STRING_STOP[c as usize])?;
        (rest[len] == b'"').then(|| &self.text[start..start + len])
    }

    /// A string starting at the opening quote; returns its content.
    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let s = self.text[start..self.pos].to_owned();
                    self.pos += 1;
                    return Ok(s);
                }
                Some(b'\\') => break,
                Some(c) if c < 0x20 => return Err(self.err("invalid control character in string")),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            let chunk = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[chunk..self.pos]);
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
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
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
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
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

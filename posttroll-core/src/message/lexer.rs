//! The tokens of JSON text as Python's `json.loads` reads them: shared by
//! the [`Value`](super::Value) parser and the serde deserializer.
//!
//! Strict `json.loads`: `NaN`, `Infinity` and `-Infinity` are numbers,
//! integers have no bound (up to Python's 4300 digits), raw control
//! characters in strings are refused, and so are lone surrogate escapes
//! (a Rust string cannot hold them).

use super::scan;

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

pub(crate) type Result<T> = std::result::Result<T, JsonError>;

/// A JSON number as Python reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number<'a> {
    /// An integer that fits in an `i64`.
    Int(i64),
    /// A larger integer: its text (optional `-`, then digits).
    BigInt(&'a str),
    /// A number with a fraction or an exponent, `NaN` or an infinity.
    Float(f64),
}

/// A string as read: a slice of the text when it has no escapes (the usual
/// case), else unescaped into a new `String`.
pub(crate) enum Str<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Str<'_> {
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Owned(s) => s,
        }
    }
}

/// A cursor over JSON text.
pub(crate) struct Reader<'a> {
    pub(crate) s: &'a [u8],
    text: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            s: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    /// An error at the current position.
    pub(crate) fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            reason,
            offset: self.pos,
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Moves past `lit` when the text continues with it.
    #[inline]
    pub(crate) fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    /// After the whole value: only whitespace may follow.
    pub(crate) fn end(&mut self) -> Result<()> {
        self.skip_ws();
        if self.pos == self.s.len() {
            Ok(())
        } else {
            Err(self.err("extra data after the JSON value"))
        }
    }

    /// Before an item of an array or object, `first` when right after its
    /// opening bracket: true when an item follows (past the `,` before it
    /// and the whitespace around), false at the closing `close` (consumed).
    #[inline(always)]
    pub(crate) fn next_item(&mut self, first: bool, close: u8) -> Result<bool> {
        self.skip_ws();
        if !first {
            return self.comma_or(close);
        }
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an item of an array or object (whitespace skipped): true at a
    /// `,` (consumed, with the whitespace after it), false at `close`
    /// (consumed).
    #[inline]
    pub(crate) fn comma_or(&mut self, close: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.err("expecting ',' delimiter")),
        }
    }

    /// At a key's opening quote: the key, then past the `:` and the
    /// whitespace after it.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<Str<'a>> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expecting a property name in double quotes"));
        }
        let key = self.str()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.err("expecting ':' delimiter"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(key)
    }

    /// `null`, `true`, `false`, `NaN`, `Infinity` or `-Infinity` at the
    /// current position, consumed; else `None`.
    #[inline]
    pub(crate) fn literal(&mut self) -> Option<Literal> {
        let lit = match self.peek()? {
            b'n' if self.eat(b"null") => Literal::Null,
            b't' if self.eat(b"true") => Literal::Bool(true),
            b'f' if self.eat(b"false") => Literal::Bool(false),
            b'N' if self.eat(b"NaN") => Literal::Float(f64::NAN),
            b'I' if self.eat(b"Infinity") => Literal::Float(f64::INFINITY),
            b'-' if self.eat(b"-Infinity") => Literal::Float(f64::NEG_INFINITY),
            _ => return None,
        };
        Some(lit)
    }

    /// Moves past a run of ASCII digits.
    #[inline]
    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A number at the current position (`-` or a digit), as Python's
    /// number pattern reads it.
    #[inline]
    pub(crate) fn number(&mut self) -> Result<Number<'a>> {
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
                return Ok(Number::Float(f));
            }
            // Rust's parser is correctly rounded, as Python's `float()`;
            // overflow gives infinity in both.
            return text
                .parse::<f64>()
                .map(Number::Float)
                .map_err(|_| self.err("invalid number"));
        }
        let digits = &self.s[int_start..int_end];
        if let Some(v) = small_uint(digits) {
            // Below 10^18: fits in an i64 with either sign.
            let v = v as i64;
            return Ok(Number::Int(if negative { -v } else { v }));
        }
        match text.parse::<i64>() {
            Ok(i) => Ok(Number::Int(i)),
            // Python refuses to read integers of more than 4300 digits.
            Err(_) if digits.len() > MAX_INT_DIGITS => {
                self.pos = start;
                Err(self.err("integer of more than 4300 digits"))
            }
            Err(_) => Ok(Number::BigInt(text)),
        }
    }

    /// The content of the string at the opening quote when it has no
    /// escapes and no control characters (the common case), moving past
    /// its closing quote; `None`, with nothing consumed, otherwise.
    #[inline(always)]
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
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

    /// The string at the opening quote: borrowed when it has no escapes.
    #[inline(always)]
    pub(crate) fn str(&mut self) -> Result<Str<'a>> {
        match self.plain_string() {
            Some(raw) => Ok(Str::Borrowed(raw)),
            None => self.string().map(Str::Owned),
        }
    }

    /// A string starting at the opening quote; returns its content.
    pub(crate) fn string(&mut self) -> Result<String> {
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

/// A literal word of JSON text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Float(f64),
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
pub(crate) const POW10: [f64; 23] = [
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

//! A small parser for Python literals, the subset of `ast.literal_eval` that
//! environment variables hold in practice.
//!
//! The reference (donfig's `collect_env`) reads every `POSTTROLL_*` value with
//! `ast.literal_eval` and keeps the raw string when that fails. [`parse`] does
//! the same job: it returns `None` where Python would raise `SyntaxError` or
//! `ValueError`, and the caller then keeps the raw text.
//!
//! Supported: integers (decimal with `_` separators, `0x`/`0o`/`0b`), floats,
//! one leading `+`/`-` on a number, `True`/`False`/`None`, single-, double- and
//! triple-quoted strings (prefixes `r`, `u`) with the usual escapes, adjacent
//! string concatenation, lists, tuples (also bare `1, 2`), sets, dicts and `#`
//! comments.
//!
//! Not supported (read as "not a literal", so the raw string is kept): bytes,
//! complex numbers, `\N{...}` escapes, integers beyond the 128-bit range and
//! nesting deeper than [`MAX_DEPTH`].

use std::fmt;

use figment::value::{Dict, Empty, Num, Value};

/// How deep lists, tuples, sets and dicts may nest before the text is
/// rejected (Python's own parser stops at about 200).
pub(crate) const MAX_DEPTH: usize = 100;

/// A Python literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list `[...]`.
    List(Vec<Literal>),
    /// A tuple `(...)` or a bare `a, b`.
    Tuple(Vec<Literal>),
    /// A set `{a, b}`.
    Set(Vec<Literal>),
    /// A dict `{k: v}`, in source order.
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    /// Converts the literal into a figment value: sequences become arrays,
    /// dict keys that are not strings are written as their Python `repr`.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Literal::None => Value::from(Empty::None),
            Literal::Bool(b) => Value::from(b),
            Literal::Int(i) => Value::from(int_to_num(i)),
            Literal::Float(f) => Value::from(Num::F64(f)),
            Literal::Str(s) => Value::from(s),
            Literal::List(items) | Literal::Tuple(items) | Literal::Set(items) => Value::from(
                items
                    .into_iter()
                    .map(Literal::into_value)
                    .collect::<Vec<_>>(),
            ),
            Literal::Dict(entries) => {
                let mut dict = Dict::new();
                for (key, value) in entries {
                    let key = match key {
                        Literal::Str(s) => s,
                        other => other.to_string(),
                    };
                    dict.insert(key, value.into_value());
                }
                Value::from(dict)
            }
        }
    }
}

/// The smallest figment number that holds `i`.
pub(crate) fn int_to_num(i: i128) -> Num {
    if let Ok(v) = i64::try_from(i) {
        Num::I64(v)
    } else if let Ok(v) = u64::try_from(i) {
        Num::U64(v)
    } else {
        Num::I128(i)
    }
}

/// Writes the literal as Python's `repr` would (close enough for messages).
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, items: &[Literal]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match self {
            Literal::None => f.write_str("None"),
            Literal::Bool(true) => f.write_str("True"),
            Literal::Bool(false) => f.write_str("False"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Str(s) => {
                f.write_str("'")?;
                for c in s.chars() {
                    match c {
                        '\'' => f.write_str("\\'")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("'")
            }
            Literal::List(items) => {
                f.write_str("[")?;
                seq(f, items)?;
                f.write_str("]")
            }
            Literal::Tuple(items) => {
                f.write_str("(")?;
                seq(f, items)?;
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Literal::Set(items) => {
                f.write_str("{")?;
                seq(f, items)?;
                f.write_str("}")
            }
            Literal::Dict(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Parses `text` as a Python literal; `None` when it is not one (where
/// `ast.literal_eval` would raise).
pub(crate) fn parse(text: &str) -> Option<Literal> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    if parser.at_end() {
        return None;
    }
    let first = parser.expr()?;
    parser.skip_ws();
    let result = if parser.eat(',') {
        // A bare tuple, as in `eval("1, 2")`.
        let mut items = vec![first];
        parser.skip_ws();
        while !parser.at_end() {
            items.push(parser.expr()?);
            parser.skip_ws();
            if !parser.eat(',') {
                break;
            }
            parser.skip_ws();
        }
        Literal::Tuple(items)
    } else {
        first
    };
    parser.skip_ws();
    parser.at_end().then_some(result)
}

/// Recursive-descent parser over the characters of the text.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips whitespace, line continuations and `#` comments.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '\x0c' => self.pos += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.pos += 2,
                '#' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// One expression: an optionally signed number, or a primary.
    fn expr(&mut self) -> Option<Literal> {
        self.skip_ws();
        match self.peek()? {
            sign @ ('+' | '-') => {
                self.pos += 1;
                self.skip_ws();
                // Python accepts one sign directly on a number only.
                match self.primary()? {
                    Literal::Int(i) if sign == '-' => Some(Literal::Int(i.checked_neg()?)),
                    Literal::Float(x) if sign == '-' => Some(Literal::Float(-x)),
                    n @ (Literal::Int(_) | Literal::Float(_)) => Some(n),
                    _ => None,
                }
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Option<Literal> {
        let c = self.peek()?;
        match c {
            '[' | '(' | '{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let result = match c {
                    '[' => self.list(),
                    '(' => self.paren(),
                    _ => self.brace(),
                };
                self.depth -= 1;
                result
            }
            '\'' | '"' => self.strings(),
            '0'..='9' => self.number(),
            '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
            c if is_ident_start(c) => {
                if self.string_prefix_len().is_some() {
                    return self.strings();
                }
                let start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Some(Literal::Bool(true)),
                    "False" => Some(Literal::Bool(false)),
                    "None" => Some(Literal::None),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated expressions up to `close`, a trailing comma allowed.
    /// Returns the items and whether a comma was seen.
    fn items(&mut self, close: char) -> Option<(Vec<Literal>, bool)> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.skip_ws();
            if self.eat(close) {
                return Some((items, comma));
            }
            items.push(self.expr()?);
            self.skip_ws();
            if self.eat(',') {
                comma = true;
            } else if self.eat(close) {
                return Some((items, comma));
            } else {
                return None;
            }
        }
    }

    fn list(&mut self) -> Option<Literal> {
        let (items, _) = self.items(']')?;
        Some(Literal::List(items))
    }

    fn paren(&mut self) -> Option<Literal> {
        let (mut items, comma) = self.items(')')?;
        if items.len() == 1 && !comma {
            items.pop()
        } else {
            Some(Literal::Tuple(items))
        }
    }

    fn brace(&mut self) -> Option<Literal> {
        self.skip_ws();
        if self.eat('}') {
            return Some(Literal::Dict(Vec::new()));
        }
        let first = self.expr()?;
        self.skip_ws();
        if !self.eat(':') {
            // A set: `{a, b}`.
            let mut items = vec![first];
            self.skip_ws();
            if self.eat(',') {
                let (rest, _) = self.items('}')?;
                items.extend(rest);
            } else if !self.eat('}') {
                return None;
            }
            if items.iter().any(|i| !hashable(i)) {
                return None;
            }
            return Some(Literal::Set(items));
        }
        let mut entries = Vec::new();
        let mut key = first;
        loop {
            let value = self.expr()?;
            if !hashable(&key) {
                return None;
            }
            entries.push((key, value));
            self.skip_ws();
            if self.eat('}') {
                return Some(Literal::Dict(entries));
            }
            if !self.eat(',') {
                return None;
            }
            self.skip_ws();
            if self.eat('}') {
                return Some(Literal::Dict(entries));
            }
            key = self.expr()?;
            self.skip_ws();
            if !self.eat(':') {
                return None;
            }
        }
    }

    /// The length of a string prefix (`r`, `u`, `R`, `U`) right before a
    /// quote at the current position, if there is one.
    fn string_prefix_len(&self) -> Option<usize> {
        let c = self.peek()?;
        if matches!(c, 'r' | 'R' | 'u' | 'U') && matches!(self.peek_at(1), Some('\'' | '"')) {
            Some(1)
        } else {
            None
        }
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<Literal> {
        let mut out = String::new();
        loop {
            self.string(&mut out)?;
            self.skip_ws();
            match self.peek() {
                Some('\'' | '"') => {}
                Some(_) if self.string_prefix_len().is_some() => {}
                _ => return Some(Literal::Str(out)),
            }
        }
    }

    /// One string literal, appended to `out`.
    fn string(&mut self, out: &mut String) -> Option<()> {
        let mut raw = false;
        if let Some(n) = self.string_prefix_len() {
            raw = matches!(self.peek(), Some('r' | 'R'));
            self.pos += n;
        }
        let quote = self.peek()?;
        self.pos += 1;
        let triple = self.peek() == Some(quote) && self.peek_at(1) == Some(quote);
        if triple {
            self.pos += 2;
        }
        loop {
            let c = self.peek()?;
            self.pos += 1;
            if c == quote {
                if !triple {
                    return Some(());
                }
                if self.peek() == Some(quote) && self.peek_at(1) == Some(quote) {
                    self.pos += 2;
                    return Some(());
                }
                out.push(c);
            } else if c == '\n' && !triple {
                return None;
            } else if c == '\\' {
                let next = self.peek()?;
                self.pos += 1;
                if raw {
                    out.push('\\');
                    out.push(next);
                } else {
                    self.escape(next, out)?;
                }
            } else {
                out.push(c);
            }
        }
    }

    /// The escape sequence `\<first>...`, appended to `out`.
    fn escape(&mut self, first: char, out: &mut String) -> Option<()> {
        match first {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(first),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut code = first.to_digit(8)?;
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code)?);
            }
            'x' => out.push(self.hex_escape(2)?),
            'u' => out.push(self.hex_escape(4)?),
            'U' => out.push(self.hex_escape(8)?),
            // `\N{name}` needs the Unicode name table: not supported.
            'N' => return None,
            other => {
                // Python keeps unknown escapes as they are.
                out.push('\\');
                out.push(other);
            }
        }
        Some(())
    }

    fn hex_escape(&mut self, digits: usize) -> Option<char> {
        let mut code: u32 = 0;
        for _ in 0..digits {
            let d = self.peek()?.to_digit(16)?;
            self.pos += 1;
            code = code * 16 + d;
        }
        char::from_u32(code)
    }

    /// Digits of `radix` with single `_` between them (and, when
    /// `leading_underscore`, also right after a base prefix).
    fn digits(&mut self, radix: u32, leading_underscore: bool) -> Option<String> {
        let mut out = String::new();
        let mut last_underscore = false;
        if leading_underscore && self.peek() == Some('_') {
            self.pos += 1;
            last_underscore = true;
        }
        while let Some(c) = self.peek() {
            if c.is_digit(radix) {
                out.push(c);
                last_underscore = false;
            } else if c == '_' && !last_underscore && !out.is_empty() {
                last_underscore = true;
            } else {
                break;
            }
            self.pos += 1;
        }
        if last_underscore || out.is_empty() {
            return None;
        }
        Some(out)
    }

    fn number(&mut self) -> Option<Literal> {
        let result = self.number_body()?;
        // `1abc`, `1j`, `1.5.2`: not a literal.
        if self.peek().is_some_and(|c| is_ident_char(c) || c == '.') {
            return None;
        }
        Some(result)
    }

    fn number_body(&mut self) -> Option<Literal> {
        if self.peek() == Some('0') {
            let radix = match self.peek_at(1) {
                Some('x' | 'X') => Some(16),
                Some('o' | 'O') => Some(8),
                Some('b' | 'B') => Some(2),
                _ => None,
            };
            if let Some(radix) = radix {
                self.pos += 2;
                let digits = self.digits(radix, true)?;
                return i128::from_str_radix(&digits, radix).ok().map(Literal::Int);
            }
        }
        let int_part = if self.peek() == Some('.') {
            String::new()
        } else {
            self.digits(10, false)?
        };
        let mut is_float = false;
        let mut text = int_part.clone();
        if self.peek() == Some('.') {
            self.pos += 1;
            is_float = true;
            text.push('.');
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                text.push_str(&self.digits(10, false)?);
            } else if int_part.is_empty() {
                return None;
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            let mut exp = String::from("e");
            if let Some(sign @ ('+' | '-')) = self.peek() {
                exp.push(sign);
                self.pos += 1;
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                exp.push_str(&self.digits(10, false)?);
                text.push_str(&exp);
                is_float = true;
            } else {
                // `1e` or `1ex`: caught by the identifier check.
                self.pos = save;
            }
        }
        if is_float {
            return text.parse::<f64>().ok().map(Literal::Float);
        }
        // Python 3 forbids leading zeros in non-zero decimal integers.
        if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
            return None;
        }
        int_part.parse::<i128>().ok().map(Literal::Int)
    }
}

/// Whether Python could hash the literal (dict keys and set items).
fn hashable(literal: &Literal) -> bool {
    match literal {
        Literal::List(_) | Literal::Set(_) | Literal::Dict(_) => false,
        Literal::Tuple(items) => items.iter().all(hashable),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::Literal::{self, Bool, Dict, Float, Int, List, Set, Str, Tuple};
    use super::{parse, MAX_DEPTH};

    fn s(text: &str) -> Literal {
        Str(text.to_string())
    }

    #[test]
    fn integers() {
        assert_eq!(parse("1"), Some(Int(1)));
        assert_eq!(parse("  42  "), Some(Int(42)));
        assert_eq!(parse("-5"), Some(Int(-5)));
        assert_eq!(parse("+5"), Some(Int(5)));
        assert_eq!(parse("- 5"), Some(Int(-5)));
        assert_eq!(parse("1_000"), Some(Int(1000)));
        assert_eq!(parse("0"), Some(Int(0)));
        assert_eq!(parse("00"), Some(Int(0)));
        assert_eq!(parse("0x_ff"), Some(Int(255)));
        assert_eq!(parse("0o17"), Some(Int(15)));
        assert_eq!(parse("0B101"), Some(Int(5)));
        assert_eq!(parse("5557 # the port"), Some(Int(5557)));
    }

    #[test]
    fn not_integers() {
        for text in [
            "0123", "1__0", "1_", "_1", "--1", "-True", "1abc", "1j", "0x", "0xg",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
        // Beyond i128: kept as a string by the caller.
        assert_eq!(parse(&"9".repeat(50)), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse("1.5"), Some(Float(1.5)));
        assert_eq!(parse("-1.5"), Some(Float(-1.5)));
        assert_eq!(parse("1."), Some(Float(1.0)));
        assert_eq!(parse(".5"), Some(Float(0.5)));
        assert_eq!(parse("1e3"), Some(Float(1000.0)));
        assert_eq!(parse("1_0.2_5E-1"), Some(Float(1.025)));
        assert_eq!(parse("1.2.3"), None);
        assert_eq!(parse("1e"), None);
        assert_eq!(parse("."), None);
    }

    #[test]
    fn constants() {
        assert_eq!(parse("True"), Some(Bool(true)));
        assert_eq!(parse("False"), Some(Bool(false)));
        assert_eq!(parse("None"), Some(Literal::None));
        assert_eq!(parse("true"), None);
        assert_eq!(parse("Truex"), None);
        assert_eq!(parse("True.x"), None);
    }

    #[test]
    fn strings() {
        assert_eq!(parse("'quoted'"), Some(s("quoted")));
        assert_eq!(parse("\"double\""), Some(s("double")));
        assert_eq!(
            parse(r"'a\nb\tc\\d\'e\x41\u00e9\U0001F600\101'"),
            Some(s("a\nb\tc\\d'eAé😀A"))
        );
        assert_eq!(parse(r"'\d'"), Some(s(r"\d")));
        assert_eq!(parse(r"r'\n'"), Some(s(r"\n")));
        assert_eq!(parse(r"u'x'"), Some(s("x")));
        assert_eq!(parse("'a' \"b\""), Some(s("ab")));
        assert_eq!(parse("'''tri'ple\nline'''"), Some(s("tri'ple\nline")));
        assert_eq!(parse("''"), Some(s("")));
        assert_eq!(parse("'unterminated"), None);
        assert_eq!(parse("'a\nb'"), None);
        assert_eq!(parse("b'bytes'"), None);
        assert_eq!(parse("f'x'"), None);
        assert_eq!(parse(r"'\N{DASH}'"), None);
        assert_eq!(parse(r"'\ud800'"), None);
    }

    #[test]
    fn containers() {
        assert_eq!(parse("['a', 'b']"), Some(List(vec![s("a"), s("b")])));
        assert_eq!(parse("[]"), Some(List(vec![])));
        assert_eq!(
            parse("[1, [2,],]"),
            Some(List(vec![Int(1), List(vec![Int(2)])]))
        );
        assert_eq!(parse("(\"a\",)"), Some(Tuple(vec![s("a")])));
        assert_eq!(parse("()"), Some(Tuple(vec![])));
        assert_eq!(parse("(1)"), Some(Int(1)));
        assert_eq!(parse("1, 2"), Some(Tuple(vec![Int(1), Int(2)])));
        assert_eq!(parse("1,"), Some(Tuple(vec![Int(1)])));
        assert_eq!(parse("{'a': 1}"), Some(Dict(vec![(s("a"), Int(1))])));
        assert_eq!(parse("{}"), Some(Dict(vec![])));
        assert_eq!(
            parse("{1: 'x', (1, 2): None,}"),
            Some(Dict(vec![
                (Int(1), s("x")),
                (Tuple(vec![Int(1), Int(2)]), Literal::None)
            ]))
        );
        assert_eq!(parse("{1, 2}"), Some(Set(vec![Int(1), Int(2)])));
        assert_eq!(parse("{[1]: 2}"), None);
        assert_eq!(parse("[1 2]"), None);
        assert_eq!(parse("[1"), None);
        assert_eq!(parse("{'a' 1}"), None);
    }

    #[test]
    fn not_literals() {
        for text in [
            "",
            "   ",
            "v1.01",
            "tcp://x:1",
            "unsecure_zmq",
            "225.0.0.212",
            "/etc/x",
            "a b",
            "1 2",
            "x()",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_some());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep), None);
        assert_eq!(parse(&"(".repeat(100_000)), None);
    }

    #[test]
    fn repr() {
        let value = parse("{'a': [1, 2.0, None, True], 'b': ('x',), 3: {1}}");
        assert_eq!(
            value.map(|v| v.to_string()).as_deref(),
            Some("{'a': [1, 2.0, None, True], 'b': ('x',), 3: {1}}")
        );
    }

    #[test]
    fn into_value() {
        use figment::value::Value;
        let value = parse("{'a': [1, 'x'], 2: None}").map(Literal::into_value);
        let json = value.and_then(|v| serde_json::to_string(&v).ok());
        assert_eq!(json.as_deref(), Some(r#"{"2":null,"a":[1,"x"]}"#));
        assert_eq!(Int(-3).into_value().to_i128(), Some(-3));
        assert_eq!(Int(1 << 100).into_value().to_i128(), Some(1 << 100));
        assert!(matches!(Float(1.5).into_value(), Value::Num(..)));
    }
}

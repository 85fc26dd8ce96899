//! Serde deserializers for message data: straight from the JSON text of a
//! frame ([`from_raw`]), or from decoded [`Data`] ([`from_data`]), without
//! building a [`Value`] tree in the first case.
//!
//! JSON is read as `json.loads` reads it (`NaN`, `Infinity`, integers of
//! any width, 512 levels of nesting at most). Data a frame does not carry
//! (the reference writes none for `{}`, `[]`, `""`, `0`, `None`) reads as
//! the false value of the requested type: an empty struct, list or string,
//! zero, `None`.
//!
//! Datetimes: a frame carries them as ISO strings, naive (`v1.01`, or a
//! naive Python datetime) or with an offset. chrono's deserializers are
//! strict about that (a `NaiveDateTime` refuses an offset, a
//! `DateTime<Tz>` needs one), so a datetime string requested by chrono's
//! `NaiveDateTime` is handed over as the UTC wall-clock time without
//! offset, and one requested by chrono's `DateTime<Tz>` with its offset
//! (`+00:00` for a naive one: posttroll reads naive times as UTC). chrono's
//! visitors are recognised by their type names, and a test pins them. This
//! crate's [`DateTime`] reads every form as it is.

use std::borrow::Cow;
use std::fmt::{self, Display};

use compact_str::CompactString;
use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use super::datetime::DateTime;
use super::error::{excerpt, MessageError};
use super::frame::RawData;
use super::lexer::{JsonError, Literal, Number, Reader, Str, MAX_DEPTH};
use super::map::Map;
use super::value::{string_datetime, Value};
use super::Data;

// ---------------------------------------------------------------------------
// Errors, with where they happened.
// ---------------------------------------------------------------------------

/// A step of the path to a value inside the data.
#[derive(Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Why data could not be read into the requested type. Boxed: results
/// are passed up through every level of the data, and a one-word error
/// keeps them in registers.
#[derive(Debug)]
pub(crate) struct DeError(Box<DeErrorInner>);

#[derive(Debug)]
struct DeErrorInner {
    msg: String,
    /// The JSON text itself is invalid (not the type mismatched).
    syntax: bool,
    /// From the innermost step out.
    path: Vec<Step>,
    /// Byte offset in the JSON text, when reading JSON text.
    offset: Option<usize>,
}

impl DeError {
    fn new(msg: String, syntax: bool, offset: Option<usize>) -> DeError {
        DeError(Box::new(DeErrorInner {
            msg,
            syntax,
            path: Vec::new(),
            offset,
        }))
    }

    fn syntax(e: JsonError) -> DeError {
        DeError::new(e.reason.to_owned(), true, Some(e.offset))
    }

    /// The error, seen from the dict holding it under `key`.
    fn under_key(mut self, key: &str) -> DeError {
        self.0.path.push(Step::Key(key.to_owned()));
        self
    }

    /// The error, seen from the list holding it at `index`.
    fn under_index(mut self, index: usize) -> DeError {
        self.0.path.push(Step::Index(index));
        self
    }

    /// The error at byte `offset` of the JSON text, unless placed already.
    fn at(mut self, offset: usize) -> DeError {
        self.0.offset.get_or_insert(offset);
        self
    }

    /// The path, e.g. `files[2].uri`.
    fn path(&self) -> String {
        let mut out = String::new();
        for step in self.0.path.iter().rev() {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The message error, `text` being the JSON text (if any).
    fn into_message_error(self, text: Option<&str>) -> MessageError {
        match (self.0.syntax, text) {
            (true, Some(text)) => MessageError::InvalidJson {
                start: excerpt(text),
                reason: self.0.msg,
                offset: self.0.offset.unwrap_or(0),
            },
            _ => MessageError::Serde {
                reason: self.to_string(),
            },
        }
    }
}

impl Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.msg)?;
        if !self.0.path.is_empty() {
            write!(f, " at `{}`", self.path())?;
        }
        if let Some(offset) = self.0.offset {
            write!(f, " (byte {offset} of the JSON data)")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: Display>(msg: T) -> Self {
        DeError::new(msg.to_string(), false, None)
    }
}

impl From<JsonError> for DeError {
    fn from(e: JsonError) -> Self {
        DeError::syntax(e)
    }
}

type Result<T, E = DeError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------
// Entry points.
// ---------------------------------------------------------------------------

/// Reads the data part of a frame into a `T`.
pub(crate) fn from_raw<T: DeserializeOwned>(raw: RawData<'_>) -> Result<T, MessageError> {
    match raw {
        RawData::None => T::deserialize(Falsy).map_err(|e| e.into_message_error(None)),
        RawData::Text(s) => T::deserialize(TextDe(s)).map_err(|e| e.into_message_error(None)),
        RawData::Binary(b) => T::deserialize(BytesDe(b)).map_err(|e| e.into_message_error(None)),
        RawData::Json(text) => from_json(text),
    }
}

/// Reads JSON text into a `T`.
fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, MessageError> {
    let mut de = JsonDe {
        r: Reader::new(text),
        depth: 0,
    };
    de.r.skip_ws();
    let read = T::deserialize(&mut de).and_then(|v| {
        de.r.end()?;
        Ok(v)
    });
    read.map_err(|e| e.at(de.r.pos).into_message_error(Some(text)))
}

/// Reads decoded data into a `T`.
pub(crate) fn from_data<T: DeserializeOwned>(data: &Data) -> Result<T, MessageError> {
    let read = match data {
        Data::None => T::deserialize(Falsy),
        Data::Text(s) => T::deserialize(TextDe(s)),
        Data::Binary(b) => T::deserialize(BytesDe(b)),
        Data::Json(v) => T::deserialize(ValueDe(v)),
    };
    read.map_err(|e| e.into_message_error(None))
}

/// Reads a decoded value into a `T`.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, MessageError> {
    T::deserialize(ValueDe(value)).map_err(|e| e.into_message_error(None))
}

// ---------------------------------------------------------------------------
// Datetimes for chrono.
// ---------------------------------------------------------------------------

/// The datetime form a chrono visitor accepts.
#[derive(Clone, Copy)]
enum ChronoForm {
    /// `NaiveDateTime`: no offset.
    Naive,
    /// `DateTime<Tz>`: an offset of whole minutes.
    Aware,
}

/// The datetime form the visitor `V` needs, if it is one of chrono's.
#[inline]
fn chrono_form<V>() -> Option<ChronoForm> {
    let name = std::any::type_name::<V>();
    if !name.starts_with("chrono::") {
        None
    } else if name.ends_with("::NaiveDateTimeVisitor") {
        Some(ChronoForm::Naive)
    } else if name.ends_with("::DateTimeVisitor") {
        Some(ChronoForm::Aware)
    } else {
        None
    }
}

/// Hands `d` to the chrono visitor in the form it reads.
fn visit_chrono<'de, V: Visitor<'de>>(
    form: ChronoForm,
    d: &DateTime,
    visitor: V,
) -> Result<V::Value> {
    let d = match (form, d.offset_micros()) {
        (ChronoForm::Naive, _) => DateTime::naive(d.to_utc().naive_utc()),
        (ChronoForm::Aware, Some(off)) if off % 60_000_000 == 0 => *d,
        (ChronoForm::Aware, _) => DateTime::from(d.to_utc()),
    };
    let mut buf = [0u8; 48];
    let n = d.isoformat_bytes(&mut buf);
    visitor.visit_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
}

/// Visits a string; when `V` is a chrono datetime visitor and the string a
/// datetime, in the form chrono reads.
#[inline]
fn visit_str<'de, V: Visitor<'de>>(s: Str<'de>, visitor: V) -> Result<V::Value> {
    if let Some(form) = chrono_form::<V>() {
        if let Some(d) = string_datetime(s.as_str()) {
            return visit_chrono(form, &d, visitor);
        }
    }
    match s {
        Str::Borrowed(b) => visitor.visit_borrowed_str(b),
        Str::Owned(o) => visitor.visit_string(o),
    }
}

/// Visits an integer beyond 64 bits (its decimal text): a
/// [`Value::BigInt`] for a `Value`, else as an integer of 128 bits.
fn visit_big_int<'de, V: Visitor<'de>>(digits: &str, visitor: V) -> Result<V::Value> {
    if let Ok(u) = digits.parse::<u64>() {
        visitor.visit_u64(u)
    } else if std::any::type_name::<V>() == std::any::type_name::<ValueVisitor>() {
        // serde has no arbitrary-precision integers: hand the digits to our
        // own visitor through an access type only this function makes.
        visitor.visit_enum(BigIntAccess(digits))
    } else if let Ok(i) = digits.parse::<i128>() {
        visitor.visit_i128(i)
    } else if let Ok(u) = digits.parse::<u128>() {
        visitor.visit_u128(u)
    } else {
        Err(de::Error::custom(format_args!(
            "integer {} does not fit in 128 bits",
            excerpt(digits)
        )))
    }
}

// ---------------------------------------------------------------------------
// Methods several deserializers share.
// ---------------------------------------------------------------------------

/// `Deserializer` methods `$method` that read as `$to` does.
macro_rules! read_as {
    ($($method:ident),* => $to:ident) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            self.$to(visitor)
        }
    )*};
}

/// `deserialize_newtype_struct`: the content is `self`.
macro_rules! newtype_is_self {
    () => {
        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            visitor: V,
        ) -> Result<V::Value> {
            visitor.visit_newtype_struct(self)
        }
    };
}

/// `deserialize_option` for data that is there: `Some(self)`.
macro_rules! always_some {
    () => {
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            visitor.visit_some(self)
        }
    };
}

/// `VariantAccess` for `$ty`, a deserializer of the variant's content.
macro_rules! content_is_self {
    ($ty:ty) => {
        impl<'de> de::VariantAccess<'de> for $ty {
            type Error = DeError;

            fn unit_variant(self) -> Result<()> {
                de::Deserialize::deserialize(self)
            }

            fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
                seed.deserialize(self)
            }

            fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
                de::Deserializer::deserialize_seq(self, visitor)
            }

            fn struct_variant<V: Visitor<'de>>(
                self,
                _: &'static [&'static str],
                visitor: V,
            ) -> Result<V::Value> {
                de::Deserializer::deserialize_map(self, visitor)
            }
        }
    };
}

// ---------------------------------------------------------------------------
// JSON text.
// ---------------------------------------------------------------------------

struct JsonDe<'de> {
    r: Reader<'de>,
    depth: usize,
}

impl<'de> JsonDe<'de> {
    /// One level deeper (at an opening bracket, consumed).
    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.r.err("nesting too deep").into());
        }
        self.depth += 1;
        self.r.pos += 1;
        Ok(())
    }

    /// A number or a literal word.
    fn scalar<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.r.literal() {
            Some(Literal::Null) => visitor.visit_unit(),
            Some(Literal::Bool(b)) => visitor.visit_bool(b),
            Some(Literal::Float(f)) => visitor.visit_f64(f),
            None => match self.r.number()? {
                Number::Int(i) => visitor.visit_i64(i),
                Number::Float(f) => visitor.visit_f64(f),
                Number::BigInt(digits) => visit_big_int(digits, visitor),
            },
        }
    }

    /// Skips a value, checking it as `json.loads` would.
    fn skip(&mut self) -> Result<()> {
        match self.r.peek() {
            Some(b'"') => {
                self.r.str()?;
            }
            Some(b'{') => {
                self.enter()?;
                let mut access = MapAcc::new(self);
                while de::MapAccess::next_key::<de::IgnoredAny>(&mut access)?.is_some() {
                    de::MapAccess::next_value::<de::IgnoredAny>(&mut access)?;
                }
                self.depth -= 1;
            }
            Some(b'[') => {
                self.enter()?;
                let mut access = SeqAcc::new(self);
                while de::SeqAccess::next_element::<de::IgnoredAny>(&mut access)?.is_some() {}
                self.depth -= 1;
            }
            _ => {
                if self.r.literal().is_none() {
                    self.r.number()?;
                }
            }
        }
        Ok(())
    }
}

impl<'de> de::Deserializer<'de> for &mut JsonDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.r.peek() {
            Some(b'"') => match self.r.str()? {
                Str::Borrowed(s) => visitor.visit_borrowed_str(s),
                Str::Owned(s) => visitor.visit_string(s),
            },
            Some(b'{') => {
                self.enter()?;
                let mut access = MapAcc::new(self);
                let v = visitor.visit_map(&mut access)?;
                access.finish()?;
                self.depth -= 1;
                Ok(v)
            }
            Some(b'[') => {
                self.enter()?;
                let mut access = SeqAcc::new(self);
                let v = visitor.visit_seq(&mut access)?;
                access.finish()?;
                self.depth -= 1;
                Ok(v)
            }
            _ => self.scalar(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.r.eat(b"null") {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    #[inline]
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.r.peek() == Some(b'"') {
            let s = self.r.str()?;
            visit_str(s, visitor)
        } else {
            self.deserialize_any(visitor)
        }
    }

    read_as!(deserialize_string => deserialize_str);

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.r.peek() == Some(b'"') {
            match self.r.str()? {
                Str::Borrowed(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
                Str::Owned(s) => visitor.visit_byte_buf(s.into_bytes()),
            }
        } else {
            self.deserialize_any(visitor)
        }
    }

    read_as!(deserialize_byte_buf => deserialize_bytes);

    newtype_is_self!();

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.r.peek() {
            Some(b'"') => match self.r.str()? {
                Str::Borrowed(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
                Str::Owned(s) => visitor.visit_enum(StringDeserializer::new(s)),
            },
            Some(b'{') => {
                self.enter()?;
                self.r.skip_ws();
                let key = self.r.key()?;
                let v = visitor.visit_enum(VariantAcc { de: self, key })?;
                self.r.skip_ws();
                if self.r.peek() != Some(b'}') {
                    return Err(self.r.err("expecting '}' after the enum variant").into());
                }
                self.r.pos += 1;
                self.depth -= 1;
                Ok(v)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip()?;
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char unit unit_struct seq tuple
        tuple_struct map struct identifier
    }
}

/// The entries of a JSON object, after its `{`.
struct MapAcc<'a, 'de> {
    de: &'a mut JsonDe<'de>,
    first: bool,
    done: bool,
    /// The current key, for error paths.
    key: Cow<'de, str>,
}

impl<'a, 'de> MapAcc<'a, 'de> {
    fn new(de: &'a mut JsonDe<'de>) -> Self {
        MapAcc {
            de,
            first: true,
            done: false,
            key: Cow::Borrowed(""),
        }
    }

    /// Reads (and checks) the entries the visitor left, and the `}`.
    fn finish(&mut self) -> Result<()> {
        while de::MapAccess::next_key::<de::IgnoredAny>(self)?.is_some() {
            de::MapAccess::next_value::<de::IgnoredAny>(self)?;
        }
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for MapAcc<'_, 'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        let r = &mut self.de.r;
        if !r.next_item(std::mem::take(&mut self.first), b'}')? {
            self.done = true;
            return Ok(None);
        }
        let key = r.key()?;
        match key {
            Str::Borrowed(k) => {
                self.key = Cow::Borrowed(k);
                seed.deserialize(KeyDe(k)).map(Some)
            }
            Str::Owned(k) => {
                let v = seed.deserialize(KeyDe(&k)).map(Some);
                self.key = Cow::Owned(k);
                v
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let pos = self.de.r.pos;
        seed.deserialize(&mut *self.de)
            .map_err(|e| e.at(pos).under_key(&self.key))
    }
}

/// The items of a JSON array, after its `[`.
struct SeqAcc<'a, 'de> {
    de: &'a mut JsonDe<'de>,
    index: usize,
    done: bool,
}

impl<'a, 'de> SeqAcc<'a, 'de> {
    fn new(de: &'a mut JsonDe<'de>) -> Self {
        SeqAcc {
            de,
            index: 0,
            done: false,
        }
    }

    /// Reads (and checks) the items the visitor left, and the `]`.
    fn finish(&mut self) -> Result<()> {
        while de::SeqAccess::next_element::<de::IgnoredAny>(self)?.is_some() {}
        Ok(())
    }
}

impl<'de> de::SeqAccess<'de> for SeqAcc<'_, 'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.done {
            return Ok(None);
        }
        let r = &mut self.de.r;
        if !r.next_item(self.index == 0, b']')? {
            self.done = true;
            return Ok(None);
        }
        let (index, pos) = (self.index, r.pos);
        self.index += 1;
        seed.deserialize(&mut *self.de)
            .map(Some)
            .map_err(|e| e.at(pos).under_index(index))
    }
}

/// The content of `{"variant": content}`.
struct VariantAcc<'a, 'de> {
    de: &'a mut JsonDe<'de>,
    key: Str<'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for VariantAcc<'a, 'de> {
    type Error = DeError;
    type Variant = &'a mut JsonDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let v = match self.key {
            Str::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::<DeError>::new(k))?,
            Str::Owned(k) => seed.deserialize(StringDeserializer::<DeError>::new(k))?,
        };
        Ok((v, self.de))
    }
}

content_is_self!(&mut JsonDe<'de>);

/// A dict key: a string, also read as a number or a bool when the type
/// wants one (Python writes those keys as strings).
struct KeyDe<'a>(&'a str);

macro_rules! key_parse {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.0.parse::<$ty>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => visitor.visit_str(self.0),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for KeyDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_str(self.0)
    }

    key_parse! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    always_some!();

    newtype_is_self!();

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

// ---------------------------------------------------------------------------
// Decoded values.
// ---------------------------------------------------------------------------

/// Reads a decoded [`Value`].
struct ValueDe<'de>(&'de Value);

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::BigInt(digits) => visit_big_int(digits, visitor),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::String(s) => visitor.visit_borrowed_str(s),
            // As the wire has it.
            Value::DateTime(d) => {
                let mut buf = [0u8; 48];
                let n = d.isoformat_bytes(&mut buf);
                visitor.visit_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
            }
            Value::Array(items) => {
                let mut access = ValueSeq {
                    items: items.iter().enumerate(),
                };
                visitor.visit_seq(&mut access)
            }
            Value::Object(map) => visitor.visit_map(ValueMap {
                entries: map.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match (self.0, chrono_form::<V>()) {
            (Value::DateTime(d), Some(form)) => visit_chrono(form, d, visitor),
            (Value::String(s), Some(_)) => visit_str(Str::Borrowed(s), visitor),
            _ => self.deserialize_any(visitor),
        }
    }

    read_as!(deserialize_string => deserialize_str);

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            _ => self.deserialize_any(visitor),
        }
    }

    read_as!(deserialize_byte_buf => deserialize_bytes);

    newtype_is_self!();

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            Value::Object(map) if map.len() == 1 => match map.get_index(0) {
                Some((k, v)) => visitor.visit_enum(ValueVariant { name: k, value: v }),
                None => self.deserialize_any(visitor),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// The items of a decoded list.
struct ValueSeq<'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
}

impl<'de> de::SeqAccess<'de> for ValueSeq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.items.next() {
            Some((i, v)) => seed
                .deserialize(ValueDe(v))
                .map(Some)
                .map_err(|e| e.under_index(i)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a decoded dict.
struct ValueMap<'de> {
    entries: super::map::MapIter<'de>,
    value: Option<(&'de CompactString, &'de Value)>,
}

impl<'de> de::MapAccess<'de> for ValueMap<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some((k, v));
                seed.deserialize(KeyDe(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        match self.value.take() {
            Some((k, v)) => seed.deserialize(ValueDe(v)).map_err(|e| e.under_key(k)),
            None => Err(de::Error::custom("a dict value asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// `{name: value}` read as an enum variant.
struct ValueVariant<'de> {
    name: &'de str,
    value: &'de Value,
}

impl<'de> de::EnumAccess<'de> for ValueVariant<'de> {
    type Error = DeError;
    type Variant = ValueDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, ValueDe<'de>)> {
        let v = seed.deserialize(BorrowedStrDeserializer::<DeError>::new(self.name))?;
        Ok((v, ValueDe(self.value)))
    }
}

content_is_self!(ValueDe<'de>);

// ---------------------------------------------------------------------------
// Text, bytes and no data.
// ---------------------------------------------------------------------------

/// `text/ascii` data: a string.
struct TextDe<'de>(&'de str);

impl<'de> de::Deserializer<'de> for TextDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visit_str(Str::Borrowed(self.0), visitor)
    }

    always_some!();

    newtype_is_self!();

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// `binary/octet-stream` data: bytes (or a list of ints, for `Vec<u8>`).
struct BytesDe<'de>(&'de [u8]);

impl<'de> de::Deserializer<'de> for BytesDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.0)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(SeqDeserializer::new(self.0.iter().copied()))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match std::str::from_utf8(self.0) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.0),
        }
    }

    read_as!(deserialize_string => deserialize_str);

    always_some!();

    newtype_is_self!();

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// No data part: the false value of the requested type.
struct Falsy;

impl<'de> de::Deserializer<'de> for Falsy {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_bool(false)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i64(0)
    }

    read_as!(
        deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i128, deserialize_u8,
        deserialize_u16, deserialize_u32, deserialize_u64, deserialize_u128 => deserialize_i64
    );
    read_as!(deserialize_f32 => deserialize_f64);

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str("")
    }

    read_as!(deserialize_string => deserialize_str);

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(b"")
    }

    read_as!(deserialize_byte_buf => deserialize_bytes);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_none()
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(SeqDeserializer::new(std::iter::empty::<()>()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_map(de::value::MapDeserializer::new(
            std::iter::empty::<((), ())>(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    newtype_is_self!();

    forward_to_deserialize_any! {
        char unit unit_struct enum identifier ignored_any
    }
}

// ---------------------------------------------------------------------------
// Value and Map from any deserializer.
// ---------------------------------------------------------------------------

/// Builds a [`Value`]; strings that are ISO datetimes become datetimes.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(match string_datetime(v) {
            Some(d) => Value::DateTime(d),
            None => Value::String(v.into()),
        })
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(v.iter().map(|&b| Value::from(b)).collect()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        MapVisitor.visit_map(map).map(Value::Object)
    }
    /// Only [`BigIntAccess`] is accepted: an integer beyond 64 bits.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        if std::any::type_name::<A>() != std::any::type_name::<BigIntAccess<'_>>() {
            return Err(de::Error::invalid_type(de::Unexpected::Enum, &self));
        }
        let (digits, unit) = data.variant::<String>()?;
        de::VariantAccess::unit_variant(unit)?;
        Ok(Value::BigInt(digits))
    }
}

/// The digits of an integer beyond 64 bits, for [`ValueVisitor`].
struct BigIntAccess<'a>(&'a str);

impl<'de> de::EnumAccess<'de> for BigIntAccess<'_> {
    type Error = DeError;
    type Variant = BigIntAccess<'static>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let digits = seed.deserialize(StringDeserializer::<DeError>::new(self.0.to_owned()))?;
        Ok((digits, BigIntAccess("")))
    }
}

impl<'de> de::VariantAccess<'de> for BigIntAccess<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value> {
        Err(de::Error::custom("an integer is not a newtype variant"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(de::Error::custom("an integer is not a tuple variant"))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(de::Error::custom("an integer is not a struct variant"))
    }
}

impl<'de> de::Deserialize<'de> for Value {
    /// Any JSON-like value; strings that are ISO datetimes (as Python's
    /// `datetime.fromisoformat` reads them) become [`Value::DateTime`], as
    /// the reference makes them below a dict.
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// Builds a [`Map`].
struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = Map;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a dict")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
        let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(4096));
        while let Some(k) = access.next_key::<CompactString>()? {
            let v = access.next_value::<Value>()?;
            map.insert(k, v);
        }
        Ok(map)
    }
}

impl<'de> de::Deserialize<'de> for Map {
    /// A dict (see [`Value`]'s `Deserialize` for its values).
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        d.deserialize_map(MapVisitor)
    }
}

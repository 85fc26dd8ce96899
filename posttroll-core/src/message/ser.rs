//! Serde serializers for message data: straight to the wire ([`write_data`]),
//! or into a [`Value`] ([`to_value`]), by the same rules.
//!
//! A Rust value is written as the reference writes the Python dict it
//! stands for: structs and maps as dicts (keys in their serialization
//! order), sequences and tuples as lists, `None` and `()` as `null`, enums
//! as serde's externally tagged form, bytes as a list of ints, `f32` as
//! the `f64` of the same value, integers of any width exactly. Two kinds of
//! value become Python datetimes (written as ISO strings, and the reason
//! for message version `v1.2`):
//!
//! - this crate's [`DateTime`], and [`Value::DateTime`];
//! - anything serialized through `Serializer::collect_str` whose text is a
//!   datetime `datetime.fromisoformat` reads: chrono's `NaiveDateTime` and
//!   `DateTime<Tz>` serialize that way. A `String` holding such text stays a
//!   string, as a Python `str` would.

use std::fmt::{self, Display, Write as _};

use compact_str::CompactString;
use serde::ser::{self, Impossible, Serialize};

use super::datetime::DateTime;
use super::error::MessageError;
use super::json::{write_datetime, write_i64, write_string, write_u128};
use super::map::Map;
use super::pyfloat::write_json_float;
use super::value::{string_datetime, Value};
use super::{MIME_JSON, MIME_TEXT};

/// The newtype name under which [`DateTime`] serializes (its ISO text):
/// other serializers see a string, ours a datetime.
pub(crate) const DATETIME_TOKEN: &str = "$posttroll::DateTime";

/// The newtype name under which [`Value::BigInt`] serializes (its digits):
/// other serializers see a string, ours a number.
pub(crate) const BIGINT_TOKEN: &str = "$posttroll::BigInt";

/// Why a value could not be serialized. A boxed `str`: results are passed
/// up through every level of the data, and a two-word error keeps them in
/// registers.
#[derive(Debug)]
pub(crate) struct SerError(Box<str>);

impl Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: Display>(msg: T) -> Self {
        SerError(msg.to_string().into())
    }
}

impl SerError {
    /// The error, saying under which key it happened.
    fn under(self, key: &str) -> SerError {
        SerError(format!("{} (under key {key:?})", self.0).into())
    }
}

impl From<SerError> for MessageError {
    fn from(e: SerError) -> Self {
        MessageError::Unserializable { reason: e.0.into() }
    }
}

type Result<T, E = SerError> = std::result::Result<T, E>;

const KEY_TYPES: &str =
    "dict keys must be strings, integers, floats, booleans, chars, unit variants or None";

/// The methods of a `Serializer` that refuse their kind of value with
/// `$err` (a `fn(&str) -> SerError` given the kind's name).
macro_rules! refuse {
    ($err:expr; $($method:ident($($arg:ident: $ty:ty),*) -> $kind:literal;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<Self::Ok> {
            $(let _ = $arg;)*
            Err($err($kind))
        }
    )*};
}

/// Methods `$method(self, v: $ty)` that widen `v` and serialize it with
/// `$to`: the small integers as `i64`, `f32` as `f64`.
macro_rules! widen {
    ($($method:ident($ty:ty) => $to:ident),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<Self::Ok> {
            self.$to(v.into())
        }
    )*};
}

/// [`widen!`] for every integer of up to 32 bits and `f32`.
macro_rules! widen_all {
    () => {
        widen! {
            serialize_i8(i8) => serialize_i64,
            serialize_i16(i16) => serialize_i64,
            serialize_i32(i32) => serialize_i64,
            serialize_u8(u8) => serialize_i64,
            serialize_u16(u16) => serialize_i64,
            serialize_u32(u32) => serialize_i64,
            serialize_f32(f32) => serialize_f64,
        }
    };
}

/// `SerializeTuple`, `SerializeTupleStruct` and `SerializeTupleVariant`
/// for `$ty`, all as its `SerializeSeq`.
macro_rules! seq_like {
    ($ty:ty, $ok:ty) => {
        seq_like!(@ $ty, $ok, SerializeTuple::serialize_element,
            SerializeTupleStruct::serialize_field, SerializeTupleVariant::serialize_field);
    };
    (@ $ty:ty, $ok:ty, $($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for $ty {
            type Ok = $ok;
            type Error = SerError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                ser::SerializeSeq::serialize_element(self, value)
            }

            fn end(self) -> Result<$ok> {
                ser::SerializeSeq::end(self)
            }
        }
    )*};
}

/// `SerializeStruct` and `SerializeStructVariant` for `$ty`: each field
/// through `$field` (given `$s`, `$key`, `$value`), the end through `$end`.
macro_rules! struct_like {
    ($ty:ty, $ok:ty, |$s:ident, $key:ident, $value:ident| $field:expr, |$e:ident| $end:expr) => {
        struct_like!(@ $ty, $ok, |$s, $key, $value| $field, |$e| $end,
            SerializeStruct, SerializeStructVariant);
    };
    (@ $ty:ty, $ok:ty, |$s:ident, $key:ident, $value:ident| $field:expr, |$e:ident| $end:expr,
        $($trait:ident),*) => {$(
        impl ser::$trait for $ty {
            type Ok = $ok;
            type Error = SerError;

            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                $key: &'static str,
                $value: &T,
            ) -> Result<()> {
                let $s = self;
                $field
            }

            fn end(self) -> Result<$ok> {
                let $e = self;
                $end
            }
        }
    )*};
}

// ---------------------------------------------------------------------------
// Text captured from `collect_str`.
// ---------------------------------------------------------------------------

/// A `fmt::Write` into a stack buffer, spilling to the heap past it.
struct TextBuf {
    buf: [u8; 64],
    len: usize,
    spill: Option<String>,
}

impl TextBuf {
    fn collect(value: &(impl Display + ?Sized)) -> TextBuf {
        let mut t = TextBuf {
            buf: [0; 64],
            len: 0,
            spill: None,
        };
        // A Display that fails leaves what it wrote, as serde_json does not
        // (it errors); the text is then simply shorter.
        let _ = write!(t, "{value}");
        t
    }

    fn as_str(&self) -> &str {
        match &self.spill {
            Some(s) => s,
            // Only whole `&str`s are copied in, so this is UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

impl fmt::Write for TextBuf {
    #[inline]
    fn write_char(&mut self, c: char) -> fmt::Result {
        // chrono writes datetimes a character at a time.
        match self.buf.get_mut(self.len) {
            Some(slot) if c.is_ascii() && self.spill.is_none() => {
                *slot = c as u8;
                self.len += 1;
                Ok(())
            }
            _ => self.write_str(c.encode_utf8(&mut [0; 4])),
        }
    }

    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
        } else if let Some(to) = self.buf.get_mut(self.len..self.len + s.len()) {
            to.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spill = String::with_capacity(self.len + s.len() + 64);
            spill.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
            spill.push_str(s);
            self.spill = Some(spill);
        }
        Ok(())
    }
}

/// The compound-value methods of a `Serializer` whose `Ok` is `$ok`, all
/// refused through `$err`.
macro_rules! compounds_refused {
    ($ok:ty, $err:expr) => {
        fn serialize_seq(self, _: Option<usize>) -> Result<Impossible<$ok, SerError>> {
            Err($err("a list"))
        }
        fn serialize_tuple(self, _: usize) -> Result<Impossible<$ok, SerError>> {
            Err($err("a tuple"))
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Impossible<$ok, SerError>> {
            Err($err("a tuple struct"))
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Impossible<$ok, SerError>> {
            Err($err("a tuple variant"))
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Impossible<$ok, SerError>> {
            Err($err("a map"))
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Impossible<$ok, SerError>> {
            Err($err("a struct"))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Impossible<$ok, SerError>> {
            Err($err("a struct variant"))
        }
    };
}

fn not_datetime(kind: &str) -> SerError {
    SerError(format!("{DATETIME_TOKEN} holding {kind}, not a datetime").into())
}

fn bad_key(kind: &str) -> SerError {
    SerError(format!("{kind} as a dict key ({KEY_TYPES})").into())
}

/// A serializer that takes a string and hands it to `F`; anything else is
/// refused: the ISO text inside a [`DATETIME_TOKEN`] newtype.
struct StrOnly<F>(F);

impl<O, F: FnOnce(&str) -> Result<O>> ser::Serializer for StrOnly<F> {
    type Ok = O;
    type Error = SerError;
    type SerializeSeq = Impossible<O, SerError>;
    type SerializeTuple = Impossible<O, SerError>;
    type SerializeTupleStruct = Impossible<O, SerError>;
    type SerializeTupleVariant = Impossible<O, SerError>;
    type SerializeMap = Impossible<O, SerError>;
    type SerializeStruct = Impossible<O, SerError>;
    type SerializeStructVariant = Impossible<O, SerError>;

    fn serialize_str(self, v: &str) -> Result<O> {
        (self.0)(v)
    }

    refuse! { not_datetime;
        serialize_bool(v: bool) -> "a bool";
        serialize_i8(v: i8) -> "an integer";
        serialize_i16(v: i16) -> "an integer";
        serialize_i32(v: i32) -> "an integer";
        serialize_i64(v: i64) -> "an integer";
        serialize_u8(v: u8) -> "an integer";
        serialize_u16(v: u16) -> "an integer";
        serialize_u32(v: u32) -> "an integer";
        serialize_u64(v: u64) -> "an integer";
        serialize_f32(v: f32) -> "a float";
        serialize_f64(v: f64) -> "a float";
        serialize_char(v: char) -> "a char";
        serialize_bytes(v: &[u8]) -> "bytes";
        serialize_none() -> "None";
        serialize_unit() -> "()";
        serialize_unit_struct(name: &'static str) -> "a unit struct";
        serialize_unit_variant(name: &'static str, i: u32, variant: &'static str) -> "a variant";
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<O> {
        Err(not_datetime("Some"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<O> {
        Err(not_datetime("a newtype"))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<O> {
        Err(not_datetime("a variant"))
    }
    compounds_refused!(O, not_datetime);
}

/// The digits a [`BIGINT_TOKEN`] newtype holds (checked: they are written
/// into JSON as they are).
fn bigint_digits<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    value.serialize(StrOnly(|v: &str| {
        let digits = v.strip_prefix('-').unwrap_or(v);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(v.to_owned())
        } else {
            Err(SerError(
                format!("{BIGINT_TOKEN} holding {v:?}, not an integer").into(),
            ))
        }
    }))
}

/// The [`DateTime`] a [`DATETIME_TOKEN`] newtype holds.
fn datetime_of<T: Serialize + ?Sized>(value: &T) -> Result<DateTime> {
    value.serialize(StrOnly(|v: &str| {
        DateTime::parse_isoformat_opt(v).ok_or_else(|| not_datetime(&format!("{v:?}")))
    }))
}

// ---------------------------------------------------------------------------
// Map keys: Python's json.dumps turns str, int, float, bool and None keys
// into strings.
// ---------------------------------------------------------------------------

/// Serializes a map key into the text of its JSON string.
struct KeyText<'b>(&'b mut String);

impl ser::Serializer for KeyText<'_> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Impossible<(), SerError>;
    type SerializeTuple = Impossible<(), SerError>;
    type SerializeTupleStruct = Impossible<(), SerError>;
    type SerializeTupleVariant = Impossible<(), SerError>;
    type SerializeMap = Impossible<(), SerError>;
    type SerializeStruct = Impossible<(), SerError>;
    type SerializeStructVariant = Impossible<(), SerError>;

    widen_all!();

    fn serialize_str(self, v: &str) -> Result<()> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<()> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        self.serialize_i128(i128::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        let _ = write!(self.0, "{v}");
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        let _ = write!(self.0, "{v}");
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        let mut b = Vec::with_capacity(24);
        write_json_float(&mut b, v);
        self.0.push_str(std::str::from_utf8(&b).unwrap_or_default());
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit(self) -> Result<()> {
        self.0.push_str("null");
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        if name == DATETIME_TOKEN {
            // A datetime key: Python cannot have one in JSON either.
            return Err(bad_key("a datetime"));
        }
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<()> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }

    refuse! { bad_key;
        serialize_bytes(v: &[u8]) -> "bytes";
        serialize_unit_struct(name: &'static str) -> "a unit struct";
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<()> {
        Err(bad_key("a newtype variant"))
    }
    compounds_refused!((), bad_key);
}

// ---------------------------------------------------------------------------
// The wire writer.
// ---------------------------------------------------------------------------

/// What [`write_data`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Nothing: the data is false in Python's sense.
    Nothing,
    /// ` text/ascii <text>`: the data is a string.
    Text,
    /// ` application/json <json>`; `datetimes`: a datetime is in it.
    Json {
        /// A datetime was written (the message then needs `v1.2`).
        datetimes: bool,
    },
}

/// Appends ` <mime-type> <data>` for `data` as the reference writes the
/// dict, list or str it stands for (nothing for false data); datetimes
/// naive when `naive`. On error `out` may hold part of the data.
pub(crate) fn write_data<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    data: &T,
    naive: bool,
) -> Result<Written> {
    let start = out.len();
    let mut w = Writer {
        out,
        naive,
        datetimes: false,
        depth: 0,
        top: Top::Falsy,
    };
    data.serialize(&mut w)?;
    let (top, datetimes) = (w.top, w.datetimes);
    Ok(match top {
        Top::Falsy => {
            out.truncate(start);
            Written::Nothing
        }
        Top::Text => Written::Text,
        Top::Json => Written::Json { datetimes },
    })
}

/// What the top-level value turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Top {
    Falsy,
    Text,
    Json,
}

/// Writes JSON as `json.dumps` does, for the data of a message.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    naive: bool,
    /// A datetime was written.
    datetimes: bool,
    /// Containers open around the current value (0: the data itself).
    depth: usize,
    top: Top,
}

impl Writer<'_> {
    /// Before a JSON value: at the top, the mime-type; `truthy` says
    /// whether a top-level scalar is true in Python's sense.
    #[inline]
    fn value(&mut self, truthy: bool) {
        if self.depth == 0 {
            self.json_prefix();
            if truthy {
                self.top = Top::Json;
            }
        }
    }

    #[inline]
    fn json_prefix(&mut self) {
        self.out.push(b' ');
        self.out.extend_from_slice(MIME_JSON.as_bytes());
        self.out.push(b' ');
    }

    /// A string value: text at the top, a JSON string below.
    #[inline]
    fn string(&mut self, s: &str) {
        if self.depth == 0 {
            if !s.is_empty() {
                self.out.push(b' ');
                self.out.extend_from_slice(MIME_TEXT.as_bytes());
                self.out.push(b' ');
                self.out.extend_from_slice(s.as_bytes());
                self.top = Top::Text;
            }
        } else {
            write_string(self.out, s);
        }
    }

    /// A datetime value: a JSON string even at the top.
    fn datetime(&mut self, d: &DateTime) {
        self.value(true);
        self.datetimes = true;
        write_datetime(self.out, d, self.naive);
    }

    /// Opens a list or dict.
    #[inline]
    fn open(&mut self, bracket: u8) {
        self.value(false);
        self.out.push(bracket);
        self.depth += 1;
    }

    /// Closes a list or dict that got `items` items.
    #[inline]
    fn close(&mut self, bracket: u8, items: bool) {
        self.out.push(bracket);
        self.depth -= 1;
        if self.depth == 0 && items {
            self.top = Top::Json;
        }
    }

    /// Opens the `{"variant": ` of an externally tagged enum variant.
    fn open_variant(&mut self, variant: &str) {
        self.open(b'{');
        write_string(self.out, variant);
        self.out.extend_from_slice(b": ");
    }

    fn close_variant(&mut self) {
        self.close(b'}', true);
    }

    #[inline]
    fn int(&mut self, v: i64) {
        self.value(v != 0);
        write_i64(self.out, v);
    }

    fn wide_int(&mut self, negative: bool, magnitude: u128) {
        self.value(magnitude != 0);
        if negative {
            self.out.push(b'-');
        }
        write_u128(self.out, magnitude);
    }
}

/// Writes the ISO text of a [`DateTime`] as a JSON string, without its
/// offset when `naive`.
fn write_iso_text(out: &mut Vec<u8>, v: &str, naive: bool) {
    let text = if naive {
        // `isoformat` text: the offset, if any, follows the seconds (index
        // 19) or their fraction (index 26).
        let b = v.as_bytes();
        let offset = [19, 26]
            .into_iter()
            .find(|&i| matches!(b.get(i), Some(b'+' | b'-')));
        offset.and_then(|i| v.get(..i)).unwrap_or(v)
    } else {
        v
    };
    // Escaped like any string, whatever the text: the JSON stays valid.
    write_string(out, text);
}

impl<'o> Writer<'o> {
    /// Opens a list or dict (`bracket`), inside `{"variant": ` for an enum
    /// variant's content.
    fn compound<'w>(&'w mut self, variant: Option<&str>, bracket: u8) -> Compound<'w, 'o> {
        match variant {
            Some(name) => {
                self.open_variant(name);
                self.out.push(bracket);
                self.depth += 1;
            }
            None => self.open(bracket),
        }
        Compound {
            w: self,
            items: false,
            variant: variant.is_some(),
        }
    }
}

/// The state of a list or dict being written.
struct Compound<'w, 'o> {
    w: &'w mut Writer<'o>,
    items: bool,
    /// An enum variant's content, closed with an extra `}`.
    variant: bool,
}

impl<'w, 'o> Compound<'w, 'o> {
    #[inline]
    fn separator(&mut self) {
        if self.items {
            self.w.out.extend_from_slice(b", ");
        }
        self.items = true;
    }

    fn end(self, bracket: u8) {
        self.w.close(bracket, self.items);
        if self.variant {
            self.w.close_variant();
        }
    }

    #[inline]
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        self.separator();
        write_string(self.w.out, key);
        self.w.out.extend_from_slice(b": ");
        value.serialize(&mut *self.w).map_err(|e| e.under(key))
    }
}

impl<'w, 'o> ser::Serializer for &'w mut Writer<'o> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Compound<'w, 'o>;
    type SerializeTuple = Compound<'w, 'o>;
    type SerializeTupleStruct = Compound<'w, 'o>;
    type SerializeTupleVariant = Compound<'w, 'o>;
    type SerializeMap = Compound<'w, 'o>;
    type SerializeStruct = Compound<'w, 'o>;
    type SerializeStructVariant = Compound<'w, 'o>;

    widen_all!();

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.value(v);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        self.int(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        self.wide_int(v < 0, v.unsigned_abs());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        match i64::try_from(v) {
            Ok(i) => self.int(i),
            Err(_) => self.wide_int(false, v.into()),
        }
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        self.wide_int(false, v);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        // NaN is true in Python.
        self.value(v != 0.0);
        write_json_float(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        // A list of ints, as serde_json makes of bytes.
        self.open(b'[');
        for (i, b) in v.iter().enumerate() {
            if i > 0 {
                self.out.extend_from_slice(b", ");
            }
            write_i64(self.out, i64::from(*b));
        }
        self.close(b']', !v.is_empty());
        Ok(())
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.value(false);
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<()> {
        match name {
            DATETIME_TOKEN => {
                // The text is the datetime's isoformat: written as it is,
                // not parsed and formatted again.
                self.value(true);
                self.datetimes = true;
                let (out, naive) = (&mut *self.out, self.naive);
                value.serialize(StrOnly(|v: &str| {
                    write_iso_text(out, v, naive);
                    Ok(())
                }))
            }
            BIGINT_TOKEN => {
                let digits = bigint_digits(value)?;
                self.value(true);
                self.out.extend_from_slice(digits.as_bytes());
                Ok(())
            }
            _ => value.serialize(self),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.open_variant(variant);
        value.serialize(&mut *self)?;
        self.close_variant();
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'o>> {
        Ok(self.compound(None, b'['))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'o>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'w, 'o>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'o>> {
        Ok(self.compound(Some(variant), b'['))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'w, 'o>> {
        Ok(self.compound(None, b'{'))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'o>> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'o>> {
        Ok(self.compound(Some(variant), b'{'))
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<()> {
        let text = TextBuf::collect(value);
        match string_datetime(text.as_str()) {
            Some(d) => self.datetime(&d),
            None => self.string(text.as_str()),
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;

    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.separator();
        value.serialize(&mut *self.w)
    }

    fn end(self) -> Result<()> {
        Compound::end(self, b']');
        Ok(())
    }
}

seq_like!(Compound<'_, '_>, ());

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.separator();
        let mut text = String::new();
        key.serialize(KeyText(&mut text))?;
        write_string(self.w.out, &text);
        self.w.out.extend_from_slice(b": ");
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(&mut *self.w)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<()> {
        // String keys, the usual case, go straight out.
        let mut text = String::new();
        key.serialize(KeyText(&mut text))?;
        self.field(&text, value)
    }

    fn end(self) -> Result<()> {
        Compound::end(self, b'}');
        Ok(())
    }
}

struct_like!(
    Compound<'_, '_>,
    (),
    |c, key, value| c.field(key, value),
    |c| {
        Compound::end(c, b'}');
        Ok(())
    }
);

// ---------------------------------------------------------------------------
// Into a Value, by the same rules.
// ---------------------------------------------------------------------------

/// Converts any serialisable value into message data, by the rules of the
/// module documentation.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, MessageError> {
    value.serialize(ValueSerializer).map_err(MessageError::from)
}

/// Builds a [`Value`].
struct ValueSerializer;

/// A list being built.
struct SeqBuilder {
    items: Vec<Value>,
    /// `Some`: the variant of an enum, whose content this is.
    variant: Option<&'static str>,
}

/// A dict being built.
struct MapBuilder {
    map: Map,
    key: Option<CompactString>,
    variant: Option<&'static str>,
}

/// `{variant: value}`, an externally tagged enum variant.
fn tagged(variant: Option<&'static str>, value: Value) -> Value {
    match variant {
        Some(name) => {
            let mut m = Map::with_capacity(1);
            m.insert(name.into(), value);
            Value::Object(m)
        }
        None => value,
    }
}

fn key_text<T: Serialize + ?Sized>(key: &T) -> Result<CompactString> {
    let mut text = String::new();
    key.serialize(KeyText(&mut text))?;
    Ok(text.into())
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = SerError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    widen_all!();

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::String(CompactString::from(
            &*v.encode_utf8(&mut [0; 4]),
        )))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::String(v.into()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(Value::Array(v.iter().map(|&b| Value::from(b)).collect()))
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::String(variant.into()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value> {
        match name {
            DATETIME_TOKEN => datetime_of(value).map(Value::DateTime),
            BIGINT_TOKEN => bigint_digits(value).map(Value::BigInt),
            _ => value.serialize(self),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(tagged(Some(variant), value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder {
            map: Map::with_capacity(len.unwrap_or(0)),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapBuilder> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapBuilder> {
        Ok(MapBuilder {
            map: Map::with_capacity(len),
            key: None,
            variant: Some(variant),
        })
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<Value> {
        let text = TextBuf::collect(value);
        Ok(match string_datetime(text.as_str()) {
            Some(d) => Value::DateTime(d),
            None => Value::String(text.as_str().into()),
        })
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = SerError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(ValueSerializer)?);
        Ok(())
    }

    fn end(self) -> Result<Value> {
        Ok(tagged(self.variant, Value::Array(self.items)))
    }
}

seq_like!(SeqBuilder, Value);

impl MapBuilder {
    fn entry<T: Serialize + ?Sized>(&mut self, key: CompactString, value: &T) -> Result<()> {
        let v = value
            .serialize(ValueSerializer)
            .map_err(|e| e.under(&key))?;
        self.map.insert(key, v);
        Ok(())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = SerError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key_text(key)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self.key.take().unwrap_or_default();
        self.entry(key, value)
    }

    fn end(self) -> Result<Value> {
        Ok(tagged(self.variant, Value::Object(self.map)))
    }
}

struct_like!(
    MapBuilder,
    Value,
    |m, key, value| m.entry(CompactString::const_new(key), value),
    |m| ser::SerializeMap::end(m)
);

#[cfg(test)]
mod tests {
    use super::*;

    fn wire<T: Serialize + ?Sized>(v: &T) -> (String, Written) {
        let mut out = Vec::new();
        let w = write_data(&mut out, v, false).unwrap();
        (String::from_utf8(out).unwrap(), w)
    }

    #[test]
    fn top_level_forms() {
        assert_eq!(wire(&0), (String::new(), Written::Nothing));
        assert_eq!(wire(&""), (String::new(), Written::Nothing));
        assert_eq!(wire(&Vec::<u8>::new()), (String::new(), Written::Nothing));
        assert_eq!(wire(&()), (String::new(), Written::Nothing));
        assert_eq!(wire(&-0.0), (String::new(), Written::Nothing));
        assert_eq!(wire(&"a b"), (" text/ascii a b".into(), Written::Text));
        assert_eq!(
            wire(&[1.5, 2.0]),
            (
                " application/json [1.5, 2.0]".into(),
                Written::Json { datetimes: false }
            )
        );
        assert_eq!(
            wire(&Some(u64::MAX)),
            (
                " application/json 18446744073709551615".into(),
                Written::Json { datetimes: false }
            )
        );
        assert_eq!(
            wire(&i128::MIN).0,
            " application/json -170141183460469231731687303715884105728"
        );
    }

    #[test]
    fn map_keys_as_python_writes_them() {
        let m: Vec<(Option<bool>, u8)> = vec![];
        assert_eq!(wire(&m).1, Written::Nothing);
        let mut m = std::collections::BTreeMap::new();
        m.insert(1.5f64.to_bits(), 1);
        let (w, _) = wire(&m);
        assert!(w.starts_with(" application/json {\""), "{w}");
        let mut k = std::collections::BTreeMap::new();
        k.insert(true, "x");
        assert_eq!(wire(&k).0, r#" application/json {"true": "x"}"#);
        let mut bad = std::collections::BTreeMap::new();
        bad.insert(vec![1], 1);
        let mut out = Vec::new();
        let err = write_data(&mut out, &bad, false).unwrap_err();
        assert!(err.to_string().contains("dict keys must be"), "{err}");
    }

    #[test]
    fn chrono_fields_are_datetimes() {
        let t = chrono::NaiveDate::from_ymd_opt(2020, 12, 1)
            .unwrap()
            .and_hms_micro_opt(12, 1, 25, 600_000)
            .unwrap();
        #[derive(serde::Serialize)]
        struct S {
            naive: chrono::NaiveDateTime,
            utc: chrono::DateTime<chrono::Utc>,
            text: String,
        }
        let s = S {
            naive: t,
            utc: t.and_utc(),
            text: "2020-12-01T12:00:00".into(),
        };
        assert_eq!(
            wire(&s),
            (
                r#" application/json {"naive": "2020-12-01T12:01:25.600000", "utc": "2020-12-01T12:01:25.600000+00:00", "text": "2020-12-01T12:00:00"}"#.into(),
                Written::Json { datetimes: true }
            )
        );
        let mut out = Vec::new();
        write_data(&mut out, &s, true).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""utc": "2020-12-01T12:01:25.600000", "#));
        let v = to_value(&s).unwrap();
        assert!(matches!(v["naive"], Value::DateTime(_)));
        assert!(matches!(v["text"], Value::String(_)));
    }
}

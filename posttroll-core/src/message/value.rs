//! The data model of JSON message data, as the Python reference sees it.
//!
//! JSON values plus datetimes: the reference writes datetimes into JSON as
//! ISO strings and, on reading, turns every string that parses as an ISO
//! datetime (anywhere below an object) back into a datetime. [`Value`] keeps
//! the distinction, because it decides the message version and how the
//! datetime is written back.

use compact_str::CompactString;
use serde::Serialize;

use super::datetime::DateTime;
use super::error::MessageError;
use super::map::Map;

/// A value of JSON message data.
///
/// # Examples
///
/// ```
/// use posttroll_core::{DateTime, Value};
///
/// let v = Value::object([
///     ("platform_name", Value::from("NOAA-20")),
///     ("orbit_number", Value::from(12345)),
///     ("start_time", Value::from(DateTime::parse_isoformat("2020-12-01T12:00:00").unwrap())),
/// ]);
/// assert!(v.contains_datetime());
/// assert_eq!(v["platform_name"].as_str(), Some("NOAA-20"));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// JSON `null`, Python `None`.
    #[default]
    Null,
    /// JSON `true`/`false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer beyond 64 bits (Python ints have no bound), kept as its
    /// decimal digits with an optional leading `-`.
    BigInt(String),
    /// A float, written as Python's `repr` (`NaN`, `Infinity` included).
    Float(f64),
    /// A string (stored inline up to 24 bytes: most data strings need no
    /// allocation).
    String(CompactString),
    /// A datetime; written as an ISO string.
    DateTime(DateTime),
    /// A list.
    Array(Vec<Value>),
    /// A dict, keys in insertion order.
    Object(Map),
}

pub(crate) static NULL: Value = Value::Null;

impl Value {
    /// Builds an object from key/value pairs, in order.
    pub fn object<K: AsRef<str>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        let pairs = pairs.into_iter();
        let mut map = Map::with_capacity(pairs.size_hint().0);
        for (k, v) in pairs {
            map.insert_str(k.as_ref(), v);
        }
        Value::Object(map)
    }

    /// Python truthiness: `None`, `False`, `0`, `0.0`, `""`, `[]` and `{}`
    /// are false. The reference writes no data part for false data.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::BigInt(_) => true,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::DateTime(_) => true,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    /// True when a datetime is anywhere inside (then the reference writes
    /// version `v1.2`).
    pub fn contains_datetime(&self) -> bool {
        match self {
            Value::DateTime(_) => true,
            Value::Array(a) => a.iter().any(Value::contains_datetime),
            Value::Object(o) => o.values().any(Value::contains_datetime),
            _ => false,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one that fits in 64 bits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, if this is an int or a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The datetime, if this is one.
    pub fn as_datetime(&self) -> Option<&DateTime> {
        match self {
            Value::DateTime(d) => Some(d),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The dict, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The mutable dict, if this is one.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The value under `key` when this is a dict holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(key))
    }

    /// Converts any serialisable value (a user struct, a `serde_json::Value`)
    /// into message data, by the rules of the typed path
    /// ([`Message::new_typed`](super::Message::new_typed)), so that both
    /// give the same bytes: chrono datetime fields (and [`DateTime`]s)
    /// become [`Value::DateTime`], strings stay strings, integers of any
    /// width are kept exactly, non-finite floats stay floats (written
    /// `NaN`, `Infinity`), bytes become a list of ints.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Value;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Meta { sensor: String, orbit: u32, start_time: chrono::NaiveDateTime }
    /// let start_time = chrono::NaiveDate::from_ymd_opt(2020, 12, 1)
    ///     .and_then(|d| d.and_hms_opt(12, 0, 0))
    ///     .unwrap();
    /// let v = Value::from_serialize(&Meta { sensor: "viirs".into(), orbit: 7, start_time }).unwrap();
    /// assert_eq!(v["orbit"].as_i64(), Some(7));
    /// assert!(v["start_time"].as_datetime().is_some());
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Value, MessageError> {
        super::ser::to_value(value)
    }

    /// Parses JSON text as the reference reads message data (`json.loads`
    /// with its datetime hook): `NaN` and `Infinity` are floats, integers
    /// have no bound, and strings below a dict that are ISO datetimes
    /// become [`Value::DateTime`].
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Value;
    ///
    /// let v = Value::parse_json(r#"{"start_time": "2020-12-01T12:00:00", "n": 12345678901234567890123}"#)?;
    /// assert!(v["start_time"].as_datetime().is_some());
    /// assert!(matches!(v["n"], Value::BigInt(_)));
    /// assert!(Value::parse_json("{oops").is_err());
    /// # Ok::<(), posttroll_core::MessageError>(())
    /// ```
    pub fn parse_json(text: &str) -> Result<Value, MessageError> {
        let mut v = Value::Null;
        super::json::parse_into(text, &mut v).map_err(|e| super::json_error(text, e))?;
        Ok(v)
    }

    /// The value as a `serde_json::Value`; datetimes become ISO strings with
    /// an offset (a naive one gets `+00:00`, as posttroll reads naive as UTC),
    /// so `chrono::DateTime<Utc>` fields deserialise from them.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::BigInt(s) => s
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::String(s.clone())),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::DateTime(d) => {
                let aware = if d.is_naive() {
                    DateTime::with_offset(d.local(), 0).unwrap_or(*d)
                } else {
                    *d
                };
                serde_json::Value::String(aware.isoformat())
            }
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(o) => serde_json::Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The datetime a string below a JSON object becomes, if any.
#[inline]
pub(crate) fn string_datetime(s: &str) -> Option<DateTime> {
    if DateTime::may_be_isoformat(s) {
        DateTime::parse_isoformat_opt(s)
    } else {
        None
    }
}

impl std::str::FromStr for Value {
    type Err = MessageError;

    /// [`Value::parse_json`].
    fn from_str(s: &str) -> Result<Value, MessageError> {
        Value::parse_json(s)
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;

    /// The value under `key`, or `Null` when absent or not a dict.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            // Posttroll's serializers write the digits as a number; to every
            // other serializer they are a string.
            Value::BigInt(s) => {
                serializer.serialize_newtype_struct(super::ser::BIGINT_TOKEN, s.as_str())
            }
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::DateTime(d) => d.serialize(serializer),
            Value::Array(a) => a.serialize(serializer),
            Value::Object(o) => o.serialize(serializer),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

/// Integers that may not fit in an `i64`: a [`Value::BigInt`] when they do not.
macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                i64::try_from(v).map_or_else(|_| Value::BigInt(v.to_string()), Value::Int)
            }
        }
    )*};
}
from_wide_int!(u64, usize, isize, i128, u128);

impl From<f32> for Value {
    /// The `f64` of the same value (Python has one float type).
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v.into())
    }
}

impl From<CompactString> for Value {
    fn from(v: CompactString) -> Self {
        Value::String(v)
    }
}

impl From<DateTime> for Value {
    fn from(v: DateTime) -> Self {
        Value::DateTime(v)
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Value {
    fn from(v: chrono::DateTime<chrono::Utc>) -> Self {
        Value::DateTime(v.into())
    }
}

impl From<chrono::NaiveDateTime> for Value {
    fn from(v: chrono::NaiveDateTime) -> Self {
        Value::DateTime(v.into())
    }
}

impl From<Map> for Value {
    fn from(v: Map) -> Self {
        Value::Object(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

//! `#[serde(with = "...")]` helpers for chrono datetime fields of typed
//! message data, through this crate's [`DateTime`]: the same bytes and the
//! same values as chrono's own serde impls give on posttroll messages, but
//! without chrono's text formatter and parser (which cost more than all the
//! rest of a typed message's encoding or decoding).
//!
//! | field type | helper |
//! | --- | --- |
//! | `chrono::NaiveDateTime` | [`naive`] |
//! | `chrono::DateTime<Utc>` | [`utc`] |
//! | `Option<chrono::NaiveDateTime>` | [`option_naive`] |
//! | `Option<chrono::DateTime<Utc>>` | [`option_utc`] |
//!
//! Reading, a naive time on the wire is UTC, and a time with an offset is
//! converted to UTC (for a `NaiveDateTime`, its UTC wall clock).
//!
//! # Examples
//!
//! ```
//! use chrono::{NaiveDate, NaiveDateTime};
//! use posttroll_core::message::serde_datetime;
//! use posttroll_core::Message;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct FileMeta {
//!     #[serde(with = "serde_datetime::naive")]
//!     start_time: NaiveDateTime,
//!     #[serde(with = "serde_datetime::option_naive", default)]
//!     end_time: Option<NaiveDateTime>,
//! }
//!
//! let start_time = NaiveDate::from_ymd_opt(2020, 12, 1)
//!     .and_then(|d| d.and_hms_opt(12, 0, 0))
//!     .unwrap();
//! let frame = Message::new_typed("/a", "file", FileMeta { start_time, end_time: None })?
//!     .encode_typed()?;
//! let back = Message::decode_typed::<FileMeta>(&frame)?;
//! assert_eq!(back.data.start_time, start_time);
//! # Ok::<(), posttroll_core::MessageError>(())
//! ```

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DateTime;

/// The UTC wall clock of a wire datetime (naive ones are UTC already).
fn naive_utc(d: DateTime) -> NaiveDateTime {
    if d.is_naive() {
        d.local()
    } else {
        d.to_utc().naive_utc()
    }
}

/// `chrono::NaiveDateTime`: written naive, read as the UTC wall clock.
pub mod naive {
    use super::*;

    /// Writes the time as a naive datetime.
    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        DateTime::naive(*t).serialize(s)
    }

    /// Reads any datetime `fromisoformat` reads, as its UTC wall clock.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        DateTime::deserialize(d).map(naive_utc)
    }
}

/// `chrono::DateTime<Utc>`: written with `+00:00`, read as UTC.
pub mod utc {
    use super::*;

    /// Writes the time with its `+00:00` offset.
    pub fn serialize<S: Serializer>(t: &chrono::DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        DateTime::from(*t).serialize(s)
    }

    /// Reads any datetime `fromisoformat` reads; naive ones are UTC.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::DateTime<Utc>, D::Error> {
        DateTime::deserialize(d).map(|t| t.to_utc())
    }
}

/// `Option<chrono::NaiveDateTime>`: `None` is `null` (add
/// `#[serde(default)]` to read a missing key as `None`).
pub mod option_naive {
    use super::*;

    /// Writes the time as [`naive`] does, `None` as `null`.
    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        t.map(DateTime::naive).serialize(s)
    }

    /// Reads `null` as `None`, a datetime as [`naive`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        Option::<DateTime>::deserialize(d).map(|t| t.map(naive_utc))
    }
}

/// `Option<chrono::DateTime<Utc>>`: `None` is `null` (add
/// `#[serde(default)]` to read a missing key as `None`).
pub mod option_utc {
    use super::*;

    /// Writes the time as [`utc`] does, `None` as `null`.
    pub fn serialize<S: Serializer>(
        t: &Option<chrono::DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        t.map(DateTime::from).serialize(s)
    }

    /// Reads `null` as `None`, a datetime as [`utc`] does.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<chrono::DateTime<Utc>>, D::Error> {
        Option::<DateTime>::deserialize(d).map(|t| t.map(|t| t.to_utc()))
    }
}

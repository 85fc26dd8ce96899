//! Datetimes as the Python reference sees them.
//!
//! Python datetimes are either *naive* (no offset; posttroll reads them as UTC)
//! or *aware* (a fixed UTC offset, which Python allows down to the
//! microsecond). [`DateTime`] keeps that distinction, because it decides how a
//! datetime is written back: [`DateTime::isoformat`] writes exactly what
//! Python's `datetime.isoformat()` writes, and [`DateTime::parse_isoformat`]
//! accepts exactly what Python 3.12's `datetime.fromisoformat()` accepts
//! (including its quirks, such as compact and ISO week dates), because the
//! reference turns every string in received JSON that passes it into a
//! datetime.

use std::fmt;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// Microseconds in a day: Python offsets must be strictly inside ±1 day.
const DAY_MICROS: i64 = 86_400_000_000;

/// A Python-compatible datetime: a wall-clock time with an optional UTC offset.
///
/// # Examples
///
/// ```
/// use posttroll_core::DateTime;
///
/// let t = DateTime::parse_isoformat("2008-04-11T22:13:22.123000").unwrap();
/// assert!(t.is_naive());
/// assert_eq!(t.isoformat(), "2008-04-11T22:13:22.123000");
///
/// let z = DateTime::parse_isoformat("2020-12-01T12:00:00Z").unwrap();
/// assert_eq!(z.isoformat(), "2020-12-01T12:00:00+00:00");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateTime {
    local: NaiveDateTime,
    /// Offset from UTC in microseconds, strictly inside ±1 day; `None` when naive.
    offset_us: Option<i64>,
}

/// Why an ISO 8601 string was refused by [`DateTime::parse_isoformat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid isoformat string: '{shown}'")]
pub struct IsoFormatError {
    shown: String,
}

impl IsoFormatError {
    fn new(input: &str) -> Self {
        IsoFormatError {
            shown: super::error::excerpt(input),
        }
    }
}

impl DateTime {
    /// A naive datetime (no offset), read as UTC by posttroll.
    pub fn naive(local: NaiveDateTime) -> Self {
        DateTime {
            local,
            offset_us: None,
        }
    }

    /// An aware datetime: `local` wall-clock time at `offset_seconds` east of UTC.
    ///
    /// Returns `None` when the offset is not strictly inside ±24 hours.
    pub fn with_offset(local: NaiveDateTime, offset_seconds: i32) -> Option<Self> {
        Self::with_offset_micros(local, i64::from(offset_seconds) * 1_000_000)
    }

    /// An aware datetime whose offset has microseconds, as Python allows.
    ///
    /// Returns `None` when the offset is not strictly inside ±24 hours.
    pub fn with_offset_micros(local: NaiveDateTime, offset_us: i64) -> Option<Self> {
        (offset_us.abs() < DAY_MICROS).then_some(DateTime {
            local,
            offset_us: Some(offset_us),
        })
    }

    /// The current time, aware, in UTC (what a new Python `Message` gets).
    pub fn now_utc() -> Self {
        Utc::now().into()
    }

    /// The wall-clock date and time, without the offset.
    pub fn local(&self) -> NaiveDateTime {
        self.local
    }

    /// True when the datetime has no offset.
    pub fn is_naive(&self) -> bool {
        self.offset_us.is_none()
    }

    /// The UTC offset in microseconds, `None` when naive.
    pub fn offset_micros(&self) -> Option<i64> {
        self.offset_us
    }

    /// The same wall-clock time with the offset dropped, not converted, as
    /// Python's `dt.replace(tzinfo=None)` does (posttroll's `v1.01` encoding).
    pub fn without_offset(&self) -> Self {
        DateTime::naive(self.local)
    }

    /// The instant in UTC; a naive datetime is taken to be UTC already.
    pub fn to_utc(&self) -> chrono::DateTime<Utc> {
        let utc = match self.offset_us {
            None => self.local,
            Some(off) => self.local - chrono::TimeDelta::microseconds(off),
        };
        Utc.from_utc_datetime(&utc)
    }

    /// The datetime with a whole-second chrono offset (naive counts as UTC;
    /// sub-second parts of an offset are dropped).
    pub fn to_fixed_offset(&self) -> chrono::DateTime<FixedOffset> {
        let secs = self.offset_us.map_or(0, |us| us / 1_000_000) as i32;
        // |secs| < 86400 by construction, so the offset is always valid.
        match FixedOffset::east_opt(secs) {
            Some(offset) => self.to_utc().with_timezone(&offset),
            None => self.to_utc().fixed_offset(),
        }
    }

    /// Python's `datetime.isoformat()`: `YYYY-MM-DDTHH:MM:SS`, then
    /// `.ffffff` when the microseconds are not zero, then the offset when aware.
    pub fn isoformat(&self) -> String {
        let mut out = String::with_capacity(32);
        self.write_isoformat(&mut out);
        out
    }

    /// Appends [`DateTime::isoformat`] to `out` without allocating.
    pub fn write_isoformat(&self, out: &mut String) {
        // SAFETY-free: push ASCII bytes through the String API.
        let mut buf = [0u8; 48];
        let n = self.isoformat_bytes(&mut buf);
        out.extend(buf[..n].iter().map(|&b| b as char));
    }

    /// Writes the isoformat text into `buf`, returning its length (ASCII only).
    pub(crate) fn isoformat_bytes(&self, buf: &mut [u8; 48]) -> usize {
        let d = self.local.date();
        let t = self.local.time();
        let mut w = AsciiWriter { buf, n: 0 };
        w.num(d.year().unsigned_abs(), 4);
        w.byte(b'-');
        w.num(d.month(), 2);
        w.byte(b'-');
        w.num(d.day(), 2);
        w.byte(b'T');
        w.num(t.hour(), 2);
        w.byte(b':');
        w.num(t.minute(), 2);
        w.byte(b':');
        w.num(t.second(), 2);
        let micros = t.nanosecond() / 1000;
        if micros != 0 {
            w.byte(b'.');
            w.num(micros, 6);
        }
        if let Some(off) = self.offset_us {
            w.byte(if off < 0 { b'-' } else { b'+' });
            let abs = off.unsigned_abs();
            let us = (abs % 1_000_000) as u32;
            let total_s = (abs / 1_000_000) as u32;
            w.num(total_s / 3600, 2);
            w.byte(b':');
            w.num(total_s / 60 % 60, 2);
            if us != 0 || total_s % 60 != 0 {
                w.byte(b':');
                w.num(total_s % 60, 2);
                if us != 0 {
                    w.byte(b'.');
                    w.num(us, 6);
                }
            }
        }
        w.n
    }

    /// Python 3.12's `datetime.fromisoformat()`, quirks included.
    ///
    /// Accepts the calendar (`2020-12-01`, `20201201`) and ISO week
    /// (`2020-W49-2`, `2020W492`) date forms, any single character between
    /// date and time, times `HH[:MM[:SS[.f…]]]` or their compact forms,
    /// fractions of any length (cut to microseconds) with `.` or `,`, and
    /// offsets `Z`, `±HH[:MM[:SS[.ffffff]]]`.
    pub fn parse_isoformat(s: &str) -> Result<Self, IsoFormatError> {
        iso::parse(s).ok_or_else(|| IsoFormatError::new(s))
    }

    /// A cheap pre-check used on every string of received JSON: false means
    /// [`DateTime::parse_isoformat`] would surely fail.
    #[inline]
    pub(crate) fn may_be_isoformat(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() >= 7 && b[..4].iter().all(u8::is_ascii_digit)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        let n = self.isoformat_bytes(&mut buf);
        // isoformat_bytes only writes ASCII.
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        DateTime {
            local: t.naive_utc(),
            offset_us: Some(0),
        }
    }
}

impl From<chrono::DateTime<FixedOffset>> for DateTime {
    fn from(t: chrono::DateTime<FixedOffset>) -> Self {
        DateTime {
            local: t.naive_local(),
            offset_us: Some(i64::from(t.offset().local_minus_utc()) * 1_000_000),
        }
    }
}

impl From<NaiveDateTime> for DateTime {
    fn from(t: NaiveDateTime) -> Self {
        DateTime::naive(t)
    }
}

impl From<DateTime> for chrono::DateTime<Utc> {
    fn from(t: DateTime) -> Self {
        t.to_utc()
    }
}

impl std::str::FromStr for DateTime {
    type Err = IsoFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_isoformat(s)
    }
}

impl serde::Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DateTime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DateTime::parse_isoformat(&s).map_err(serde::de::Error::custom)
    }
}

/// Writes zero-padded numbers and ASCII bytes into a fixed buffer.
struct AsciiWriter<'a> {
    buf: &'a mut [u8; 48],
    n: usize,
}

impl AsciiWriter<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }

    #[inline]
    fn num(&mut self, mut v: u32, width: usize) {
        for i in (0..width).rev() {
            self.buf[self.n + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.n += width;
    }
}

/// The parser, written after the behaviour of CPython 3.12's C implementation
/// (`_datetimemodule.c`), which works on the UTF-8 bytes of the string and
/// reads a NUL past the end.
mod iso {
    use super::*;

    /// The byte at `i`, or NUL past the end (as the C code sees it).
    #[inline]
    fn at(b: &[u8], i: usize) -> u8 {
        b.get(i).copied().unwrap_or(0)
    }

    /// Reads exactly `n` ASCII digits at `pos`.
    fn digits(b: &[u8], pos: usize, n: usize) -> Option<(u32, usize)> {
        let mut v: u32 = 0;
        for i in 0..n {
            let c = at(b, pos + i);
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some((v, pos + n))
    }

    fn separator_location(b: &[u8]) -> usize {
        let len = b.len();
        if len == 7 {
            return 7;
        }
        if b[4] == b'-' {
            if b[5] == b'W' {
                if len < 8 {
                    return usize::MAX;
                }
                if len > 8 && b[8] == b'-' {
                    if len == 9 {
                        return usize::MAX;
                    }
                    if len > 10 && at(b, 10).is_ascii_digit() {
                        return 8;
                    }
                    return 10;
                }
                8
            } else {
                10
            }
        } else if b[4] == b'W' {
            let mut idx = 7;
            while idx < len && b[idx].is_ascii_digit() {
                idx += 1;
            }
            if idx < 9 {
                idx
            } else if idx % 2 == 0 {
                7
            } else {
                8
            }
        } else {
            8
        }
    }

    /// The date part, `b[..len]`; returns (year, month, day) unvalidated
    /// except for week dates, which are resolved here.
    fn date(b: &[u8], len: usize) -> Option<(i32, u32, u32)> {
        let (year, mut p) = digits(b, 0, 4)?;
        let sep = at(b, p) == b'-';
        if sep {
            p += 1;
        }
        if at(b, p) == b'W' {
            p += 1;
            let (week, q) = digits(b, p, 2)?;
            p = q;
            let weekday = if p < len {
                if sep {
                    if at(b, p) != b'-' {
                        return None;
                    }
                    p += 1;
                }
                digits(b, p, 1)?.0
            } else {
                1
            };
            if !(1..=7).contains(&weekday) || week == 0 || week > 53 || year == 0 {
                return None;
            }
            let wd = chrono::Weekday::try_from((weekday - 1) as u8).ok()?;
            let d = NaiveDate::from_isoywd_opt(year as i32, week, wd)?;
            return Some((d.year(), d.month(), d.day()));
        }
        let (month, q) = digits(b, p, 2)?;
        p = q;
        if sep {
            if at(b, p) != b'-' {
                return None;
            }
            p += 1;
        }
        let (day, _) = digits(b, p, 2)?;
        Some((year as i32, month, day))
    }

    /// `HH[:MM[:SS[.ffffff]]]` from `start` up to `end` (exclusive).
    /// Returns the four values and whether anything was left before `end`
    /// (the C code's return value 1), or `None` on failure.
    fn hh_mm_ss_ff(b: &[u8], start: usize, end: usize) -> Option<([u32; 4], bool)> {
        let mut vals = [0u32; 4];
        let mut p = start;
        let mut has_sep = true;
        for (i, val) in vals.iter_mut().take(3).enumerate() {
            let (v, q) = digits(b, p, 2)?;
            *val = v;
            p = q;
            let c = at(b, p);
            p += 1;
            if i == 0 {
                has_sep = c == b':';
            }
            if p >= end {
                return Some((vals, c != 0));
            } else if has_sep && c == b':' {
                continue;
            } else if c == b'.' || c == b',' {
                break;
            } else if !has_sep {
                p -= 1;
            } else {
                return None;
            }
        }
        let remains = end.saturating_sub(p);
        let to_parse = remains.min(6);
        let (mut us, mut q) = digits(b, p, to_parse)?;
        if to_parse > 0 && to_parse < 6 {
            us *= 10u32.pow((6 - to_parse) as u32);
        }
        vals[3] = us;
        while at(b, q).is_ascii_digit() {
            q += 1;
        }
        Some((vals, at(b, q) != 0))
    }

    /// Returns (h, m, s, us, offset in microseconds if any).
    fn time(b: &[u8], start: usize) -> Option<([u32; 4], Option<i64>)> {
        let end = b.len();
        let mut tz = start;
        loop {
            let c = at(b, tz);
            if c == b'Z' || c == b'+' || c == b'-' {
                break;
            }
            tz += 1;
            if tz >= end {
                break;
            }
        }
        let (vals, rest) = hh_mm_ss_ff(b, start, tz)?;
        if tz >= end {
            return if rest { None } else { Some((vals, None)) };
        }
        if b[tz] == b'Z' {
            // The C code checks for the terminating NUL, so an embedded NUL
            // after the `Z` ends the string too.
            return if at(b, tz + 1) != 0 {
                None
            } else {
                Some((vals, Some(0)))
            };
        }
        let sign: i64 = if b[tz] == b'-' { -1 } else { 1 };
        let (tzv, rest) = hh_mm_ss_ff(b, tz + 1, end)?;
        if rest {
            return None;
        }
        let secs = i64::from(tzv[0]) * 3600 + i64::from(tzv[1]) * 60 + i64::from(tzv[2]);
        // Python builds UTC when the whole seconds are zero, dropping any
        // microseconds of the offset.
        let off = if secs == 0 {
            0
        } else {
            sign * (secs * 1_000_000 + i64::from(tzv[3]))
        };
        Some((vals, Some(off)))
    }

    /// The canonical shapes `YYYY-MM-DD?HH:MM:SS[.ffffff][±HH:MM]` (what
    /// `isoformat` writes, so nearly everything on the wire), parsed
    /// directly. `None` means "not canonical or not valid": the general
    /// parser then decides, so results are the same either way.
    #[inline]
    fn canonical(b: &[u8]) -> Option<DateTime> {
        let len = b.len();
        let (has_frac, has_tz) = match len {
            19 => (false, false),
            26 => (true, false),
            25 => (false, true),
            32 => (true, true),
            _ => return None,
        };
        if b[4] != b'-' || b[7] != b'-' || !b[10].is_ascii() || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let d2 = |i: usize| -> Option<u32> {
            let (x, y) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
            (x < 10 && y < 10).then(|| u32::from(x) * 10 + u32::from(y))
        };
        let year = d2(0)? * 100 + d2(2)?;
        let (month, day) = (d2(5)?, d2(8)?);
        let (hour, minute, second) = (d2(11)?, d2(14)?, d2(17)?);
        let mut micros = 0;
        if has_frac {
            if b[19] != b'.' {
                return None;
            }
            micros = d2(20)? * 10_000 + d2(22)? * 100 + d2(24)?;
        }
        let offset = if has_tz {
            let t = if has_frac { 26 } else { 19 };
            let sign: i64 = match b[t] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if b[t + 3] != b':' {
                return None;
            }
            let (h, m) = (d2(t + 1)?, d2(t + 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            Some(sign * i64::from(h * 3600 + m * 60) * 1_000_000)
        } else {
            None
        };
        if year == 0 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
        Some(DateTime {
            local: NaiveDateTime::new(date, time),
            // `-00:00` is UTC, written `+00:00`, as the general path does.
            offset_us: offset.map(|o| if o == 0 { 0 } else { o }),
        })
    }

    pub(super) fn parse(s: &str) -> Option<DateTime> {
        if let Some(d) = canonical(s.as_bytes()) {
            return Some(d);
        }
        // At least 7 characters (a character is at most 4 bytes).
        if s.len() < 7 || (s.len() < 28 && s.chars().count() < 7) {
            return None;
        }
        let b = s.as_bytes();
        let len = b.len();
        let sep = separator_location(b);
        if sep == usize::MAX {
            return None;
        }
        let (year, month, day) = date(b, sep)?;
        let (vals, offset) = if len > sep {
            // The separator is any one character, ASCII or not.
            let width = s
                .get(sep..)
                .and_then(|t| t.chars().next())
                .map_or(1, char::len_utf8);
            time(b, sep + width)?
        } else {
            ([0; 4], None)
        };
        if let Some(off) = offset {
            if off.abs() >= DAY_MICROS {
                return None;
            }
        }
        if !(1..=9999).contains(&year) {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        if vals[0] > 23 || vals[1] > 59 || vals[2] > 59 {
            return None;
        }
        let time = NaiveTime::from_hms_micro_opt(vals[0], vals[1], vals[2], vals[3])?;
        let local = NaiveDateTime::new(date, time);
        Some(DateTime {
            local,
            offset_us: offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<String> {
        DateTime::parse_isoformat(s).ok().map(|d| d.isoformat())
    }

    #[test]
    fn common_forms() {
        assert_eq!(
            iso("2008-04-11T22:13:22.123000").as_deref(),
            Some("2008-04-11T22:13:22.123000")
        );
        assert_eq!(
            iso("2008-04-11T22:13:22").as_deref(),
            Some("2008-04-11T22:13:22")
        );
        assert_eq!(iso("2008-04-11").as_deref(), Some("2008-04-11T00:00:00"));
        assert_eq!(
            iso("20081104T221322").as_deref(),
            Some("2008-11-04T22:13:22")
        );
        assert_eq!(
            iso("2020-12-01T12:00:00Z").as_deref(),
            Some("2020-12-01T12:00:00+00:00")
        );
        assert_eq!(
            iso("2020-12-01T12:00:00-05:30").as_deref(),
            Some("2020-12-01T12:00:00-05:30")
        );
        assert_eq!(
            iso("2020-12-01T12:00:00+05:30:15").as_deref(),
            Some("2020-12-01T12:00:00+05:30:15")
        );
        assert_eq!(iso("2020-W01-1").as_deref(), Some("2019-12-30T00:00:00"));
        assert_eq!(
            iso("2020-12-01 12:00:00.5").as_deref(),
            Some("2020-12-01T12:00:00.500000")
        );
    }

    #[test]
    fn refusals() {
        for s in [
            "",
            "2020",
            "2020-13-01",
            "2020-02-30",
            "2020-12-01T25:00",
            "abcdefgh",
            "2020-12-01T12:00:00+24:00",
            "0000-01-01",
        ] {
            assert!(DateTime::parse_isoformat(s).is_err(), "{s:?} should fail");
        }
    }

    #[test]
    fn chrono_round_trip() {
        let t = DateTime::parse_isoformat("2020-12-01T12:00:00+02:00").unwrap();
        assert_eq!(t.to_utc().to_rfc3339(), "2020-12-01T10:00:00+00:00");
        assert_eq!(
            t.to_fixed_offset().to_rfc3339(),
            "2020-12-01T12:00:00+02:00"
        );
        assert_eq!(t.without_offset().isoformat(), "2020-12-01T12:00:00");
    }
}

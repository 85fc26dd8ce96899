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
        let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
            return Utc::now().into();
        };
        let secs = since.as_secs();
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            (secs % 86_400) as u32,
            since.subsec_nanos(),
        );
        match (date_cache::from_days(secs / 86_400), time) {
            (Some(date), Some(time)) => DateTime {
                local: NaiveDateTime::new(date, time),
                offset_us: Some(0),
            },
            _ => Utc::now().into(),
        }
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
        let year = d.year().unsigned_abs();
        // Fixed places: `YYYY-MM-DDTHH:MM:SS`.
        buf[0..2].copy_from_slice(&pair(year / 100));
        buf[2..4].copy_from_slice(&pair(year));
        buf[4] = b'-';
        buf[5..7].copy_from_slice(&pair(d.month()));
        buf[7] = b'-';
        buf[8..10].copy_from_slice(&pair(d.day()));
        buf[10] = b'T';
        let secs = t.num_seconds_from_midnight();
        buf[11..13].copy_from_slice(&pair(secs / 3600));
        buf[13] = b':';
        buf[14..16].copy_from_slice(&pair(secs / 60 % 60));
        buf[16] = b':';
        buf[17..19].copy_from_slice(&pair(secs % 60));
        let mut n = 19;
        let micros = t.nanosecond() / 1000;
        if micros != 0 {
            n = write_fraction(buf, n, micros);
        }
        if let Some(off) = self.offset_us {
            buf[n] = if off < 0 { b'-' } else { b'+' };
            let abs = off.unsigned_abs();
            let us = (abs % 1_000_000) as u32;
            let total_s = (abs / 1_000_000) as u32;
            buf[n + 1..n + 3].copy_from_slice(&pair(total_s / 3600));
            buf[n + 3] = b':';
            buf[n + 4..n + 6].copy_from_slice(&pair(total_s / 60 % 60));
            n += 6;
            if us != 0 || !total_s.is_multiple_of(60) {
                buf[n] = b':';
                buf[n + 1..n + 3].copy_from_slice(&pair(total_s % 60));
                n += 3;
                if us != 0 {
                    n = write_fraction(buf, n, us);
                }
            }
        }
        n
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

    /// [`DateTime::parse_isoformat`] without the error.
    #[inline]
    pub(crate) fn parse_isoformat_opt(s: &str) -> Option<Self> {
        iso::parse(s)
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
    /// The [`DateTime::isoformat`] string. Posttroll's own serializers (of
    /// typed message data) recognise it as a datetime; to every other
    /// serializer it is a plain string.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The ISO text, from a stack buffer.
        struct Iso<'a>(&'a DateTime);

        impl serde::Serialize for Iso<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; 48];
                let n = self.0.isoformat_bytes(&mut buf);
                // isoformat_bytes only writes ASCII.
                serializer.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
            }
        }

        serializer.serialize_newtype_struct(super::ser::DATETIME_TOKEN, &Iso(self))
    }
}

impl<'de> serde::Deserialize<'de> for DateTime {
    /// Any string [`DateTime::parse_isoformat`] reads.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Parses the string where it is (serde's `Cow<str>` would copy it
        /// into a `String` first).
        struct IsoVisitor;

        impl serde::de::Visitor<'_> for IsoVisitor {
            type Value = DateTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 datetime string")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DateTime, E> {
                DateTime::parse_isoformat(s).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(IsoVisitor)
    }
}

/// Dates lately built on this thread: the times of a stream of messages
/// fall on few days, and chrono's date validation (calendar tables) costs
/// more than a look-up.
mod date_cache {
    use std::cell::Cell;

    use chrono::NaiveDate;

    const SLOTS: usize = 4;

    thread_local! {
        /// (key, date) by key: `year << 16 | month << 8 | day`, 0 for none.
        static BY_YMD: Cell<[(u32, NaiveDate); SLOTS]> =
            const { Cell::new([(0, NaiveDate::MIN); SLOTS]) };
        /// (days since 1970, date) of the last `now`.
        static TODAY: Cell<(u64, NaiveDate)> = const { Cell::new((u64::MAX, NaiveDate::MIN)) };
    }

    /// `NaiveDate::from_ymd_opt`, cached (`month` and `day` below 256).
    #[inline]
    pub(super) fn from_ymd(year: u32, month: u32, day: u32) -> Option<NaiveDate> {
        if year > 0xffff || month > 0xff || day > 0xff {
            return NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day);
        }
        let key = year << 16 | month << 8 | day;
        let slot = (day as usize ^ month as usize) % SLOTS;
        let mut slots = BY_YMD.get();
        if slots[slot].0 == key {
            return Some(slots[slot].1);
        }
        let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
        slots[slot] = (key, date);
        BY_YMD.set(slots);
        Some(date)
    }

    /// The date `days` days after 1970-01-01, cached.
    #[inline]
    pub(super) fn from_days(days: u64) -> Option<NaiveDate> {
        let (day, date) = TODAY.get();
        if day == days {
            return Some(date);
        }
        // 719_163 days from 0001-01-01 (day 1 of the common era) to 1970.
        let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
        TODAY.set((days, date));
        Some(date)
    }
}

/// The two digits of `v % 100`.
#[inline(always)]
fn pair(v: u32) -> [u8; 2] {
    let p = 2 * (v % 100) as usize;
    [DIGIT_PAIRS[p], DIGIT_PAIRS[p + 1]]
}

/// Writes `.ffffff` (`micros` below a million) at `n`; returns the end.
#[inline(always)]
fn write_fraction(buf: &mut [u8; 48], n: usize, micros: u32) -> usize {
    buf[n] = b'.';
    buf[n + 1..n + 3].copy_from_slice(&pair(micros / 10_000));
    buf[n + 3..n + 5].copy_from_slice(&pair(micros / 100));
    buf[n + 5..n + 7].copy_from_slice(&pair(micros));
    n + 7
}

/// `"00"` to `"99"`, back to back.
pub(crate) static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

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

    /// One 8-byte shape of the canonical layout, as word masks: `d` is a
    /// digit, `*` any ASCII byte, anything else itself.
    pub(super) struct Shape {
        /// `0` at digits (`'0'` gives digit values), the byte elsewhere.
        xor: u64,
        /// 0xff at digits.
        digits: u64,
        /// 0xff at bytes that must match exactly.
        fixed: u64,
        /// 0x80 at `*` bytes (which must be ASCII).
        ascii: u64,
    }

    impl Shape {
        pub(super) const fn new(p: &[u8; 8]) -> Shape {
            let mut s = Shape {
                xor: 0,
                digits: 0,
                fixed: 0,
                ascii: 0,
            };
            let mut i = 0;
            while i < 8 {
                let at = 8 * i;
                match p[i] {
                    b'd' => {
                        s.xor |= (b'0' as u64) << at;
                        s.digits |= 0xff << at;
                    }
                    b'*' => s.ascii |= 0x80 << at,
                    c => {
                        s.xor |= (c as u64) << at;
                        s.fixed |= 0xff << at;
                    }
                }
                i += 1;
            }
            s
        }

        /// The digit values of `w` (little-endian bytes) at the digit
        /// places, 0 elsewhere, when `w` has this shape.
        #[inline(always)]
        pub(super) fn digits(&self, w: u64) -> Option<u64> {
            const HI: u64 = 0x8080_8080_8080_8080;
            let x = w ^ self.xor;
            let d = x & self.digits;
            // A byte is a digit when its value is now below 10: its high
            // bit clear and adding 0x76 not reaching 0x80 (no carries).
            let bad_digit = (d | ((d & !HI) + 0x7676_7676_7676_7676)) & HI & self.digits;
            let bad = bad_digit | (x & self.fixed) | (w & self.ascii);
            (bad == 0).then_some(d)
        }
    }

    /// Byte `i` of `w`.
    #[inline(always)]
    fn byte(w: u64, i: u32) -> u32 {
        (w >> (8 * i)) as u8 as u32
    }

    /// Two-digit numbers from digit values: byte `i` of the result is
    /// `10 × byte i + byte i+1` (at most 99, so no byte overflows).
    #[inline(always)]
    fn pairs(d: u64) -> u64 {
        d * 10 + (d >> 8)
    }

    /// The 8 bytes of `b` from `i`, little-endian.
    #[inline(always)]
    fn word(b: &[u8], i: usize) -> Option<u64> {
        Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?))
    }

    const DATE: Shape = Shape::new(b"dddd-dd-"); // b[0..8]
    const DAY_HOUR: Shape = Shape::new(b"dd*dd:dd"); // b[8..16]
    const TIME: Shape = Shape::new(b"dd:dd:dd"); // b[11..19]
    const FRACTION: Shape = Shape::new(b"d.dddddd"); // b[18..26]
    const OFFSET: Shape = Shape::new(b"dd*dd:dd"); // the last 8 bytes

    /// The canonical shapes `YYYY-MM-DD?HH:MM:SS[.ffffff][±HH:MM]` (what
    /// `isoformat` writes, so nearly everything on the wire), parsed
    /// directly, eight bytes at a time. `None` means "not canonical or not
    /// valid": the general parser then decides, so results are the same
    /// either way.
    #[inline(always)]
    pub(super) fn canonical(b: &[u8]) -> Option<DateTime> {
        let (has_frac, has_tz) = match b.len() {
            19 => (false, false),
            26 => (true, false),
            25 => (false, true),
            32 => (true, true),
            _ => return None,
        };
        let date = pairs(DATE.digits(word(b, 0)?)?);
        let day_hour = pairs(DAY_HOUR.digits(word(b, 8)?)?);
        let time = pairs(TIME.digits(word(b, 11)?)?);
        let year = byte(date, 0) * 100 + byte(date, 2);
        let (month, day) = (byte(date, 5), byte(day_hour, 0));
        let (hour, minute, second) = (byte(day_hour, 3), byte(day_hour, 6), byte(time, 6));
        let micros = if has_frac {
            let f = pairs(FRACTION.digits(word(b, 18)?)?);
            byte(f, 2) * 10_000 + byte(f, 4) * 100 + byte(f, 6)
        } else {
            0
        };
        let offset = if has_tz {
            let w = word(b, b.len() - 8)?;
            let sign: i64 = match byte(w, 2) as u8 {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let t = pairs(OFFSET.digits(w)?);
            let (h, m) = (byte(t, 3), byte(t, 6));
            if h > 23 || m > 59 {
                return None;
            }
            // `-00:00` is UTC, written `+00:00`, as the general path does.
            Some(sign * i64::from(h * 3600 + m * 60) * 1_000_000)
        } else {
            None
        };
        if year == 0 || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let date = date_cache::from_ymd(year, month, day)?;
        let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
        Some(DateTime {
            local: NaiveDateTime::new(date, time),
            offset_us: offset,
        })
    }

    #[inline]
    pub(super) fn parse(s: &str) -> Option<DateTime> {
        canonical(s.as_bytes()).or_else(|| general(s))
    }

    /// Any form `fromisoformat` accepts, the way the C code reads it.
    pub(super) fn general(s: &str) -> Option<DateTime> {
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

    /// `Shape::digits` against the byte-at-a-time reading of the shape:
    /// every byte value at every place of every shape.
    #[test]
    fn shapes_match_bytewise() {
        let patterns: [&[u8; 8]; 3] = [b"dddd-dd-", b"dd*dd:dd", b"d.dddddd"];
        let bases: [&[u8; 8]; 3] = [b"2020-12-", b"01T12:00", b"0.600000"];
        for (p, base) in patterns.into_iter().zip(bases) {
            let shape = iso::Shape::new(p);
            for i in 0..8 {
                for v in 0..=255u8 {
                    let mut w = *base;
                    w[i] = v;
                    let want = w.iter().zip(p).all(|(&c, &q)| match q {
                        b'd' => c.is_ascii_digit(),
                        b'*' => c.is_ascii(),
                        q => c == q,
                    });
                    let got = shape.digits(u64::from_le_bytes(w));
                    assert_eq!(got.is_some(), want, "{p:?} {w:?}");
                    if let Some(d) = got {
                        for (j, (&c, &q)) in w.iter().zip(p).enumerate() {
                            let digit = if q == b'd' { c - b'0' } else { 0 };
                            assert_eq!((d >> (8 * j)) as u8, digit, "{w:?}");
                        }
                    }
                }
            }
        }
    }

    /// The canonical fast path gives what the general parser gives, or
    /// leaves the string to it: every ASCII byte (and a few non-ASCII
    /// characters) at every position of every canonical shape.
    #[test]
    fn canonical_fast_path_matches_general_parser() {
        let shapes = [
            "2020-12-01T12:00:00",
            "2020-12-01T12:00:00.600000",
            "2020-12-01T12:00:00+05:30",
            "1999-02-28 23:59:59.000001-23:59",
            "2024-02-29T00:00:00-00:00",
        ];
        for shape in shapes {
            assert!(iso::canonical(shape.as_bytes()).is_some(), "{shape}");
            let chars: Vec<char> = shape.chars().collect();
            for pos in 0..chars.len() {
                let replacements = (0..128u8).map(char::from).chain(['é', '\u{a0}', '٣', '😀']);
                for c in replacements {
                    let mut v = chars.clone();
                    v[pos] = c;
                    let s: String = v.into_iter().collect();
                    if let Some(d) = iso::canonical(s.as_bytes()) {
                        assert_eq!(Some(d), iso::general(&s), "{s:?}");
                    }
                }
            }
        }
    }

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

    /// Digits written two at a time are the digits written one at a time,
    /// and isoformat is chrono's formatting in Python's layout.
    #[test]
    fn digits_match_formatting() {
        for v in (0..1_000_000u32)
            .step_by(7)
            .chain([0, 9, 10, 99, 100, 9999, 10_000, u32::MAX])
        {
            assert_eq!(pair(v), *format!("{:02}", v % 100).as_bytes());
            let mut buf = [0u8; 48];
            let n = write_fraction(&mut buf, 3, v % 1_000_000);
            assert_eq!(&buf[3..n], format!(".{:06}", v % 1_000_000).as_bytes());
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let local = NaiveDate::from_ymd_opt(
                1 + (x % 9999) as i32,
                1 + (x >> 14) as u32 % 12,
                1 + (x >> 20) as u32 % 28,
            )
            .and_then(|d| {
                d.and_hms_micro_opt(
                    (x >> 30) as u32 % 24,
                    (x >> 36) as u32 % 60,
                    (x >> 42) as u32 % 60,
                    if x & 1 == 0 {
                        0
                    } else {
                        (x >> 44) as u32 % 1_000_000
                    },
                )
            })
            .unwrap();
            let mut want = format!("{:04}-{}", local.year(), local.format("%m-%dT%H:%M:%S"));
            if local.nanosecond() != 0 {
                want += &format!(".{:06}", local.nanosecond() / 1000);
            }
            assert_eq!(DateTime::naive(local).isoformat(), want);
        }
    }

    #[test]
    fn now_is_chrono_now() {
        for _ in 0..3 {
            let before = Utc::now();
            let now = DateTime::now_utc();
            let after = Utc::now();
            assert_eq!(now.offset_micros(), Some(0));
            assert!(before <= now.to_utc() && now.to_utc() <= after, "{now}");
        }
        for days in [0, 1, 365, 18_597, 20_000, 2_932_896] {
            let want = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::TimeDelta::days(days);
            assert_eq!(date_cache::from_days(days as u64), Some(want));
            assert_eq!(date_cache::from_days(days as u64), Some(want));
            assert_eq!(
                date_cache::from_ymd(want.year() as u32, want.month(), want.day()),
                Some(want)
            );
        }
        assert_eq!(date_cache::from_ymd(2021, 2, 29), None);
        assert_eq!(
            date_cache::from_ymd(2020, 2, 29),
            NaiveDate::from_ymd_opt(2020, 2, 29)
        );
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

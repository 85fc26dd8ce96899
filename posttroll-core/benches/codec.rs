//! Encode/decode cost of the message codec, dynamic (`Value`) and typed
//! (a `#[derive(Serialize, Deserialize)]` struct) side by side.
//!
//! (a) the 10-key metadata message of `shared/reference/python-bench/metadata.py`
//! (438 bytes encoded); (b) a short text message. The Python reference
//! takes 19.7 µs to encode and 30.5 µs to decode (a), 7.6 µs to decode (b).
//!
//! - `encode/metadata/dynamic`: build the `Value` and the `Message`, encode;
//! - `encode/metadata/typed`: build the struct (times as this crate's
//!   `DateTime`) and the `Message<T>`, encode; `typed-chrono`: the times as
//!   `chrono::NaiveDateTime`;
//! - `encode/metadata/typed-borrowed`: the same with the struct's strings
//!   borrowed (`&str` fields: no allocation to build it);
//! - `encode/metadata/prebuilt`, `typed-prebuilt`: encode a built message
//!   only (dynamic, typed);
//! - `decode/metadata/dynamic`: frame to `Message` (a `Value` tree);
//! - `decode/metadata/typed`: frame to `Message<T>`, straight into the
//!   struct; `typed-chrono` as above.
//!
//! Run: `cargo bench -p posttroll-core --bench codec`

#![allow(missing_docs)]

use std::hint::black_box;

use chrono::{NaiveDate, NaiveDateTime};
use criterion::{criterion_group, criterion_main, Criterion};
use posttroll_core::{DateTime, Message, Value};
use serde::{Deserialize, Serialize};

const SUBJECT: &str = "/sat/polar/smb/level1";
const SENDER: &str = "safusr.u@lxserv1096.smhi.se";
const URI: &str = "/data/viirs/SVM01_npp_d20201201_t1200000.h5";
const UID: &str = "SVM01_npp_d20201201_t1200000.h5";

fn times() -> (NaiveDateTime, NaiveDateTime) {
    let day = NaiveDate::from_ymd_opt(2020, 12, 1).unwrap_or_default();
    let start = day.and_hms_opt(12, 0, 0).unwrap_or_default();
    let end = day
        .and_hms_micro_opt(12, 1, 25, 600_000)
        .unwrap_or_default();
    (start, end)
}

fn metadata_message() -> Message {
    let (start, end) = times();
    let data = Value::object([
        ("start_time", Value::from(DateTime::naive(start))),
        ("end_time", Value::from(DateTime::naive(end))),
        ("platform_name", Value::from("NOAA-20")),
        ("sensor", Value::from("viirs")),
        ("orbit_number", Value::from(12345)),
        ("uri", Value::from(URI)),
        ("uid", Value::from(UID)),
        ("format", Value::from("SDR")),
        ("data_processing_level", Value::from("1B")),
        ("sun_elevation", Value::from(23.4567)),
    ]);
    Message::new(SUBJECT, "file", data)
        .and_then(|m| m.with_sender(SENDER))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

/// The metadata as a Rust program describes it; `Time` is this crate's
/// `DateTime` or chrono's `NaiveDateTime`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct FileMetadata<Time> {
    start_time: Time,
    end_time: Time,
    platform_name: String,
    sensor: String,
    orbit_number: u32,
    uri: String,
    uid: String,
    format: String,
    data_processing_level: String,
    sun_elevation: f64,
}

fn file_metadata<Time: From<NaiveDateTime>>() -> FileMetadata<Time> {
    let (start, end) = times();
    FileMetadata {
        start_time: start.into(),
        end_time: end.into(),
        platform_name: "NOAA-20".into(),
        sensor: "viirs".into(),
        orbit_number: 12345,
        uri: URI.into(),
        uid: UID.into(),
        format: "SDR".into(),
        data_processing_level: "1B".into(),
        sun_elevation: 23.4567,
    }
}

fn typed_message<Time: From<NaiveDateTime>>() -> Message<FileMetadata<Time>> {
    Message::new_typed(SUBJECT, "file", file_metadata())
        .and_then(|m| m.with_sender(SENDER))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

/// The metadata borrowing its strings (as a publisher describing data it
/// holds would write it): no allocation to build it.
#[derive(Serialize)]
struct FileMetadataRef<'a> {
    start_time: DateTime,
    end_time: DateTime,
    platform_name: &'a str,
    sensor: &'a str,
    orbit_number: u32,
    uri: &'a str,
    uid: &'a str,
    format: &'a str,
    data_processing_level: &'a str,
    sun_elevation: f64,
}

fn borrowed_message() -> Message<FileMetadataRef<'static>> {
    let (start, end) = times();
    let data = FileMetadataRef {
        start_time: start.into(),
        end_time: end.into(),
        platform_name: "NOAA-20",
        sensor: "viirs",
        orbit_number: 12345,
        uri: URI,
        uid: UID,
        format: "SDR",
        data_processing_level: "1B",
        sun_elevation: 23.4567,
    };
    Message::new_typed(SUBJECT, "file", data)
        .and_then(|m| m.with_sender(SENDER))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

fn text_message() -> Message {
    Message::new(SUBJECT, "info", "hello world")
        .and_then(|m| m.with_sender(SENDER))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

fn codec(c: &mut Criterion) {
    let meta = metadata_message();
    let text = text_message();
    let meta_raw = meta.encode_with(None);
    let text_raw = text.encode_with(None);
    // Typed and dynamic paths write the same bytes.
    let typed = typed_message::<DateTime>()
        .with_time(meta.time)
        .encode_typed_with(None)
        .unwrap_or_default();
    assert_eq!(typed, meta_raw, "typed and dynamic encodings differ");
    eprintln!(
        "metadata message: {} bytes; text message: {} bytes",
        meta_raw.len(),
        text_raw.len()
    );

    c.bench_function("encode/metadata/dynamic", |b| {
        b.iter(|| metadata_message().encode_with(None))
    });
    c.bench_function("encode/metadata/typed", |b| {
        b.iter(|| typed_message::<DateTime>().encode_typed_with(None))
    });
    c.bench_function("encode/metadata/typed-chrono", |b| {
        b.iter(|| typed_message::<NaiveDateTime>().encode_typed_with(None))
    });
    c.bench_function("encode/metadata/typed-borrowed", |b| {
        b.iter(|| borrowed_message().encode_typed_with(None))
    });
    c.bench_function("encode/metadata/prebuilt", |b| {
        b.iter(|| black_box(&meta).encode_with(None))
    });
    let typed_meta = typed_message::<DateTime>();
    c.bench_function("encode/metadata/typed-prebuilt", |b| {
        b.iter(|| black_box(&typed_meta).encode_typed_with(None))
    });
    c.bench_function("decode/metadata/dynamic", |b| {
        b.iter(|| Message::decode(black_box(&meta_raw[..])))
    });
    c.bench_function("decode/metadata/typed", |b| {
        b.iter(|| Message::decode_typed::<FileMetadata<DateTime>>(black_box(&meta_raw[..])))
    });
    c.bench_function("decode/metadata/typed-chrono", |b| {
        b.iter(|| Message::decode_typed::<FileMetadata<NaiveDateTime>>(black_box(&meta_raw[..])))
    });
    c.bench_function("encode/text", |b| {
        b.iter(|| black_box(&text).encode_with(None))
    });
    c.bench_function("decode/text", |b| {
        b.iter(|| Message::decode(black_box(&text_raw[..])))
    });
    let mut buf = Vec::with_capacity(1024);
    c.bench_function("encode_into/metadata (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&meta).encode_into(&mut buf, None);
            black_box(buf.len())
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);

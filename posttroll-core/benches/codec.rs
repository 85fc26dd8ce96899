//! Encode/decode cost of the message codec.
//!
//! (a) the 10-key metadata message of `shared/reference/python-bench/metadata.py`
//! (about 420 bytes encoded); (b) a short text message. The Python reference
//! takes 19.7 µs to encode and 30.5 µs to decode (a), 7.6 µs to decode (b).
//!
//! Run: `cargo bench -p posttroll-core --bench codec`

#![allow(missing_docs)]

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use posttroll_core::{DateTime, Message, Value};

fn metadata_message() -> Message {
    let day = NaiveDate::from_ymd_opt(2020, 12, 1).unwrap_or_default();
    let start = day.and_hms_opt(12, 0, 0).unwrap_or_default();
    let end = day
        .and_hms_micro_opt(12, 1, 25, 600_000)
        .unwrap_or_default();
    let data = Value::object([
        ("start_time", Value::from(DateTime::naive(start))),
        ("end_time", Value::from(DateTime::naive(end))),
        ("platform_name", Value::from("NOAA-20")),
        ("sensor", Value::from("viirs")),
        ("orbit_number", Value::from(12345)),
        (
            "uri",
            Value::from("/data/viirs/SVM01_npp_d20201201_t1200000.h5"),
        ),
        ("uid", Value::from("SVM01_npp_d20201201_t1200000.h5")),
        ("format", Value::from("SDR")),
        ("data_processing_level", Value::from("1B")),
        ("sun_elevation", Value::from(23.4567)),
    ]);
    Message::new("/sat/polar/smb/level1", "file", data)
        .and_then(|m| m.with_sender("safusr.u@lxserv1096.smhi.se"))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

fn text_message() -> Message {
    Message::new("/sat/polar/smb/level1", "info", "hello world")
        .and_then(|m| m.with_sender("safusr.u@lxserv1096.smhi.se"))
        .unwrap_or_else(|e| panic!("bench message: {e}"))
}

fn codec(c: &mut Criterion) {
    let meta = metadata_message();
    let text = text_message();
    let meta_raw = meta.encode_with(None);
    let text_raw = text.encode_with(None);
    eprintln!(
        "metadata message: {} bytes; text message: {} bytes",
        meta_raw.len(),
        text_raw.len()
    );

    c.bench_function("encode/metadata", |b| {
        b.iter(|| black_box(&meta).encode_with(None))
    });
    c.bench_function("decode/metadata", |b| {
        b.iter(|| Message::decode(black_box(&meta_raw[..])))
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

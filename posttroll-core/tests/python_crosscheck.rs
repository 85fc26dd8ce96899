//! Live cross-check against the Python reference posttroll (1.16), driving
//! `tests/python/crosscheck.py`:
//!
//! - Rust -> Python: a reproducible batch of varied messages made in Rust
//!   (seeded SplitMix64, not proptest) is encoded, sent hex-encoded to
//!   Python, which decodes and re-encodes each; every one must decode in
//!   Python and come back as exactly the bytes Rust wrote.
//! - Python -> Rust: Python makes its own seeded batch with `Message(...)`;
//!   Rust decodes each frame, re-encodes it to the same bytes, and checks
//!   the decoded fields against Python's own decoding.
//! - The typed path: structs with chrono, `DateTime`, string, integer,
//!   float, enum, list and map fields are encoded straight to frames that
//!   Python writes back unchanged (and that equal the dynamic path's);
//!   Python's frames decode straight into a `Map` and into a metadata
//!   struct, whose typed re-encoding is Python's bytes and whose chrono
//!   fields hold Python's instants.
//!
//! The interpreter: `PTRS_PYTHON` if set (then only it), else
//! `<workspace>/.venv/bin/python`, if it can import
//! `posttroll.message`. None usable: the tests fail when `CI` is set and
//! print a loud skip message otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::{DateTime as ChronoDateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use posttroll_core::{Data, DateTime, Map, Message, Value};
use serde::{Deserialize, Serialize};

const TIMEOUT: Duration = Duration::from_secs(60);
const RUST_BATCH: usize = 300;
const PYTHON_BATCH: usize = 300;
const SEED: u64 = 0x5eed_2026;
const PYTHON_SEED: u64 = 20_261_125;

// ---------------------------------------------------------------------------
// Finding and running Python.
// ---------------------------------------------------------------------------

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/crosscheck.py")
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the script under `python` with `args`, feeding `input`; kills it
/// after [`TIMEOUT`].
fn run_script(python: &Path, args: &[&str], input: &[u8]) -> Result<Run, String> {
    let mut cmd = Command::new(python);
    cmd.arg(script())
        .args(args)
        .current_dir(script().parent().unwrap())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The reference reads POSTTROLL_* (message_version above all): keep the
    // child's configuration at its defaults.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("POSTTROLL_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A child that dies early closes the pipe: its stderr tells why.
        let _ = stdin.write_all(&input);
    });
    let stdout = read_in_background(child.stdout.take().unwrap());
    let stderr = read_in_background(child.stderr.take().unwrap());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(writer);
    // A grandchild may hold the pipes open after a kill: wait only so long.
    let grace = if status.is_some() {
        TIMEOUT
    } else {
        Duration::from_secs(2)
    };
    let stdout = stdout.recv_timeout(grace).unwrap_or_default();
    let stderr = stderr
        .recv_timeout(grace)
        .unwrap_or_else(|_| "<stderr not closed>".to_owned());
    match status {
        Some(status) => Ok(Run {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "{} {args:?} hung for more than {TIMEOUT:?} and was killed; stderr:\n{stderr}",
            python.display()
        )),
    }
}

/// Reads `pipe` to its end on a thread; the text arrives on the channel.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// The interpreter to use, or why there is none.
fn find_python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("PTRS_PYTHON") {
        Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")],
    };
    let mut reasons = Vec::new();
    for python in &candidates {
        if !python.exists() {
            reasons.push(format!("{}: does not exist", python.display()));
            continue;
        }
        match run_script(python, &["check"], b"") {
            Ok(run) if run.status.success() => return Ok(python.clone()),
            Ok(run) => reasons.push(format!(
                "{}: cannot import posttroll.message ({}): {}",
                python.display(),
                run.status,
                run.stderr.trim().lines().last().unwrap_or("")
            )),
            Err(e) => reasons.push(e),
        }
    }
    Err(reasons.join("\n  "))
}

/// The interpreter, or `None` after a loud skip message; panics under CI.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(p) => Some(p),
        Err(why) => {
            let msg = format!(
                "no Python with posttroll 1.16 for the live cross-check (set PTRS_PYTHON, or run \
                 scripts/setup-python.sh):\n  {why}"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("\n{}\nSKIPPED: {msg}\n{}\n", "!".repeat(72), "!".repeat(72));
            None
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// A seeded generator of messages.
// ---------------------------------------------------------------------------

/// SplitMix64: small, seeded, reproducible on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / ((1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

/// ASCII, JSON escapes, controls, Latin-1, BMP and astral characters.
const CHARS: &[&str] = &[
    "a",
    "b",
    "z",
    "A",
    "Q",
    "0",
    "7",
    " ",
    "_",
    "-",
    ".",
    "/",
    ":",
    "@",
    "#",
    "'",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\t",
    "\n",
    "\r",
    "\u{0}",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{ad}",
    "å",
    "ä",
    "ö",
    "Ö",
    "é",
    "ü",
    "ß",
    "ø",
    "€",
    "µ",
    "字",
    "日本",
    "\u{2028}",
    "\u{200b}",
    "\u{feff}",
    "\u{ffff}",
    "😀",
    "𝄞",
    "\u{10ffff}",
];

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn rand_str(rng: &mut Rng, lo: i64, hi: i64) -> String {
    (0..rng.range(lo, hi)).map(|_| rng.pick(CHARS)).collect()
}

/// A string that does not parse as a datetime (so it stays a string).
fn plain_str(rng: &mut Rng, lo: i64, hi: i64) -> String {
    loop {
        let s = rand_str(rng, lo, hi);
        if DateTime::parse_isoformat(&s).is_err() {
            return s;
        }
    }
}

fn token(rng: &mut Rng) -> String {
    loop {
        let s: String = rand_str(rng, 1, 10)
            .chars()
            .filter(|c| !is_py_space(*c))
            .collect();
        if !s.is_empty() {
            return s;
        }
    }
}

/// Text without leading whitespace (the wire cannot keep it).
fn text(rng: &mut Rng) -> String {
    let s = rand_str(rng, 1, 40);
    if s.starts_with(is_py_space) {
        format!("x{s}")
    } else {
        s
    }
}

fn naive_time(rng: &mut Rng) -> NaiveDateTime {
    let micros = if rng.chance(0.5) {
        0
    } else {
        rng.below(1_000_000) as u32
    };
    NaiveDate::from_ymd_opt(
        rng.range(1, 9999) as i32,
        rng.range(1, 12) as u32,
        rng.range(1, 28) as u32,
    )
    .unwrap()
    .and_hms_micro_opt(
        rng.range(0, 23) as u32,
        rng.range(0, 59) as u32,
        rng.range(0, 59) as u32,
        micros,
    )
    .unwrap()
}

/// Naive or aware, odd offsets included (at least one whole second when
/// not zero: Python reads `+00:00:00.5` back as `+00:00`).
fn rand_time(rng: &mut Rng, aware: Option<bool>) -> DateTime {
    let local = naive_time(rng);
    if !aware.unwrap_or_else(|| rng.chance(0.6)) {
        return DateTime::naive(local);
    }
    let offset_us = match rng.below(6) {
        0 => 0,
        1 => rng.range(-23, 23) * 3_600_000_000,
        2 => rng.range(-23, 23) * 3_600_000_000 + rng.pick(&[15, 30, 45]) * 60_000_000,
        3 => rng.range(-86_399, 86_399) * 1_000_000,
        4 => {
            let s = rng.range(1, 86_398);
            let us = s * 1_000_000 + rng.range(1, 999_999);
            if rng.chance(0.5) {
                -us
            } else {
                us
            }
        }
        _ => (5 * 60 + 45) * 60_000_000,
    };
    DateTime::with_offset_micros(local, offset_us).unwrap()
}

fn rand_float(rng: &mut Rng) -> f64 {
    match rng.below(5) {
        0 => rng.pick(&[
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            1e16,
            1e17,
            1e-4,
            1e-5,
            1e20,
            1.2345,
            2.0,
            0.1,
            5e-324,
            f64::MAX,
        ]),
        1 => loop {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                break f;
            }
        },
        2 => rng.unit() * 2e6 - 1e6,
        3 => rng.range(-1_000_000, 1_000_000) as f64,
        _ => rng.unit() * 10f64.powi(rng.range(-30, 30) as i32),
    }
}

fn big_int(rng: &mut Rng) -> Value {
    let digits: String = std::iter::once(char::from(b'1' + rng.below(9) as u8))
        .chain((0..rng.range(19, 80)).map(|_| char::from(b'0' + rng.below(10) as u8)))
        .collect();
    Value::BigInt(if rng.chance(0.5) {
        format!("-{digits}")
    } else {
        digits
    })
}

fn rand_int(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 => Value::Int(rng.range(-3, 3)),
        1 => Value::Int(rng.next() as i64),
        2 => Value::from(rng.next() | (1 << 63)),
        _ => big_int(rng),
    }
}

fn rand_leaf(rng: &mut Rng, in_object: bool) -> Value {
    match rng.below(8) {
        0 => rng.pick(&[Value::Null, Value::Bool(true), Value::Bool(false)]),
        1 => rand_int(rng),
        2 => Value::Float(rand_float(rng)),
        3 | 4 => Value::from(plain_str(rng, 0, 12)),
        5 if in_object => Value::DateTime(rand_time(rng, None)),
        // A canonical naive ISO string below an object: read back as a
        // datetime, written back identically in any version.
        6 if in_object => Value::from(rand_time(rng, Some(false)).isoformat()),
        _ => rand_int(rng),
    }
}

fn rand_value(rng: &mut Rng, depth: u32, in_object: bool) -> Value {
    if depth >= 4 || rng.chance(0.35) {
        return rand_leaf(rng, in_object);
    }
    if rng.chance(0.5) {
        Value::Array(
            (0..rng.below(6))
                .map(|_| rand_value(rng, depth + 1, in_object))
                .collect(),
        )
    } else {
        Value::Object(
            (0..rng.below(6))
                .map(|_| {
                    (
                        plain_str(rng, 0, 8).into(),
                        rand_value(rng, depth + 1, true),
                    )
                })
                .collect(),
        )
    }
}

fn rand_object(rng: &mut Rng) -> Value {
    Value::Object(
        (0..rng.range(1, 6))
            .map(|_| (plain_str(rng, 1, 8).into(), rand_value(rng, 1, true)))
            .collect(),
    )
}

/// The 10-key metadata message of a pytroll file.
fn metadata(rng: &mut Rng) -> Value {
    let start = rand_time(rng, None);
    let end = match start.offset_micros() {
        None => DateTime::naive(start.local() + TimeDelta::minutes(rng.range(1, 100))),
        Some(off) => {
            DateTime::with_offset_micros(start.local() + TimeDelta::minutes(rng.range(1, 100)), off)
                .unwrap()
        }
    };
    let sensor = if rng.chance(0.3) {
        Value::from(vec!["avhrr-3", "mhs"])
    } else {
        Value::from(rng.pick(&["viirs", "olci", "modis"]))
    };
    Value::object([
        (
            "platform_name",
            Value::from(rng.pick(&["NOAA-20", "Metop-B", "Suomi-NPP", "Sentinel-3A"])),
        ),
        ("sensor", sensor),
        ("start_time", Value::DateTime(start)),
        ("end_time", Value::DateTime(end)),
        ("orbit_number", Value::Int(rng.range(1, 99_999))),
        ("uri", Value::from(format!("/data/{}/file.h5", token(rng)))),
        ("uid", Value::from(format!("file_{}.h5", token(rng)))),
        ("format", Value::from("HDF5")),
        (
            "data_processing_level",
            Value::from(rng.pick(&["1B", "2", "0"])),
        ),
        (
            "station",
            Value::from(rng.pick(&["norrköping", "kiruna", "tromsø"])),
        ),
    ])
}

fn rust_message(rng: &mut Rng, i: usize) -> Message {
    let mut subject = format!("{}{}", rng.pick(&["/", ""]), token(rng));
    let mut msg_type = token(rng);
    let mut version = None;
    let data = match i % 10 {
        0 => {
            msg_type = rng.pick(&["file", "dataset", "collection"]).to_owned();
            Data::Json(metadata(rng))
        }
        1 => Data::Text(text(rng)),
        2 => Data::Binary(text(rng).into_bytes()),
        3 => {
            subject = (0..rng.range(1, 4))
                .map(|_| format!("/{}", token(rng)))
                .collect();
            Data::Json(rand_object(rng))
        }
        4 => {
            let v = Value::object([
                ("t", Value::DateTime(rand_time(rng, None))),
                (
                    "nested",
                    Value::object([(
                        "list",
                        Value::Array(vec![
                            Value::DateTime(rand_time(rng, None)),
                            Value::object([("u", Value::DateTime(rand_time(rng, None)))]),
                        ]),
                    )]),
                ),
                (
                    "naive_str",
                    Value::from(rand_time(rng, Some(false)).isoformat()),
                ),
            ]);
            if rng.chance(0.3) {
                // Outside every object, datetime-like strings stay strings.
                Data::Json(Value::Array(vec![
                    v,
                    Value::from("20201201"),
                    Value::from("2020-12-01"),
                    Value::from("2020-12-01T00:00:00+01:00"),
                ]))
            } else {
                Data::Json(v)
            }
        }
        5 => Data::Json(Value::object([
            (
                "floats",
                Value::Array(
                    (0..rng.range(1, 8))
                        .map(|_| Value::Float(rand_float(rng)))
                        .collect(),
                ),
            ),
            ("f", Value::Float(rand_float(rng))),
        ])),
        6 => Data::Json(Value::object([
            (
                "ints",
                Value::Array((0..rng.range(1, 8)).map(|_| rand_int(rng)).collect()),
            ),
            ("big", big_int(rng)),
        ])),
        7 => {
            version = Some(rng.pick(&["v1.01", "v1.1", "v1.2"]));
            Data::Json(if rng.chance(0.5) {
                metadata(rng)
            } else {
                rand_object(rng)
            })
        }
        8 => rng.pick(&[
            Data::None,
            Data::Text(String::new()),
            Data::Json(Value::Object(Default::default())),
            Data::Json(Value::Array(Vec::new())),
            Data::Json(Value::Int(0)),
            Data::Json(Value::Null),
            Data::Json(Value::Bool(false)),
            Data::Json(Value::Float(0.0)),
        ]),
        _ => match rand_value(rng, 0, false) {
            Value::String(s) => Data::Text(if s.is_empty() || s.starts_with(is_py_space) {
                format!("x{s}")
            } else {
                s.into_string()
            }),
            v => Data::Json(v),
        },
    };
    let sender = match rng.below(3) {
        0 => format!("{}@{}", token(rng), token(rng)),
        1 => "user@host".to_owned(),
        _ => token(rng),
    };
    let m = Message::new(subject, msg_type, data)
        .unwrap()
        .with_sender(sender)
        .unwrap()
        .with_time(rand_time(rng, None));
    match version {
        Some(v) => m.with_version(v).unwrap(),
        None => m,
    }
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

/// Sends `frames` to Python, which decodes and re-encodes each: every one
/// must come back as exactly the bytes Rust wrote.
fn assert_python_writes_them_back(python: &Path, frames: &[Vec<u8>]) {
    let input: String = frames.iter().map(|f| hex(f) + "\n").collect();
    let run =
        run_script(python, &["roundtrip"], input.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.status.success(),
        "python failed ({}):\n{}",
        run.status,
        run.stderr
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), frames.len(), "stderr:\n{}", run.stderr);
    let mut failures = Vec::new();
    for (i, (frame, line)) in frames.iter().zip(&lines).enumerate() {
        let shown = String::from_utf8_lossy(frame);
        if let Some(err) = line.strip_prefix("ERR ") {
            failures.push(format!("#{i}: Python cannot decode\n  {shown}\n  {err}"));
        } else if unhex(line) != *frame {
            failures.push(format!(
                "#{i}: Python re-encodes differently\n  rust:   {shown}\n  python: {}",
                String::from_utf8_lossy(&unhex(line))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} frames differ:\n{}\nstderr:\n{}",
        failures.len(),
        frames.len(),
        failures.join("\n"),
        run.stderr
    );
}

/// Rust's frames decode in Python and re-encode there to the same bytes;
/// the typed path writes the same bytes for the same data.
#[test]
fn rust_frames_round_trip_through_python() {
    let Some(python) = python() else { return };
    let mut rng = Rng(SEED);
    let messages: Vec<Message> = (0..RUST_BATCH).map(|i| rust_message(&mut rng, i)).collect();
    let frames: Vec<Vec<u8>> = messages.iter().map(|m| m.encode_with(None)).collect();
    for (m, f) in messages.iter().zip(&frames) {
        // The batch is wire-stable for Rust itself, too.
        assert_eq!(
            Message::decode(f).unwrap().encode_with(None),
            *f,
            "{}",
            String::from_utf8_lossy(f)
        );
        let typed = match &m.data {
            Data::None => Some(m.clone().with_data(()).encode_typed_with(None)),
            Data::Text(s) => Some(m.clone().with_data(s.clone()).encode_typed_with(None)),
            Data::Json(v) => Some(m.clone().with_data(v.clone()).encode_typed_with(None)),
            Data::Binary(_) => None,
        };
        if let Some(typed) = typed {
            assert_eq!(typed.unwrap(), *f, "{}", String::from_utf8_lossy(f));
        }
    }
    assert_python_writes_them_back(python, &frames);
}

// ---------------------------------------------------------------------------
// The typed path against the reference.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Station {
    Norrkoping,
    Kiruna { antenna: u8 },
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Granule {
    uri: String,
    size: u64,
    checksum: Option<String>,
}

/// Typed message data as a Rust program describes it, every kind of field.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TypedMeta {
    platform_name: String,
    start_time: NaiveDateTime,
    end_time: ChronoDateTime<Utc>,
    creation_time: ChronoDateTime<FixedOffset>,
    received: DateTime,
    orbit_number: u32,
    big: u64,
    huge: i128,
    sun_elevation: f64,
    note: String,
    station: Station,
    granules: Vec<Granule>,
    quality: BTreeMap<String, f64>,
    flags: (bool, Option<i64>),
}

fn typed_meta(rng: &mut Rng) -> TypedMeta {
    let offset = FixedOffset::east_opt(rng.range(-23 * 60, 23 * 60) as i32 * 60).unwrap();
    TypedMeta {
        platform_name: plain_str(rng, 0, 12),
        start_time: naive_time(rng),
        end_time: naive_time(rng).and_utc(),
        creation_time: naive_time(rng).and_local_timezone(offset).unwrap(),
        received: rand_time(rng, None),
        orbit_number: rng.below(100_000) as u32,
        big: rng.next(),
        huge: i128::from(rng.next() as i64) * i128::from(rng.next()),
        sun_elevation: rand_float(rng),
        note: rand_str(rng, 0, 20),
        station: match rng.below(3) {
            0 => Station::Norrkoping,
            1 => Station::Kiruna {
                antenna: rng.below(4) as u8,
            },
            _ => Station::Other(rand_str(rng, 0, 8)),
        },
        granules: (0..rng.below(4))
            .map(|_| Granule {
                uri: format!("/data/{}", token(rng)),
                size: rng.next() >> rng.below(64),
                checksum: rng.chance(0.5).then(|| token(rng)),
            })
            .collect(),
        quality: (0..rng.below(4))
            .map(|_| (plain_str(rng, 1, 6), rand_float(rng)))
            .collect(),
        flags: (rng.chance(0.5), rng.chance(0.5).then(|| rng.next() as i64)),
    }
}

/// Typed messages, encoded straight from structs, are the dynamic path's
/// bytes, and the reference reads and writes them back unchanged.
#[test]
fn typed_frames_round_trip_through_python() {
    let Some(python) = python() else { return };
    let mut rng = Rng(SEED ^ 0x7e9ed);
    let mut frames = Vec::new();
    for i in 0..RUST_BATCH {
        let m = Message::new_typed(format!("/typed/{i}"), "file", typed_meta(&mut rng))
            .unwrap()
            .with_sender(token(&mut rng))
            .unwrap()
            .with_time(rand_time(&mut rng, None));
        let frame = m.encode_typed_with(None).unwrap();
        assert_eq!(
            frame,
            m.to_dynamic().unwrap().encode_with(None),
            "{}",
            String::from_utf8_lossy(&frame)
        );
        let back = Message::decode_typed::<TypedMeta>(&frame).unwrap().data;
        assert_eq!(back.start_time, m.data.start_time);
        assert_eq!(back.end_time, m.data.end_time);
        assert_eq!(back.creation_time, m.data.creation_time);
        assert_eq!(back.granules, m.data.granules);
        frames.push(frame);
    }
    assert_python_writes_them_back(python, &frames);
}

/// Python's own seeded batch of messages (`crosscheck.py generate`): one
/// JSON description a line.
fn python_batch(python: &Path) -> String {
    let count = PYTHON_BATCH.to_string();
    let seed = PYTHON_SEED.to_string();
    let run =
        run_script(python, &["generate", &count, &seed], b"").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        run.status.success(),
        "python failed ({}):\n{}",
        run.status,
        run.stderr
    );
    run.stdout
}

/// The sensor of the reference's metadata: one name or a list.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Sensor {
    One(String),
    Many(Vec<String>),
}

/// The metadata dicts the Python batch makes, as a struct; `Time` is this
/// crate's `DateTime` or a chrono type.
#[derive(Debug, Serialize, Deserialize)]
struct PyMetadata<Time> {
    platform_name: String,
    sensor: Sensor,
    start_time: Time,
    end_time: Time,
    orbit_number: u32,
    uri: String,
    uid: String,
    format: String,
    data_processing_level: String,
    station: String,
}

/// Python's frames, decoded straight into types: any dict into a `Map`, the
/// metadata into a struct; written back through the typed path they are the
/// reference's bytes, and chrono fields hold the reference's instants.
#[test]
fn python_frames_decode_into_types() {
    let Some(python) = python() else { return };
    let batch = python_batch(python);
    let (mut dicts, mut metadata) = (0, 0);
    for line in batch.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        if case["keys"].is_null() {
            continue;
        }
        let frame = unhex(case["hex"].as_str().unwrap());
        let shown = String::from_utf8_lossy(&frame).into_owned();
        let m = Message::decode_typed::<Map>(&frame).unwrap_or_else(|e| panic!("{e}: {shown}"));
        assert_eq!(m.encode_typed_with(None).unwrap(), frame, "{shown}");
        dicts += 1;
        if case["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "platform_name")
        {
            let own = Message::decode_typed::<PyMetadata<DateTime>>(&frame)
                .unwrap_or_else(|e| panic!("{e}: {shown}"));
            assert_eq!(own.encode_typed_with(None).unwrap(), frame, "{shown}");
            let chrono = Message::decode_typed::<PyMetadata<ChronoDateTime<Utc>>>(&frame)
                .unwrap_or_else(|e| panic!("{e}: {shown}"));
            let naive = Message::decode_typed::<PyMetadata<NaiveDateTime>>(&frame)
                .unwrap_or_else(|e| panic!("{e}: {shown}"));
            let py_start = &case["datetimes"]["start_time"];
            let start = DateTime::parse_isoformat(py_start.as_str().unwrap()).unwrap();
            assert_eq!(chrono.data.start_time, start.to_utc(), "{shown}");
            assert_eq!(naive.data.start_time, start.to_utc().naive_utc(), "{shown}");
            metadata += 1;
        }
    }
    assert!(
        dicts >= 100 && metadata >= 20,
        "{dicts} dicts, {metadata} metadata"
    );
}

/// Python's frames decode in Rust, re-encode to the same bytes, and carry
/// the fields Python itself decodes from them.
#[test]
fn python_frames_round_trip_through_rust() {
    let Some(python) = python() else { return };
    let batch = python_batch(python);
    let lines: Vec<&str> = batch.lines().collect();
    assert_eq!(lines.len(), PYTHON_BATCH);
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (i, line) in lines.iter().enumerate() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let frame = unhex(case["hex"].as_str().unwrap());
        let shown = String::from_utf8_lossy(&frame).into_owned();
        let m = match Message::decode(&frame) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("#{i}: Rust cannot decode: {e}\n  {shown}"));
                continue;
            }
        };
        let again = m.encode_with(None);
        if again != frame {
            failures.push(format!(
                "#{i}: Rust re-encodes differently\n  python: {shown}\n  rust:   {}",
                String::from_utf8_lossy(&again)
            ));
        }
        let kind = case["kind"].as_str().unwrap();
        *kinds.entry(kind.to_owned()).or_default() += 1;
        let mut check = |what: &str, ok: bool| {
            if !ok {
                failures.push(format!("#{i}: {what} differs: {m:?}\n  python: {case}"));
            }
        };
        check("subject", m.subject() == case["subject"]);
        check("type", m.msg_type() == case["type"]);
        check("sender", m.sender() == case["sender"]);
        check("time", m.time.isoformat() == case["time"]);
        check("version", m.version() == case["version"].as_str());
        let data_ok = match (kind, &m.data) {
            ("none", Data::None) => true,
            ("text", Data::Text(s)) => case["text"] == s.as_str(),
            ("binary", Data::Binary(b)) => case["text"].as_str().map(str::as_bytes) == Some(&b[..]),
            ("json", Data::Json(v)) => match v.as_object() {
                Some(o) => {
                    let keys: Vec<&str> = o.keys().map(|k| k.as_str()).collect();
                    let want: Vec<&str> = case["keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap())
                        .collect();
                    let dts = case["datetimes"].as_object().unwrap();
                    let rust_dts: Vec<(&str, String)> = o
                        .iter()
                        .filter_map(|(k, v)| v.as_datetime().map(|d| (k.as_str(), d.isoformat())))
                        .collect();
                    keys == want
                        && rust_dts.len() == dts.len()
                        && rust_dts.iter().all(|(k, iso)| dts[*k] == iso.as_str())
                }
                None => case["keys"].is_null(),
            },
            _ => false,
        };
        check("data", data_ok);
    }
    assert!(
        failures.is_empty(),
        "{} of {} Python frames fail:\n{}",
        failures.len(),
        lines.len(),
        failures.join("\n")
    );
    for kind in ["none", "text", "binary", "json"] {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) >= 10,
            "too few {kind} cases: {kinds:?}"
        );
    }
}

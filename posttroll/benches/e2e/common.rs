//! What every part shares: settings, runtimes, the engine's context, the
//! metadata message, statistics and thread CPU time.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use posttroll::{Config, Context, DateTime, Message, Value};

/// How long a receiver waits for the next message before declaring the
/// rest lost.
pub const IDLE: Duration = Duration::from_secs(5);

/// The subject of the probes sent until the subscribers are connected.
pub const PROBE: &str = "/bench/probe";

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `E2E_SKIP_RAW=1` leaves the raw baselines out (to profile ours alone).
pub fn skip_raw() -> bool {
    std::env::var("E2E_SKIP_RAW").is_ok_and(|v| v == "1")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The runtime of a paced publisher, which blocks its thread between
/// sends (`thread::sleep`, precise where tokio's timer has 1 ms ticks).
/// By default a current-thread runtime, as an application's: after each
/// send the publisher yields once ([`Pacer::sent`]), so that the engine's
/// tasks (the pure-Rust engine's sockets are tokio tasks) write the frame
/// before the thread sleeps; libzmq has its own I/O thread. With
/// `E2E_PACING=worker`, one worker thread drives the engine meanwhile
/// instead, and each send crosses to it.
pub fn paced_runtime() -> tokio::runtime::Runtime {
    if std::env::var("E2E_PACING").is_ok_and(|p| p == "worker") {
        return tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
    }
    runtime()
}

/// One send per `period` on an absolute schedule; late sends do not burst
/// to catch up (as the Python latency benchmark).
pub struct Pacer {
    next: Instant,
    period: Duration,
}

impl Pacer {
    pub fn new(period: Duration) -> Pacer {
        Pacer {
            next: Instant::now(),
            period,
        }
    }

    /// Sleeps (the thread) until the next send is due.
    pub fn wait(&mut self) {
        let now = Instant::now();
        if now < self.next {
            std::thread::sleep(self.next - now);
        }
        self.next += self.period;
        let now = Instant::now();
        if self.next < now {
            self.next = now + self.period;
        }
    }

    /// After a send: lets the runtime's other tasks (the engine's) run
    /// before the thread sleeps again.
    pub async fn sent(&self) {
        tokio::task::yield_now().await;
    }
}

/// The engine measured: `E2E_ENGINE`, default `libzmq`.
pub fn engine() -> String {
    std::env::var("E2E_ENGINE").unwrap_or_else(|_| posttroll_backend_zmq::ENGINE.to_owned())
}

/// True when the engine measured is the pure-Rust one.
pub fn pure_rust() -> bool {
    engine() == "purerust"
}

/// The configuration of every context of the benchmark (`unsecure_zmq` on
/// [`engine`]).
pub fn config() -> Config {
    // The process's configuration (POSTTROLL_* variables: limits, queue
    // sizes) on the engine measured.
    let base = Config::load().unwrap_or_default();
    Config {
        backend: "unsecure_zmq".into(),
        engine: Some(engine()),
        own_ip: Some("127.0.0.1".into()),
        ..base
    }
}

pub fn context_with(config: Config) -> Context {
    let ctx = Context::new(config).unwrap();
    assert_eq!(
        ctx.transport().engine(),
        engine(),
        "the engine measured is not the one asked for"
    );
    ctx
}

pub fn context() -> Context {
    context_with(config())
}

/// The 10-key metadata message of `posttroll-core/benches/codec.rs`, with
/// `orbit_number` = `seq`.
pub fn metadata_message(seq: u64) -> Message {
    let day = NaiveDate::from_ymd_opt(2020, 12, 1).unwrap();
    let start = day.and_hms_opt(12, 0, 0).unwrap();
    let end = day.and_hms_micro_opt(12, 1, 25, 600_000).unwrap();
    let data = Value::object([
        ("start_time", Value::from(DateTime::naive(start))),
        ("end_time", Value::from(DateTime::naive(end))),
        ("platform_name", Value::from("NOAA-20")),
        ("sensor", Value::from("viirs")),
        ("orbit_number", Value::from(seq)),
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
        .unwrap()
}

/// The metadata message as a Rust program describes it (the struct of
/// `posttroll-core/benches/codec.rs`), for the typed codec path.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct FileMetadata {
    pub start_time: DateTime,
    pub end_time: DateTime,
    pub platform_name: String,
    pub sensor: String,
    pub orbit_number: u64,
    pub uri: String,
    pub uid: String,
    pub format: String,
    pub data_processing_level: String,
    pub sun_elevation: f64,
}

/// [`metadata_message`] built from [`FileMetadata`]: the same bytes.
pub fn typed_metadata_message(seq: u64) -> Message<FileMetadata> {
    let day = NaiveDate::from_ymd_opt(2020, 12, 1).unwrap();
    let data = FileMetadata {
        start_time: DateTime::naive(day.and_hms_opt(12, 0, 0).unwrap()),
        end_time: DateTime::naive(day.and_hms_micro_opt(12, 1, 25, 600_000).unwrap()),
        platform_name: "NOAA-20".into(),
        sensor: "viirs".into(),
        orbit_number: seq,
        uri: "/data/viirs/SVM01_npp_d20201201_t1200000.h5".into(),
        uid: "SVM01_npp_d20201201_t1200000.h5".into(),
        format: "SDR".into(),
        data_processing_level: "1B".into(),
        sun_elevation: 23.4567,
    };
    Message::new_typed("/sat/polar/smb/level1", "file", data)
        .and_then(|m| m.with_sender("safusr.u@lxserv1096.smhi.se"))
        .unwrap()
}

/// The sequence number of a received metadata message, `None` for
/// anything else (probes).
pub fn sequence(msg: &Message) -> Option<u64> {
    if msg.subject() == PROBE {
        return None;
    }
    let seq = msg.data.get("orbit_number").and_then(Value::as_i64);
    assert_eq!(
        msg.data.get("platform_name").and_then(Value::as_str),
        Some("NOAA-20"),
        "a received message is not the one sent"
    );
    Some(u64::try_from(seq.expect("orbit_number")).unwrap())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 50.0)
}

pub fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

pub use crate::raw::thread_cpu_ns;

/// Nanoseconds per message as µs.
pub fn per_message_us(ns: u64, n: u64) -> f64 {
    ns as f64 / 1000.0 / n.max(1) as f64
}

/// How many times the calling thread gave up the CPU of its own accord
/// (`voluntary_ctxt_switches` of `/proc/thread-self/status`; 0 where there
/// is none).
pub fn thread_sleeps() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Counts the sequence numbers of one run: in order, gaps, duplicates.
#[derive(Default)]
pub struct Sequence {
    pub next: u64,
    pub received: u64,
    pub out_of_order: u64,
}

impl Sequence {
    pub fn see(&mut self, seq: u64) {
        if seq != self.next {
            self.out_of_order += 1;
        }
        self.next = seq + 1;
        self.received += 1;
    }
}

/// The subscribers that saw a probe, for a publisher that waits for all of
/// them before it sends data.
#[derive(Default)]
pub struct Joined {
    count: AtomicUsize,
}

impl Joined {
    /// One more subscriber is there (call once per subscriber).
    pub fn join(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// What the codec costs per message on one thread (part 0): CPU µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodecCost {
    /// Building and encoding one metadata message.
    pub build_encode_us: f64,
    /// Decoding one.
    pub decode_us: f64,
}

//! Helpers shared by the test binaries of the pure-Rust engine.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll_backend_purerust::PureRustTransport;
use posttroll_core::{Config, Endpoint, PubSocket, SubSocket};

/// Everything logged at WARN or above by any test of this binary.
pub fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until the captured logs contain every one of `needles`.
pub async fn wait_for_log(needles: &[&str]) {
    let start = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
        if needles.iter().all(|n| text.contains(n)) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "never logged {needles:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn transport() -> PureRustTransport {
    logs();
    PureRustTransport::new(&Config::default()).unwrap()
}

pub fn transport_with(config: &Config) -> PureRustTransport {
    logs();
    PureRustTransport::new(config).unwrap()
}

pub fn free_port() -> u16 {
    posttroll_testkit::ports::free_tcp_port()
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

pub fn topics(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

pub const PROBE: &[u8] = b"pytroll://probe";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Repeats `probe` until the subscriber receives a frame (the slow-joiner
/// of PUB/SUB), within a deadline.
pub async fn sync(publisher: &dyn PubSocket, subscriber: &mut dyn SubSocket, probe: &[u8]) {
    let start = Instant::now();
    loop {
        publisher.send(Bytes::copy_from_slice(probe)).await.unwrap();
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(10), subscriber.recv()).await
        {
            assert_eq!(frame.unwrap(), probe);
            return;
        }
        assert!(start.elapsed() < DEADLINE, "the subscriber never joined");
    }
}

/// The next frame that is not a probe, within the deadline.
pub async fn next_data(subscriber: &mut dyn SubSocket) -> Bytes {
    loop {
        let frame = tokio::time::timeout(DEADLINE, subscriber.recv())
            .await
            .expect("no frame before the deadline")
            .unwrap();
        if !frame.starts_with(PROBE) {
            return frame;
        }
    }
}

pub fn sample_frames() -> Vec<Bytes> {
    let mut binary = b"pytroll://bin ".to_vec();
    binary.extend(0..=255u8);
    let mut big = b"pytroll://big ".to_vec();
    big.resize(60_000, b'x');
    vec![
        Bytes::from_static(b"pytroll://test/a info user@host 2024-01-01T00:00:00 v1.01"),
        Bytes::from(
            "pytroll://test/utf8 info u@h 2024-01-01T00:00:00 v1.01 text/ascii norrk\u{f6}ping",
        ),
        Bytes::from(binary),
        Bytes::from(big),
        Bytes::from_static(b"pytroll:/"),
    ]
}

/// A frame of the load tests: a sequence number, padded to about 420 bytes.
pub fn numbered(i: u32) -> Bytes {
    let mut frame = format!("pytroll://load {i:010} ").into_bytes();
    frame.resize(420, b'.');
    Bytes::from(frame)
}

pub fn number_of(frame: &[u8]) -> u32 {
    std::str::from_utf8(&frame[15..25])
        .unwrap()
        .parse()
        .unwrap()
}

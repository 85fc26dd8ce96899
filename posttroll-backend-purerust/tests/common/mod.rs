//! Helpers shared by the test binaries of the pure-Rust engine.

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use posttroll_backend_purerust::PureRustTransport;
use posttroll_core::Config;
// The helpers shared with the libzmq engine's tests live in the suite.
pub use posttroll_testkit::conformance::{
    ep, next_data, number_of, numbered, sample_frames, sync, topics, unique, DEADLINE, PROBE,
};

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

/// Waits until the refusals of the suite's `allow_list_checks_ipv6_clients`
/// are logged, then checks that no peer was named `::ffff:a.b.c.d`.
pub async fn assert_refusals_logged_canonically() {
    wait_for_log(&[
        "refused a connection from 127.0.0.1",
        "127.0.0.1 is not in authorized_client_addresses",
        "refused a connection from ::1",
        "::1 is not in authorized_client_addresses",
    ])
    .await;
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(
        !text.contains("::ffff:"),
        "a peer named IPv4-mapped:\n{text}"
    );
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

//! What a test binary logs, captured: one global `tracing` subscriber (at
//! WARN and above) that copies every line to stderr and keeps it, so that
//! a test can wait for a line with a deadline. A test binary that checks
//! its logs calls [`logs`] before anything logs (the first caller installs
//! the subscriber).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use posttroll_testkit::logs::{logged, logs, wait_for_log};
//!
//! logs();
//! tracing::warn!("refused a connection from 127.0.0.1");
//! wait_for_log(&["refused a connection", "127.0.0.1"]).await;
//! assert!(logged().contains("WARN"));
//! # });
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::conformance::DEADLINE;

/// Everything logged at WARN or above in this process since the first
/// call (which installs the global subscriber; when another one was
/// installed first, nothing is captured).
pub fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        // Another test may have raced us: then its subscriber is ours too.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

/// The captured lines so far, as text.
pub fn logged() -> String {
    let logs = logs().lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&logs).into_owned()
}

/// Waits until the captured logs contain every one of `needles`.
///
/// # Panics
///
/// When they do not within [`DEADLINE`], showing the logs.
pub async fn wait_for_log(needles: &[&str]) {
    let start = Instant::now();
    loop {
        let text = logged();
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

/// A writer that keeps what it gets and copies it to stderr.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

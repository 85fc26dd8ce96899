//! The seed's subscribing example on the blocking API:
//!
//! ```python
//! with Subscribe("a_service", "counter",) as sub:
//!     for msg in sub.recv():
//!         print msg
//! ```
//!
//! Run a nameserver and the `counter_publisher` example, then `cargo run -p
//! posttroll --example subscriber -- --help`. The backend and ports come
//! from the posttroll configuration (e.g. `POSTTROLL_BACKEND`).

use std::time::Duration;

use clap::Parser;
use posttroll::subscriber::NSSubscriber;

/// Prints the `counter` messages of the service `a_service`.
#[derive(Debug, Parser)]
struct Options {
    /// Stop after N messages.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Stop when nothing came for MS milliseconds.
    #[arg(long, value_name = "MS")]
    timeout_ms: Option<u64>,
    /// The nameserver to ask for the service's publishers.
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    nameserver: String,
    /// Milliseconds to keep asking the nameserver.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    lookup_timeout_ms: u64,
}

fn main() -> posttroll::Result<()> {
    let options = Options::parse();
    let subscriber = NSSubscriber::builder()
        .services(["a_service"])
        .topics(["counter"])
        .nameserver(options.nameserver)
        .timeout(Duration::from_millis(options.lookup_timeout_ms))
        .start_blocking()?;
    let timeout = options.timeout_ms.map(Duration::from_millis);
    let messages = subscriber
        .recv(timeout)
        .take(options.count.unwrap_or(usize::MAX));
    for msg in messages {
        match msg? {
            Some(msg) => println!("{msg}"),
            None => break, // nothing within --timeout-ms
        }
    }
    subscriber.stop()
}

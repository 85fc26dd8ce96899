//! The seed's publishing example on the async API:
//!
//! ```python
//! with Publish("a_service", 9000) as pub:
//!     counter = 0
//!     while True:
//!         counter += 1
//!         message = Message("/counter", "info", str(counter))
//!         print "publishing", message
//!         pub.send(str(message))
//!         time.sleep(3)
//! ```
//!
//! Run a nameserver, then `cargo run -p posttroll --example counter_publisher
//! -- --help`. The backend and ports come from the posttroll configuration
//! (e.g. `POSTTROLL_BACKEND`, `POSTTROLL_NAMESERVER_PORT`).

use std::time::Duration;

use clap::Parser;
use posttroll::publisher::NoisyPublisher;
use posttroll::Message;

/// Publishes `/counter` messages as the service `a_service` until Ctrl-C.
#[derive(Debug, Parser)]
struct Options {
    /// Stop after N messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Milliseconds between two messages.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    interval_ms: u64,
    /// The port to publish on (0: a free one).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Announce to this nameserver instead of by multicast (repeatable).
    #[arg(long = "nameserver", value_name = "HOST")]
    nameservers: Vec<String>,
}

#[tokio::main]
async fn main() -> posttroll::Result<()> {
    let options = Options::parse();
    let mut builder = NoisyPublisher::builder("a_service").port(options.port);
    if !options.nameservers.is_empty() {
        builder = builder.nameservers(options.nameservers);
    }
    let publisher = builder.start().await?;
    for counter in 1.. {
        let message = Message::new("/counter", "info", format!("{counter}"))?;
        println!("publishing {message}");
        publisher.send(&message).await?;
        if options.count.is_some_and(|count| counter >= count) {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(options.interval_ms)) => {}
            _ = tokio::signal::ctrl_c() => {
                println!("terminating publisher...");
                break;
            }
        }
    }
    publisher.stop().await
}

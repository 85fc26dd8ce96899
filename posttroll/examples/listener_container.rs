//! The seed's listener-container example, line by line on
//! `posttroll::blocking`:
//!
//! ```python
//! pub = NoisyPublisher("test")
//! pub.start()
//! sub = ListenerContainer(topics=["/counter"])
//! # Wait that both sub and pub to register to nameserver
//! time.sleep(3)
//! for counter in range(5):
//!     msg_out = Message("/counter", "info", str(counter))
//!     pub.send(str(msg_out))
//!     print "published", str(msg_out)
//!     msg_in = sub.output_queue.get(True, 1)
//!     print "received", str(msg_in), ""
//! pub.stop()
//! sub.stop()
//! ```
//!
//! Run a nameserver, then `cargo run -p posttroll --example
//! listener_container -- --help` (or pass `--with-nameserver` to run one in
//! this process, e.g. with `POSTTROLL_BACKEND=inproc`, where nothing leaves
//! the process).
//!
//! It exits with a failure when a message did not come back in time (where
//! Python's `get` raises `Empty`).
//!
//! The backend and ports come from the posttroll configuration (e.g.
//! `POSTTROLL_BACKEND`, `POSTTROLL_NAMESERVER_PORT`).

use std::time::{Duration, Instant};

use clap::Parser;
use posttroll::listener::ListenerContainer;
use posttroll::publisher::NoisyPublisher;
use posttroll::{Context, Error, Message};
use posttroll_nameserver::blocking::NameServer;

/// Sends `/counter` messages through a nameserver and a listener container.
#[derive(Debug, Clone, Parser)]
pub struct Options {
    /// Messages to send and receive.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub count: u64,
    /// The wait for both sides to register with the nameserver.
    #[arg(long = "wait-ms", value_name = "MS", default_value = "3000", value_parser = millis)]
    pub wait: Duration,
    /// How long to wait for each message.
    #[arg(long = "get-timeout-ms", value_name = "MS", default_value = "1000", value_parser = millis)]
    pub get_timeout: Duration,
    /// Run a nameserver in this process first.
    #[arg(long)]
    pub with_nameserver: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options::parse_from(["listener_container"])
    }
}

fn millis(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("not a number of milliseconds: {text:?}"))
}

/// The example: sends `options.count` messages and returns those received,
/// on `context` (default: the process-wide one, from the configuration).
///
/// Errors when something cannot start, or a message did not come back
/// within `options.get_timeout`.
pub fn run(context: Option<Context>, options: &Options) -> posttroll::Result<Vec<Message>> {
    let ctx = match context {
        Some(ctx) => ctx,
        None => Context::global()?,
    };
    let nameserver = if options.with_nameserver {
        Some(NameServer::builder().context(ctx.clone()).start()?)
    } else {
        None
    };

    // pub = NoisyPublisher("test")
    // pub.start()
    let publisher = NoisyPublisher::builder("test")
        .context(ctx.clone())
        .start_blocking()?;
    // Our own nameserver: be sure it heard of the publisher before the
    // listener asks it (a lookup of an unknown service waits its timeout).
    if let Some(ns) = &nameserver {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ns.lookup("test").is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // sub = ListenerContainer(topics=["/counter"])
    let sub = ListenerContainer::builder(["/counter"])
        .context(ctx.clone())
        .start_blocking()?;
    // # Wait that both sub and pub to register to nameserver
    // time.sleep(3)
    std::thread::sleep(options.wait);

    let mut received = Vec::new();
    let mut missing = None;
    // for counter in range(5):
    for counter in 0..options.count {
        // msg_out = Message("/counter", "info", str(counter))
        let msg_out = Message::new("/counter", "info", counter.to_string())?;
        // pub.send(str(msg_out))
        publisher.send(&msg_out)?;
        // print "published", str(msg_out)
        println!("published {msg_out}");
        // msg_in = sub.output_queue.get(True, 1)
        let Some(msg_in) = sub.output_queue().get(Some(options.get_timeout)) else {
            // Python raises `Empty` here.
            missing = Some(counter);
            break;
        };
        // print "received", str(msg_in), ""
        println!("received {msg_in} ");
        received.push(msg_in);
    }
    // pub.stop()
    // sub.stop()
    publisher.stop()?;
    sub.stop()?;
    if let Some(ns) = nameserver {
        ns.stop()?;
    }
    match missing {
        Some(counter) => Err(Error::timeout(
            format!("message {counter} to come back"),
            options.get_timeout,
        )),
        None => Ok(received),
    }
}

fn main() -> posttroll::Result<()> {
    run(None, &Options::parse()).map(drop)
}

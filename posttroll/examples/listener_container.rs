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
//! Run a nameserver, then (or pass `--with-nameserver` to run one in this
//! process, e.g. with `POSTTROLL_BACKEND=inproc`, where nothing leaves the
//! process):
//!
//! ```text
//! cargo run -p posttroll --example listener_container -- [OPTIONS]
//!
//!   --count N           messages to send and receive (default 5)
//!   --wait-ms MS        the wait for both to register (default 3000)
//!   --get-timeout-ms MS how long to wait for each message (default 1000)
//!   --with-nameserver   run a nameserver in this process first
//! ```
//!
//! It exits with a failure when a message did not come back in time (where
//! Python's `get` raises `Empty`).
//!
//! The backend and ports come from the posttroll configuration (e.g.
//! `POSTTROLL_BACKEND`, `POSTTROLL_NAMESERVER_PORT`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use posttroll::listener::ListenerContainer;
use posttroll::publisher::NoisyPublisher;
use posttroll::{Context, Error, Message};
use posttroll_nameserver::blocking::NameServer;

const USAGE: &str = "usage: listener_container [--count N] [--wait-ms MS] [--get-timeout-ms MS] [--with-nameserver]";

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages to send and receive.
    pub count: u64,
    /// The wait for both sides to register with the nameserver.
    pub wait: Duration,
    /// How long to wait for each message.
    pub get_timeout: Duration,
    /// Run a nameserver in this process first.
    pub with_nameserver: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            count: 5,
            wait: Duration::from_secs(3),
            get_timeout: Duration::from_secs(1),
            with_nameserver: false,
        }
    }
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--with-nameserver" => {
                options.with_nameserver = true;
                continue;
            }
            _ => {}
        }
        if !["--count", "--wait-ms", "--get-timeout-ms"].contains(&flag.as_str()) {
            return Err(format!("unknown option {flag}"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(format!("{flag} needs a value")),
        };
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{what}: not a number: {value:?}"))
        };
        match flag.as_str() {
            "--count" => options.count = number("--count")?,
            "--wait-ms" => options.wait = Duration::from_millis(number("--wait-ms")?),
            "--get-timeout-ms" => {
                options.get_timeout = Duration::from_millis(number("--get-timeout-ms")?);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
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

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) if why.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("listener_container: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(None, &options) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listener_container: {e}");
            ExitCode::FAILURE
        }
    }
}

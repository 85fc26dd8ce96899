//! The seed's publishing example, line by line on `posttroll::blocking`:
//!
//! ```python
//! try:
//!     with Publish("a_service", 9000) as pub:
//!         counter = 0
//!         while True:
//!             counter += 1
//!             message = Message("/counter", "info", str(counter))
//!             print "publishing", message
//!             pub.send(str(message))
//!             time.sleep(3)
//! except KeyboardInterrupt:
//!     print "terminating publisher..."
//! ```
//!
//! Run a nameserver, then:
//!
//! ```text
//! cargo run -p posttroll --example counter_publisher -- [OPTIONS]
//!
//!   --count N          stop after N messages (default: until Ctrl-C)
//!   --interval-ms MS   time between messages (default 3000)
//!   --port PORT        the port to publish on (default 9000; 0: any free one)
//!   --nameserver HOST  announce to this nameserver instead of by multicast
//!                      (the seed's `nameservers=['localhost']` variant;
//!                      repeat for several)
//! ```
//!
//! The backend and ports come from the posttroll configuration (e.g.
//! `POSTTROLL_BACKEND`, `POSTTROLL_NAMESERVER_PORT`).

use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use posttroll::blocking::publish::Publish;
use posttroll::publisher::{NameserversSetting, PublisherSettings};
use posttroll::Message;

const USAGE: &str =
    "usage: counter_publisher [--count N] [--interval-ms MS] [--port PORT] [--nameserver HOST]...";

/// The command line.
struct Options {
    count: Option<u64>,
    interval: Duration,
    port: u16,
    nameservers: Vec<String>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        count: None,
        interval: Duration::from_secs(3),
        port: 9000,
        nameservers: Vec::new(),
    };
    let mut args = args;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if !["--count", "--interval-ms", "--port", "--nameserver"].contains(&flag.as_str()) {
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
            "--count" => options.count = Some(number("--count")?),
            "--interval-ms" => options.interval = Duration::from_millis(number("--interval-ms")?),
            "--port" => {
                options.port = u16::try_from(number("--port")?)
                    .map_err(|_| format!("--port: out of range: {value}"))?;
            }
            "--nameserver" => options.nameservers.push(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// A channel that receives `()` on Ctrl-C (Python's KeyboardInterrupt).
/// The signal is awaited on a small runtime of its own, in its own thread:
/// the blocking API must not be called from inside a runtime, and is not.
fn ctrl_c() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                    let _ = tx.send(());
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("counter_publisher: Ctrl-C will not stop cleanly: {e}");
    }
    rx
}

fn run(options: &Options, interrupted: &mpsc::Receiver<()>) -> posttroll::Result<()> {
    // with Publish("a_service", 9000) as pub:
    // (with `--nameserver`: `Publish("a_service", 9000, nameservers=[...])`)
    let publish = if options.nameservers.is_empty() {
        Publish::new("a_service", options.port)?
    } else {
        let settings = PublisherSettings {
            port: Some(options.port),
            nameservers: NameserversSetting::List(options.nameservers.clone()),
            ..PublisherSettings::named("a_service")
        };
        Publish::from_settings(&settings, None)?
    };
    // counter = 0
    let mut counter: u64 = 0;
    // while True:
    loop {
        // counter += 1
        counter += 1;
        // message = Message("/counter", "info", str(counter))
        let message = Message::new("/counter", "info", counter.to_string())?;
        // print "publishing", message
        println!("publishing {message}");
        // pub.send(str(message))
        publish.send(&message)?;
        if options.count.is_some_and(|count| counter >= count) {
            break;
        }
        // time.sleep(3), cut short by Ctrl-C
        match interrupted.recv_timeout(options.interval) {
            Ok(()) => {
                // except KeyboardInterrupt:
                println!("terminating publisher...");
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            // No Ctrl-C handling: just sleep.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(options.interval),
        }
    }
    // Leaving the `with` block.
    publish.stop()
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) if why.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("counter_publisher: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let interrupted = ctrl_c();
    match run(&options, &interrupted) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("counter_publisher: {e}");
            ExitCode::FAILURE
        }
    }
}

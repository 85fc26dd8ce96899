//! The seed's subscribing example, line by line on `posttroll::blocking`:
//!
//! ```python
//! with Subscribe("a_service", "counter",) as sub:
//!     for msg in sub.recv():
//!         print msg
//! ```
//!
//! Run a nameserver and the `counter_publisher` example, then:
//!
//! ```text
//! cargo run -p posttroll --example subscriber -- [OPTIONS]
//!
//!   --count N              stop after N messages (default: never)
//!   --timeout-ms MS        stop when nothing came for MS (default: never)
//!   --nameserver HOST      the nameserver to ask (default localhost)
//!   --lookup-timeout-ms MS how long to ask it for the service (default 10000)
//! ```
//!
//! The backend and ports come from the posttroll configuration (e.g.
//! `POSTTROLL_BACKEND`, `POSTTROLL_NAMESERVER_PORT`).

use std::process::ExitCode;
use std::time::Duration;

use posttroll::blocking::subscribe::Subscribe;
use posttroll::subscriber::{NameserverSetting, SubscriberSettings};

const USAGE: &str =
    "usage: subscriber [--count N] [--timeout-ms MS] [--nameserver HOST] [--lookup-timeout-ms MS]";

/// The command line.
struct Options {
    count: Option<u64>,
    timeout: Option<Duration>,
    nameserver: String,
    lookup_timeout: Duration,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        count: None,
        timeout: None,
        nameserver: "localhost".to_owned(),
        lookup_timeout: Duration::from_secs(10),
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
        if ![
            "--count",
            "--timeout-ms",
            "--nameserver",
            "--lookup-timeout-ms",
        ]
        .contains(&flag.as_str())
        {
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
            "--timeout-ms" => {
                options.timeout = Some(Duration::from_millis(number("--timeout-ms")?))
            }
            "--nameserver" => options.nameserver = value,
            "--lookup-timeout-ms" => {
                options.lookup_timeout = Duration::from_millis(number("--lookup-timeout-ms")?);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

fn run(options: &Options) -> posttroll::Result<()> {
    // with Subscribe("a_service", "counter",) as sub:
    // (with the nameserver host and lookup timeout of the command line)
    let settings = SubscriberSettings {
        services: vec!["a_service".to_owned()],
        topics: Some(vec!["counter".to_owned()]),
        nameserver: NameserverSetting::Host(options.nameserver.clone()),
        timeout: options.lookup_timeout,
        ..SubscriberSettings::default()
    };
    let sub = Subscribe::from_settings(settings, None)?;
    // for msg in sub.recv():
    for (index, msg) in (1_u64..).zip(sub.recv(options.timeout)) {
        match msg? {
            // print msg
            Some(msg) => println!("{msg}"),
            // Only with --timeout-ms: nothing came in time.
            None => break,
        }
        if options.count.is_some_and(|count| index >= count) {
            break;
        }
    }
    // Leaving the `with` block.
    sub.stop()
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) if why.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("subscriber: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("subscriber: {e}");
            ExitCode::FAILURE
        }
    }
}

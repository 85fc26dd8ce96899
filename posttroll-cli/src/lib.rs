//! Shared code of the posttroll command-line tools (`nameserver`,
//! `posttroll`): logging setup, the single-threaded runtime, configuration
//! loading, signal handling and the pid file of `nameserver --daemon`.
//!
//! The binaries are the product; this library only keeps them short and
//! lets their pieces be tested.
//!
//! - [`runtime`]: a tokio `current_thread` runtime (one thread: the
//!   nameserver stays small).
//! - [`load_config`]: the posttroll configuration (defaults, config files,
//!   `POSTTROLL_*` variables), plus an optional `--config FILE`.
//! - [`logging`]: `tracing` to stderr, to a file rotated daily, or nowhere.
//! - [`Shutdown`]: waits for SIGINT or SIGTERM.
//! - [`daemon`]: pid files and the processes they name.
//! - [`prometheus`], [`http_endpoint`]: the nameserver's
//!   `--metrics-address` (a recorder for the `metrics` facade rendering
//!   Prometheus' text format; `/metrics`, `/healthz`, `/readyz`).
//! - [`parse_seconds`]: a duration given in (decimal) seconds.

pub mod daemon;
pub mod http_endpoint;
pub mod logging;
pub mod prometheus;
pub mod systemd;

use std::io;
use std::path::Path;
use std::time::Duration;

use posttroll_core::config::{ConfigError, ConfigLoader};
use posttroll_core::Config;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// A tokio runtime on the calling thread only (`current_thread`, with IO
/// and timers).
///
/// # Examples
///
/// ```
/// let rt = posttroll_cli::runtime()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Loads the posttroll configuration as the Python reference does (the
/// defaults, the standard config files, then `POSTTROLL_*` environment
/// variables; see [`posttroll_core::config`]), with `file` (a YAML or JSON
/// file, or a folder of them), when given, read after the standard files
/// and before the environment.
///
/// # Errors
///
/// A config file that cannot be read or parsed (or a `file` that does not
/// exist), or a value that does not fit its key.
///
/// # Examples
///
/// ```
/// let path = std::env::temp_dir().join(format!("posttroll-cli-doc-{}.yaml", std::process::id()));
/// std::fs::write(&path, "address_publish_port: 16600\n")?;
/// let config = posttroll_cli::load_config(Some(&path));
/// std::fs::remove_file(&path)?;
/// assert_eq!(config?.address_publish_port, 16600);
/// assert!(posttroll_cli::load_config(Some("/no/such/posttroll.yaml".as_ref())).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_config(file: Option<&Path>) -> Result<Config, ConfigError> {
    let mut loader = ConfigLoader::new().process_env().standard_files();
    if let Some(file) = file {
        loader = loader.file(file);
    }
    loader.load().map(|loaded| loaded.config)
}

/// Parses a duration in seconds, e.g. `10`, `0.5`, `1e-3`: finite and not
/// negative.
///
/// # Errors
///
/// A text that is not such a number, with the reason.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll_cli::parse_seconds;
///
/// assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
/// assert!(parse_seconds("-1").is_err());
/// assert!(parse_seconds("soon").is_err());
/// ```
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!(
            "'{text}' is not a number of seconds (finite, 0 or more)"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("'{text}' seconds: {e}"))
}

/// Waits for the signals that stop a tool: SIGINT (Ctrl-C) and SIGTERM.
///
/// Made before the work starts, so that a signal arriving at any time
/// afterwards is seen (instead of killing the process) and the tool stops
/// cleanly.
///
/// # Examples
///
/// ```
/// # posttroll_cli::runtime()?.block_on(async {
/// let mut shutdown = posttroll_cli::Shutdown::new()?;
/// tokio::select! {
///     name = shutdown.recv() => println!("stopping on {name}"),
///     _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => {}
/// }
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Shutdown {
    interrupt: Signal,
    terminate: Signal,
    hangup: Option<Signal>,
}

impl Shutdown {
    /// Starts catching SIGINT and SIGTERM. Must be called inside a tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed.
    pub fn new() -> io::Result<Shutdown> {
        Ok(Shutdown {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: None,
        })
    }

    /// Also catches SIGHUP, which then reopens the log file
    /// ([`logging::reopen`], for logrotate) instead
    /// of ending the process (a daemon outlives the terminal that started
    /// it).
    ///
    /// # Errors
    ///
    /// When the signal handler cannot be installed.
    pub fn reopen_logs_on_hangup(mut self) -> io::Result<Shutdown> {
        self.hangup = Some(signal(SignalKind::hangup())?);
        Ok(self)
    }

    /// Waits for SIGINT or SIGTERM and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        loop {
            tokio::select! {
                Some(()) = self.interrupt.recv() => return "SIGINT",
                Some(()) = self.terminate.recv() => return "SIGTERM",
                Some(()) = async {
                    match self.hangup.as_mut() {
                        Some(hangup) => hangup.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    crate::logging::reopen();
                    tracing::info!("SIGHUP: log file reopened");
                }
                else => std::future::pending::<()>().await,
            }
        }
    }
}

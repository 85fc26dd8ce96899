//! `nameserver`: the posttroll nameserver, as the Python reference's
//! `nameserver` script (same flags), plus `--max-age`, `--pid-file`,
//! `--config` and `--metrics-address`.

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use posttroll::Context;
use posttroll_cli::daemon::{self, PidFile, Status};
use posttroll_cli::http_endpoint::{HttpEndpoint, Limits, Readiness};
use posttroll_cli::logging::{self, LogFormat, LogTarget};
use posttroll_cli::prometheus::PrometheusRecorder;
use posttroll_cli::{load_config, parse_seconds, runtime, systemd, Shutdown};
use posttroll_nameserver::{NameServer, DEFAULT_MAX_AGE};
use tracing::level_filters::LevelFilter;

/// The program name a pid file's process must have, when this program's
/// own cannot be found.
const PROGRAM: &str = "nameserver";

/// How long `--daemon start` waits for the daemon to serve, and `stop` for
/// it to end.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// The posttroll nameserver: keeps the addresses that publishers announce
/// and answers lookups for them.
///
/// Ports and other settings come from the posttroll configuration: config
/// files (/etc/posttroll, ~/.config/posttroll, $POSTTROLL_CONFIG, --config)
/// and POSTTROLL_* environment variables, e.g. POSTTROLL_NAMESERVER_PORT
/// (lookups, default 5557), POSTTROLL_BROADCAST_PORT (announcements, 21200),
/// POSTTROLL_ADDRESS_PUBLISH_PORT (address events, 16543),
/// POSTTROLL_MC_GROUP and POSTTROLL_MULTICAST_INTERFACE (multicast).
///
/// SIGINT or SIGTERM stops it cleanly (exit status 0).
#[derive(Debug, Parser)]
#[command(name = "nameserver", version, about, long_about)]
struct Args {
    /// File to log to (defaults to stderr). At local midnight it is renamed
    /// FILE.YYYY-MM-DD and a new FILE begins; 7 old ones are kept. SIGHUP
    /// reopens FILE (for logrotate).
    #[arg(short = 'l', long = "log", value_name = "FILE")]
    log: Option<PathBuf>,

    /// How log lines are written: text, or JSON objects for log shippers.
    /// RUST_LOG (e.g. `posttroll=debug`), when set, chooses what is logged.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Print debug messages too.
    #[arg(short, long)]
    verbose: bool,

    /// Disable multicast: publishers then announce themselves to this host
    /// (by request on the broadcast port).
    #[arg(long)]
    no_multicast: bool,

    /// Accept multicast announcements from this host only.
    #[arg(short = 'L', long)]
    local_only: bool,

    /// Run as a daemon: start it in the background, stop it, restart it, or
    /// tell whether it runs (exit status 0 running, 1 dead with a stale pid
    /// file, 3 not running).
    #[arg(short = 'd', long, value_enum, value_name = "ACTION")]
    daemon: Option<DaemonAction>,

    /// The daemon's pid file.
    #[arg(long, value_name = "PATH", default_value = "/tmp/nameserver.pid")]
    pid_file: PathBuf,

    /// Forget a publisher that has not announced itself for this long
    /// (seconds; default 600).
    #[arg(long, value_name = "SECONDS", value_parser = parse_max_age)]
    max_age: Option<Duration>,

    /// A posttroll config file (YAML or JSON) read after the standard ones;
    /// POSTTROLL_* environment variables still win.
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Serve Prometheus metrics on http://HOST:PORT/metrics, liveness on
    /// /healthz and readiness on /readyz (503 until the ports are bound and
    /// the loops run). Off by default; the endpoint faces untrusted peers
    /// (GET only, 8 KiB request heads, 5 s timeouts, 32 connections), but
    /// it has no authentication: bind it to an address only the monitoring
    /// can reach (e.g. 127.0.0.1:9105).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_metrics_address)]
    metrics_address: Option<SocketAddr>,

    /// Internal: this process is the daemon started by `--daemon start`.
    #[arg(long, hide = true)]
    daemon_child: bool,
}

/// What `--daemon` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DaemonAction {
    /// Start the nameserver in the background.
    Start,
    /// Stop the background nameserver.
    Stop,
    /// Tell whether the background nameserver runs.
    Status,
    /// Stop, then start.
    Restart,
}

/// `--max-age`: seconds, more than 0.
fn parse_max_age(text: &str) -> Result<Duration, String> {
    match parse_seconds(text)? {
        Duration::ZERO => Err("the max age must be more than 0 seconds".to_owned()),
        max_age => Ok(max_age),
    }
}

/// `--metrics-address`: `HOST:PORT`, an IP (`127.0.0.1:9105`,
/// `[::1]:9105`) or a host name (its first address).
fn parse_metrics_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("'{text}' is not HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("'{text}' resolves to no address"))
}

/// This program's file name (the daemon runs this same file), e.g.
/// `nameserver`.
fn program() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| PROGRAM.to_owned())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.daemon_child {
        return serve(&args, true);
    }
    let pid_file = PidFile::new(&args.pid_file, program());
    match args.daemon {
        None => serve(&args, false),
        Some(DaemonAction::Start) => start(&args, &pid_file),
        Some(DaemonAction::Stop) => stop(&pid_file),
        Some(DaemonAction::Status) => status(&pid_file),
        Some(DaemonAction::Restart) => match stop(&pid_file) {
            code if code == ExitCode::SUCCESS => start(&args, &pid_file),
            code => code,
        },
    }
}

/// Writes a line to stderr (a closed stderr is not an error worth dying
/// for).
fn complain(text: &str) {
    let _ = writeln!(std::io::stderr(), "nameserver: {text}");
}

/// Writes a line to stdout, ignoring a closed stdout.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Runs the nameserver until SIGINT or SIGTERM. As the daemon, logs only to
/// the log file, writes the pid file once serving and removes it on exit.
fn serve(args: &Args, as_daemon: bool) -> ExitCode {
    let level = if args.verbose {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let target = match (&args.log, as_daemon) {
        (Some(path), _) => LogTarget::File(path.clone()),
        (None, false) => LogTarget::Stderr,
        (None, true) => LogTarget::Discard,
    };
    if let Err(e) = logging::init(level, target, args.log_format) {
        complain(&e.to_string());
        return ExitCode::FAILURE;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            complain(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(run(args, as_daemon));
    if !as_daemon {
        say("Thanks for using pytroll/nameserver. See you soon on www.pytroll.org!");
    }
    code
}

async fn run(args: &Args, as_daemon: bool) -> ExitCode {
    // Errors go to the log and, when the log is not stderr, to stderr too.
    let echo = as_daemon || args.log.is_some();
    let fail = |text: &str| fail(text, echo);
    // Catch the signals first: one arriving during the start still stops
    // the nameserver cleanly.
    let shutdown = Shutdown::new().and_then(|s| {
        if as_daemon || args.log.is_some() {
            s.reopen_logs_on_hangup()
        } else {
            Ok(s)
        }
    });
    let mut shutdown = match shutdown {
        Ok(shutdown) => shutdown,
        Err(e) => return fail(&format!("cannot catch signals: {e}")),
    };
    let config = match load_config(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(&format!("bad posttroll configuration: {e}")),
    };
    let ctx = match Context::new(config) {
        Ok(ctx) => ctx,
        Err(e) => return fail(&format!("cannot set up the backend: {e}")),
    };
    // The endpoint first, so that /healthz answers (and /readyz says 503)
    // while the nameserver starts.
    let readiness = Readiness::new();
    let endpoint = match args.metrics_address {
        Some(address) => match serve_metrics(address, readiness.clone()).await {
            Ok(task) => Some(task),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let started = NameServer::builder()
        .context(ctx)
        .multicast(!args.no_multicast)
        .local_only(args.local_only)
        .max_age(args.max_age.unwrap_or(DEFAULT_MAX_AGE));
    let ns = tokio::select! {
        started = started.start() => match started {
            Ok(ns) => ns,
            Err(e) => return fail(&format!("cannot start the nameserver: {e}")),
        },
        name = shutdown.recv() => {
            tracing::info!("{name} received while starting; stopping");
            return ExitCode::SUCCESS;
        }
    };
    let pid_file = PidFile::new(&args.pid_file, program());
    if as_daemon {
        if let Err(e) = pid_file.write(std::process::id()) {
            ns.stop().await;
            return fail(&e.to_string());
        }
    }
    readiness.set_ready(true);
    systemd::ready("serving");
    tokio::select! {
        name = shutdown.recv() => tracing::info!("{name} received; stopping"),
        () = ns.wait() => {}
        () = systemd::watchdog() => {}
    }
    readiness.set_ready(false);
    systemd::stopping();
    ns.stop().await;
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    if as_daemon {
        if let Err(e) = pid_file.remove_if(std::process::id()) {
            tracing::warn!("{e}");
        }
    }
    ExitCode::SUCCESS
}

/// Installs the Prometheus recorder (the counters of
/// `posttroll_core::metrics`, each at 0) and serves `/metrics`, `/healthz`
/// and `/readyz` on `address` in a task of this runtime.
async fn serve_metrics(
    address: SocketAddr,
    readiness: Readiness,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let handle = PrometheusRecorder::new()
        .install()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    posttroll_core::metrics::describe();
    let endpoint = HttpEndpoint::bind(
        address,
        move || handle.render(),
        readiness,
        Limits::default(),
    )
    .await
    .map_err(|e| format!("cannot serve metrics on {address}: {e}"))?;
    tracing::info!(
        "metrics on http://{0}/metrics, health on http://{0}/healthz and /readyz",
        endpoint.local_addr()
    );
    Ok(tokio::spawn(endpoint.serve()))
}

/// Logs a fatal error, also on stderr when `echo`; the exit status 1.
fn fail(text: &str, echo: bool) -> ExitCode {
    tracing::error!("{text}");
    if echo {
        complain(text);
    }
    ExitCode::FAILURE
}

/// `--daemon start`: starts this program again in the background as the
/// daemon, and waits until it serves (its pid file appears) or fails.
fn start(args: &Args, pid_file: &PidFile) -> ExitCode {
    match pid_file.status() {
        Status::Running(pid) => {
            say(&format!(
                "nameserver already running (pid {pid}, pid file {})",
                pid_file.path().display()
            ));
            return ExitCode::SUCCESS;
        }
        Status::Stale(_) => {
            if let Err(e) = pid_file.remove() {
                complain(&e.to_string());
                return ExitCode::FAILURE;
            }
        }
        Status::NotRunning => {}
    }
    let mut command = match daemon_command(args) {
        Ok(command) => command,
        Err(e) => {
            complain(&e);
            return ExitCode::FAILURE;
        }
    };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            complain(&format!("cannot start the daemon: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let pid = child.id();
    let deadline = Instant::now() + DAEMON_TIMEOUT;
    loop {
        if let Ok(Some(pid_found)) = pid_file.read() {
            if i64::from(pid_found) == i64::from(pid) {
                say(&format!("nameserver started (pid {pid})"));
                return ExitCode::SUCCESS;
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut output = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut output);
                }
                complain(&format!(
                    "the daemon failed to start ({status}): {}",
                    output.trim()
                ));
                return ExitCode::FAILURE;
            }
            Ok(None) => {}
            Err(e) => {
                complain(&format!("cannot watch the daemon: {e}"));
                return ExitCode::FAILURE;
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            complain(&format!(
                "the daemon did not start within {} s",
                DAEMON_TIMEOUT.as_secs()
            ));
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The command that runs this program as the daemon: the same settings,
/// paths made absolute (it runs in `/`), detached from the terminal's
/// process group, stdin and stdout on /dev/null, stderr piped to this
/// process until the daemon is up (for start errors).
fn daemon_command(args: &Args) -> Result<Command, String> {
    use std::os::unix::process::CommandExt;

    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let absolute = |path: &Path| {
        std::path::absolute(path)
            .map_err(|e| format!("cannot make {} absolute: {e}", path.display()))
    };
    let mut command = Command::new(exe);
    command
        .arg("--daemon-child")
        .arg("--pid-file")
        .arg(absolute(&args.pid_file)?);
    if let Some(log) = &args.log {
        command.arg("--log").arg(absolute(log)?);
    }
    if let Some(config) = &args.config {
        command.arg("--config").arg(absolute(config)?);
    }
    if let Some(max_age) = args.max_age {
        command
            .arg("--max-age")
            .arg(max_age.as_secs_f64().to_string());
    }
    if args.verbose {
        command.arg("--verbose");
    }
    if args.no_multicast {
        command.arg("--no-multicast");
    }
    if args.local_only {
        command.arg("--local-only");
    }
    if let Some(address) = args.metrics_address {
        command.arg("--metrics-address").arg(address.to_string());
    }
    command
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    Ok(command)
}

/// `--daemon stop`: SIGTERM to the daemon, then waits for it to end.
fn stop(pid_file: &PidFile) -> ExitCode {
    match pid_file.status() {
        Status::NotRunning => {
            say("nameserver not running");
            ExitCode::SUCCESS
        }
        Status::Stale(pid) => {
            let pid = pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
            say(&format!(
                "nameserver not running (removing the stale pid file {}, pid {pid})",
                pid_file.path().display()
            ));
            match pid_file.remove() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    complain(&e.to_string());
                    ExitCode::FAILURE
                }
            }
        }
        Status::Running(pid) => {
            if let Err(e) = daemon::terminate(pid) {
                complain(&e.to_string());
                return ExitCode::FAILURE;
            }
            if !daemon::wait_until_gone(pid, &program(), DAEMON_TIMEOUT) {
                complain(&format!(
                    "the nameserver (pid {pid}) did not stop within {} s",
                    DAEMON_TIMEOUT.as_secs()
                ));
                return ExitCode::FAILURE;
            }
            // The daemon removes it itself; not when it was killed.
            if let Err(e) = pid_file.remove_if(pid.unsigned_abs()) {
                complain(&e.to_string());
            }
            say(&format!("nameserver stopped (pid {pid})"));
            ExitCode::SUCCESS
        }
    }
}

/// `--daemon status`: LSB exit status (0 running, 1 stale pid file, 3 not
/// running).
fn status(pid_file: &PidFile) -> ExitCode {
    let status = pid_file.status();
    match &status {
        Status::Running(pid) => say(&format!("nameserver running (pid {pid})")),
        Status::Stale(pid) => say(&format!(
            "nameserver not running, but the pid file {} is left (pid {})",
            pid_file.path().display(),
            pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
        )),
        Status::NotRunning => say("nameserver not running"),
    }
    ExitCode::from(status.lsb_code())
}

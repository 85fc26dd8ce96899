//! The Python reference (posttroll 1.16.0) as a peer in interop tests.
//!
//! - [`interpreter`] finds a Python that imports posttroll 1.16.0;
//!   [`require`] is what a test calls first: it skips the test loudly (or
//!   fails it under CI) when there is none.
//! - [`PythonProcess`] runs a script with a clean posttroll environment and
//!   reads its stdout line by line.
//! - [`config_env`] hands a Rust-side configuration (e.g. a
//!   [`NameServerFixture`](crate::NameServerFixture)'s) to the peer;
//!   [`patch_own_ip_snippet`] makes the peer announce `127.0.0.1`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll_testkit::python::{self, PythonProcess};
//!
//! // `require()` in a test; the quiet `interpreter()` in this example.
//! if python::interpreter().is_some() {
//!     let peer = PythonProcess::spawn(
//!         "import sys\nfrom importlib.metadata import version\nprint(version('posttroll'), sys.argv[1])",
//!         &["hello"],
//!         &[("POSTTROLL_NAMESERVER_PORT", "5999")],
//!     )
//!     .unwrap();
//!     assert_eq!(peer.read_line(Duration::from_secs(30)).as_deref(), Some("1.16.0 hello"));
//! }
//! ```

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use posttroll::Config;
use tokio::sync::Notify;

/// The version of the Python reference the interop tests are written
/// against.
pub const REFERENCE_VERSION: &str = "1.16.0";

/// The environment variable naming the interpreter to use.
pub const PYTHON_ENV: &str = "PTRS_PYTHON";

/// The check each candidate interpreter must pass.
const CHECK: &str = "\
import sys
from importlib.metadata import version
import posttroll, zmq
v = version('posttroll')
print(v)
sys.exit(0 if v == sys.argv[1] else 3)
";

use posttroll_core::engine::lock;

/// The interpreters tried, in order: `$PTRS_PYTHON` when set (then only
/// it: a deliberate choice is not second-guessed), else
/// `<workspace>/.venv/bin/python` (made by `scripts/setup-python.sh`).
pub fn candidates() -> Vec<PathBuf> {
    match std::env::var_os(PYTHON_ENV) {
        Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let workspace = manifest.parent().unwrap_or(manifest);
            vec![workspace.join(".venv/bin/python")]
        }
    }
}

/// Checks one interpreter: it must import posttroll (and pyzmq) and have
/// posttroll [`REFERENCE_VERSION`].
fn check(python: &Path) -> Result<(), String> {
    if !python.exists() {
        return Err(format!("{}: does not exist", python.display()));
    }
    let mut command = Command::new(python);
    command
        .args(["-c", CHECK, REFERENCE_VERSION])
        .stdin(Stdio::null());
    clean_env(&mut command);
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) if out.status.code() == Some(3) => Err(format!(
            "{}: has posttroll {}, not {REFERENCE_VERSION}",
            python.display(),
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Ok(out) => Err(format!(
            "{}: cannot import posttroll ({}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Err(format!("{}: cannot run: {e}", python.display())),
    }
}

/// The interpreter, or why there is none; found once per process.
fn found() -> &'static Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let mut reasons = Vec::new();
        for python in candidates() {
            match check(&python) {
                Ok(()) => return Ok(python),
                Err(why) => reasons.push(why),
            }
        }
        Err(reasons.join("\n  "))
    })
}

/// A Python interpreter with posttroll [`REFERENCE_VERSION`]: the first of
/// [`candidates`] that imports it; `None` when none does. Checked once per
/// process.
///
/// # Examples
///
/// ```
/// match posttroll_testkit::python::interpreter() {
///     Some(python) => println!("interop tests run with {}", python.display()),
///     None => println!("no Python reference here"),
/// }
/// ```
pub fn interpreter() -> Option<PathBuf> {
    found().as_ref().ok().cloned()
}

/// The interpreter for an interop test, or `None` to skip the test: when
/// there is none, prints a loud `SKIPPED` block to stderr (with why each
/// candidate failed) and returns `None`.
///
/// # Panics
///
/// When there is none and the environment variable `CI` is set: under CI
/// the interop tests must run.
///
/// # Examples
///
/// ```
/// fn an_interop_test() {
///     let Some(python) = posttroll_testkit::python::require() else { return };
///     // ... run the Python peer with `python`
/// #   let _ = python;
/// }
/// # if std::env::var_os("CI").is_none() { an_interop_test(); }
/// ```
pub fn require() -> Option<PathBuf> {
    match found() {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            let msg = format!(
                "no Python with posttroll {REFERENCE_VERSION} for the interop tests \
                 (set {PYTHON_ENV}, or run scripts/setup-python.sh):\n  {why}"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            let bar = "!".repeat(72);
            eprintln!("\n{bar}\nSKIPPED: {msg}\n{bar}\n");
            None
        }
    }
}

/// Python lines that make the reference announce `127.0.0.1`: they pin
/// `posttroll.publisher.get_own_ip` (which otherwise finds the address of
/// the default route; PROTOCOL.md section 8). Put them at the top of a
/// peer's script, before any publisher starts.
///
/// # Examples
///
/// ```
/// use posttroll_testkit::python::patch_own_ip_snippet;
///
/// let script = format!(
///     "{}\nfrom posttroll.publisher import NoisyPublisher\n# ...\n",
///     patch_own_ip_snippet()
/// );
/// assert!(script.contains("get_own_ip"));
/// ```
pub fn patch_own_ip_snippet() -> &'static str {
    "import posttroll.publisher as _ptrs_publisher\n\
     _ptrs_publisher.get_own_ip = lambda: \"127.0.0.1\"\n"
}

/// The `POSTTROLL_*` variables that give a Python peer the ports and
/// multicast settings of `config` (e.g. a fixture's), to pass to
/// [`PythonProcess::spawn`]: `nameserver_port`,
/// `secure_zmq_nameserver_port`, `address_publish_port`,
/// `broadcast_port`, `mc_group`, `pub_min_port`, `pub_max_port`, and
/// `multicast_interface`, `message_version` and `backend` when set (not
/// `backend: inproc`, which the reference does not know), and `mc_ttl` (for
/// Rust children; the reference reads its TTL from `PYTROLL_MC_TTL` only,
/// which [`PythonProcess::spawn`] always sets to 0).
///
/// # Examples
///
/// ```
/// use posttroll::Config;
/// use posttroll_testkit::{loopback_multicast, python::config_env};
///
/// let config = loopback_multicast(Config { nameserver_port: 6000, ..Config::default() });
/// let env = config_env(&config);
/// assert!(env.contains(&("POSTTROLL_NAMESERVER_PORT".to_string(), "6000".to_string())));
/// assert!(env.contains(&("POSTTROLL_MULTICAST_INTERFACE".to_string(), "127.0.0.1".to_string())));
/// assert!(env.contains(&("POSTTROLL_MC_TTL".to_string(), "0".to_string())));
/// ```
pub fn config_env(config: &Config) -> Vec<(String, String)> {
    let mut env = vec![
        ("NAMESERVER_PORT", config.nameserver_port.to_string()),
        (
            "SECURE_ZMQ_NAMESERVER_PORT",
            config.secure_zmq_nameserver_port.to_string(),
        ),
        (
            "ADDRESS_PUBLISH_PORT",
            config.address_publish_port.to_string(),
        ),
        ("BROADCAST_PORT", config.broadcast_port.to_string()),
        ("MC_GROUP", config.mc_group.clone()),
        ("PUB_MIN_PORT", config.pub_min_port.to_string()),
        ("PUB_MAX_PORT", config.pub_max_port.to_string()),
    ];
    if let Some(interface) = &config.multicast_interface {
        env.push(("MULTICAST_INTERFACE", interface.clone()));
    }
    if let Some(version) = &config.message_version {
        env.push(("MESSAGE_VERSION", version.clone()));
    }
    if config.backend != posttroll_backend_inproc::BACKEND_NAME {
        env.push(("BACKEND", config.backend.clone()));
    }
    env.push(("MC_TTL", config.mc_ttl.to_string()));
    env.into_iter()
        .map(|(k, v)| (format!("POSTTROLL_{k}"), v))
        .collect()
}

/// Removes the posttroll settings of this process's environment from
/// `command` and sets the safe defaults.
fn clean_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("POSTTROLL_")
            || name.starts_with("PYTROLL_")
            || name == "NAMESERVER_PORT"
        {
            command.env_remove(&key);
        }
    }
    command
        .env("PYTROLL_MC_TTL", "0")
        .env("POSTTROLL_MULTICAST_INTERFACE", "127.0.0.1")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
}

/// Stdout lines not yet read, shared with the reading thread.
#[derive(Debug, Default)]
struct Lines {
    state: Mutex<LinesState>,
    /// Wakes blocking readers.
    cond: Condvar,
    /// Wakes async readers.
    notify: Notify,
}

#[derive(Debug, Default)]
struct LinesState {
    queue: VecDeque<String>,
    /// Every line seen, for failure messages.
    transcript: Vec<String>,
    eof: bool,
}

impl Lines {
    fn push(&self, line: Option<String>) {
        {
            let mut st = lock(&self.state);
            match line {
                Some(line) => {
                    st.transcript.push(line.clone());
                    st.queue.push_back(line);
                }
                None => st.eof = true,
            }
        }
        self.cond.notify_all();
        self.notify.notify_waiters();
    }
}

/// A running Python peer: `python -c <script> <args>...` with a clean
/// posttroll environment, its stdout read line by line and its stderr
/// kept for failure messages. Killed when dropped.
///
/// The environment: every `POSTTROLL_*` and `PYTROLL_*` variable (and the
/// legacy `NAMESERVER_PORT`) of this process removed; then
/// `POSTTROLL_MULTICAST_INTERFACE=127.0.0.1`, `PYTHONUNBUFFERED=1` (so each
/// `print` arrives at once) and `PYTHONDONTWRITEBYTECODE=1`; then the
/// variables given; and always `PYTROLL_MC_TTL=0` (the reference reads the
/// TTL from there only), so the peer never multicasts beyond the host.
///
/// The `read_line`/`wait_for_line` methods block the calling thread: in an
/// async test, use their `_async` twins, which let the runtime run the
/// Rust side meanwhile.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll_testkit::python::{self, PythonProcess};
///
/// if python::interpreter().is_some() {
///     let script = "import os\nprint('ttl', os.environ['PYTROLL_MC_TTL'])\nprint('ready', flush=True)\nimport sys\nprint('bye', sys.stdin.readline().strip())";
///     let mut peer = PythonProcess::spawn(script, &[], &[] as &[(&str, &str)]).unwrap();
///     let ready = peer.wait_for_line(|l| l == "ready", Duration::from_secs(30));
///     assert!(ready.is_some(), "{}", peer.describe());
///     peer.write_line("now").unwrap();
///     assert_eq!(peer.read_line(Duration::from_secs(30)).as_deref(), Some("bye now"));
///     assert!(peer.wait(Duration::from_secs(30)).is_some_and(|s| s.success()));
///     assert_eq!(peer.transcript()[0], "ttl 0");
/// }
/// ```
#[derive(Debug)]
pub struct PythonProcess {
    child: Mutex<Child>,
    stdin: Option<ChildStdin>,
    lines: Arc<Lines>,
    stderr: Arc<Mutex<String>>,
}

impl PythonProcess {
    /// Runs `script` with the interpreter of [`interpreter`], `args` as
    /// `sys.argv[1:]` and `env` added to the clean environment.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::NotFound`] when there is no interpreter (call
    /// [`require`] first to skip instead); [`io::ErrorKind::InvalidInput`]
    /// when `env` sets `PYTROLL_MC_TTL` to anything but `0`; an error of
    /// starting the process.
    pub fn spawn<K, V>(script: &str, args: &[&str], env: &[(K, V)]) -> io::Result<PythonProcess>
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        match found() {
            Ok(python) => PythonProcess::spawn_with(python, script, args, env),
            Err(why) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no Python with posttroll {REFERENCE_VERSION}:\n  {why}"),
            )),
        }
    }

    /// [`spawn`](Self::spawn) with the interpreter `python`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with<K, V>(
        python: &Path,
        script: &str,
        args: &[&str],
        env: &[(K, V)],
    ) -> io::Result<PythonProcess>
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut command = Command::new(python);
        command.arg("-c").arg(script).args(args);
        clean_env(&mut command);
        for (key, value) in env {
            let (key, value) = (key.as_ref(), value.as_ref());
            if key == "PYTROLL_MC_TTL" && value != "0" {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "PYTROLL_MC_TTL={}: tests multicast with a TTL of 0 only",
                        value.to_string_lossy()
                    ),
                ));
            }
            command.env(key, value);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let lines = Arc::new(Lines::default());
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            let lines = lines.clone();
            std::thread::Builder::new()
                .name("python-stdout".to_owned())
                .spawn(move || read_lines(out, &lines))?;
        } else {
            lines.push(None);
        }
        if let Some(err) = child.stderr.take() {
            let stderr = stderr.clone();
            std::thread::Builder::new()
                .name("python-stderr".to_owned())
                .spawn(move || read_all(err, &stderr))?;
        }
        Ok(PythonProcess {
            child: Mutex::new(child),
            stdin,
            lines,
            stderr,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        lock(&self.child).id()
    }

    /// The next stdout line (without its line end), waiting at most
    /// `timeout`; `None` when the time passed first or stdout closed (the
    /// process ended) with nothing more to read. Blocks the thread.
    pub fn read_line(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.lines.state);
        loop {
            if let Some(line) = st.queue.pop_front() {
                return Some(line);
            }
            if st.eof {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            st = self
                .lines
                .cond
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// [`read_line`](Self::read_line) for async tests: waits without
    /// blocking the runtime.
    pub async fn read_line_async(&self, timeout: Duration) -> Option<String> {
        let next = async {
            loop {
                let mut notified = pin!(self.lines.notify.notified());
                notified.as_mut().enable();
                {
                    let mut st = lock(&self.lines.state);
                    if let Some(line) = st.queue.pop_front() {
                        return Some(line);
                    }
                    if st.eof {
                        return None;
                    }
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, next).await.ok().flatten()
    }

    /// Reads stdout lines until one satisfies `predicate` (returned) or
    /// `timeout` passes or stdout closes (`None`); the lines before it are
    /// skipped (they stay in the [`transcript`](Self::transcript)). Blocks
    /// the thread.
    pub fn wait_for_line(
        &self,
        mut predicate: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.read_line(deadline.saturating_duration_since(Instant::now()))?;
            if predicate(&line) {
                return Some(line);
            }
        }
    }

    /// [`wait_for_line`](Self::wait_for_line) for async tests.
    pub async fn wait_for_line_async(
        &self,
        mut predicate: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self
                .read_line_async(deadline.saturating_duration_since(Instant::now()))
                .await?;
            if predicate(&line) {
                return Some(line);
            }
        }
    }

    /// Writes `line` and a newline to the process's stdin.
    ///
    /// # Errors
    ///
    /// When stdin was closed, or the process ended.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the Python peer's stdin is closed",
            ));
        };
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Closes the process's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Every stdout line seen so far, read or not.
    pub fn transcript(&self) -> Vec<String> {
        lock(&self.lines.state).transcript.clone()
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    /// Waits at most `timeout` for the process to end; its exit status, or
    /// `None` if it still runs.
    pub fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the process (if it still runs) and reaps it.
    pub fn kill(&self) {
        let mut child = lock(&self.child);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// A description for failure messages: the pid, whether it ended, its
    /// stdout transcript and its stderr (after a short wait for what is
    /// still in flight).
    pub fn describe(&self) -> String {
        std::thread::sleep(Duration::from_millis(50));
        let mut out = String::new();
        let status = match self.try_wait() {
            Some(status) => format!("ended: {status}"),
            None => "still running".to_owned(),
        };
        let _ = writeln!(out, "Python peer (pid {}, {status})", self.id());
        let _ = writeln!(out, "--- stdout ---");
        for line in self.transcript() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "--- stderr ---");
        out.push_str(&self.stderr());
        out
    }
}

impl Drop for PythonProcess {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
    }
}

fn read_lines(out: impl Read, lines: &Lines) {
    let mut reader = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                lines.push(Some(line.to_owned()));
            }
        }
    }
    lines.push(None);
}

fn read_all(mut err: impl Read, into: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    loop {
        match err.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => lock(into).push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_env_leaves_inproc_out() {
        let env = config_env(&crate::inproc_config());
        assert!(!env.iter().any(|(k, _)| k == "POSTTROLL_BACKEND"));
        let env = config_env(&Config::default());
        assert!(env.contains(&("POSTTROLL_BACKEND".to_owned(), "unsecure_zmq".to_owned())));
        assert!(!env
            .iter()
            .any(|(k, _)| k == "POSTTROLL_MULTICAST_INTERFACE"));
    }

    #[test]
    fn a_nonzero_ttl_is_refused() {
        let err = PythonProcess::spawn_with(
            Path::new("/nonexistent/python"),
            "pass",
            &[],
            &[("PYTROLL_MC_TTL", "1")],
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}

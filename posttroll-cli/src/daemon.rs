//! Pid files and the processes they name, for `nameserver --daemon`.
//!
//! A pid file holds the decimal process id of a running daemon and a
//! newline. The daemon writes it once it serves (so a pid file means "up"),
//! and removes it when it stops.
//!
//! A process counts as running when `kill(pid, 0)` finds it, it is not a
//! zombie, and (where `/proc` shows its command line) its program has the
//! expected name, so that a stale pid file whose number was reused by
//! another program is not mistaken for the daemon.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What a pid file says about its daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The pid file names a running process.
    Running(i32),
    /// The pid file exists but names no running daemon (or holds no pid).
    Stale(Option<i32>),
    /// There is no pid file.
    NotRunning,
}

impl Status {
    /// The LSB init-script exit status of `status`: 0 running, 1 dead with
    /// a pid file left, 3 not running.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_cli::daemon::Status;
    ///
    /// assert_eq!(Status::Running(1).lsb_code(), 0);
    /// assert_eq!(Status::Stale(Some(7)).lsb_code(), 1);
    /// assert_eq!(Status::NotRunning.lsb_code(), 3);
    /// ```
    pub fn lsb_code(&self) -> u8 {
        match self {
            Status::Running(_) => 0,
            Status::Stale(_) => 1,
            Status::NotRunning => 3,
        }
    }
}

/// A pid file, and the program name its process must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFile {
    path: PathBuf,
    program: String,
}

impl PidFile {
    /// The pid file at `path` of a daemon whose program file is named
    /// `program` (e.g. `nameserver`).
    pub fn new(path: impl Into<PathBuf>, program: impl Into<String>) -> PidFile {
        PidFile {
            path: path.into(),
            program: program.into(),
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid in the file: `Ok(None)` when there is no file.
    ///
    /// # Errors
    ///
    /// The file cannot be read (other than missing), or holds no pid.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_cli::daemon::PidFile;
    ///
    /// let path = std::env::temp_dir().join(format!("posttroll-cli-doc-{}.pid", std::process::id()));
    /// let pid_file = PidFile::new(&path, "nameserver");
    /// assert_eq!(pid_file.read()?, None);
    /// pid_file.write(1234)?;
    /// assert_eq!(pid_file.read()?, Some(1234));
    /// pid_file.remove_if(1234)?;
    /// assert_eq!(pid_file.read()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read(&self) -> io::Result<Option<i32>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read the pid file {}: {e}", self.path.display()),
                ))
            }
        };
        match text.trim().parse::<i32>() {
            Ok(pid) if pid > 0 => Ok(Some(pid)),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the pid file {} holds no process id: {:?}",
                    self.path.display(),
                    text.chars().take(40).collect::<String>()
                ),
            )),
        }
    }

    /// Writes `pid`: to a temporary file beside it, then renamed over the
    /// pid file, so that a reader never sees half a number.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn write(&self, pid: u32) -> io::Result<()> {
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(format!(".{pid}.tmp"));
        let temporary = PathBuf::from(temporary);
        let written = std::fs::File::create(&temporary)
            .and_then(|mut file| writeln!(file, "{pid}").and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, &self.path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io::Error::new(
                e.kind(),
                format!("cannot write the pid file {}: {e}", self.path.display()),
            )
        })
    }

    /// Removes the pid file if it (still) holds `pid`.
    ///
    /// # Errors
    ///
    /// When it holds `pid` but cannot be removed.
    pub fn remove_if(&self, pid: u32) -> io::Result<()> {
        match self.read() {
            Ok(Some(found)) if i64::from(found) == i64::from(pid) => self.remove(),
            _ => Ok(()),
        }
    }

    /// Removes the pid file (a missing one is fine).
    ///
    /// # Errors
    ///
    /// When it exists but cannot be removed.
    pub fn remove(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
                e.kind(),
                format!("cannot remove the pid file {}: {e}", self.path.display()),
            )),
            _ => Ok(()),
        }
    }

    /// What the pid file says; an unreadable or malformed file is
    /// [`Status::Stale`].
    pub fn status(&self) -> Status {
        match self.read() {
            Ok(None) => Status::NotRunning,
            Ok(Some(pid)) if is_running(pid, &self.program) => Status::Running(pid),
            Ok(Some(pid)) => Status::Stale(Some(pid)),
            Err(e) => {
                tracing::warn!("{e}");
                Status::Stale(None)
            }
        }
    }
}

/// True when process `pid` exists, is not a zombie, and (when `/proc` shows
/// its command line) runs a program whose file is named `program`.
///
/// # Examples
///
/// ```
/// let me = std::process::id() as i32;
/// let name = std::env::current_exe()?.file_name().unwrap().to_string_lossy().into_owned();
/// assert!(posttroll_cli::daemon::is_running(me, &name));
/// assert!(!posttroll_cli::daemon::is_running(me, "surely-not-this-program"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_running(pid: i32, program: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    if is_zombie(pid) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
            let argv0 = String::from_utf8_lossy(argv0);
            Path::new(argv0.as_ref())
                .file_name()
                .is_some_and(|name| name.to_string_lossy() == program)
        }
        // No /proc: trust kill(2).
        Err(_) => true,
    }
}

/// True when `/proc` says process `pid` is a zombie (ended, not yet reaped:
/// a daemon whose parent is gone may stay so where nothing reaps orphans).
fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// Sends SIGTERM to `pid`.
///
/// # Errors
///
/// When the signal cannot be sent (no such process, not permitted).
pub fn terminate(pid: i32) -> io::Result<()> {
    kill(Pid::from_raw(pid), Signal::SIGTERM)
        .map_err(|e| io::Error::other(format!("cannot send SIGTERM to process {pid}: {e}")))
}

/// Waits until `pid` no longer runs `program` (see [`is_running`]),
/// checking every 10 ms; false when `timeout` passed first.
pub fn wait_until_gone(pid: i32, program: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_running(pid, program) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

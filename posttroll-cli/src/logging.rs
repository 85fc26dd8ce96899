//! Logging setup: `tracing` events to stderr, to a log file rotated daily,
//! or nowhere.
//!
//! The reference nameserver's `-l FILE` uses Python's
//! `TimedRotatingFileHandler(FILE, "midnight", backupCount=7)`. Here
//! [`tracing_appender`]'s daily rotation does the same job: the current
//! day's log is `FILE.YYYY-MM-DD` (the date is in the name from the start,
//! where Python renames `FILE` at midnight), a new file begins at midnight
//! UTC, and the oldest files are deleted so that today's and the 7 before
//! it are kept, as the reference keeps its file and 7 backups.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use tracing::level_filters::LevelFilter;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

/// How many log files a daily-rotated log keeps: today's and 7 older ones.
pub const KEPT_LOG_FILES: usize = 8;

/// Where log events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error.
    Stderr,
    /// Files named after this path, rotated daily (see the [module
    /// documentation](self)).
    File(PathBuf),
    /// Nowhere (a daemon without a log file).
    Discard,
}

/// Installs the global `tracing` subscriber: events at `level` and above go
/// to `target`.
///
/// # Errors
///
/// When the log file's folder cannot be used (it is created when missing),
/// or a subscriber is already installed.
///
/// # Examples
///
/// ```
/// use posttroll_cli::logging::{init, LogTarget};
/// use tracing::level_filters::LevelFilter;
///
/// init(LevelFilter::WARN, LogTarget::Stderr)?;
/// tracing::warn!("shown on stderr");
/// // Only one subscriber per process.
/// assert!(init(LevelFilter::WARN, LogTarget::Stderr).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn init(level: LevelFilter, target: LogTarget) -> io::Result<()> {
    let builder = tracing_subscriber::fmt().with_max_level(level);
    let result = match target {
        LogTarget::Stderr => builder
            .with_ansi(io::stderr().is_terminal())
            .with_writer(io::stderr)
            .try_init(),
        LogTarget::File(path) => builder
            .with_ansi(false)
            .with_writer(daily_file(&path)?)
            .try_init(),
        LogTarget::Discard => builder.with_ansi(false).with_writer(io::sink).try_init(),
    };
    result.map_err(|e| io::Error::other(format!("cannot set up logging: {e}")))
}

/// A writer to `path` rotated daily, keeping [`KEPT_LOG_FILES`] files.
///
/// # Errors
///
/// When `path` has no file name, or its folder cannot be created.
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let dir = std::env::temp_dir().join(format!("posttroll-cli-log-doc-{}", std::process::id()));
/// let mut writer = posttroll_cli::logging::daily_file(&dir.join("ns.log"))?;
/// writer.write_all(b"hello\n")?;
/// writer.flush()?;
/// let names: Vec<String> = std::fs::read_dir(&dir)?
///     .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
///     .collect::<Result<_, _>>()?;
/// std::fs::remove_dir_all(&dir)?;
/// assert!(names[0].starts_with("ns.log."), "{names:?}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn daily_file(path: &Path) -> io::Result<RollingFileAppender> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the log file {} has no file name", path.display()),
        )
    })?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create the log folder {}: {e}", folder.display()),
        )
    })?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name.to_string_lossy())
        .max_log_files(KEPT_LOG_FILES)
        .build(folder)
        .map_err(|e| io::Error::other(format!("cannot open the log file {}: {e}", path.display())))
}

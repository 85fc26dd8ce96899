//! Logging setup: `tracing` events to stderr, to a log file rotated at
//! midnight, or nowhere; as text or as JSON lines; `RUST_LOG` honoured.
//!
//! The reference nameserver's `-l FILE` uses Python's
//! `TimedRotatingFileHandler(FILE, "midnight", backupCount=7)`, and so does
//! [`RotatingFile`]: the current log is always `FILE` (so `tail -f FILE`
//! works), at the first write after local midnight it is renamed
//! `FILE.YYYY-MM-DD` (the day it holds) and a new `FILE` begins, and the 7
//! newest of those are kept. [`reopen`] (the binaries call it on `SIGHUP`)
//! makes the next write open `FILE` again, for logrotate's `create` mode or
//! a file moved away by hand.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{Local, NaiveDate};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How many rotated files (`FILE.YYYY-MM-DD`) a log keeps, as the
/// reference's `backupCount=7`.
pub const KEPT_LOG_FILES: usize = 7;

/// Where log events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error.
    Stderr,
    /// This file, rotated at midnight (see the [module
    /// documentation](self)).
    File(PathBuf),
    /// Nowhere (a daemon without a log file).
    Discard,
}

/// How each event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line an event.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Bumped by [`reopen`]; each [`RotatingFile`] reopens its file when it
/// sees a new value.
static REOPEN: AtomicU64 = AtomicU64::new(0);

/// Makes every [`RotatingFile`] open its path again at its next write
/// (after logrotate moved the file away; the binaries call it on `SIGHUP`).
pub fn reopen() {
    REOPEN.fetch_add(1, Ordering::Relaxed);
}

/// Installs the global `tracing` subscriber: events at `level` and above
/// (or what `RUST_LOG` says, when set) go to `target` in `format`.
///
/// # Errors
///
/// When the log file cannot be opened (its folder is created when
/// missing), `RUST_LOG` does not parse, or a subscriber is already
/// installed.
///
/// # Examples
///
/// ```
/// use posttroll_cli::logging::{init, LogFormat, LogTarget};
/// use tracing::level_filters::LevelFilter;
///
/// init(LevelFilter::WARN, LogTarget::Stderr, LogFormat::Text)?;
/// tracing::warn!("shown on stderr");
/// // Only one subscriber per process.
/// assert!(init(LevelFilter::WARN, LogTarget::Stderr, LogFormat::Text).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn init(level: LevelFilter, target: LogTarget, format: LogFormat) -> io::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => rust_log_filter(&directives)?,
        _ => Targets::new().with_default(level),
    };
    let (writer, ansi) = match target {
        LogTarget::Stderr => (Writer::Stderr, io::stderr().is_terminal()),
        LogTarget::File(path) => (Writer::File(RotatingFile::open(&path)?), false),
        LogTarget::Discard => (Writer::Discard, false),
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(writer);
    let result = match format {
        LogFormat::Text => builder.with_ansi(ansi).finish().with(filter).try_init(),
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .finish()
            .with(filter)
            .try_init(),
    };
    result.map_err(|e| io::Error::other(format!("cannot set up logging: {e}")))
}

/// The filter of `RUST_LOG`: comma-separated `target=level` directives
/// and a bare `level` for everything else (e.g. `posttroll=debug,warn`).
/// Span and field filters (`target[span{field=value}]=level`) are not
/// supported: a regex engine for them would add about 0.3 MB of code to
/// each binary and its resident memory.
fn rust_log_filter(directives: &str) -> io::Result<Targets> {
    if directives.contains(['[', '{', '/']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "bad RUST_LOG {directives:?}: only `target=level` and `level` directives \
                 are supported, not span or field filters"
            ),
        ));
    }
    directives.parse::<Targets>().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad RUST_LOG {directives:?}: {e}"),
        )
    })
}

/// Where [`init`] writes.
#[derive(Debug, Clone)]
enum Writer {
    Stderr,
    File(RotatingFile),
    Discard,
}

/// One event's writer, as `tracing-subscriber` asks for it.
enum EventWriter<'a> {
    Stderr(io::Stderr),
    File(MutexGuard<'a, FileState>),
    Discard,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            EventWriter::Stderr(w) => w.write(buf),
            EventWriter::File(state) => state.write(buf),
            EventWriter::Discard => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            EventWriter::Stderr(w) => w.flush(),
            EventWriter::File(state) => state.file.flush(),
            EventWriter::Discard => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for Writer {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> EventWriter<'a> {
        match self {
            Writer::Stderr => EventWriter::Stderr(io::stderr()),
            Writer::File(file) => EventWriter::File(file.lock()),
            Writer::Discard => EventWriter::Discard,
        }
    }
}

/// The day a log file holds, by local time (a clock of its own in tests).
type Clock = Arc<dyn Fn() -> NaiveDate + Send + Sync>;

/// A log file rotated at local midnight as the reference's
/// `TimedRotatingFileHandler(FILE, "midnight", backupCount=7)`: see the
/// [module documentation](self). Cheap to clone (clones share the file).
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let dir = std::env::temp_dir().join(format!("posttroll-cli-log-doc-{}", std::process::id()));
/// let mut log = posttroll_cli::logging::RotatingFile::open(&dir.join("ns.log"))?;
/// log.write_all(b"hello\n")?;
/// log.flush()?;
/// assert_eq!(std::fs::read_to_string(dir.join("ns.log"))?, "hello\n");
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct RotatingFile {
    state: Arc<Mutex<FileState>>,
}

impl std::fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.lock().path)
            .finish_non_exhaustive()
    }
}

struct FileState {
    path: PathBuf,
    file: File,
    /// The day the current file holds.
    day: NaiveDate,
    /// The [`REOPEN`] value the file was opened at.
    opened_at: u64,
    today: Clock,
}

impl RotatingFile {
    /// Opens (appending) or creates `path`, creating its folder when
    /// missing.
    ///
    /// # Errors
    ///
    /// When `path` has no file name, or the folder or the file cannot be
    /// made.
    pub fn open(path: &Path) -> io::Result<RotatingFile> {
        RotatingFile::with_clock(path, Arc::new(|| Local::now().date_naive()))
    }

    /// [`RotatingFile::open`] with `today` as the clock (tests).
    ///
    /// # Errors
    ///
    /// As [`RotatingFile::open`].
    pub fn with_clock(
        path: &Path,
        today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
    ) -> io::Result<RotatingFile> {
        if path.file_name().is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the log file {} has no file name", path.display()),
            ));
        }
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create the log folder {}: {e}", folder.display()),
                )
            })?;
        }
        // An existing file holds the day it was last written (so a stale
        // one rotates at the first write, as Python's handler does).
        let day = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|modified| chrono::DateTime::<Local>::from(modified).date_naive())
            .unwrap_or_else(|_| today());
        let file = append(path)?;
        Ok(RotatingFile {
            state: Arc::new(Mutex::new(FileState {
                path: path.to_owned(),
                file,
                day,
                opened_at: REOPEN.load(Ordering::Relaxed),
                today,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, FileState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().file.flush()
    }
}

impl FileState {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let today = (self.today)();
        if today != self.day {
            self.rotate(today)?;
        }
        let reopen = REOPEN.load(Ordering::Relaxed);
        if reopen != self.opened_at {
            self.file = append(&self.path)?;
            self.opened_at = reopen;
        }
        self.file.write(buf)
    }

    /// Renames the file to `FILE.<its day>`, starts a new one, and deletes
    /// the oldest rotated files beyond [`KEPT_LOG_FILES`].
    fn rotate(&mut self, today: NaiveDate) -> io::Result<()> {
        self.file.flush()?;
        let rotated = suffixed(&self.path, self.day);
        // A file moved away meanwhile (logrotate) has nothing to rename.
        if self.path.exists() {
            std::fs::rename(&self.path, &rotated)?;
        }
        self.file = append(&self.path)?;
        self.day = today;
        let mut old = rotated_files(&self.path)?;
        old.sort();
        let excess = old.len().saturating_sub(KEPT_LOG_FILES);
        for path in old.into_iter().take(excess) {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open the log file {}: {e}", path.display()),
            )
        })
}

/// `FILE.YYYY-MM-DD`.
fn suffixed(path: &Path, day: NaiveDate) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}", day.format("%Y-%m-%d")));
    path.with_file_name(name)
}

/// The rotated files of `path` (`FILE.YYYY-MM-DD`), in no order.
fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let prefix = format!(
        "{}.",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(date) = name.strip_prefix(&prefix) {
            if NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok() {
                found.push(entry.path());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    #[test]
    fn rust_log_takes_targets_and_levels_and_names_what_it_refuses() {
        use tracing::Level;
        let filter = rust_log_filter("posttroll=debug,warn").unwrap_or_default();
        assert!(filter.would_enable("posttroll::subscriber", &Level::DEBUG));
        assert!(!filter.would_enable("posttroll::subscriber", &Level::TRACE));
        assert!(filter.would_enable("omq_tokio", &Level::WARN));
        assert!(!filter.would_enable("omq_tokio", &Level::INFO));
        let filter = rust_log_filter("debug").unwrap_or_default();
        assert!(filter.would_enable("anything", &Level::DEBUG));
        for bad in ["posttroll[span]=debug", "posttroll=loud", "x/y=info"] {
            let err = rust_log_filter(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("bad RUST_LOG") && e.contains(bad)),
                "{bad}: {err:?}"
            );
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "posttroll-cli-logging-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    #[test]
    fn the_current_log_keeps_its_name_and_midnight_renames_it() {
        let dir = temp_dir("rotate");
        let path = dir.join("ns.log");
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let offset = Arc::new(AtomicI64::new(0));
        let clock = {
            let offset = offset.clone();
            Arc::new(move || start + chrono::Days::new(offset.load(Ordering::Relaxed) as u64))
        };
        let today = Local::now().date_naive();
        offset.store((today - start).num_days(), Ordering::Relaxed);
        let mut log = RotatingFile::with_clock(&path, clock).unwrap_or_else(|e| panic!("{e}"));
        log.write_all(b"day 0\n").unwrap_or_default();
        for day in 1..=10 {
            offset.store((today - start).num_days() + day, Ordering::Relaxed);
            log.write_all(format!("day {day}\n").as_bytes())
                .unwrap_or_default();
        }
        log.flush().unwrap_or_default();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            "day 10\n"
        );
        let mut rotated = rotated_files(&path).unwrap_or_default();
        rotated.sort();
        assert_eq!(rotated.len(), KEPT_LOG_FILES);
        // The newest rotated file holds the day before today's (day 9).
        let newest = rotated.last().cloned().unwrap_or_default();
        assert_eq!(newest, suffixed(&path, today + chrono::Days::new(9)));
        assert_eq!(
            std::fs::read_to_string(newest).unwrap_or_default(),
            "day 9\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reopen_follows_a_file_moved_away() {
        let dir = temp_dir("reopen");
        let path = dir.join("ns.log");
        let mut log = RotatingFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        log.write_all(b"before\n").unwrap_or_default();
        std::fs::rename(&path, dir.join("ns.log.1")).unwrap_or_default();
        reopen();
        log.write_all(b"after\n").unwrap_or_default();
        log.flush().unwrap_or_default();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_default(),
            "after\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("ns.log.1")).unwrap_or_default(),
            "before\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

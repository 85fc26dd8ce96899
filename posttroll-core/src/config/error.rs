//! The errors and warnings of configuration loading.

use std::fmt;
use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A config file or folder exists (or was named explicitly) but could
    /// not be read.
    #[error("cannot read the config path {}: {source}; check that it exists and is readable", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A config file is not valid YAML/JSON, or its top level is not a
    /// mapping of keys to values.
    #[error("the config file {} is malformed: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A value does not fit its key (a string where a port number is
    /// wanted, a port above 65535, ...).
    #[error("invalid value {value} for the config key `{key}` (from {origin}): {reason}")]
    InvalidValue {
        /// The config key, e.g. `nameserver_port`.
        key: String,
        /// Where the value came from, e.g. `environment variable
        /// POSTTROLL_NAMESERVER_PORT` or `config file /etc/posttroll/a.yaml`.
        origin: String,
        /// The offending value as written (environment) or as read (files,
        /// overrides).
        value: String,
        /// What was expected instead.
        reason: String,
    },
    /// [`ConfigLoader::set`](super::ConfigLoader::set) named a key that
    /// does not exist.
    #[error("unknown config key `{key}`{}", did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// The key given.
        key: String,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
    },
    /// A value given to [`ConfigLoader::set`](super::ConfigLoader::set)
    /// could not be serialized.
    #[error("cannot use the value given for the config key `{key}`: {message}")]
    Serialize {
        /// The config key.
        key: String,
        /// What the serializer said.
        message: String,
    },
    /// The layers could not be combined (a bug: every value is checked
    /// before it is merged).
    #[error("cannot combine the configuration layers: {message}")]
    Merge {
        /// What figment said.
        message: String,
    },
}

/// Something worth telling about the configuration that does not stop it
/// from loading. [`ConfigLoader::load`](super::ConfigLoader::load) returns
/// them and logs each with `tracing::warn!`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// A legacy environment variable (`NAMESERVER_PORT`, `PYTROLL_MC_GROUP`,
    /// `PYTROLL_MC_TTL`) is set; it still works.
    Deprecated {
        /// The legacy variable, e.g. `NAMESERVER_PORT`.
        old: String,
        /// The variable to use instead, e.g. `POSTTROLL_NAMESERVER_PORT`.
        new: String,
    },
    /// A `POSTTROLL_*` environment variable that names no config key; it is
    /// ignored.
    UnknownVariable {
        /// The variable, e.g. `POSTTROLL_TCP_KEEPALIVE_INTERVALL`.
        name: String,
        /// The closest known variable, e.g. `POSTTROLL_TCP_KEEPALIVE_INTVL`.
        suggestion: Option<String>,
    },
    /// A key in a config file that is not a config key; it is ignored.
    UnknownKey {
        /// The config file.
        file: PathBuf,
        /// The key as written in the file.
        key: String,
        /// The closest known key.
        suggestion: Option<String>,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::Deprecated { old, new } => write!(
                f,
                "the environment variable {old} is deprecated, use {new} instead"
            ),
            ConfigWarning::UnknownVariable { name, suggestion } => write!(
                f,
                "unknown environment variable {name}{}; it is ignored",
                did_you_mean(suggestion.as_deref())
            ),
            ConfigWarning::UnknownKey {
                file,
                key,
                suggestion,
            } => write!(
                f,
                "unknown key `{key}` in the config file {}{}; it is ignored",
                file.display(),
                did_you_mean(suggestion.as_deref())
            ),
        }
    }
}

/// ` (did you mean X?)`, or nothing.
fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

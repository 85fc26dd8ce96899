//! The error of everything above the codec: transports, discovery, the
//! nameserver and the high-level API.

use std::time::Duration;

use crate::config::ConfigError;
use crate::message::MessageError;

/// What kind of failure an [`Error`] is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A frame or message was malformed.
    Message,
    /// The configuration was invalid.
    Config,
    /// An address or endpoint could not be understood.
    InvalidAddress,
    /// Binding a server socket failed (port taken, range exhausted, ...).
    Bind,
    /// Connecting to a peer failed.
    Connect,
    /// Nothing arrived in time.
    Timeout,
    /// The socket, publisher or subscriber was already stopped.
    Closed,
    /// The configured backend is unknown or not compiled in.
    UnknownBackend,
    /// A key, certificate or security setting was missing or invalid.
    Security,
    /// The operation is not supported by this backend.
    Unsupported,
    /// An operating-system I/O error.
    Io,
    /// A reply or announcement broke the protocol.
    Protocol,
}

/// An error of a posttroll operation; [`Error::kind`] classifies it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame or message was malformed.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The configuration was invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An address or endpoint could not be understood.
    #[error("invalid address '{address}': {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Binding a server socket failed.
    #[error("cannot bind {endpoint}: {reason}")]
    Bind {
        /// The endpoint that was asked for.
        endpoint: String,
        /// Why it failed.
        reason: String,
    },
    /// Connecting to a peer failed.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The peer's endpoint.
        endpoint: String,
        /// Why it failed.
        reason: String,
    },
    /// Nothing arrived in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// The object was already stopped.
    #[error("{what} is closed")]
    Closed {
        /// What was closed.
        what: String,
    },
    /// The configured backend is unknown or not compiled in.
    #[error("unknown backend '{name}': available backends are {available:?}{hint}")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The backends compiled in.
        available: Vec<String>,
        /// How to get the missing one (e.g. which cargo feature adds it), or empty.
        hint: String,
    },
    /// A key, certificate or security setting was missing or invalid.
    #[error("security: {0}")]
    Security(String),
    /// The operation is not supported by this backend.
    #[error("backend {backend} does not support {what}")]
    Unsupported {
        /// The backend.
        backend: String,
        /// The operation.
        what: String,
    },
    /// An operating-system I/O error.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A peer broke the protocol (a malformed reply, a wrong message type).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Message(_) => ErrorKind::Message,
            Error::Config(_) => ErrorKind::Config,
            Error::InvalidAddress { .. } => ErrorKind::InvalidAddress,
            Error::Bind { .. } => ErrorKind::Bind,
            Error::Connect { .. } => ErrorKind::Connect,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Closed { .. } => ErrorKind::Closed,
            Error::UnknownBackend { .. } => ErrorKind::UnknownBackend,
            Error::Security(_) => ErrorKind::Security,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Io { .. } => ErrorKind::Io,
            Error::Protocol(_) => ErrorKind::Protocol,
        }
    }

    /// A [`Error::Closed`] for `what`.
    pub fn closed(what: impl Into<String>) -> Error {
        Error::Closed { what: what.into() }
    }

    /// A [`Error::Timeout`] for `what` after `after`.
    pub fn timeout(what: impl Into<String>, after: Duration) -> Error {
        Error::Timeout {
            what: what.into(),
            after,
        }
    }

    /// An [`Error::Io`] while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The result of a posttroll operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The core of posttroll in Rust.
//!
//! - [`message`]: the wire-exact message codec ([`Message`], [`Data`],
//!   [`Value`], [`DateTime`]), byte for byte what the Python reference
//!   (posttroll 1.16) writes and reads.
//! - [`config`]: the configuration ([`Config`]): the reference's keys and
//!   defaults, YAML files, `POSTTROLL_*` environment variables.
//! - [`transport`], [`discovery`], [`keystore`]: the traits a backend
//!   implements; [`registry`]: the `backend` key → a compiled-in backend.
//! - [`address`]: endpoints and publisher addresses; [`error`]: the error
//!   of everything above the codec.
//! - [`metrics`]: the metrics posttroll emits through the `metrics` facade
//!   (feature `metrics`), all named there.
//! - `task` (feature `task`): background tasks that stop on request.

pub mod address;
pub mod config;
pub mod discovery;
pub mod engine;
pub mod error;
pub mod events;
pub mod keystore;
pub mod log_sampling;
pub mod message;
pub mod metrics;
pub mod registry;
pub mod requesters;
#[cfg(feature = "task")]
pub mod task;
pub mod transport;

pub use address::{Address, Endpoint};
pub use config::Config;
pub use discovery::{DatagramReceiver, DatagramSender, Discovery};
pub use error::{Error, ErrorKind, Result};
pub use events::{ConnectionEvent, ConnectionState, EventSink};
pub use keystore::{KeyPair, KeyStore, PublicKey, SecretKey};
pub use message::{Data, DateTime, Map, Message, MessageError, Value};
pub use registry::{Backend, BackendFactory, KnownBackend, Registry};
pub use transport::{
    BindSpec, Delivery, PubOptions, PubSocket, ReplySocket, ReplyTo, Request, Security, SubSocket,
    Transport,
};

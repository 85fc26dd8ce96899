//! The core of posttroll in Rust.
//!
//! - [`message`]: the wire-exact message codec ([`Message`], [`Data`],
//!   [`Value`], [`DateTime`]), byte for byte what the Python reference
//!   (posttroll 1.16) writes and reads.
//! - [`config`]: the configuration ([`Config`]): the reference's keys and
//!   defaults, YAML files, `POSTTROLL_*` environment variables.

pub mod config;
pub mod message;

pub use config::Config;
pub use message::{Data, DateTime, Message, MessageError, Value};

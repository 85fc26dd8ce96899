//! posttroll in Rust: the messaging system of the pytroll community,
//! wire-compatible with the Python reference (posttroll 1.16).
//!
//! - [`Message`] and its codec, [`Config`]: re-exported from [`posttroll_core`].
//! - [`Context`]: a configuration plus the backend it selects (the `backend`
//!   config key, from the backends compiled in by cargo features; see
//!   [`registry()`](fn@registry)).
//! - Publishing: [`publisher::Publisher`], [`publisher::NoisyPublisher`]
//!   (which announces itself for discovery).
//! - Subscribing: [`subscriber::Subscriber`], [`subscriber::NSSubscriber`].
//! - Discovery: [`nameserver`] (asking a nameserver; the nameserver itself
//!   is the `posttroll-nameserver` crate), [`discovery`] (announcing).
//! - [`listener::ListenerContainer`]: a subscriber feeding a queue.
//! - [`blocking`]: the same API without async, as the Python API reads.

pub mod blocking;
mod context;
pub mod discovery;
pub mod listener;
pub mod nameserver;
pub mod publisher;
pub mod subscriber;

pub use context::{registry, Context};
pub use posttroll_core::*;

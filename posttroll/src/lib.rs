//! posttroll in Rust: the messaging system of the pytroll community,
//! wire-compatible with the Python reference (posttroll 1.16): Rust and
//! Python programs publish, subscribe and find each other on one network.
//!
//! # Publish
//!
//! A publisher announced as `my_service` (found through the nameserver) on a
//! free port:
//!
//! ```no_run
//! use std::time::Duration;
//! use posttroll::{publisher::NoisyPublisher, Message};
//!
//! #[tokio::main]
//! async fn main() -> posttroll::Result<()> {
//!     let publisher = NoisyPublisher::builder("my_service").start().await?;
//!     publisher.wait_for_subscribers(1, Duration::from_secs(10)).await?; // no sleep needed
//!     publisher.send(&Message::new("/new_file", "file", "a.nc")?).await?;
//!     publisher.stop().await
//! }
//! ```
//!
//! # Subscribe by service
//!
//! The nameserver gives the addresses of `my_service`'s publishers; a
//! [`Subscriber`](subscriber::Subscriber) is a [`Stream`](futures_core::Stream)
//! of messages (and has `recv(timeout)`):
//!
//! ```no_run
//! use futures::StreamExt;
//! use posttroll::subscriber::NSSubscriber;
//!
//! #[tokio::main]
//! async fn main() -> posttroll::Result<()> {
//!     let mut subscriber = NSSubscriber::builder()
//!         .services(["my_service"])
//!         .topics(["/new_file"])
//!         .start()
//!         .await?;
//!     while let Some(msg) = subscriber.next().await {
//!         println!("{}", msg?); // the encoded line
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Without async
//!
//! Every builder also starts a [`blocking`] handle, run on a background
//! runtime, as the Python API reads:
//!
//! ```no_run
//! use posttroll::{publisher::NoisyPublisher, subscriber::NSSubscriber, Message};
//!
//! fn main() -> posttroll::Result<()> {
//!     let publisher = NoisyPublisher::builder("my_service").start_blocking()?;
//!     publisher.send(&Message::new("/new_file", "file", "a.nc")?)?;
//!
//!     let subscriber = NSSubscriber::builder().services(["my_service"]).start_blocking()?;
//!     for msg in subscriber.recv(None) {
//!         if let Some(msg) = msg? {
//!             println!("{msg}");
//!         }
//!     }
//!     publisher.stop()
//! }
//! ```
//!
//! # Where things are
//!
//! - [`publisher`] — [`Publisher`](publisher::Publisher),
//!   [`NoisyPublisher`](publisher::NoisyPublisher) (which announces itself).
//! - [`subscriber`] — [`Subscriber`](subscriber::Subscriber),
//!   [`NSSubscriber`](subscriber::NSSubscriber) (addresses from the
//!   nameserver), connection [`Events`](subscriber::Events).
//! - [`listener`] — [`ListenerContainer`](listener::ListenerContainer), a
//!   subscriber feeding a queue.
//! - [`nameserver`] — lookups ([`get_pub_address`](nameserver::get_pub_address));
//!   the nameserver itself is the `posttroll-nameserver` crate.
//! - [`Message`], [`Config`], [`Error`]: the codec, the configuration (files
//!   and `POSTTROLL_*` variables, as the reference) and errors, from
//!   `posttroll-core`.
//! - [`Context`]: a configuration and the backend it selects (the `backend`
//!   and `engine` keys, among the backends compiled in by cargo features);
//!   every builder takes one with `.context(...)`, else uses
//!   [`Context::global`].
//! - [`blocking`] — the blocking handles.
//! - [`metrics`] — with the cargo feature `metrics`, publishers and
//!   subscribers count messages sent, received, undecodable and refused
//!   through the `metrics` facade, into the application's recorder.

#[cfg(feature = "blocking")]
pub mod blocking;
mod context;
pub mod discovery;
pub mod listener;
#[cfg(feature = "log-publisher")]
pub mod log_publisher;
pub mod nameserver;
pub mod publisher;
pub mod subscriber;

pub use context::{registry, Context, GlobalContextGuard};
/// The configuration's details: loading, its errors and defaults.
pub use posttroll_core::config;
/// The message codec's details: versions, the magic topic, the JSON map.
pub use posttroll_core::message;
/// The metrics posttroll counts through the `metrics` facade (cargo feature
/// `metrics`): their names, `describe()`, and a recorder for tests.
pub use posttroll_core::metrics;
pub use posttroll_core::{
    Address, Config, ConnectionEvent, Data, DateTime, Endpoint, Error, ErrorKind, Message,
    MessageError, Result, Security, Value,
};

/// The backend traits, for code that builds, wraps or tests a backend
/// (applications need none of them): re-exported from `posttroll-core`.
pub mod backend {
    pub use posttroll_core::{
        Backend, BackendFactory, BindSpec, DatagramReceiver, DatagramSender, Delivery, Discovery,
        EventSink, PubOptions, PubSocket, Registry, ReplySocket, ReplyTo, Request, SubSocket,
        Transport,
    };
}

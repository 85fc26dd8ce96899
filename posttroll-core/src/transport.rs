//! The [`Transport`] trait: how a backend moves frames.
//!
//! A backend owns its sockets; the high-level API sees only these
//! object-safe async traits. Three socket shapes cover posttroll:
//! publish/subscribe for messages, and request/reply for the nameserver
//! (lookups, and announcements to designated nameservers).
//!
//! Every `recv` must be cancel-safe: dropping its future (as `tokio::select!`
//! does) loses no frame.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::address::Endpoint;
use crate::error::Result;

/// The security of one socket, as the `backend` names it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Security {
    /// No security (`unsecure_zmq`).
    #[default]
    Plain,
    /// CURVE encryption and authentication (`secure_zmq`).
    Curve,
}

impl Security {
    /// The security an address's `backend` field (or the config `backend`)
    /// names: `secure_zmq` is CURVE, anything else plain.
    pub fn from_backend_name(name: &str) -> Security {
        if name == "secure_zmq" {
            Security::Curve
        } else {
            Security::Plain
        }
    }

    /// The wire name announced for this security.
    pub fn backend_name(self) -> &'static str {
        match self {
            Security::Plain => "unsecure_zmq",
            Security::Curve => "secure_zmq",
        }
    }
}

/// Options of a publishing socket beyond its endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubOptions {
    /// The send high-water mark in messages (`None`: the engine's default,
    /// 1000 for libzmq; `Some(0)`: unbounded).
    pub send_high_water_mark: Option<u32>,
    /// Block the sender instead of dropping messages when a subscriber's
    /// queue is full (the reference always drops).
    pub no_drop: bool,
}

/// What to bind: an endpoint, the range a port 0 is picked from, and the
/// security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    /// The endpoint; a TCP port 0 means "a free port in `port_range`".
    pub endpoint: Endpoint,
    /// Where a port 0 is picked from: `[min, max)` (`pub_min_port`,
    /// `pub_max_port`).
    pub port_range: (u16, u32),
    /// Plain or CURVE.
    pub security: Security,
    /// Publisher options (ignored by reply sockets).
    pub options: PubOptions,
}

impl BindSpec {
    /// A plain bind of `endpoint` with the default port range.
    pub fn new(endpoint: Endpoint) -> BindSpec {
        BindSpec {
            endpoint,
            port_range: (49152, 65536),
            security: Security::Plain,
            options: PubOptions::default(),
        }
    }
}

/// Moves frames for the high-level API: one implementation per backend.
#[async_trait]
pub trait Transport: Send + Sync + Debug {
    /// The engine's name, for logs (e.g. `libzmq`, `inproc`).
    fn engine(&self) -> &str;

    /// Binds a publishing socket; its [`PubSocket::endpoint`] carries the
    /// port actually bound.
    async fn bind_publisher(&self, spec: BindSpec) -> Result<Box<dyn PubSocket>>;

    /// Connects a subscribing socket to one publisher, receiving the frames
    /// that start with any of `topics` (prefix match; an empty topic takes
    /// everything). Connecting succeeds before the publisher exists; frames
    /// flow once it does.
    async fn connect_subscriber(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
        security: Security,
    ) -> Result<Box<dyn SubSocket>>;

    /// Binds a reply socket (the nameserver side of request/reply).
    async fn bind_reply(&self, spec: BindSpec) -> Result<Box<dyn ReplySocket>>;

    /// Sends one request and waits at most `timeout` for its reply (a dead
    /// peer never blocks the caller longer than `timeout`). A backend may
    /// keep the connection of an answered request for the next ones to the
    /// same endpoint; a failed or timed-out request's connection is closed.
    async fn request(
        &self,
        endpoint: &Endpoint,
        security: Security,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes>;
}

/// A bound publishing socket. Shared by reference: `send` takes `&self`.
#[async_trait]
pub trait PubSocket: Send + Sync + Debug {
    /// The endpoint as bound (a port 0 replaced by the real port).
    fn endpoint(&self) -> &Endpoint;

    /// Sends one frame to every subscriber whose topic prefixes it.
    async fn send(&self, frame: Bytes) -> Result<()>;

    /// Unbinds and releases the socket; later sends fail with `Closed`.
    async fn close(&self) -> Result<()>;
}

/// A subscribing socket connected to one publisher.
#[async_trait]
pub trait SubSocket: Send + Debug {
    /// The publisher's endpoint.
    fn endpoint(&self) -> &Endpoint;

    /// The next frame (cancel-safe); `Closed` once closed.
    async fn recv(&mut self) -> Result<Bytes>;

    /// Disconnects and releases the socket.
    async fn close(&mut self) -> Result<()>;
}

/// A bound reply socket: `recv` a request, then `reply` to it.
#[async_trait]
pub trait ReplySocket: Send + Debug {
    /// The endpoint as bound.
    fn endpoint(&self) -> &Endpoint;

    /// The next request (cancel-safe).
    async fn recv(&mut self) -> Result<Bytes>;

    /// Replies to the request last received.
    async fn reply(&mut self, frame: Bytes) -> Result<()>;

    /// Unbinds and releases the socket.
    async fn close(&mut self) -> Result<()>;
}

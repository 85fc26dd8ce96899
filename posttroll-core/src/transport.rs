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
use crate::events::EventSink;

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
    /// The largest frame this socket accepts from a peer, in bytes; a peer
    /// that sends a larger one is disconnected. `None`: the transport's
    /// default, the config's `max_message_size`. The nameserver's request
    /// and announcement sockets use a small fixed cap.
    pub max_message_size: Option<u64>,
}

impl BindSpec {
    /// A plain bind of `endpoint` with the default port range.
    pub fn new(endpoint: Endpoint) -> BindSpec {
        BindSpec {
            endpoint,
            port_range: (49152, 65536),
            security: Security::Plain,
            options: PubOptions::default(),
            max_message_size: None,
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

    /// Sends `frame` as [`PubSocket::send`] does if that needs no waiting
    /// now, without the cost of a future: `Ok(None)` when sent (or, for a
    /// plain publisher, dropped as `send` would), `Ok(Some(frame))` when
    /// only [`PubSocket::send`] can send it. The default sends nothing.
    fn try_send(&self, frame: Bytes) -> Result<Option<Bytes>> {
        Ok(Some(frame))
    }

    /// Waits until at least `n` subscribers have subscribed to this
    /// socket (their subscriptions have reached it, so what is sent next
    /// reaches them), or `timeout` passes; returns how many there are.
    ///
    /// Counts connected peers with at least one subscription (the libzmq
    /// engine, which cannot tell its peers' subscriptions apart, counts
    /// subscriptions: a subscriber of two topics counts twice).
    ///
    /// Errors with `Timeout` when fewer than `n` subscribed in time, with
    /// `Unsupported` on an engine that cannot tell.
    async fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize>;

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

    /// The next frame if the socket holds one already, without waiting
    /// (and without the cost of a future): `Ok(None)` when only
    /// [`SubSocket::recv`] can tell. The default holds none.
    fn try_recv(&mut self) -> Result<Option<Bytes>> {
        Ok(None)
    }

    /// Reports this socket's connection events to `sink` from now on:
    /// `Connected` once the handshake with the publisher succeeded (at once
    /// when it already has), `Disconnected` when the connection is lost
    /// (the engine connects again by itself). An engine that cannot tell
    /// reports nothing.
    fn set_event_sink(&mut self, sink: EventSink);

    /// Disconnects and releases the socket.
    async fn close(&mut self) -> Result<()>;
}

/// Where the reply to one [`Request`] goes: the request's routing envelope
/// (opaque to callers; engines put the peer's routing identity and the
/// REQ envelope frames here) and, for logs, the peer's address when the
/// engine knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyTo {
    /// The routing frames to send back before the reply body.
    pub envelope: Vec<Bytes>,
    /// The requester's address (`ip:port`), when known.
    pub peer: Option<String>,
}

/// One request received by a [`ReplySocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request's body (its first frame after the envelope; further
    /// frames are dropped).
    pub body: Bytes,
    /// Where the reply goes; hand it back to [`ReplySocket::reply`].
    pub reply_to: ReplyTo,
}

impl Request {
    /// A request as a routing socket received it from the peer with the
    /// routing `identity`: `frames` are the REQ envelope and the body (see
    /// [`split_envelope`]). The reply goes back through the identity and
    /// the envelope. When they are not a request, the error gives `peer`
    /// back, for the log.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use posttroll_core::Request;
    ///
    /// let frames = vec![Bytes::new(), Bytes::from_static(b"ping")];
    /// let request = Request::routed(Bytes::from_static(b"id"), frames, None).unwrap();
    /// assert_eq!(request.body, "ping");
    /// assert_eq!(request.reply_to.envelope, vec![Bytes::from_static(b"id"), Bytes::new()]);
    /// let not = Request::routed(Bytes::new(), vec![Bytes::from_static(b"x")], Some("h:1".into()));
    /// assert_eq!(not.unwrap_err().peer.as_deref(), Some("h:1"));
    /// ```
    pub fn routed(
        identity: Bytes,
        frames: Vec<Bytes>,
        peer: Option<String>,
    ) -> std::result::Result<Request, NotARequest> {
        let Some((envelope, body)) = split_envelope(frames) else {
            return Err(NotARequest { peer });
        };
        let mut routed = Vec::with_capacity(envelope.len() + 1);
        routed.push(identity);
        routed.extend(envelope);
        Ok(Request {
            body,
            reply_to: ReplyTo {
                envelope: routed,
                peer,
            },
        })
    }
}

/// A routed message that is not a request: no envelope delimiter, or no
/// body (see [`Request::routed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotARequest {
    /// The sender's address, when known.
    pub peer: Option<String>,
}

/// What became of a reply handed to [`ReplySocket::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the requester.
    Sent,
    /// Dropped: the requester's queue is full (it does not read its
    /// replies).
    DroppedPeerBusy,
    /// Dropped: the requester is gone.
    DroppedPeerGone,
}

impl Delivery {
    /// True when the reply was dropped.
    pub fn is_dropped(self) -> bool {
        self != Delivery::Sent
    }
}

/// Splits a routed request (the frames after the peer's routing identity)
/// into its envelope (up to and including the first empty frame, the
/// delimiter a REQ socket puts in front of its request) and its body (the
/// next frame). `None` when there is no delimiter or no body: such a
/// message is not a request (libzmq's REP drops it too).
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use posttroll_core::transport::split_envelope;
///
/// let frames = vec![Bytes::new(), Bytes::from_static(b"ping")];
/// let (envelope, body) = split_envelope(frames).unwrap();
/// assert_eq!(envelope, vec![Bytes::new()]);
/// assert_eq!(body, Bytes::from_static(b"ping"));
/// assert!(split_envelope(vec![Bytes::from_static(b"no delimiter")]).is_none());
/// ```
pub fn split_envelope(frames: Vec<Bytes>) -> Option<(Vec<Bytes>, Bytes)> {
    let delimiter = frames.iter().position(Bytes::is_empty)?;
    let mut frames = frames.into_iter();
    let envelope: Vec<Bytes> = frames.by_ref().take(delimiter + 1).collect();
    let body = frames.next()?;
    Some((envelope, body))
}

/// A bound reply socket: any number of requests may be received before
/// they are answered, and a reply never waits. A requester that does not
/// read its replies (or has gone) only loses its own replies: the reply is
/// dropped and [`ReplySocket::reply`] says so, and every other requester
/// keeps being served (a socket of this kind never wedges, unlike a
/// ZeroMQ REP socket whose reply cannot be delivered).
#[async_trait]
pub trait ReplySocket: Send + Debug {
    /// The endpoint as bound.
    fn endpoint(&self) -> &Endpoint;

    /// The next request (cancel-safe).
    async fn recv(&mut self) -> Result<Request>;

    /// Queues the reply to a request without waiting: when the
    /// requester's queue is full or it is gone, the reply is dropped and
    /// the [`Delivery`] says why.
    fn reply(&mut self, to: &ReplyTo, frame: Bytes) -> Result<Delivery>;

    /// Unbinds and releases the socket.
    async fn close(&mut self) -> Result<()>;
}

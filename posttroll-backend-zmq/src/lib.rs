//! The libzmq backend of posttroll (`unsecure_zmq`): ZeroMQ PUB/SUB and
//! REQ/REP on the system libzmq (crate `zmq` 0.9), wire-compatible with the
//! Python reference (posttroll on pyzmq).
//!
//! [`ZmqTransport::new`] makes the transport of `unsecure_zmq` (used when
//! the config's `engine` is `libzmq`); the `posttroll` facade pairs it with
//! a discovery.
//!
//! # Sockets
//!
//! | trait call | libzmq socket | notes |
//! | --- | --- | --- |
//! | [`Transport::bind_publisher`] | `XPUB` (`ZMQ_XPUB_VERBOSER`) | sends as a `PUB`; `SNDHWM` from [`PubOptions::send_high_water_mark`]; [`PubOptions::no_drop`] sets `ZMQ_XPUB_NODROP` and makes `send` wait for room; the subscriptions it hands over are counted for [`PubSocket::wait_for_subscribers`] |
//! | [`Transport::connect_subscriber`] | `SUB`, one per publisher | `SUBSCRIBE` for each topic (an empty list subscribes to nothing) |
//! | [`Transport::bind_reply`] | `ROUTER` (`ZMQ_ROUTER_MANDATORY`) | REQ clients see a REP; requests are received in any number, and a reply that cannot be queued at once (the requester does not read, or is gone) is dropped for that requester only, so no client can wedge the socket |
//! | [`Transport::request`] | `REQ` | on `tcp://` and `ipc://`, kept for the next request to the same endpoint once answered (at most [`KEPT_REQUESTERS`], idle at most [`REQUESTER_IDLE`]); closed with `LINGER` 0 when a request fails or times out, so the timeout holds even when the peer is dead or absent |
//!
//! Endpoints are `tcp://host:port`, `ipc:///path` and `inproc://name`.
//! **`inproc://` reaches only sockets of the same libzmq context, that is of
//! the same [`ZmqTransport`]** (and its clones): two transports in one
//! process cannot talk over `inproc://`. Each [`ZmqTransport::new`] is a new
//! libzmq context.
//!
//! A TCP port 0 binds a random free port of [`BindSpec::port_range`]
//! (`[pub_min_port, pub_max_port)`), trying random ports up to
//! [`RANDOM_PORT_TRIES`] times as pyzmq's `bind_to_random_port` does
//! (posttroll-core's `engine::bind_endpoint`, shared with the pure-Rust
//! engine); the socket's endpoint reports the port bound
//! (`ZMQ_LAST_ENDPOINT`).
//!
//! `tcp://*:PORT` binds dual-stack where the host allows it
//! (`engine::wildcard_is_dual_stack`): as `tcp://[::]:PORT` with
//! `ZMQ_IPV6`, which libzmq binds with `IPV6_V6ONLY` off, so IPv4 clients
//! (named `127.0.0.1`, not `::ffff:127.0.0.1`, in logs and ZAP checks) and
//! IPv6 ones connect; elsewhere, or when that bind fails, on IPv4 only as
//! the reference does. `ZMQ_IPV6` is also set for endpoints with an IPv6
//! host (`tcp://[::1]:PORT`).
//!
//! TCP keepalive: the [`Config`]'s four keys as posttroll-core's
//! `engine::TcpKeepalive` reads them: `tcp_keepalive` = 1 sets
//! `ZMQ_TCP_KEEPALIVE` and those of `tcp_keepalive_cnt`,
//! `tcp_keepalive_idle`, `tcp_keepalive_intvl` that are set; 0 turns it
//! off; unset or -1 leaves every option alone (libzmq ignores the other
//! three then anyway).
//!
//! With a non-empty `authorized_client_addresses`, the host names are
//! resolved to IPs when the transport is created, a ZAP handler thread
//! starts for the transport's context (see [`zap`]), and every server
//! socket (PUB, REP) on `tcp://` or `ipc://` gets the ZAP domain `global`:
//! only peers from those IPs are admitted, each refusal is logged with the
//! peer's IP. IPv6 entries (`::1`, `[::1]`, names with AAAA records) and
//! IPv6 clients are checked alike. `inproc://` never uses ZAP (nor any security), as in the
//! reference. IPC peers have no IP, so with an allow-list they are refused
//! (as the reference's authenticator refuses them).
//!
//! [`Security::Curve`] is refused with [`Error::Unsupported`] by this
//! backend (except on `inproc://`, which never uses security): the CURVE
//! backend plugs its key handling into [`ZmqTransportBuilder::curve`] (a
//! [`SocketSecurity`] hook applied to every non-inproc socket right after
//! it is created) and its client-key check into
//! [`ZmqTransportBuilder::zap_policy`].
//!
//! ## Heartbeats
//!
//! SUB and REQ sockets get `ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TIMEOUT`
//! and `ZMQ_HEARTBEAT_TTL` from `zmtp_heartbeat_interval` and
//! `zmtp_heartbeat_timeout` (defaults 10 s and 30 s; 0 disables them): a
//! connection silent for the timeout is closed, and libzmq connects again.
//!
//! ## Connection events
//!
//! A subscriber on `tcp://` or `ipc://` reports its connection events
//! ([`SubSocket::set_event_sink`]) from a `zmq_socket_monitor` of its SUB:
//! `Connected` on `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`, `Disconnected` on
//! `ZMQ_EVENT_DISCONNECTED` (a failed handshake just before gives the
//! reason). The monitor starts before the SUB connects, and a task of its
//! own reads it (a PAIR registered with tokio like every socket), so
//! `recv` is untouched. libzmq sends monitor events from its I/O thread
//! with a *blocking* send: the reading PAIR has no high-water mark, and
//! the monitor is stopped before the SUB closes and the PAIR last, so no
//! event ever waits for a reader. (One that did, a `DISCONNECTED` sent
//! while a closed subscriber's connection went down after its reader had
//! gone, blocked the context's I/O thread for good: every later
//! subscriber of the transport then missed its publisher. That, not the
//! monitor itself, is what made an earlier monitor-based version miss
//! publishers; with a pure-Rust publisher it happened within a few
//! rounds of connecting, closing the subscriber, then the publisher.) A
//! subscriber on `inproc://` reports nothing (libzmq has no handshake,
//! so no events, there).
//!
//! ## Waiting for subscribers
//!
//! Publishers are `XPUB` sockets with `ZMQ_XPUB_VERBOSER`: they send
//! exactly as a `PUB`, and libzmq also queues every subscription and
//! unsubscription (a subscriber's topics when it goes) for the application
//! to read. [`PubSocket::wait_for_subscribers`] counts them: libzmq applies
//! a subscription to its filter when it queues it, so once counted, what is
//! sent next reaches that subscriber. libzmq does not say which peer a
//! subscription came from, so this counts subscriptions, not subscribers
//! (a subscriber of two topics counts twice, one without topics not at
//! all).
//!
//! That queue is unbounded inside libzmq, so each publisher has a task
//! that empties it every [`SUBSCRIPTION_DRAIN_INTERVAL`] into a count (a
//! few integers, whatever the peers send); a caller of
//! `wait_for_subscribers` looks every 1 to 8 ms while it waits, and a
//! `no_drop` sender waiting for room empties it each time it wakes up.
//! Each of them holds the senders' turn (and the socket's lock) for that,
//! so that they never steal the wakeup a waiting sender needs; the fast
//! path of `send` is unchanged.
//!
//! ## Size limits
//!
//! Every server socket (PUB, reply) gets `ZMQ_MAXMSGSIZE` from the config's
//! `max_message_size` (or [`BindSpec::max_message_size`]): libzmq refuses
//! a larger frame before allocating it and disconnects the peer that sent
//! it. Subscribers do not: libzmq never reconnects a connection it closed
//! for a protocol error, so a subscriber would lose its publisher for
//! good; a subscriber drops (logs and counts) a larger frame itself, after
//! libzmq has read it. Subscribers
//! get `ZMQ_RCVHWM` = [`Config::subscriber_receive_hwm`], at least
//! [`MIN_SUBSCRIBER_RCVHWM`] (64 frames with the default limits), so what
//! libzmq holds for a stalled subscriber is bounded in bytes.
//!
//! ## High-water marks and losses
//!
//! libzmq only ever drops PUB/SUB frames at the publisher: when the queue
//! (`SNDHWM` frames) towards one subscriber is full, a `PUB` drops the
//! frame for that subscriber. The subscriber's side never drops: when its
//! receive queue (`RCVHWM`) is full it stops reading the TCP connection, and
//! the backpressure reaches the publisher's queue. So:
//!
//! - a default publisher drops frames for subscribers that fall more than
//!   about `SNDHWM` + `RCVHWM` + the kernel's socket buffers behind;
//! - a [`PubOptions::no_drop`] publisher sets `ZMQ_XPUB_NODROP`, so that
//!   libzmq answers `EAGAIN` instead of dropping; `send`
//!   then waits, asynchronously, until every matching subscriber has room.
//!   A subscriber that stops reading therefore stops the publisher;
//! - subscribers keep libzmq's default `RCVHWM` (1000 frames) unless
//!   [`ZmqTransportBuilder::subscriber_receive_high_water_mark`] says
//!   otherwise: it bounds the subscriber's memory and loses nothing (see
//!   above), whatever the publisher's options, which the subscriber cannot
//!   know.
//!
//! # Threading design
//!
//! libzmq sockets are not thread-safe: a socket may move between threads
//! only with a full memory barrier, and must never be used by two threads
//! at once. The async API, on the other hand, must be callable from any
//! tokio task on any worker thread. This crate reconciles the two without
//! any thread of its own:
//!
//! - each libzmq socket is owned by exactly one Rust object and is only
//!   touched under a `std::sync::Mutex` (the barrier), held for a few
//!   non-blocking calls and **never across an `.await`**; so futures are
//!   `Send` and sockets are usable from any task;
//! - every send and receive is non-blocking (`ZMQ_DONTWAIT`); on `EAGAIN`
//!   the task awaits the socket's `ZMQ_FD`, registered with the tokio
//!   reactor through [`tokio::io::unix::AsyncFd`] (readable interest only);
//! - that descriptor is edge-triggered and is reset by *any* libzmq call
//!   that processes the socket's command mailbox. To lose no wakeup, a task
//!   only awaits it after the mailbox was drained by a call whose outcome it
//!   checked: a receive that returned `EAGAIN` (which processes commands
//!   unthrottled), or, after a send that returned `EAGAIN`, a read of
//!   `ZMQ_EVENTS` followed by one more send attempt. Receivers take as many
//!   frames as are ready per wakeup (up to 256) into a local queue and only
//!   wait after an `EAGAIN`. The senders of one `no_drop` publisher take
//!   turns (an async mutex), so no other call can steal the edge a waiting
//!   sender needs; a plain PUB never waits (libzmq's PUB never says
//!   `EAGAIN`), so its `send` is a lock, a copy and a `zmq_send`. Whoever
//!   else calls into a publisher's socket (to take its subscriptions, see
//!   below) holds that turn too;
//! - receive futures are cancel-safe: a frame taken from libzmq is stored
//!   in the socket's own queue (subscribers) or returned in the same poll
//!   (reply sockets, requests) before any `.await`.
//!
//! The alternative, one I/O thread per transport owning every socket and
//! talking to tasks through channels, costs two thread hand-offs per frame
//! and halves the throughput on small machines; the design above reaches
//! the bulk of raw libzmq's throughput (see `benches/pubsub.rs`).
//!
//! Sockets must be created inside a tokio runtime with I/O enabled (they
//! register with its reactor) and used on that runtime.
//!
//! The crate's only `unsafe` code is in one private module: setting
//! `ZMQ_XPUB_NODROP` (the `zmq` crate has no setter for it) and
//! registering `ZMQ_FD` with tokio (`AsyncFd::register_with_interest` is
//! `unsafe` since tokio 1.54); the crate's lints deny `unsafe` elsewhere.
//!
//! # Closing
//!
//! `close` (or dropping a socket) deregisters the descriptor from tokio,
//! then closes the libzmq socket: `LINGER` 0 for SUB and REQ, at most
//! [`SERVER_LINGER`] for PUB and REP, so that frames just sent still get
//! out. The libzmq context is terminated when its last socket closes (every
//! socket holds the context), which therefore never waits for anything but
//! those bounded lingers; the ZAP thread is stopped and joined when the
//! transport and every server socket relying on it are gone.
//!
//! # Examples
//!
//! ```
//! use posttroll_backend_zmq::ZmqTransport;
//! use posttroll_core::{BindSpec, Config, Endpoint, Security, Transport};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let transport = ZmqTransport::new(&Config::default())?;
//! let publisher = transport
//!     .bind_publisher(BindSpec::new("tcp://127.0.0.1:0".parse()?))
//!     .await?;
//! let port = publisher.endpoint().port().unwrap_or(0);
//! assert!(port >= 49152);
//! let mut subscriber = transport
//!     .connect_subscriber(&Endpoint::tcp("127.0.0.1", port), &["pytroll://".to_owned()], Security::Plain)
//!     .await?;
//! // PUB/SUB drops what is sent before the subscription arrives: repeat.
//! let frame = loop {
//!     publisher.send("pytroll://counter info".into()).await?;
//!     let wait = tokio::time::Duration::from_millis(20);
//!     if let Ok(frame) = tokio::time::timeout(wait, subscriber.recv()).await {
//!         break frame?;
//!     }
//! };
//! assert_eq!(frame, "pytroll://counter info");
//! # Ok::<(), posttroll_core::Error>(())
//! # }).unwrap();
//! ```

mod ffi;
mod options;
mod pubsub;
mod reqrep;
mod util;
pub mod zap;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::engine::{TcpKeepalive, REPLY_HIGH_WATER_MARK};
use posttroll_core::requesters::{request_with_retry, RequesterPool};
use posttroll_core::{
    BindSpec, Config, Endpoint, Error, PubOptions, PubSocket, ReplySocket, Result, Security,
    SubSocket, Transport,
};

pub use options::SocketOptions;
use options::{apply_keepalive, duration_ms, limit};
pub use pubsub::{ZmqPubSocket, ZmqSubSocket, SUBSCRIPTION_DRAIN_INTERVAL};
pub use reqrep::ZmqReplySocket;
pub use util::zmq_error;
use util::{bind, connect, Registered};
use zap::{AllOf, IpAllowList, ZapHandler, ZapPolicy};

/// The name this backend is registered and announced under.
pub const BACKEND_NAME: &str = "unsecure_zmq";

/// The engine name [`Transport::engine`] reports.
pub const ENGINE: &str = "libzmq";

/// How long a closed PUB or REP socket may still try to send what is
/// queued (`ZMQ_LINGER`).
pub const SERVER_LINGER: Duration = Duration::from_millis(100);

pub use posttroll_core::requesters::{KEPT_REQUESTERS, KEPT_REQUESTER_CHANCE, REQUESTER_IDLE};

pub use posttroll_core::engine::RANDOM_PORT_TRIES;

/// A security layer for the sockets of one [`Security`] level: called once
/// on every new socket that uses it, before it binds or connects, to set
/// its mechanism options (for CURVE: `ZMQ_CURVE_SERVER`,
/// `ZMQ_CURVE_SECRETKEY`, `ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SERVERKEY`).
/// Never called for `inproc://` sockets.
pub trait SocketSecurity: Send + Sync + fmt::Debug {
    /// Configures a server (binding) socket: PUB or REP.
    fn configure_server(&self, socket: &zmq::Socket) -> Result<()>;
    /// Configures a client (connecting) socket: SUB or REQ.
    fn configure_client(&self, socket: &zmq::Socket) -> Result<()>;
}

/// The smallest default `ZMQ_RCVHWM` of subscribers: libzmq's pipe sends
/// a command to the I/O thread every `RCVHWM / 2` messages read (and the
/// I/O thread stops reading the connection at `RCVHWM`), which costs a
/// thread wakeup and a few system calls each time. Measured end to end
/// (`posttroll/benches/e2e`, the receiving thread's CPU time per message,
/// the codec included): 2.0 µs at 16, 1.6 at 32, 1.5 at 64, 1.4 at 1000;
/// 4 costs 85% of the throughput. With the default limits, libzmq thus
/// holds at most 64 frames of 4 MiB for a stalled subscriber (the
/// pure-Rust engine, which has no such cost, 4).
pub const MIN_SUBSCRIBER_RCVHWM: u32 = 64;

/// Builds a [`ZmqTransport`] with extension hooks (the CURVE backend's).
#[derive(Debug, Clone)]
pub struct ZmqTransportBuilder {
    keepalive: TcpKeepalive,
    authorized: Vec<String>,
    zap_policy: Option<Arc<dyn ZapPolicy>>,
    curve: Option<Arc<dyn SocketSecurity>>,
    subscriber_rcvhwm: Option<i32>,
    max_message_size: i64,
    heartbeat: Option<(Duration, Duration)>,
}

impl ZmqTransportBuilder {
    /// A builder with the keepalive options and `authorized_client_addresses`
    /// of `config`.
    pub fn new(config: &Config) -> ZmqTransportBuilder {
        ZmqTransportBuilder {
            keepalive: TcpKeepalive::from_config(config),
            authorized: config.authorized_client_addresses.clone(),
            zap_policy: None,
            curve: None,
            subscriber_rcvhwm: Some(
                i32::try_from(config.subscriber_receive_hwm().max(MIN_SUBSCRIBER_RCVHWM))
                    .unwrap_or(i32::MAX),
            ),
            max_message_size: i64::try_from(config.max_message_size).unwrap_or(i64::MAX),
            heartbeat: config.zmtp_heartbeat(),
        }
    }

    /// An extra ZAP policy: a peer must pass it *and* the IP allow-list (if
    /// any). With a policy, every non-inproc server socket uses ZAP.
    pub fn zap_policy(mut self, policy: Arc<dyn ZapPolicy>) -> ZmqTransportBuilder {
        self.zap_policy = Some(policy);
        self
    }

    /// The hook that makes [`Security::Curve`] sockets (which are otherwise
    /// refused with [`Error::Unsupported`]).
    pub fn curve(mut self, security: Arc<dyn SocketSecurity>) -> ZmqTransportBuilder {
        self.curve = Some(security);
        self
    }

    /// `ZMQ_RCVHWM` of subscriber sockets (by default
    /// [`Config::subscriber_receive_hwm`], at least
    /// [`MIN_SUBSCRIBER_RCVHWM`]; `None`: libzmq's 1000; `Some(0)`:
    /// unbounded). Subscribers never drop frames whatever
    /// its value; it bounds how much a slow subscriber buffers.
    pub fn subscriber_receive_high_water_mark(mut self, hwm: Option<i32>) -> ZmqTransportBuilder {
        self.subscriber_rcvhwm = hwm;
        self
    }

    /// Creates the context, resolves the allow-list and starts the ZAP
    /// handler when there is a policy.
    ///
    /// # Errors
    ///
    /// A host of `authorized_client_addresses` that does not resolve
    /// ([`Error::InvalidAddress`] naming it), or the ZAP handler failing to
    /// start.
    pub fn build(self) -> Result<ZmqTransport> {
        let mut policies: Vec<Arc<dyn ZapPolicy>> = Vec::new();
        if !self.authorized.is_empty() {
            let list = IpAllowList::resolve(&self.authorized)?;
            tracing::debug!(
                ips = ?list.ips().collect::<Vec<_>>(),
                "ZAP: only these clients may connect to server sockets"
            );
            policies.push(Arc::new(list));
        }
        policies.extend(self.zap_policy);
        let context = zmq::Context::new();
        let zap = match policies.len() {
            0 => None,
            1 => Some(Arc::new(ZapHandler::start(&context, policies.remove(0))?)),
            _ => Some(Arc::new(ZapHandler::start(
                &context,
                Arc::new(AllOf(policies)),
            )?)),
        };
        Ok(ZmqTransport {
            shared: Arc::new(Shared {
                context,
                keepalive: self.keepalive,
                subscriber_rcvhwm: self.subscriber_rcvhwm,
                max_message_size: self.max_message_size,
                heartbeat: self.heartbeat,
                curve: self.curve,
                zap,
                requesters: RequesterPool::new(),
            }),
        })
    }
}

/// The [`Transport`] on libzmq: one ZeroMQ context, its sockets, and (with
/// an allow-list or a ZAP policy) its ZAP handler thread. Cheap to clone:
/// clones share the context.
#[derive(Clone)]
pub struct ZmqTransport {
    shared: Arc<Shared>,
}

struct Shared {
    context: zmq::Context,
    keepalive: TcpKeepalive,
    subscriber_rcvhwm: Option<i32>,
    /// `ZMQ_MAXMSGSIZE` of every socket (config `max_message_size`).
    max_message_size: i64,
    /// ZMTP heartbeat interval and timeout of SUB and REQ sockets.
    heartbeat: Option<(Duration, Duration)>,
    curve: Option<Arc<dyn SocketSecurity>>,
    zap: Option<Arc<ZapHandler>>,
    /// Idle REQ sockets whose last request was answered (see
    /// [`Transport::request`] below), registered with the reactor of the
    /// runtime they are kept for: reusing one costs no `epoll_ctl`.
    requesters: RequesterPool<Registered, tokio::runtime::Id>,
}

impl fmt::Debug for ZmqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZmqTransport")
            .field("keepalive", &self.shared.keepalive)
            .field("zap", &self.shared.zap)
            .field("curve", &self.shared.curve)
            .finish_non_exhaustive()
    }
}

/// Which side of a connection a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

/// A new socket and the ZAP handler it relies on.
struct Opened {
    socket: zmq::Socket,
    zap: Option<Arc<ZapHandler>>,
}

impl ZmqTransport {
    /// A transport with the keepalive options and allow-list of `config`.
    ///
    /// # Errors
    ///
    /// As [`ZmqTransportBuilder::build`].
    pub fn new(config: &Config) -> Result<ZmqTransport> {
        ZmqTransportBuilder::new(config).build()
    }

    /// A builder, for the extension hooks.
    pub fn builder(config: &Config) -> ZmqTransportBuilder {
        ZmqTransportBuilder::new(config)
    }

    /// The ZeroMQ context: `inproc://` endpoints are reachable only by
    /// sockets of this context.
    pub fn context(&self) -> &zmq::Context {
        &self.shared.context
    }

    /// True when server sockets use ZAP (an allow-list or a policy).
    pub fn uses_zap(&self) -> bool {
        self.shared.zap.is_some()
    }

    /// Creates a socket with the transport's options and the security
    /// `security` asks for on `endpoint`.
    fn open(
        &self,
        kind: zmq::SocketType,
        role: Role,
        endpoint: &Endpoint,
        security: Security,
    ) -> Result<Opened> {
        let networked = !endpoint.is_inproc();
        let hook = match (security, networked) {
            (Security::Curve, true) => match &self.shared.curve {
                Some(hook) => Some(hook),
                None => {
                    return Err(Error::Unsupported {
                        backend: BACKEND_NAME.to_owned(),
                        what: "CURVE: enable secure_zmq".to_owned(),
                    })
                }
            },
            _ => None,
        };
        let socket = self
            .shared
            .context
            .socket(kind)
            .map_err(zmq_error("creating a ZeroMQ socket"))?;
        let linger = match kind {
            zmq::PUB | zmq::XPUB | zmq::REP | zmq::ROUTER => duration_ms(SERVER_LINGER),
            _ => 0,
        };
        socket
            .set_linger(linger)
            .map_err(zmq_error("setting ZMQ_LINGER"))?;
        socket
            .set_maxmsgsize(self.shared.max_message_size)
            .map_err(zmq_error("setting ZMQ_MAXMSGSIZE"))?;
        if let (zmq::SUB | zmq::REQ, Some((interval, timeout))) = (kind, self.shared.heartbeat) {
            let ms = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1);
            socket
                .set_heartbeat_ivl(ms(interval))
                .map_err(zmq_error("setting ZMQ_HEARTBEAT_IVL"))?;
            socket
                .set_heartbeat_timeout(ms(timeout))
                .map_err(zmq_error("setting ZMQ_HEARTBEAT_TIMEOUT"))?;
            // TTL is sent in 100 ms units (at most 6553.5 s).
            socket
                .set_heartbeat_ttl(ms(timeout).min(6_553_500))
                .map_err(zmq_error("setting ZMQ_HEARTBEAT_TTL"))?;
        }
        apply_keepalive(self.shared.keepalive, &socket)?;
        if endpoint.host().is_some_and(|h| h.contains(':')) {
            socket
                .set_ipv6(true)
                .map_err(zmq_error("setting ZMQ_IPV6 for an IPv6 endpoint"))?;
        }
        if let Some(hook) = hook {
            match role {
                Role::Server => hook.configure_server(&socket)?,
                Role::Client => hook.configure_client(&socket)?,
            }
        }
        let zap = match (&self.shared.zap, role, networked) {
            (Some(zap), Role::Server, true) => {
                socket
                    .set_zap_domain(zap::ZAP_DOMAIN)
                    .map_err(zmq_error("setting ZMQ_ZAP_DOMAIN"))?;
                Some(zap.clone())
            }
            _ => None,
        };
        Ok(Opened { socket, zap })
    }

    /// Binds a PUB socket (the concrete type behind
    /// [`Transport::bind_publisher`]).
    pub async fn bind_pub(&self, spec: BindSpec) -> Result<ZmqPubSocket> {
        // An XPUB sends as a PUB does, and hands over the subscriptions
        // it gets (all of them, and every unsubscription, with VERBOSER):
        // counted for `wait_for_subscribers`.
        let mut opened = self.open(zmq::XPUB, Role::Server, &spec.endpoint, spec.security)?;
        ffi::set_xpub_verboser(&mut opened.socket, true)
            .map_err(zmq_error("setting ZMQ_XPUB_VERBOSER"))?;
        let PubOptions {
            send_high_water_mark,
            no_drop,
        } = spec.options;
        if let Some(hwm) = send_high_water_mark {
            let hwm = i32::try_from(hwm).unwrap_or(i32::MAX);
            opened
                .socket
                .set_sndhwm(hwm)
                .map_err(zmq_error("setting ZMQ_SNDHWM"))?;
        }
        limit(&opened.socket, &spec)?;
        if no_drop {
            ffi::set_xpub_nodrop(&mut opened.socket, true)
                .map_err(zmq_error("setting ZMQ_XPUB_NODROP"))?;
        }
        let endpoint = bind(&opened.socket, &spec)?;
        let io = util::register(opened.socket)?;
        tracing::debug!(%endpoint, no_drop, "PUB socket bound");
        Ok(ZmqPubSocket::new(endpoint, io, no_drop, opened.zap))
    }

    /// Connects a SUB socket (the concrete type behind
    /// [`Transport::connect_subscriber`]).
    pub async fn connect_sub(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
        security: Security,
    ) -> Result<ZmqSubSocket> {
        let opened = self.open(zmq::SUB, Role::Client, endpoint, security)?;
        if let Some(hwm) = self.shared.subscriber_rcvhwm {
            opened
                .socket
                .set_rcvhwm(hwm)
                .map_err(zmq_error("setting ZMQ_RCVHWM"))?;
        }
        // Each topic once: a publisher counts subscriptions, and libzmq
        // unsubscribes a topic subscribed twice only once when we go.
        let mut subscribed: Vec<&String> = Vec::with_capacity(topics.len());
        for topic in topics {
            if subscribed.contains(&topic) {
                continue;
            }
            subscribed.push(topic);
            opened
                .socket
                .set_subscribe(topic.as_bytes())
                .map_err(zmq_error("subscribing (ZMQ_SUBSCRIBE)"))?;
        }
        // libzmq does not reconnect a connection it closed for a protocol
        // error, and a frame over ZMQ_MAXMSGSIZE is one: a subscriber would
        // lose its publisher for good. Subscribers check the size
        // themselves instead (dropping, logging and counting such frames).
        opened
            .socket
            .set_maxmsgsize(-1)
            .map_err(zmq_error("setting ZMQ_MAXMSGSIZE"))?;
        // The monitor starts before the connection, so that the first
        // handshake is seen. `inproc://` has no handshake and no events.
        let monitor = if endpoint.is_inproc() {
            None
        } else {
            Some(pubsub::start_monitor(&self.shared.context, &opened.socket)?)
        };
        let batch = opened
            .socket
            .get_rcvhwm()
            .ok()
            .and_then(|hwm| usize::try_from(hwm).ok())
            .filter(|hwm| *hwm > 0)
            .unwrap_or(usize::MAX);
        let io = util::register(opened.socket)?;
        let max = usize::try_from(self.shared.max_message_size).unwrap_or(usize::MAX);
        // Connects last: should it fail, dropping the subscriber stops the
        // monitor before its reader goes (see `ZmqSubSocket`'s `Drop`).
        let subscriber = ZmqSubSocket::new(endpoint.clone(), io, monitor, max, batch);
        subscriber.connect()?;
        Ok(subscriber)
    }

    /// Binds a REP socket (the concrete type behind
    /// [`Transport::bind_reply`]).
    pub async fn bind_rep(&self, spec: BindSpec) -> Result<ZmqReplySocket> {
        let opened = self.open(zmq::ROUTER, Role::Server, &spec.endpoint, spec.security)?;
        opened
            .socket
            .set_router_mandatory(true)
            .map_err(zmq_error("setting ZMQ_ROUTER_MANDATORY"))?;
        let hwm = i32::try_from(REPLY_HIGH_WATER_MARK).unwrap_or(i32::MAX);
        opened
            .socket
            .set_sndhwm(hwm)
            .map_err(zmq_error("setting ZMQ_SNDHWM"))?;
        opened
            .socket
            .set_rcvhwm(hwm)
            .map_err(zmq_error("setting ZMQ_RCVHWM"))?;
        limit(&opened.socket, &spec)?;
        let endpoint = bind(&opened.socket, &spec)?;
        let io = util::register(opened.socket)?;
        tracing::debug!(%endpoint, "ROUTER (reply) socket bound");
        Ok(ZmqReplySocket::new(endpoint, io, opened.zap))
    }
}

#[async_trait]
impl Transport for ZmqTransport {
    fn engine(&self) -> &str {
        ENGINE
    }

    async fn bind_publisher(&self, spec: BindSpec) -> Result<Box<dyn PubSocket>> {
        Ok(Box::new(self.bind_pub(spec).await?))
    }

    async fn connect_subscriber(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
        security: Security,
    ) -> Result<Box<dyn SubSocket>> {
        Ok(Box::new(
            self.connect_sub(endpoint, topics, security).await?,
        ))
    }

    async fn bind_reply(&self, spec: BindSpec) -> Result<Box<dyn ReplySocket>> {
        Ok(Box::new(self.bind_rep(spec).await?))
    }

    /// Sends `request` on a REQ socket and waits at most `timeout` for the
    /// reply.
    ///
    /// The REQ socket of a request that was answered over `tcp://` or
    /// `ipc://` is kept (up to
    /// [`KEPT_REQUESTERS`] per endpoint and security, for at most
    /// [`REQUESTER_IDLE`]) and reused by the next request to the same
    /// endpoint: its connection (and handshake) is already made, which
    /// takes most of a lookup's time. A request that fails or times out
    /// closes its socket (`LINGER` 0), so a dead or absent peer still never
    /// blocks a caller longer than `timeout`. On a kept socket, a request
    /// with no reply within [`KEPT_REQUESTER_CHANCE`] (or half the timeout)
    /// is sent again on a new socket, within the same timeout.
    async fn request(
        &self,
        endpoint: &Endpoint,
        security: Security,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes> {
        let kept = self.take_requester(endpoint, security);
        let open = || {
            let opened = self.open(zmq::REQ, Role::Client, endpoint, security)?;
            connect(&opened.socket, endpoint)?;
            util::register(opened.socket)
        };
        request_with_retry(endpoint, kept, timeout, open, |io, _fresh, limit| {
            self.exchange(io, endpoint, security, &request, limit)
        })
        .await
    }
}

impl ZmqTransport {
    /// One request on `io`: the reply, or `None` when none came within
    /// `limit`. An answered socket is kept for the next request; any other
    /// is closed (`LINGER` 0).
    async fn exchange(
        &self,
        io: Registered,
        endpoint: &Endpoint,
        security: Security,
        request: &Bytes,
        limit: Duration,
    ) -> Result<Option<Bytes>> {
        let exchange = async {
            util::send_frame(&io, request, "sending a request (REQ)").await?;
            util::recv_first_frame(&io, "receiving a reply (REQ)").await
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok(reply)) => {
                // Answered: the socket is ready for another request.
                self.keep_requester(endpoint, security, io);
                Ok(Some(reply))
            }
            // `io` drops: deregistered, then closed with LINGER 0.
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// An idle REQ socket to `endpoint` with `security`, registered with
    /// the current runtime, if one is kept (the most recently used); drops
    /// those idle for too long.
    fn take_requester(&self, endpoint: &Endpoint, security: Security) -> Option<Registered> {
        let runtime = tokio::runtime::Handle::try_current().ok()?.id();
        self.shared.requesters.take(endpoint, security, &runtime)
    }

    /// Keeps an answered REQ socket for the next request on the current
    /// runtime (closes it when enough are kept, or when it is on
    /// `inproc://`: those cost no handshake, and do not reconnect to a peer
    /// bound anew).
    fn keep_requester(&self, endpoint: &Endpoint, security: Security, io: Registered) {
        if endpoint.is_inproc() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            self.shared
                .requesters
                .keep(endpoint, security, handle.id(), io);
        }
    }
}

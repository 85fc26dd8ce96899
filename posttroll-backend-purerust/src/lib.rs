//! The pure-Rust engine of posttroll's zmq backends: ZeroMQ (ZMTP 3.x)
//! PUB/SUB and REQ/REP written in Rust, on [`omq_tokio`] (pinned at
//! `=0.33.0`, feature `curve`), with no C library. Wire-compatible with
//! libzmq, so with the Python reference (pyzmq) and with
//! `posttroll-backend-zmq`: a publisher announces `unsecure_zmq` or
//! `secure_zmq` whatever engine serves it.
//!
//! [`PureRustTransport::new`] makes the transport of `unsecure_zmq`, and
//! [`PureRustTransport::secure`] the one of `secure_zmq` (used when the
//! config's `engine` is `purerust`, or unset where both engines are compiled
//! in); the `posttroll` facade pairs it with a discovery.
//!
//! # Sockets
//!
//! | trait call | omq socket | notes |
//! | --- | --- | --- |
//! | [`Transport::bind_publisher`] | `PUB` | `send_hwm` from [`PubOptions::send_high_water_mark`] (`Some(0)`: omq's largest queue, 2^20 frames); [`PubOptions::no_drop`] sets omq's `xpub_nodrop`, and `send` waits for room |
//! | [`Transport::connect_subscriber`] | `SUB`, one per publisher | a `subscribe` for each topic (an empty list subscribes to nothing) |
//! | [`Transport::bind_reply`] | `ROUTER` (`router_mandatory`) | REQ clients see a REP; requests are received in any number, and a reply that cannot be queued at once (the requester does not read, or is gone) is dropped for that requester only, so no client can wedge the socket |
//! | [`Transport::request`] | `REQ` | kept for the next request to the same endpoint once answered (at most [`KEPT_REQUESTERS`], idle at most [`REQUESTER_IDLE`], on the same tokio runtime), as the libzmq engine does; closed with linger 0 when a request fails or times out, so our own timeout holds even when the peer is dead or absent, and a REQ whose peer died is never reused |
//!
//! Endpoints are `tcp://host:port`, `ipc:///path` and `inproc://name`.
//! **`inproc://` names are process-wide** here (omq's namespace of sockets
//! made on the caller's runtime), unlike libzmq's per-context namespace:
//! two transports of one process can talk over `inproc://`.
//!
//! A TCP port 0 binds a random free port of [`BindSpec::port_range`]
//! (`[pub_min_port, pub_max_port)`), trying random ports up to
//! [`RANDOM_PORT_TRIES`] times as pyzmq's `bind_to_random_port` does; the
//! socket's endpoint reports the port bound.
//!
//! `tcp://*:PORT` binds dual-stack where the host allows it
//! (`engine::wildcard_is_dual_stack`: IPv6 is there and its sockets are
//! not IPv6-only by default, which omq keeps): as `tcp://[::]:PORT`, so
//! IPv4 clients (named `127.0.0.1`, not `::ffff:127.0.0.1`, in logs and
//! allow-list checks) and IPv6 ones connect; elsewhere, or when that bind
//! fails, on IPv4 only as the reference does.
//!
//! TCP keepalive: `tcp_keepalive` = 1 turns `SO_KEEPALIVE` on with
//! `tcp_keepalive_idle`, `tcp_keepalive_intvl` and `tcp_keepalive_cnt`
//! (each unset one takes the system's value from
//! `/proc/sys/net/ipv4/tcp_keepalive_*`, as libzmq leaves it); 0 turns it
//! off; unset or -1 leaves the system's setting, and then the other three
//! are ignored, as libzmq ignores them.
//!
//! With a non-empty `authorized_client_addresses`, the host names are
//! resolved to IPs when the transport is created and every server socket
//! (PUB, REP) on `tcp://` or `ipc://` checks each new peer's IP in its
//! handshake (omq's NULL-mechanism authenticator; see [`auth`]): only peers
//! from those IPs are admitted, each refusal is logged with the peer's IP.
//! IPv6 entries and clients are checked alike.
//! `inproc://` never checks, as in the reference; IPC peers have no IP, so
//! with an allow-list they are refused.
//!
//! [`Security::Curve`] sockets need a [`CurveConfig`] (see
//! [`PureRustTransportBuilder::curve`]; [`PureRustTransport::secure`] makes it from
//! the config's key settings): server sockets (PUB, REP) use the key pair
//! of `server_secret_key_file` and admit the clients that posttroll-core's
//! `ClientKeyPolicy` admits (a key in a `*.key` file of
//! `clients_public_keys_directory`, re-read when the folder changes, and
//! the IP allow-list); client sockets (SUB, REQ) use the key pair of
//! `client_secret_key_file` and the server key of `server_public_key_file`.
//! Key files are read when each socket is made; a missing setting is an
//! [`Error::Security`] naming it. Every failed handshake on a CURVE server
//! socket (a plain client, a wrong server key, a refused client key) is
//! logged with `tracing::warn!` and counted
//! ([`PureRustTransport::handshake_failures`]); a client that hangs up in
//! the middle of the greeting, as a plain libzmq (pyzmq) client does on a
//! CURVE server, leaves omq nothing to report at once, and is reported when
//! omq's handshake deadline (10 s) has passed. Without a [`CurveConfig`],
//! CURVE is refused with [`Error::Unsupported`] (except on `inproc://`,
//! which never uses security).
//!
//! ## Heartbeats
//!
//! Subscriber and request sockets send ZMTP PINGs every
//! `zmtp_heartbeat_interval` seconds and close a connection that has been
//! silent for `zmtp_heartbeat_timeout` seconds (defaults 10 and 30; 0
//! disables them), so a publisher behind a path that stops forwarding
//! without closing (a crashed host, a firewall or NAT that drops the flow)
//! is noticed and connected to again. Peers answer PINGs whatever their
//! own settings (libzmq 4.2 and later, omq). The TCP keepalive keys work as
//! well, independently.
//!
//! ## Size limits
//!
//! Every socket refuses frames larger than the config's `max_message_size`
//! (or [`BindSpec::max_message_size`]) before allocating them (omq's
//! `max_message_size`): the peer that sent one is disconnected, and the
//! disconnection is logged with its address (`tracing::warn!`). A
//! subscriber's receive high-water mark defaults to
//! [`Config::subscriber_receive_hwm`] (a few frames with the default
//! limits), so what the engine holds for a stalled subscriber is bounded in
//! bytes, and it reads at most that many frames per wakeup.
//!
//! ## High-water marks and losses
//!
//! As with libzmq, a plain publisher drops frames for a subscriber whose
//! queue is full, and a subscriber never drops (a full receive queue stops
//! reading the connection, and the backpressure reaches the publisher). A
//! [`PubOptions::no_drop`] publisher waits instead, so a subscriber that
//! stops reading stops the publisher.
//!
//! ## Reconnecting
//!
//! Subscribers reconnect after a lost connection (omq's fixed 100 ms
//! policy, libzmq's default). omq stops reconnecting for good after a
//! server refused the handshake (a CURVE key or an IP not admitted); this
//! crate reconnects such a subscriber every [`REFUSED_RETRY`] so that a key
//! admitted later is picked up, as libzmq does.
//!
//! # Threading
//!
//! omq sockets are driven by tasks spawned on the tokio runtime current
//! when the socket is made (no thread of this crate or of omq): sockets
//! must be created inside a tokio runtime with I/O and time enabled, and
//! used while it runs.
//!
//! # Examples
//!
//! ```
//! use posttroll_backend_purerust::PureRustTransport;
//! use posttroll_core::{BindSpec, Config, Endpoint, Security, Transport};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let transport = PureRustTransport::new(&Config::default())?;
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

pub mod auth;
mod curve;
mod options;
mod pubsub;
mod reqrep;
mod util;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use omq_tokio::{KeepAlive, MechanismSetup, Options, Socket, SocketType};
use posttroll_core::engine::REPLY_HIGH_WATER_MARK;
use posttroll_core::requesters::{request_with_retry, RequesterPool};
use posttroll_core::{
    BindSpec, Config, Endpoint, Error, PubOptions, PubSocket, ReplySocket, Result, Security,
    SubSocket, Transport,
};

pub use curve::CurveConfig;
pub use options::SocketOptions;
/// The omq crate this engine is built on.
pub use pubsub::{PurePubSocket, PureSubSocket};
pub use reqrep::PureReplySocket;

use auth::{Gate, IpAllowList};
use options::{keepalive_from_config, limit};
pub(crate) use util::omq_error;
use util::{bind, connect};

/// The name the plain backend is registered and announced under.
pub const BACKEND_NAME: &str = "unsecure_zmq";

/// The name the CURVE backend is registered and announced under.
pub const SECURE_BACKEND_NAME: &str = "secure_zmq";

/// The engine name [`Transport::engine`] reports (and the config `engine`
/// value that selects it).
pub const ENGINE: &str = "purerust";

/// How long a closed PUB or REP socket may still send what is queued
/// (omq's linger).
pub const SERVER_LINGER: Duration = Duration::from_millis(100);

/// Connection events a server socket's watcher may fall behind by (omq's
/// default is 256): each slot is preallocated, about 340 bytes, so 256
/// cost a nameserver's three server sockets 0.25 MiB resident. A watcher
/// that falls further behind (a flood of connections) forgets the
/// handshakes it was timing rather than misreport them.
pub const SERVER_MONITOR_CAPACITY: usize = 64;

pub use posttroll_core::requesters::{KEPT_REQUESTERS, KEPT_REQUESTER_CHANCE, REQUESTER_IDLE};

pub use posttroll_core::engine::RANDOM_PORT_TRIES;

/// How often a subscriber whose handshake a server refused tries again.
pub const REFUSED_RETRY: Duration = Duration::from_secs(1);

/// The largest queue omq has (`Some(0)`, "unbounded", maps to it).
const UNBOUNDED_HWM: u32 = 1 << 20;

/// Builds a [`PureRustTransport`] with extension hooks.
#[derive(Debug, Clone)]
pub struct PureRustTransportBuilder {
    keepalive: KeepAlive,
    authorized: Vec<String>,
    curve: Option<CurveConfig>,
    subscriber_rcvhwm: Option<u32>,
    max_message_size: usize,
    heartbeat: Option<(Duration, Duration)>,
}

impl PureRustTransportBuilder {
    /// A builder with the keepalive options and `authorized_client_addresses`
    /// of `config`.
    pub fn new(config: &Config) -> PureRustTransportBuilder {
        PureRustTransportBuilder {
            keepalive: keepalive_from_config(config),
            authorized: config.authorized_client_addresses.clone(),
            curve: None,
            subscriber_rcvhwm: Some(config.subscriber_receive_hwm()),
            max_message_size: config.max_message_size_bytes(),
            heartbeat: config.zmtp_heartbeat(),
        }
    }

    /// The keys that make [`Security::Curve`] sockets (which are otherwise
    /// refused with [`Error::Unsupported`]).
    pub fn curve(mut self, curve: CurveConfig) -> PureRustTransportBuilder {
        self.curve = Some(curve);
        self
    }

    /// The receive high-water mark of subscriber sockets (by default
    /// [`Config::subscriber_receive_hwm`]; `None`: omq's default, 1000
    /// frames; `Some(0)`: omq's largest queue). Subscribers
    /// never drop frames whatever its value; it bounds how much a slow
    /// subscriber buffers.
    pub fn subscriber_receive_high_water_mark(
        mut self,
        hwm: Option<u32>,
    ) -> PureRustTransportBuilder {
        self.subscriber_rcvhwm = hwm;
        self
    }

    /// Resolves the allow-list.
    ///
    /// # Errors
    ///
    /// A host of `authorized_client_addresses` that does not resolve
    /// ([`Error::InvalidAddress`] naming it).
    pub fn build(self) -> Result<PureRustTransport> {
        let allow = if self.authorized.is_empty() {
            None
        } else {
            let list = IpAllowList::resolve(&self.authorized)?;
            tracing::debug!(
                ips = ?list.ips().collect::<Vec<_>>(),
                "only these clients may connect to server sockets"
            );
            Some(Arc::new(list))
        };
        Ok(PureRustTransport {
            shared: Arc::new(Shared {
                keepalive: self.keepalive,
                allow,
                curve: self.curve,
                subscriber_rcvhwm: self.subscriber_rcvhwm,
                max_message_size: self.max_message_size,
                heartbeat: self.heartbeat,
                requesters: RequesterPool::new(),
                handshake_failures: Arc::new(AtomicU64::new(0)),
            }),
        })
    }
}

/// The [`Transport`] on omq: the options every socket gets. Cheap to
/// clone.
#[derive(Clone)]
pub struct PureRustTransport {
    shared: Arc<Shared>,
}

struct Shared {
    keepalive: KeepAlive,
    allow: Option<Arc<IpAllowList>>,
    curve: Option<CurveConfig>,
    subscriber_rcvhwm: Option<u32>,
    /// The largest frame a socket accepts (config `max_message_size`).
    max_message_size: usize,
    /// ZMTP heartbeat interval and timeout of SUB and REQ sockets.
    heartbeat: Option<(Duration, Duration)>,
    /// Idle REQ sockets whose last request was answered.
    requesters: RequesterPool<Socket, tokio::runtime::Id>,
    /// Failed handshakes on CURVE server sockets.
    handshake_failures: Arc<AtomicU64>,
}

impl fmt::Debug for PureRustTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PureRustTransport")
            .field("keepalive", &self.shared.keepalive)
            .field("allow", &self.shared.allow)
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

/// A new socket and the options it was made with.
struct Opened {
    socket: Socket,
    options: SocketOptions,
}

impl PureRustTransport {
    /// A transport with the keepalive options and allow-list of `config`.
    ///
    /// # Errors
    ///
    /// As [`PureRustTransportBuilder::build`].
    pub fn new(config: &Config) -> Result<PureRustTransport> {
        PureRustTransportBuilder::new(config).build()
    }

    /// A transport for `secure_zmq`: its [`Security::Curve`] sockets use
    /// the configured key files and client-key folder
    /// ([`CurveConfig::from_config`]), with the keepalive options and
    /// allow-list of `config`.
    ///
    /// # Errors
    ///
    /// As [`CurveConfig::from_config`] and [`PureRustTransportBuilder::build`].
    pub fn secure(config: &Config) -> Result<PureRustTransport> {
        PureRustTransportBuilder::new(config)
            .curve(CurveConfig::from_config(config)?)
            .build()
    }

    /// A builder, for the extension hooks.
    pub fn builder(config: &Config) -> PureRustTransportBuilder {
        PureRustTransportBuilder::new(config)
    }

    /// The CURVE keys and client policy, when the transport has them.
    pub fn curve(&self) -> Option<&CurveConfig> {
        self.shared.curve.as_ref()
    }

    /// How many handshakes with its CURVE server sockets failed: a plain
    /// client, a client with the wrong server key, a malformed handshake,
    /// or a client the key policy refused (each is also logged with
    /// `tracing::warn!`).
    pub fn handshake_failures(&self) -> u64 {
        self.shared
            .handshake_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts logging the peers a server socket disconnects for an error
    /// (a frame over the size limit, a protocol violation) and, on a CURVE
    /// server, logging and counting the failed handshakes (before it binds,
    /// so none is missed).
    fn watch_server(
        &self,
        socket: &Socket,
        spec: &BindSpec,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if spec.endpoint.is_inproc() {
            return None;
        }
        Some(tokio::spawn(pubsub::watch_server(
            socket.monitor(),
            spec.endpoint.to_string(),
            spec.security == Security::Curve,
            self.shared.handshake_failures.clone(),
            // The sockets keep omq's default.
            Options::default()
                .handshake_timeout
                .unwrap_or(Duration::from_secs(10)),
        )))
    }

    /// True when server sockets check their peers' IPs.
    pub fn uses_allow_list(&self) -> bool {
        self.shared.allow.is_some()
    }

    /// The omq options of a socket of `kind` on `endpoint`.
    fn options(
        &self,
        kind: SocketType,
        role: Role,
        endpoint: &Endpoint,
        security: Security,
    ) -> Result<Options> {
        let networked = !endpoint.is_inproc();
        let linger = match role {
            Role::Server => SERVER_LINGER,
            Role::Client => Duration::ZERO,
        };
        let mut options = Options::default()
            .linger(linger)
            .tcp_keepalive(self.shared.keepalive)
            .max_message_size(self.shared.max_message_size);
        if let (SocketType::Sub | SocketType::Req, Some((interval, timeout))) =
            (kind, self.shared.heartbeat)
        {
            options = options
                .heartbeat_interval(interval)
                .heartbeat_ttl(timeout)
                .heartbeat_timeout(timeout);
        }
        if role == Role::Server {
            options = options.monitor_capacity(SERVER_MONITOR_CAPACITY);
        }
        if kind == SocketType::Sub {
            if let Some(hwm) = self.shared.subscriber_rcvhwm {
                options = options.recv_hwm(if hwm == 0 { UNBOUNDED_HWM } else { hwm });
            }
        }
        let curve = match (security, networked) {
            (Security::Curve, true) => match &self.shared.curve {
                Some(curve) => Some(curve),
                None => {
                    return Err(Error::Unsupported {
                        backend: BACKEND_NAME.to_owned(),
                        what: "CURVE: enable secure_zmq".to_owned(),
                    })
                }
            },
            _ => None,
        };
        options.mechanism = match (role, curve, &self.shared.allow) {
            _ if !networked => MechanismSetup::Null,
            (Role::Server, Some(curve), _) => curve.server_mechanism()?,
            (Role::Client, Some(curve), _) => curve.client_mechanism()?,
            (Role::Server, None, Some(ips)) => {
                let gate = Gate::Ips(ips.clone());
                MechanismSetup::NullServer {
                    authenticator: omq_tokio::Authenticator::new(move |peer| gate.admit(peer)),
                }
            }
            _ => MechanismSetup::Null,
        };
        Ok(options)
    }

    /// Creates a socket of `kind` with the transport's options.
    fn open(
        &self,
        kind: SocketType,
        role: Role,
        endpoint: &Endpoint,
        security: Security,
        adjust: impl FnOnce(Options) -> Options,
    ) -> Result<Opened> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::io(
                "creating an omq socket",
                std::io::Error::other(
                    "no tokio runtime: the pure-Rust engine's sockets must be created inside a \
                     tokio runtime with I/O and time enabled",
                ),
            ));
        }
        let options = adjust(self.options(kind, role, endpoint, security)?);
        let snapshot = SocketOptions::of(kind, &options);
        let socket = Socket::try_new(kind, options).map_err(omq_error("creating an omq socket"))?;
        Ok(Opened {
            socket,
            options: snapshot,
        })
    }

    /// Binds a PUB socket (the concrete type behind
    /// [`Transport::bind_publisher`]).
    pub async fn bind_pub(&self, spec: BindSpec) -> Result<PurePubSocket> {
        let PubOptions {
            send_high_water_mark,
            no_drop,
        } = spec.options;
        let opened = self.open(
            SocketType::Pub,
            Role::Server,
            &spec.endpoint,
            spec.security,
            |mut options| {
                if let Some(hwm) = send_high_water_mark {
                    options = options.send_hwm(if hwm == 0 { UNBOUNDED_HWM } else { hwm });
                }
                options.xpub_nodrop = no_drop;
                limit(options, &spec)
            },
        )?;
        let monitor = self.watch_server(&opened.socket, &spec);
        let endpoint = bind(&opened.socket, &spec).await?;
        tracing::debug!(%endpoint, no_drop, "PUB socket bound");
        Ok(PurePubSocket::new(
            endpoint,
            opened.socket,
            opened.options,
            no_drop,
            monitor,
        ))
    }

    /// Connects a SUB socket (the concrete type behind
    /// [`Transport::connect_subscriber`]).
    pub async fn connect_sub(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
        security: Security,
    ) -> Result<PureSubSocket> {
        let opened = self.open(SocketType::Sub, Role::Client, endpoint, security, |o| o)?;
        for topic in topics {
            opened
                .socket
                .subscribe(Bytes::copy_from_slice(topic.as_bytes()))
                .await
                .map_err(omq_error("subscribing"))?;
        }
        let url = endpoint.to_string();
        // The watcher must see the events of the first connection too.
        let monitor = (!endpoint.is_inproc()).then(|| opened.socket.monitor());
        connect(&opened.socket, endpoint).await?;
        Ok(PureSubSocket::new(
            endpoint.clone(),
            url,
            opened.socket,
            opened.options,
            monitor,
        ))
    }

    /// Binds a REP socket (the concrete type behind
    /// [`Transport::bind_reply`]).
    pub async fn bind_rep(&self, spec: BindSpec) -> Result<PureReplySocket> {
        let opened = self.open(
            SocketType::Router,
            Role::Server,
            &spec.endpoint,
            spec.security,
            |options| {
                let options = options
                    .router_mandatory(true)
                    .send_hwm(REPLY_HIGH_WATER_MARK)
                    .recv_hwm(REPLY_HIGH_WATER_MARK);
                limit(options, &spec)
            },
        )?;
        let monitor = self.watch_server(&opened.socket, &spec);
        let endpoint = bind(&opened.socket, &spec).await?;
        tracing::debug!(%endpoint, "ROUTER (reply) socket bound");
        PureReplySocket::new(endpoint, opened.socket, opened.options, monitor)
    }
}

#[async_trait]
impl Transport for PureRustTransport {
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

    async fn request(
        &self,
        endpoint: &Endpoint,
        security: Security,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes> {
        // A REQ whose peer died mid-exchange waits forever for its reply:
        // only answered ones are kept and reused (see `request_with_retry`).
        let kept = self.take_requester(endpoint, security);
        let open = || {
            let opened = self.open(SocketType::Req, Role::Client, endpoint, security, |o| o)?;
            Ok(opened.socket)
        };
        request_with_retry(endpoint, kept, timeout, open, |socket, fresh, limit| {
            self.exchange(socket, fresh, endpoint, security, &request, limit)
        })
        .await
    }
}

impl PureRustTransport {
    /// One request on `socket` (connected first when `fresh`): the reply,
    /// or `None` when none came within `limit`. An answered socket is kept
    /// for the next request; any other is closed (linger 0: nothing queued
    /// survives the close).
    async fn exchange(
        &self,
        socket: Socket,
        fresh: bool,
        endpoint: &Endpoint,
        security: Security,
        request: &Bytes,
        limit: Duration,
    ) -> Result<Option<Bytes>> {
        let exchange = async {
            if fresh {
                connect(&socket, endpoint).await?;
            }
            socket
                .send(omq_tokio::Message::single(request.clone()))
                .await
                .map_err(omq_error("sending a request (REQ)"))?;
            let reply = socket
                .recv()
                .await
                .map_err(omq_error("receiving a reply (REQ)"))?;
            Ok(reqrep::first_frame(reply))
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok(reply)) => {
                self.keep_requester(endpoint, security, socket);
                Ok(Some(reply))
            }
            failed => {
                let _ = socket.close().await;
                match failed {
                    Ok(Err(e)) => Err(e),
                    _ => Ok(None),
                }
            }
        }
    }

    /// An idle REQ socket to `endpoint` with `security` on the current
    /// runtime, if one is kept (the most recently used); drops those idle
    /// for too long.
    fn take_requester(&self, endpoint: &Endpoint, security: Security) -> Option<Socket> {
        let runtime = tokio::runtime::Handle::try_current().ok()?.id();
        self.shared.requesters.take(endpoint, security, &runtime)
    }

    /// Keeps an answered REQ socket for the next request (drops it when
    /// enough are kept).
    fn keep_requester(&self, endpoint: &Endpoint, security: Security, socket: Socket) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            self.shared
                .requesters
                .keep(endpoint, security, handle.id(), socket);
        }
    }
}

//! In-process backend for posttroll: transport and discovery with no
//! sockets, deterministic and fast, for unit tests of the high-level API.
//!
//! It is not a stand-in for interoperability: nothing leaves the process.
//! It models the ZeroMQ semantics the high-level code relies on:
//!
//! - **Endpoints** `inproc://name`, `ipc:///path` and `tcp://host:port` are
//!   simulated in memory. For TCP the host is ignored when matching (every
//!   host is "this machine"): `tcp://*:5557` bound is reachable as
//!   `tcp://127.0.0.1:5557`, `tcp://localhost:5557` or `tcp://10.1.2.3:5557`.
//!   A port 0 picks the lowest free port of [`BindSpec::port_range`].
//! - **PUB/SUB**: a subscriber may connect before its publisher binds; frames
//!   flow while both exist and are dropped when no subscriber is there.
//!   Topics are byte prefixes of the frame (an empty topic takes everything,
//!   an empty topic list nothing). Each subscriber has a queue bounded by the
//!   publisher's high-water mark ([`PubOptions::send_high_water_mark`]:
//!   `None` → 1000, `Some(0)` → unbounded); a full queue drops the frame for
//!   that subscriber, unless [`PubOptions::no_drop`], where `send` waits for
//!   room. A publisher closed and bound again on the same endpoint reaches the
//!   still-connected subscribers (as ZeroMQ reconnects).
//! - **REQ/REP**: requests are queued per reply socket and answered one at a
//!   time, in order. A request to an endpoint where nothing is bound waits
//!   (a reply socket bound meanwhile receives it) and times out. A request
//!   whose reply socket closes before answering also waits out its timeout
//!   and fails with [`Error::Timeout`], as a lost ZeroMQ peer looks like
//!   silence.
//! - **Security**: [`Security::Curve`] is accepted and ignored (nothing is
//!   encrypted in process); [`InprocNetwork::connections`] and
//!   [`InprocNetwork::bound_endpoints`] report it so tests can observe it.
//! - **Discovery**: every [`DatagramSender`] of a network reaches every
//!   current [`DatagramReceiver`] of that network (group and port from the
//!   configuration are ignored: one bus per network). Datagrams are cut to
//!   1024 bytes, as a UDP receiver with a 1024-byte buffer reads them, and
//!   come from `127.0.0.1`. Datagrams sent when no receiver exists are lost.
//! - **Taps** (for tests): [`InprocNetwork::tap`] sees every frame any
//!   publisher of the network sends, whether or not a subscriber takes it.
//!
//! Everything runs on tokio primitives, with no background task, thread or
//! sleep; it works on current-thread and multi-thread runtimes. Networks are
//! isolated from each other: the `posttroll` facade uses
//! [`InprocNetwork::global`],
//! tests that want isolation create their own [`InprocNetwork::new`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::engine::lock;
use posttroll_core::{
    Backend, BindSpec, Config, ConnectionState, DatagramReceiver, DatagramSender, Delivery,
    Discovery, Endpoint, Error, EventSink, PubOptions, PubSocket, ReplySocket, ReplyTo, Result,
    Security, SubSocket, Transport,
};
use tokio::sync::{mpsc, oneshot, Notify};

/// The name this backend is built under.
pub const BACKEND_NAME: &str = "inproc";

/// The high-water mark of a publisher whose options leave it unset.
pub const DEFAULT_HIGH_WATER_MARK: usize = 1000;

/// The size of a discovery receiver's buffer: longer datagrams are cut.
pub const MAX_DATAGRAM: usize = 1024;

/// How many datagrams a discovery receiver holds before dropping new ones
/// (as a full UDP socket buffer does).
const RECEIVER_QUEUE: usize = 4096;

/// Where a socket lives on the in-memory network: TCP by port only.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Tcp(u16),
    Ipc(PathBuf),
    Inproc(String),
}

impl Key {
    fn of(endpoint: &Endpoint) -> Key {
        match endpoint {
            Endpoint::Tcp { port, .. } => Key::Tcp(*port),
            Endpoint::Ipc(path) => Key::Ipc(path.clone()),
            Endpoint::Inproc(name) => Key::Inproc(name.clone()),
        }
    }
}

/// A request on its way to a reply socket, with where its answer goes.
#[derive(Debug)]
struct Request {
    frame: Bytes,
    answer: oneshot::Sender<Bytes>,
}

#[derive(Debug)]
enum BoundKind {
    Pub,
    Rep(mpsc::Sender<Request>),
}

#[derive(Debug)]
struct Bound {
    id: u64,
    endpoint: Endpoint,
    security: Security,
    kind: BoundKind,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: VecDeque<Bytes>,
    closed: bool,
}

/// One subscriber's receive queue, filled by whichever publisher is bound
/// at its endpoint.
#[derive(Debug)]
struct SubQueue {
    id: u64,
    endpoint: Endpoint,
    security: Security,
    topics: Vec<Vec<u8>>,
    /// Connected while a publisher is bound on the endpoint.
    connection: ConnectionState,
    state: Mutex<QueueState>,
    /// Wakes the (single) reader when a frame arrives.
    data: Notify,
    /// Wakes blocked `no_drop` writers when a frame is taken or the queue
    /// closes.
    room: Notify,
}

impl SubQueue {
    fn matches(&self, frame: &[u8]) -> bool {
        self.topics.iter().any(|t| frame.starts_with(t))
    }

    fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        st.frames.clear();
        drop(st);
        self.room.notify_waiters();
        self.data.notify_one();
    }

    /// Queues `frame`, dropping it when full unless `no_drop` (then waits
    /// for room). `hwm` 0 is unbounded.
    async fn push(&self, frame: Bytes, hwm: usize, no_drop: bool) {
        loop {
            let mut notified = pin!(self.room.notified());
            notified.as_mut().enable();
            {
                let mut st = lock(&self.state);
                if st.closed {
                    return;
                }
                if hwm == 0 || st.frames.len() < hwm {
                    st.frames.push_back(frame);
                    drop(st);
                    self.data.notify_one();
                    return;
                }
                if !no_drop {
                    tracing::trace!(endpoint = %self.endpoint, "subscriber queue full: frame dropped");
                    return;
                }
            }
            notified.await;
        }
    }

    /// The next frame, or `None` once closed. Cancel-safe: a frame is taken
    /// only synchronously.
    async fn pop(&self) -> Option<Bytes> {
        loop {
            {
                let mut st = lock(&self.state);
                if st.closed {
                    return None;
                }
                if let Some(frame) = st.frames.pop_front() {
                    drop(st);
                    self.room.notify_waiters();
                    return Some(frame);
                }
            }
            self.data.notified().await;
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    bound: HashMap<Key, Bound>,
    subscribers: HashMap<Key, Vec<Arc<SubQueue>>>,
    receivers: Vec<(u64, mpsc::Sender<Bytes>)>,
    taps: Vec<(u64, mpsc::UnboundedSender<TappedFrame>)>,
    /// Frames every new subscriber finds queued (see
    /// [`InprocNetwork::script_subscribers`]).
    script: Option<Arc<[Bytes]>>,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Wakes requests waiting for a reply socket to be bound.
    binds: Notify,
    /// Wakes publishers waiting for subscribers.
    subscribers_changed: Notify,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Registers a bound socket, resolving a TCP port 0.
    fn bind(&self, spec: &BindSpec, kind: BoundKind) -> Result<(u64, Endpoint)> {
        let mut st = self.state();
        let endpoint = match spec.endpoint {
            Endpoint::Tcp { port: 0, .. } => {
                let (min, max) = spec.port_range;
                let max = max.min(65536);
                let free = (u32::from(min).max(1)..max)
                    .filter_map(|p| u16::try_from(p).ok())
                    .find(|p| !st.bound.contains_key(&Key::Tcp(*p)))
                    .ok_or_else(|| Error::Bind {
                        endpoint: spec.endpoint.to_string(),
                        reason: format!(
                            "no free port in the range [{}, {}): widen pub_min_port/pub_max_port",
                            spec.port_range.0, spec.port_range.1
                        ),
                    })?;
                spec.endpoint.with_port(free)
            }
            ref e => e.clone(),
        };
        let key = Key::of(&endpoint);
        if st.bound.contains_key(&key) {
            return Err(Error::Bind {
                endpoint: endpoint.to_string(),
                reason: "address in use".to_owned(),
            });
        }
        let id = st.id();
        if matches!(kind, BoundKind::Pub) {
            for queue in st.subscribers.get(&key).into_iter().flatten() {
                queue.connection.connected(&queue.endpoint.to_string());
            }
        }
        st.bound.insert(
            key,
            Bound {
                id,
                endpoint: endpoint.clone(),
                security: spec.security,
                kind,
            },
        );
        drop(st);
        self.binds.notify_waiters();
        Ok((id, endpoint))
    }

    fn unbind(&self, endpoint: &Endpoint, id: u64) {
        let key = Key::of(endpoint);
        let mut st = self.state();
        if st.bound.get(&key).is_some_and(|b| b.id == id) {
            if let Some(Bound {
                kind: BoundKind::Pub,
                ..
            }) = st.bound.remove(&key)
            {
                for queue in st.subscribers.get(&key).into_iter().flatten() {
                    queue
                        .connection
                        .disconnected(&queue.endpoint.to_string(), "the publisher closed");
                }
            }
        }
    }

    fn disconnect(&self, queue: &SubQueue) {
        let key = Key::of(&queue.endpoint);
        let mut st = self.state();
        if let Some(list) = st.subscribers.get_mut(&key) {
            list.retain(|q| q.id != queue.id);
            if list.is_empty() {
                st.subscribers.remove(&key);
            }
        }
        drop(st);
        queue.close();
        self.subscribers_changed.notify_waiters();
    }

    fn remove_receiver(&self, id: u64) {
        self.state().receivers.retain(|(i, _)| *i != id);
    }

    fn remove_tap(&self, id: u64) {
        self.state().taps.retain(|(i, _)| *i != id);
    }
}

/// An isolated in-memory network: its bound sockets, connected subscribers
/// and discovery bus. Cheap to clone (clones share the network).
///
/// # Examples
///
/// A publish/subscribe round trip:
///
/// ```
/// use posttroll_backend_inproc::InprocNetwork;
/// use posttroll_core::{BindSpec, Config, Endpoint, Security};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let network = InprocNetwork::new();
/// let backend = network.backend(&Config::default());
/// let transport = backend.transport;
///
/// let bound: Endpoint = "tcp://*:0".parse().unwrap();
/// let publisher = transport.bind_publisher(BindSpec::new(bound)).await.unwrap();
/// let port = publisher.endpoint().port().unwrap();
/// assert!(port >= 49152);
///
/// let remote = Endpoint::tcp("127.0.0.1", port);
/// let topics = vec!["pytroll://counter".to_owned()];
/// let mut subscriber = transport
///     .connect_subscriber(&remote, &topics, Security::Plain)
///     .await
///     .unwrap();
///
/// publisher.send("pytroll://counter info".into()).await.unwrap();
/// publisher.send("pytroll://other info".into()).await.unwrap();
/// publisher.send("pytroll://counter/2 info".into()).await.unwrap();
/// assert_eq!(subscriber.recv().await.unwrap(), "pytroll://counter info");
/// assert_eq!(subscriber.recv().await.unwrap(), "pytroll://counter/2 info");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct InprocNetwork {
    inner: Arc<Inner>,
}

impl fmt::Debug for InprocNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state();
        f.debug_struct("InprocNetwork")
            .field("bound", &st.bound.len())
            .field(
                "subscribers",
                &st.subscribers.values().map(Vec::len).sum::<usize>(),
            )
            .field("receivers", &st.receivers.len())
            .field("taps", &st.taps.len())
            .finish()
    }
}

impl InprocNetwork {
    /// A new, empty network, isolated from every other.
    pub fn new() -> InprocNetwork {
        InprocNetwork::default()
    }

    /// The process-wide network (the one the `posttroll` facade's `inproc`
    /// backend uses).
    pub fn global() -> InprocNetwork {
        static GLOBAL: OnceLock<InprocNetwork> = OnceLock::new();
        GLOBAL.get_or_init(InprocNetwork::new).clone()
    }

    /// A backend named `inproc` whose transport and discovery use this
    /// network (the configuration is not used).
    pub fn backend(&self, _config: &Config) -> Backend {
        Backend {
            name: BACKEND_NAME.to_owned(),
            transport: Arc::new(self.transport()),
            discovery: Arc::new(self.discovery()),
        }
    }

    /// The transport of this network.
    pub fn transport(&self) -> InprocTransport {
        InprocTransport {
            network: self.clone(),
        }
    }

    /// The discovery bus of this network.
    pub fn discovery(&self) -> InprocDiscovery {
        InprocDiscovery {
            network: self.clone(),
        }
    }

    /// True when both values are handles on the same network.
    pub fn same_network(&self, other: &InprocNetwork) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The connected subscribers: the endpoint each connected to and the
    /// security it asked for (accepted and ignored), in no particular order.
    pub fn connections(&self) -> Vec<(Endpoint, Security)> {
        let st = self.inner.state();
        st.subscribers
            .values()
            .flatten()
            .map(|q| (q.endpoint.clone(), q.security))
            .collect()
    }

    /// The bound publisher and reply sockets: their endpoint (a port 0
    /// resolved) and security, in no particular order.
    pub fn bound_endpoints(&self) -> Vec<(Endpoint, Security)> {
        let st = self.inner.state();
        st.bound
            .values()
            .map(|b| (b.endpoint.clone(), b.security))
            .collect()
    }

    /// The number of open discovery receivers.
    pub fn receiver_count(&self) -> usize {
        self.inner.state().receivers.len()
    }

    /// Starts seeing every frame that any publisher of this network sends
    /// from now on, with the endpoint it was sent on, in the order the sends
    /// happened; until the tap is dropped.
    ///
    /// A frame is seen when `send` accepts it (the publisher is not closed),
    /// whether or not a subscriber is connected, its topics match, or its
    /// queue has room; before it is delivered, so it is in the tap when
    /// `send` returns. Only publishers are tapped: requests, replies and
    /// discovery datagrams are not. A tap's queue is unbounded: read it (or
    /// drop it) in long tests. Taps do not count in [`InprocNetwork::is_idle`].
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_backend_inproc::InprocNetwork;
    /// use posttroll_core::{BindSpec, Config, Endpoint};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let network = InprocNetwork::new();
    /// let mut tap = network.tap();
    /// let transport = network.backend(&Config::default()).transport;
    /// let bound: Endpoint = "inproc://tapped".parse().unwrap();
    /// let publisher = transport.bind_publisher(BindSpec::new(bound.clone())).await.unwrap();
    ///
    /// // No subscriber: the frame goes nowhere, but the tap sees it.
    /// publisher.send("pytroll://counter info".into()).await.unwrap();
    /// let seen = tap.try_recv().unwrap();
    /// assert_eq!(seen.endpoint, bound);
    /// assert_eq!(seen.frame, "pytroll://counter info");
    /// assert!(tap.try_recv().is_none());
    /// # });
    /// ```
    pub fn tap(&self) -> FrameTap {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut st = self.inner.state();
            let id = st.id();
            st.taps.push((id, tx));
            id
        };
        FrameTap {
            inner: self.inner.clone(),
            id,
            rx,
        }
    }

    /// From now on, every subscriber connected on this network, to any
    /// endpoint, finds `frames` queued (those its topics match, in order)
    /// and then gets what publishers send as usual: the reference's
    /// `patched_subscriber_recv`, for tests. `None` stops it.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::Bytes;
    /// use posttroll_backend_inproc::InprocNetwork;
    /// use posttroll_core::{Endpoint, Security, Transport};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let network = InprocNetwork::new();
    /// network.script_subscribers(Some(vec![Bytes::from_static(b"pytroll://a x")]));
    /// let endpoint = Endpoint::parse("tcp://nowhere:1").unwrap();
    /// let mut sub = network
    ///     .transport()
    ///     .connect_subscriber(&endpoint, &["pytroll://a".into()], Security::Plain)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(sub.recv().await.unwrap(), "pytroll://a x");
    /// # });
    /// ```
    pub fn script_subscribers(&self, frames: Option<Vec<Bytes>>) {
        self.inner.state().script = frames.map(Arc::from);
    }

    /// The number of open taps (see [`InprocNetwork::tap`]).
    pub fn tap_count(&self) -> usize {
        self.inner.state().taps.len()
    }

    /// True when nothing is bound, connected or receiving (every socket was
    /// closed or dropped).
    pub fn is_idle(&self) -> bool {
        let st = self.inner.state();
        st.bound.is_empty() && st.subscribers.is_empty() && st.receivers.is_empty()
    }
}

/// The [`Transport`] of an [`InprocNetwork`].
#[derive(Debug, Clone)]
pub struct InprocTransport {
    network: InprocNetwork,
}

#[async_trait]
impl Transport for InprocTransport {
    fn engine(&self) -> &str {
        BACKEND_NAME
    }

    async fn bind_publisher(&self, spec: BindSpec) -> Result<Box<dyn PubSocket>> {
        let inner = self.network.inner.clone();
        let (id, endpoint) = inner.bind(&spec, BoundKind::Pub)?;
        Ok(Box::new(InprocPubSocket {
            inner,
            id,
            endpoint,
            options: spec.options,
            closed: AtomicBool::new(false),
        }))
    }

    async fn connect_subscriber(
        &self,
        endpoint: &Endpoint,
        topics: &[String],
        security: Security,
    ) -> Result<Box<dyn SubSocket>> {
        let inner = self.network.inner.clone();
        let queue = {
            let mut st = inner.state();
            let queue = Arc::new(SubQueue {
                id: st.id(),
                endpoint: endpoint.clone(),
                security,
                topics: topics.iter().map(|t| t.as_bytes().to_vec()).collect(),
                connection: ConnectionState::new(),
                state: Mutex::new(QueueState {
                    frames: st
                        .script
                        .iter()
                        .flat_map(|script| script.iter())
                        .filter(|frame| topics.iter().any(|t| frame.starts_with(t.as_bytes())))
                        .cloned()
                        .collect(),
                    closed: false,
                }),
                data: Notify::new(),
                room: Notify::new(),
            });
            st.subscribers
                .entry(Key::of(endpoint))
                .or_default()
                .push(queue.clone());
            if let Some(Bound {
                kind: BoundKind::Pub,
                ..
            }) = st.bound.get(&Key::of(endpoint))
            {
                queue.connection.connected(&endpoint.to_string());
            }
            queue
        };
        inner.subscribers_changed.notify_waiters();
        Ok(Box::new(InprocSubSocket {
            inner,
            queue,
            closed: false,
        }))
    }

    async fn bind_reply(&self, spec: BindSpec) -> Result<Box<dyn ReplySocket>> {
        let inner = self.network.inner.clone();
        let (tx, rx) = mpsc::channel(REPLY_QUEUE);
        let (id, endpoint) = inner.bind(&spec, BoundKind::Rep(tx))?;
        Ok(Box::new(InprocReplySocket {
            inner,
            id,
            endpoint,
            requests: rx,
            pending: std::collections::BTreeMap::new(),
            next_request: 0,
            closed: false,
        }))
    }

    async fn request(
        &self,
        endpoint: &Endpoint,
        _security: Security,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes> {
        let inner = &self.network.inner;
        let key = Key::of(endpoint);
        let exchange = async {
            let mut request = Some(request);
            let answer = loop {
                let mut bound = pin!(inner.binds.notified());
                bound.as_mut().enable();
                let target = match inner.state().bound.get(&key) {
                    Some(Bound {
                        kind: BoundKind::Rep(tx),
                        ..
                    }) => Some(tx.clone()),
                    _ => None,
                };
                if let Some(tx) = target {
                    if let Some(frame) = request.take() {
                        let (answer, rx) = oneshot::channel();
                        match tx.send(Request { frame, answer }).await {
                            Ok(()) => break rx,
                            // The reply socket went away meanwhile: keep waiting.
                            Err(mpsc::error::SendError(req)) => request = Some(req.frame),
                        }
                    }
                }
                bound.await;
            };
            match answer.await {
                Ok(reply) => reply,
                // The reply socket closed before answering: silence until
                // the timeout, as with a lost ZeroMQ peer.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::timeout(format!("a reply from {endpoint}"), timeout))
    }
}

/// A bound publisher of an [`InprocNetwork`]; dropping it unbinds it.
#[derive(Debug)]
pub struct InprocPubSocket {
    inner: Arc<Inner>,
    id: u64,
    endpoint: Endpoint,
    options: PubOptions,
    closed: AtomicBool,
}

#[async_trait]
impl PubSocket for InprocPubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed(format!("the publisher on {}", self.endpoint)));
        }
        let targets: Vec<Arc<SubQueue>> = {
            let st = self.inner.state();
            for (_, tap) in &st.taps {
                // A tap being dropped meanwhile just misses the frame.
                let _ = tap.send(TappedFrame {
                    endpoint: self.endpoint.clone(),
                    frame: frame.clone(),
                });
            }
            match st.subscribers.get(&Key::of(&self.endpoint)) {
                Some(list) => list.iter().filter(|q| q.matches(&frame)).cloned().collect(),
                None => return Ok(()),
            }
        };
        let hwm = match self.options.send_high_water_mark {
            None => DEFAULT_HIGH_WATER_MARK,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        for queue in targets {
            queue.push(frame.clone(), hwm, self.options.no_drop).await;
        }
        Ok(())
    }

    async fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        let key = Key::of(&self.endpoint);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut changed = pin!(self.inner.subscribers_changed.notified());
            changed.as_mut().enable();
            let count = self.inner.state().subscribers.get(&key).map_or(0, |list| {
                list.iter().filter(|q| !q.topics.is_empty()).count()
            });
            if count >= n {
                return Ok(count);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::closed(format!("the publisher on {}", self.endpoint)));
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(Error::timeout(
                    format!("{n} subscriber(s) on {} (have {count})", self.endpoint),
                    timeout,
                ));
            }
        }
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        self.inner.unbind(&self.endpoint, self.id);
        Ok(())
    }
}

impl Drop for InprocPubSocket {
    fn drop(&mut self) {
        self.inner.unbind(&self.endpoint, self.id);
    }
}

/// A subscriber of an [`InprocNetwork`]; dropping it disconnects it.
#[derive(Debug)]
pub struct InprocSubSocket {
    inner: Arc<Inner>,
    queue: Arc<SubQueue>,
    closed: bool,
}

#[async_trait]
impl SubSocket for InprocSubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.queue.endpoint
    }

    async fn recv(&mut self) -> Result<Bytes> {
        let closed = || Error::closed(format!("the subscriber to {}", self.queue.endpoint));
        if self.closed {
            return Err(closed());
        }
        self.queue.pop().await.ok_or_else(closed)
    }

    fn set_event_sink(&mut self, sink: EventSink) {
        self.queue
            .connection
            .set_sink(sink, &self.queue.endpoint.to_string());
    }

    async fn close(&mut self) -> Result<()> {
        if !self.closed {
            self.closed = true;
            self.inner.disconnect(&self.queue);
        }
        Ok(())
    }
}

impl Drop for InprocSubSocket {
    fn drop(&mut self) {
        if !self.closed {
            self.inner.disconnect(&self.queue);
        }
    }
}

/// How many requests may wait for a reply socket of an [`InprocNetwork`]
/// (a requester then waits for room, within its timeout), and how many
/// received requests may wait for their reply (the oldest is forgotten
/// beyond that: its requester times out).
const REPLY_QUEUE: usize = 1024;

/// A bound reply socket of an [`InprocNetwork`]; dropping it unbinds it.
#[derive(Debug)]
pub struct InprocReplySocket {
    inner: Arc<Inner>,
    id: u64,
    endpoint: Endpoint,
    requests: mpsc::Receiver<Request>,
    /// Received requests not yet answered, by request number.
    pending: std::collections::BTreeMap<u64, oneshot::Sender<Bytes>>,
    next_request: u64,
    closed: bool,
}

impl InprocReplySocket {
    fn closed_error(&self) -> Error {
        Error::closed(format!("the reply socket on {}", self.endpoint))
    }
}

#[async_trait]
impl ReplySocket for InprocReplySocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn recv(&mut self) -> Result<posttroll_core::Request> {
        if self.closed {
            return Err(self.closed_error());
        }
        loop {
            match self.requests.recv().await {
                // The requester gave up (timed out) before we got to it.
                Some(req) if req.answer.is_closed() => continue,
                Some(req) => {
                    let number = self.next_request;
                    self.next_request += 1;
                    self.pending.insert(number, req.answer);
                    while self.pending.len() > REPLY_QUEUE {
                        self.pending.pop_first();
                    }
                    return Ok(posttroll_core::Request {
                        body: req.frame,
                        reply_to: ReplyTo {
                            envelope: vec![Bytes::copy_from_slice(&number.to_be_bytes())],
                            peer: None,
                        },
                    });
                }
                None => return Err(self.closed_error()),
            }
        }
    }

    fn reply(&mut self, to: &ReplyTo, frame: Bytes) -> Result<Delivery> {
        if self.closed {
            return Err(self.closed_error());
        }
        let number = to
            .envelope
            .first()
            .and_then(|n| <[u8; 8]>::try_from(&n[..]).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "a reply on {} needs the envelope of its request",
                    self.endpoint
                ))
            })?;
        match self.pending.remove(&number) {
            Some(answer) => match answer.send(frame) {
                Ok(()) => Ok(Delivery::Sent),
                // The requester already timed out.
                Err(_) => Ok(Delivery::DroppedPeerGone),
            },
            None => Ok(Delivery::DroppedPeerGone),
        }
    }

    async fn close(&mut self) -> Result<()> {
        if !self.closed {
            self.closed = true;
            self.inner.unbind(&self.endpoint, self.id);
            self.requests.close();
            self.pending.clear();
        }
        Ok(())
    }
}

impl Drop for InprocReplySocket {
    fn drop(&mut self) {
        self.inner.unbind(&self.endpoint, self.id);
    }
}

/// The [`Discovery`] of an [`InprocNetwork`]: a broadcast bus.
#[derive(Debug, Clone)]
pub struct InprocDiscovery {
    network: InprocNetwork,
}

#[async_trait]
impl Discovery for InprocDiscovery {
    async fn sender(&self) -> Result<Box<dyn DatagramSender>> {
        Ok(Box::new(InprocDatagramSender {
            inner: self.network.inner.clone(),
        }))
    }

    async fn receiver(&self) -> Result<Box<dyn DatagramReceiver>> {
        let inner = self.network.inner.clone();
        let (tx, rx) = mpsc::channel(RECEIVER_QUEUE);
        let id = {
            let mut st = inner.state();
            let id = st.id();
            st.receivers.push((id, tx));
            id
        };
        Ok(Box::new(InprocDatagramReceiver { inner, id, rx }))
    }
}

/// Sends datagrams to every current receiver of its network.
#[derive(Debug)]
pub struct InprocDatagramSender {
    inner: Arc<Inner>,
}

#[async_trait]
impl DatagramSender for InprocDatagramSender {
    async fn send(&self, datagram: Bytes) -> Result<()> {
        let datagram = if datagram.len() > MAX_DATAGRAM {
            datagram.slice(..MAX_DATAGRAM)
        } else {
            datagram
        };
        let st = self.inner.state();
        for (_, tx) in &st.receivers {
            if tx.try_send(datagram.clone()).is_err() {
                tracing::trace!("inproc discovery receiver full: datagram dropped");
            }
        }
        Ok(())
    }
}

/// Receives the datagrams sent on its network since it was opened;
/// dropping it unregisters it.
#[derive(Debug)]
pub struct InprocDatagramReceiver {
    inner: Arc<Inner>,
    id: u64,
    rx: mpsc::Receiver<Bytes>,
}

#[async_trait]
impl DatagramReceiver for InprocDatagramReceiver {
    async fn recv(&mut self) -> Result<(Bytes, Option<IpAddr>)> {
        match self.rx.recv().await {
            Some(datagram) => Ok((datagram, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))),
            None => Err(Error::closed("the inproc discovery receiver")),
        }
    }
}

impl Drop for InprocDatagramReceiver {
    fn drop(&mut self) {
        self.inner.remove_receiver(self.id);
    }
}

/// A frame a publisher of an [`InprocNetwork`] sent, as a [`FrameTap`]
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedFrame {
    /// The endpoint of the publisher that sent it (a port 0 resolved).
    pub endpoint: Endpoint,
    /// The frame, as sent.
    pub frame: Bytes,
}

/// Sees every frame the publishers of an [`InprocNetwork`] send; see
/// [`InprocNetwork::tap`]. Dropping it stops the tapping.
#[derive(Debug)]
pub struct FrameTap {
    inner: Arc<Inner>,
    id: u64,
    rx: mpsc::UnboundedReceiver<TappedFrame>,
}

impl FrameTap {
    /// The next frame sent, waiting for one (cancel-safe).
    pub async fn recv(&mut self) -> TappedFrame {
        match self.rx.recv().await {
            Some(frame) => frame,
            // The network holds the sender for as long as the tap exists.
            None => std::future::pending().await,
        }
    }

    /// The next frame already sent, if any, without waiting.
    pub fn try_recv(&mut self) -> Option<TappedFrame> {
        self.rx.try_recv().ok()
    }

    /// Every frame sent and not yet taken, oldest first.
    pub fn drain(&mut self) -> Vec<TappedFrame> {
        std::iter::from_fn(|| self.try_recv()).collect()
    }
}

impl Drop for FrameTap {
    fn drop(&mut self) {
        self.inner.remove_tap(self.id);
    }
}

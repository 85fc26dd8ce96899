//! PUB and SUB sockets.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::log_sampling;
use posttroll_core::metrics::events;
use posttroll_core::{ConnectionState, Endpoint, Error, EventSink, PubSocket, Result, SubSocket};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use crate::util::{self, lock, zmq_error, Registered};
use crate::zap::ZapHandler;
use crate::SocketOptions;

/// How many frames a subscriber takes from libzmq per wakeup at most.
const RECV_BATCH: usize = 256;

/// How often a publisher takes the (un)subscriptions libzmq queued for it
/// when nobody waits for subscribers (libzmq's queue of them is unbounded).
pub const SUBSCRIPTION_DRAIN_INTERVAL: Duration = Duration::from_millis(100);

/// How often [`PubSocket::wait_for_subscribers`] looks at most (it starts
/// at 1 ms and doubles up to this).
const WAIT_POLL_MAX: Duration = Duration::from_millis(8);

/// The most (un)subscriptions taken from libzmq in one go (then the locks
/// are released, and the background task comes back at once).
const DRAIN_BATCH: usize = 4096;

/// A bound publishing socket of a [`ZmqTransport`](crate::ZmqTransport):
/// a libzmq `XPUB` with `ZMQ_XPUB_VERBOSER`, which sends as a `PUB` does
/// and also hands over every subscription and unsubscription it gets,
/// which it counts for [`PubSocket::wait_for_subscribers`].
///
/// `send` takes `&self` and may be called from many tasks at once. A plain
/// publisher never waits; a [`no_drop`](posttroll_core::PubOptions::no_drop)
/// one waits until every matching subscriber has room (its senders take
/// turns). Dropping it closes it.
pub struct ZmqPubSocket {
    endpoint: Endpoint,
    shared: Arc<PubShared>,
    no_drop: bool,
    /// Takes the subscriptions every [`SUBSCRIPTION_DRAIN_INTERVAL`];
    /// aborted on close and drop.
    drainer: Mutex<Option<JoinHandle<()>>>,
    /// Kept alive while the socket may get connections.
    _zap: Option<Arc<ZapHandler>>,
}

/// What a publisher shares with its drainer task.
struct PubShared {
    endpoint: Endpoint,
    /// `None` once closed. An `Arc` so that a waiting `no_drop` sender can
    /// hold the socket across an `.await` without the lock.
    io: Mutex<Option<Arc<Registered>>>,
    closed: AtomicBool,
    /// Wakes waiting senders and waiters for subscribers when the socket
    /// closes.
    closing: Notify,
    /// The turns of senders that may wait (see the crate docs); whoever
    /// takes the subscriptions from libzmq holds it too, so that it never
    /// steals the `ZMQ_FD` edge a waiting sender needs.
    turn: tokio::sync::Mutex<()>,
    /// The subscriptions taken so far.
    subscriptions: Mutex<Subscriptions>,
    /// Wakes waiters for subscribers when the count changes.
    changed: Notify,
}

/// The (un)subscriptions an XPUB handed over, counted: a bounded state
/// whatever the peers send.
#[derive(Debug, Default)]
struct Subscriptions {
    /// Subscriptions minus unsubscriptions (never below 0).
    count: usize,
    /// The next frame continues a multipart message (which is no
    /// subscription: only the first frame of a message can be one).
    more: bool,
}

impl Subscriptions {
    /// Counts one frame the XPUB handed over; true when the count changed.
    fn take(&mut self, frame: &[u8], more: bool) -> bool {
        let first = !self.more;
        self.more = more;
        if !first {
            return false;
        }
        match frame.first() {
            Some(1) => {
                self.count = self.count.saturating_add(1);
                true
            }
            Some(0) if self.count > 0 => {
                self.count -= 1;
                true
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for ZmqPubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqPubSocket")
            .field("endpoint", &self.endpoint)
            .field("no_drop", &self.no_drop)
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .field("subscriptions", &self.shared.subscription_count())
            .finish_non_exhaustive()
    }
}

impl PubShared {
    fn closed_error(&self) -> Error {
        Error::closed(format!("the publisher on {}", self.endpoint))
    }

    fn current(&self) -> Result<Arc<Registered>> {
        lock(&self.io).clone().ok_or_else(|| self.closed_error())
    }

    fn subscription_count(&self) -> usize {
        lock(&self.subscriptions).count
    }

    /// Takes up to [`DRAIN_BATCH`] (un)subscriptions libzmq queued on
    /// `socket` and counts them; true when it stopped at the batch (more
    /// may wait), false on `EAGAIN`. The caller holds the turn.
    fn drain(&self, socket: &zmq::Socket) -> Result<bool> {
        let mut changed = false;
        let mut full = true;
        {
            let mut subscriptions = lock(&self.subscriptions);
            for _ in 0..DRAIN_BATCH {
                match socket.recv_msg(zmq::DONTWAIT) {
                    Ok(msg) => changed |= subscriptions.take(&msg, msg.get_more()),
                    Err(zmq::Error::EAGAIN) => {
                        full = false;
                        break;
                    }
                    Err(zmq::Error::EINTR) => {}
                    Err(e) => return Err(zmq_error("reading subscriptions (XPUB)")(e)),
                }
            }
        }
        if changed {
            self.changed.notify_waiters();
        }
        Ok(full)
    }

    /// [`Self::drain`] unless a sender holds the turn (a waiting one takes
    /// the subscriptions itself each time it wakes up). `Closed` once
    /// closed.
    fn drain_if_free(&self) -> Result<bool> {
        let Ok(_turn) = self.turn.try_lock() else {
            return Ok(false);
        };
        let io = self.current()?;
        let socket = io.get_ref().socket();
        self.drain(&socket)
    }
}

/// Takes a publisher's subscriptions every [`SUBSCRIPTION_DRAIN_INTERVAL`]
/// (at once again after a full batch), until the publisher closes or
/// goes.
async fn drain_subscriptions(shared: std::sync::Weak<PubShared>) {
    loop {
        let more = match shared.upgrade().map(|shared| shared.drain_if_free()) {
            Some(Ok(more)) => more,
            Some(Err(_)) | None => return,
        };
        if more {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(SUBSCRIPTION_DRAIN_INTERVAL).await;
        }
    }
}

/// One non-blocking send: true when sent, false on `EAGAIN` (no room).
fn try_send(socket: &zmq::Socket, frame: &[u8]) -> Result<bool> {
    match socket.send(frame, zmq::DONTWAIT) {
        Ok(()) => Ok(true),
        Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => Ok(false),
        Err(e) => Err(zmq_error("sending on a PUB socket")(e)),
    }
}

impl ZmqPubSocket {
    pub(crate) fn new(
        endpoint: Endpoint,
        io: Registered,
        no_drop: bool,
        zap: Option<Arc<ZapHandler>>,
    ) -> ZmqPubSocket {
        let shared = Arc::new(PubShared {
            endpoint: endpoint.clone(),
            io: Mutex::new(Some(Arc::new(io))),
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            turn: tokio::sync::Mutex::new(()),
            subscriptions: Mutex::new(Subscriptions::default()),
            changed: Notify::new(),
        });
        let drainer = tokio::spawn(drain_subscriptions(Arc::downgrade(&shared)));
        ZmqPubSocket {
            endpoint,
            shared,
            no_drop,
            drainer: Mutex::new(Some(drainer)),
            _zap: zap,
        }
    }

    fn closed_error(&self) -> Error {
        self.shared.closed_error()
    }

    /// The socket's ZeroMQ options (diagnostics and tests).
    ///
    /// # Errors
    ///
    /// `Closed` once closed.
    pub fn options(&self) -> Result<SocketOptions> {
        let io = self.shared.current()?;
        let socket = io.get_ref().socket();
        SocketOptions::read(&socket)
    }

    /// Subscriptions minus unsubscriptions received so far (see
    /// [`PubSocket::wait_for_subscribers`]), as last taken from libzmq.
    pub fn subscriptions(&self) -> usize {
        self.shared.subscription_count()
    }

    /// Sends one frame, waiting for room on `no_drop` sockets (and on the
    /// `EAGAIN` a plain PUB never gives). While it waits, it takes the
    /// subscriptions each time it wakes up (it holds the turn, so nobody
    /// else may).
    async fn send_waiting(&self, frame: &[u8]) -> Result<()> {
        let shared = &*self.shared;
        let _turn = shared.turn.lock().await;
        let mut closing = pin!(shared.closing.notified());
        closing.as_mut().enable();
        let io = shared.current()?;
        let sending = async {
            loop {
                {
                    let socket = io.get_ref().socket();
                    if try_send(&socket, frame)? {
                        return Ok(());
                    }
                    // A failed send does not process commands fully: do it
                    // now, so that an "activate write" already queued is
                    // seen, and any later one signals the descriptor (a
                    // receive does not change that: whenever it processes
                    // commands, it does so until none is left).
                    util::process_commands(&socket)?;
                    shared.drain(&socket)?;
                    if try_send(&socket, frame)? {
                        return Ok(());
                    }
                }
                util::wait(&io).await?;
            }
        };
        tokio::select! {
            sent = sending => sent,
            () = closing => Err(self.closed_error()),
        }
    }

    fn stop_drainer(&self) {
        if let Some(drainer) = lock(&self.drainer).take() {
            drainer.abort();
        }
    }
}

impl Drop for ZmqPubSocket {
    fn drop(&mut self) {
        self.stop_drainer();
    }
}

#[async_trait]
impl PubSocket for ZmqPubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The fast path of [`PubSocket::send`], one non-blocking send: always
    /// for a plain PUB (libzmq's PUB drops rather than say `EAGAIN`); for a
    /// `no_drop` one only while no sender waits (holding the turn), so that
    /// it cannot steal the edge a waiting sender needs.
    fn try_send(&self, frame: Bytes) -> Result<Option<Bytes>> {
        let _turn = if self.no_drop {
            match self.shared.turn.try_lock() {
                Ok(turn) => Some(turn),
                Err(_) => return Ok(Some(frame)),
            }
        } else {
            None
        };
        let guard = lock(&self.shared.io);
        let io = guard.as_ref().ok_or_else(|| self.closed_error())?;
        let socket = io.get_ref().socket();
        match socket.send(&frame[..], zmq::DONTWAIT) {
            Ok(()) => Ok(None),
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => Ok(Some(frame)),
            Err(e) => Err(zmq_error("sending on a PUB socket")(e)),
        }
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        // On EAGAIN the slow path takes over, which reads ZMQ_EVENTS before
        // it waits.
        match self.try_send(frame)? {
            None => Ok(()),
            Some(frame) => self.send_waiting(&frame).await,
        }
    }

    /// Counts subscriptions, not subscribers: libzmq hands over each
    /// subscription and unsubscription without saying which peer sent it.
    /// A subscriber of two topics counts twice, one without topics not at
    /// all; when a subscriber goes, libzmq unsubscribes its topics (a
    /// topic it subscribed twice only once).
    async fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        let shared = &*self.shared;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            let mut changed = pin!(shared.changed.notified());
            changed.as_mut().enable();
            let mut closing = pin!(shared.closing.notified());
            closing.as_mut().enable();
            if shared.closed.load(Ordering::Acquire) {
                return Err(self.closed_error());
            }
            shared.drain_if_free()?;
            let count = shared.subscription_count();
            if count >= n {
                return Ok(count);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::timeout(
                    format!("{n} subscription(s) on {} (have {count})", self.endpoint),
                    timeout,
                ));
            }
            // Subscriptions reach libzmq with no wakeup of ours (its
            // descriptor belongs to the senders): look again soon, sooner
            // when another drain saw a change.
            tokio::select! {
                () = changed => {}
                () = closing => {}
                () = tokio::time::sleep_until((now + pause).min(deadline)) => {}
            }
            pause = (pause * 2).min(WAIT_POLL_MAX);
        }
    }

    async fn close(&self) -> Result<()> {
        self.shared.closed.store(true, Ordering::Release);
        self.stop_drainer();
        let io = lock(&self.shared.io).take();
        self.shared.closing.notify_waiters();
        // The last holder (this, or a sender finishing) deregisters the
        // descriptor and closes the socket (LINGER SERVER_LINGER).
        drop(io);
        Ok(())
    }
}

/// A SUB socket of a [`ZmqTransport`](crate::ZmqTransport), connected to
/// one publisher. Frames of a multipart message come as separate frames.
/// Dropping it closes it.
pub struct ZmqSubSocket {
    endpoint: Endpoint,
    /// The endpoint as connected (to reconnect).
    url: String,
    /// The most frames taken from libzmq per wakeup (never more than the
    /// receive high-water mark, so a stalled subscriber holds few bytes).
    batch: usize,
    /// The largest frame passed on (config `max_message_size`); larger
    /// ones are dropped, logged and counted.
    max_message_size: usize,
    /// Frames dropped for their size.
    oversized: u64,
    /// Frames taken from libzmq and not yet returned (cancel-safety).
    queue: VecDeque<Bytes>,
    /// `None` once closed.
    io: Option<Registered>,
    /// Whether the publisher is connected, for the event sink.
    connection: Arc<ConnectionState>,
    /// The reading end of the socket's monitor, shared with [`watch`]: it
    /// stays open as long as the socket, even when the task goes first
    /// (its runtime shut down), so that libzmq never sends an event to a
    /// monitor nobody holds. `None` on `inproc://` (no events there) and
    /// once closed.
    monitor: Option<Arc<Registered>>,
    /// Reads the monitor ([`watch`]).
    watcher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ZmqSubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqSubSocket")
            .field("endpoint", &self.endpoint)
            .field("queued", &self.queue.len())
            .field("closed", &self.io.is_none())
            .finish()
    }
}

impl ZmqSubSocket {
    /// A subscriber on `io`, connected to `endpoint`; `monitor` is the
    /// reading end of the socket's monitor (see [`start_monitor`]), when it
    /// has one.
    pub(crate) fn new(
        endpoint: Endpoint,
        io: Registered,
        monitor: Option<Registered>,
        max_message_size: usize,
        batch: usize,
    ) -> ZmqSubSocket {
        let batch = batch.clamp(1, RECV_BATCH);
        let url = endpoint.to_string();
        let connection = Arc::new(ConnectionState::new());
        let monitor = monitor.map(Arc::new);
        let watcher = monitor
            .clone()
            .map(|monitor| tokio::spawn(watch(monitor, url.clone(), connection.clone())));
        ZmqSubSocket {
            url,
            endpoint,
            queue: VecDeque::with_capacity(batch),
            batch,
            io: Some(io),
            max_message_size,
            oversized: 0,
            connection,
            monitor,
            watcher,
        }
    }

    /// Connects the socket to its endpoint.
    pub(crate) fn connect(&self) -> Result<()> {
        let io = self.io.as_ref().ok_or_else(|| self.closed_error())?;
        let socket = io.get_ref().socket();
        crate::connect(&socket, &self.endpoint)
    }

    /// Stops the monitor, then closes the socket, then the monitor's
    /// reading end, in that order: libzmq blocks its I/O thread on an
    /// event for a reader that is gone, so the reader goes last.
    fn shut_down(&mut self) {
        if let Some(io) = self.io.take() {
            if self.monitor.is_some() {
                let mut socket = io.get_ref().socket();
                if let Err(e) = crate::ffi::stop_monitor(&mut socket) {
                    tracing::debug!(endpoint = %self.url, "stopping a SUB socket's monitor: {e}");
                }
            }
            // Deregisters, then closes with LINGER 0.
            drop(io);
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        self.monitor = None;
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the subscriber to {}", self.endpoint))
    }

    /// Frames dropped because they were larger than `max_message_size`.
    pub fn oversized(&self) -> u64 {
        self.oversized
    }

    /// The socket's ZeroMQ options (diagnostics and tests).
    ///
    /// # Errors
    ///
    /// `Closed` once closed.
    pub fn options(&self) -> Result<SocketOptions> {
        let io = self.io.as_ref().ok_or_else(|| self.closed_error())?;
        let socket = io.get_ref().socket();
        SocketOptions::read(&socket)
    }
}

/// Takes up to `batch` ready frames from libzmq into `queue`, dropping
/// (counting in `oversized`, and logging) those larger than `max`;
/// returns how many were taken (0 means `EAGAIN`: the mailbox is drained).
fn fill(
    io: &Registered,
    queue: &mut VecDeque<Bytes>,
    batch: usize,
    max: usize,
    oversized: &mut u64,
    url: &str,
) -> Result<usize> {
    let socket = io.get_ref().socket();
    for taken in 0..batch {
        match socket.recv_msg(zmq::DONTWAIT) {
            Ok(msg) if msg.len() > max => {
                *oversized += 1;
                posttroll_core::metrics::refused(posttroll_core::metrics::Refusal::Size);
                if log_sampling::sample(*oversized, events::OVERSIZED_FRAME) {
                    tracing::warn!(
                        endpoint = %url,
                        dropped = *oversized,
                        "dropped a frame from {url} larger than max_message_size ({max} bytes)"
                    );
                }
            }
            Ok(msg) => queue.push_back(util::into_bytes(msg)),
            Err(zmq::Error::EAGAIN) => return Ok(taken),
            Err(zmq::Error::EINTR) if taken > 0 => return Ok(taken),
            Err(zmq::Error::EINTR) => {}
            Err(e) => return Err(zmq_error("receiving on a SUB socket")(e)),
        }
    }
    Ok(batch)
}

#[async_trait]
impl SubSocket for ZmqSubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A frame taken from libzmq by an earlier [`SubSocket::recv`] (which
    /// takes up to a batch per wakeup), if one is left.
    fn try_recv(&mut self) -> Result<Option<Bytes>> {
        Ok(self.queue.pop_front())
    }

    async fn recv(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Ok(frame);
            }
            let Some(io) = self.io.as_ref() else {
                return Err(self.closed_error());
            };
            let taken = fill(
                io,
                &mut self.queue,
                self.batch,
                self.max_message_size,
                &mut self.oversized,
                &self.url,
            )?;
            if taken > 0 {
                continue;
            }
            // EAGAIN drained libzmq's mailbox: the next event signals.
            util::wait(io).await?;
        }
    }

    fn set_event_sink(&mut self, sink: EventSink) {
        self.connection.set_sink(sink, &self.url);
    }

    async fn close(&mut self) -> Result<()> {
        self.queue.clear();
        self.shut_down();
        Ok(())
    }
}

impl Drop for ZmqSubSocket {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The events a subscriber's monitor reports: the handshake's outcome and
/// lost connections.
const SUB_EVENTS: i32 = zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32
    | zmq::SocketEvent::DISCONNECTED as i32
    | zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as i32
    | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32
    | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32;

/// Starts a monitor of `socket`'s [`SUB_EVENTS`] (call it before the
/// socket connects, so that the first connection is seen): libzmq sends
/// them on an `inproc://` PAIR it binds, and this returns the PAIR that
/// reads them, connected and registered with tokio.
///
/// The reading PAIR has no receive high-water mark: libzmq sends events
/// from its I/O thread with a *blocking* send, so a full monitor queue
/// would stall every socket of the context. The events are few (one or
/// two per connection made or lost), and [`watch`] reads them at once.
pub(crate) fn start_monitor(context: &zmq::Context, socket: &zmq::Socket) -> Result<Registered> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "inproc://posttroll-sub-monitor-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    socket
        .monitor(&name, SUB_EVENTS)
        .map_err(zmq_error("starting a socket monitor"))?;
    let pair = context
        .socket(zmq::PAIR)
        .map_err(zmq_error("creating a monitor socket"))?;
    pair.set_linger(0)
        .map_err(zmq_error("setting ZMQ_LINGER on a monitor socket"))?;
    pair.set_rcvhwm(0)
        .map_err(zmq_error("setting ZMQ_RCVHWM on a monitor socket"))?;
    pair.connect(&name)
        .map_err(zmq_error("connecting a monitor socket"))?;
    util::register(pair)
}

/// What a non-blocking read of a monitor gave.
enum MonitorRead {
    /// An event, by its number.
    Event(u16),
    /// A message that is no event (ignored).
    Malformed,
    /// `EAGAIN`: nothing now (libzmq's mailbox is drained, so the next
    /// event signals the descriptor).
    Empty,
}

/// Reads one monitor event without waiting.
fn read_event(monitor: &Registered) -> Result<MonitorRead> {
    let socket = monitor.get_ref().socket();
    match socket.recv_multipart(zmq::DONTWAIT) {
        // The first frame holds the event (16 bits) and a value (32 bits);
        // the second the address (the endpoint connected to).
        Ok(parts) => Ok(match parts.first() {
            Some(head) if head.len() >= 2 => {
                MonitorRead::Event(u16::from_le_bytes([head[0], head[1]]))
            }
            _ => MonitorRead::Malformed,
        }),
        Err(zmq::Error::EAGAIN) => Ok(MonitorRead::Empty),
        Err(zmq::Error::EINTR) => Ok(MonitorRead::Malformed),
        Err(e) => Err(zmq_error("reading a socket monitor")(e)),
    }
}

/// Follows a subscriber's monitor: reports connections (a handshake that
/// succeeded) and lost connections to `connection`, until the monitor
/// stops or the task is aborted. Handshake failures only colour the reason
/// of the next `Disconnected` (libzmq connects again by itself).
async fn watch(monitor: Arc<Registered>, url: String, connection: Arc<ConnectionState>) {
    const SUCCEEDED: u16 = zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16;
    const DISCONNECTED: u16 = zmq::SocketEvent::DISCONNECTED as u16;
    const FAILED_NO_DETAIL: u16 = zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL as u16;
    const FAILED_PROTOCOL: u16 = zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as u16;
    const FAILED_AUTH: u16 = zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as u16;
    let mut failure: Option<&'static str> = None;
    loop {
        match read_event(&monitor) {
            Ok(MonitorRead::Event(SUCCEEDED)) => {
                failure = None;
                connection.connected(&url);
            }
            Ok(MonitorRead::Event(DISCONNECTED)) => {
                let reason = failure.take().unwrap_or(
                    "the connection was closed (by the publisher, or for missing heartbeats)",
                );
                tracing::debug!(endpoint = %url, "disconnected from {url}: {reason}");
                connection.disconnected(&url, reason);
            }
            Ok(MonitorRead::Event(event)) => {
                let why = match event {
                    FAILED_AUTH => "the publisher refused the handshake (authentication)",
                    FAILED_PROTOCOL => "the handshake failed (protocol error)",
                    FAILED_NO_DETAIL => "the handshake failed",
                    _ => continue,
                };
                tracing::debug!(endpoint = %url, "{url}: {why}");
                failure = Some(why);
            }
            Ok(MonitorRead::Malformed) => {}
            Ok(MonitorRead::Empty) => {
                if util::wait(&monitor).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(endpoint = %url, "the monitor of the subscriber to {url} failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Subscriptions;

    #[test]
    fn subscriptions_count_first_frames_and_never_go_below_zero() {
        let mut subs = Subscriptions::default();
        assert!(subs.take(b"\x01pytroll://a", false));
        assert!(subs.take(b"\x01", false));
        assert_eq!(subs.count, 2);
        // A multipart message (from an XSUB peer): only its first frame
        // may be a subscription.
        assert!(!subs.take(b"hello", true));
        assert!(!subs.take(b"\x01not a subscription", true));
        assert!(!subs.take(b"\x00nor this", false));
        assert_eq!(subs.count, 2);
        assert!(subs.take(b"\x00pytroll://a", false));
        assert!(subs.take(b"\x00", false));
        // An unsubscription of nothing leaves the count at zero.
        assert!(!subs.take(b"\x00pytroll://b", false));
        assert!(!subs.take(b"", false));
        assert_eq!(subs.count, 0);
    }
}

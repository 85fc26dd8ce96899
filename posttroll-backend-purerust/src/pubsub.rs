//! PUB and SUB sockets.

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use omq_tokio::{
    DisconnectReason, Message, MonitorEvent, MonitorRecvError, MonitorStream, PeerInfo, Socket,
    TrySendError,
};
use posttroll_core::engine::{canonical_peer, lock};
use posttroll_core::{ConnectionState, Endpoint, Error, EventSink, PubSocket, Result, SubSocket};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

use crate::{omq_error, SocketOptions, REFUSED_RETRY};

/// How many frames a subscriber takes from omq per wakeup at most.
const RECV_BATCH: usize = 256;

/// A bound PUB socket of a [`PureRustTransport`](crate::PureRustTransport).
///
/// `send` takes `&self` and may be called from many tasks at once. A plain
/// publisher never waits; a [`no_drop`](posttroll_core::PubOptions::no_drop)
/// one waits until every matching subscriber has room. Dropping it closes
/// it (with the linger, in the background).
pub struct PurePubSocket {
    endpoint: Endpoint,
    socket: Socket,
    options: SocketOptions,
    no_drop: bool,
    closed: AtomicBool,
    /// Wakes waiting senders when the socket closes.
    closing: Notify,
    /// Logs failed handshakes (CURVE servers); aborted on close and drop.
    monitor: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PurePubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PurePubSocket")
            .field("endpoint", &self.endpoint)
            .field("no_drop", &self.no_drop)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PurePubSocket {
    pub(crate) fn new(
        endpoint: Endpoint,
        socket: Socket,
        options: SocketOptions,
        no_drop: bool,
        monitor: Option<JoinHandle<()>>,
    ) -> PurePubSocket {
        PurePubSocket {
            endpoint,
            socket,
            options,
            no_drop,
            closed: AtomicBool::new(false),
            closing: Notify::new(),
            monitor: Mutex::new(monitor),
        }
    }

    fn stop_monitor(&self) {
        let monitor = lock(&self.monitor).take();
        if let Some(monitor) = monitor {
            monitor.abort();
        }
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the publisher on {}", self.endpoint))
    }

    /// The omq options the socket was made with (diagnostics and tests).
    pub fn options(&self) -> &SocketOptions {
        &self.options
    }

    /// How many subscribers completed their handshake.
    pub fn ready_peers(&self) -> usize {
        self.socket.ready_peer_count()
    }
}

#[async_trait]
impl PubSocket for PurePubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// omq's non-blocking send: room in every subscriber's queue now (a
    /// plain publisher's full queues make [`PubSocket::send`] drop instead).
    fn try_send(&self, frame: Bytes) -> Result<Option<Bytes>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        match self.socket.try_send(Message::single(frame)) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(mut message)) => Ok(message.pop_front()),
            Err(TrySendError::Closed) => Err(self.closed_error()),
            Err(TrySendError::Error(e)) => Err(omq_error("sending on a PUB socket")(e)),
        }
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        // The fast path: room now.
        let Some(frame) = self.try_send(frame)? else {
            return Ok(());
        };
        let message = Message::single(frame);
        if !self.no_drop {
            // Lossy fan-out never waits for room.
            return self.socket.send(message).await.map_err(|e| match e {
                omq_tokio::Error::Closed => self.closed_error(),
                e => omq_error("sending on a PUB socket")(e),
            });
        }
        let mut closing = pin!(self.closing.notified());
        closing.as_mut().enable();
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error());
        }
        tokio::select! {
            sent = self.socket.send(message) => sent.map_err(|e| match e {
                omq_tokio::Error::Closed => self.closed_error(),
                e => omq_error("sending on a PUB socket")(e),
            }),
            () = closing => Err(self.closed_error()),
        }
    }

    async fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut count = 0;
        let waited = tokio::time::timeout_at(deadline, async {
            loop {
                if self.closed.load(Ordering::Acquire) {
                    return Err(self.closed_error());
                }
                // A snapshot of the ready peers and their subscriptions,
                // then the changes since; after a lag, a new snapshot.
                let (mut monitor, peers) =
                    self.socket
                        .monitor_with_subscriptions()
                        .await
                        .map_err(|e| match e {
                            omq_tokio::Error::Closed => self.closed_error(),
                            e => omq_error("reading a PUB socket's subscriptions")(e),
                        })?;
                let mut subscribed: HashMap<u64, usize> = peers
                    .into_iter()
                    .filter(|p| !p.prefixes.is_empty())
                    .map(|p| (p.peer.connection_id, p.prefixes.len()))
                    .collect();
                loop {
                    count = subscribed.len();
                    if count >= n {
                        return Ok(count);
                    }
                    match monitor.recv().await {
                        Ok(MonitorEvent::SubscribeReceived { connection_id, .. }) => {
                            *subscribed.entry(connection_id).or_default() += 1;
                        }
                        Ok(MonitorEvent::UnsubscribeReceived { connection_id, .. }) => {
                            if let Some(topics) = subscribed.get_mut(&connection_id) {
                                *topics = topics.saturating_sub(1);
                                if *topics == 0 {
                                    subscribed.remove(&connection_id);
                                }
                            }
                        }
                        Ok(MonitorEvent::Disconnected { peer, .. }) => {
                            subscribed.remove(&peer.connection_id);
                        }
                        Ok(MonitorEvent::Closed) | Err(MonitorRecvError::Closed) => {
                            return Err(self.closed_error())
                        }
                        Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            // Asked for none (n = 0): the timeout may pass before the
            // socket's first snapshot comes back, and 0 is enough.
            Err(_) if count >= n => Ok(count),
            Err(_) => Err(Error::timeout(
                format!("{n} subscriber(s) on {} (have {count})", self.endpoint),
                timeout,
            )),
        }
    }

    async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.closing.notify_waiters();
        self.stop_monitor();
        // Closing one handle closes the socket for every clone (linger
        // SERVER_LINGER for what is queued).
        let _ = self.socket.clone().close().await;
        Ok(())
    }
}

/// A SUB socket of a [`PureRustTransport`](crate::PureRustTransport),
/// connected to one publisher. Frames of a multipart message come as
/// separate frames. Dropping it closes it.
pub struct PureSubSocket {
    endpoint: Endpoint,
    options: SocketOptions,
    /// Frames taken from omq and not yet returned (cancel-safety).
    queue: VecDeque<Bytes>,
    /// Messages of the last batch (reused storage).
    batch: Vec<Message>,
    /// The most messages taken from omq per wakeup.
    batch_size: usize,
    /// `None` once closed.
    socket: Option<Socket>,
    /// Reconnects after a refused handshake; aborted on close and drop.
    watcher: Option<JoinHandle<()>>,
    /// Whether the publisher is connected, for the event sink.
    connection: Arc<ConnectionState>,
}

impl std::fmt::Debug for PureSubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PureSubSocket")
            .field("endpoint", &self.endpoint)
            .field("queued", &self.queue.len())
            .field("closed", &self.socket.is_none())
            .finish()
    }
}

impl PureSubSocket {
    pub(crate) fn new(
        endpoint: Endpoint,
        url: String,
        socket: Socket,
        options: SocketOptions,
        monitor: Option<MonitorStream>,
    ) -> PureSubSocket {
        let connection = Arc::new(ConnectionState::new());
        let watcher = monitor
            .map(|monitor| tokio::spawn(watch(socket.clone(), url, monitor, connection.clone())));
        // Never more frames per wakeup than the receive queue holds: what
        // a stalled subscriber holds stays bounded in bytes.
        let batch = usize::try_from(options.receive_high_water_mark)
            .unwrap_or(RECV_BATCH)
            .clamp(1, RECV_BATCH);
        PureSubSocket {
            endpoint,
            options,
            batch_size: batch,
            queue: VecDeque::with_capacity(batch),
            batch: Vec::with_capacity(batch),
            socket: Some(socket),
            watcher,
            connection,
        }
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the subscriber to {}", self.endpoint))
    }

    /// The omq options the socket was made with (diagnostics and tests).
    pub fn options(&self) -> &SocketOptions {
        &self.options
    }

    /// Moves the frames of the last batch of messages to the queue.
    fn queue_batch(&mut self) {
        for mut message in self.batch.drain(..) {
            while let Some(part) = message.pop_front() {
                self.queue.push_back(part);
            }
        }
    }
}

impl Drop for PurePubSocket {
    fn drop(&mut self) {
        self.stop_monitor();
    }
}

impl Drop for PureSubSocket {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// Follows a subscriber's connection events: reports connections and
/// disconnections to `connection`, logs refused handshakes and, as omq
/// stops reconnecting after one, connects again every [`REFUSED_RETRY`] (a
/// key or an IP admitted later is then picked up).
async fn watch(
    socket: Socket,
    url: String,
    mut monitor: MonitorStream,
    connection: Arc<ConnectionState>,
) {
    // Refusals in a row: the first is a warning, the next ones are not.
    let mut refusals = 0u32;
    loop {
        match monitor.recv().await {
            Ok(MonitorEvent::HandshakeFailed { reason, .. }) => {
                tracing::debug!(endpoint = %url, "handshake with {url} failed: {reason}");
            }
            Ok(MonitorEvent::HandshakeSucceeded { .. }) => {
                if refusals > 0 {
                    tracing::info!(endpoint = %url, "{url} admitted us after {refusals} refusal(s)");
                    refusals = 0;
                }
                connection.connected(&url);
            }
            Ok(MonitorEvent::ConnectStopped { reason, .. }) => {
                refusals += 1;
                if refusals == 1 {
                    tracing::warn!(
                        endpoint = %url,
                        "{url} refused the connection ({reason:?}); trying again every \
                         {REFUSED_RETRY:?}"
                    );
                } else {
                    tracing::debug!(endpoint = %url, "{url} refused the connection again");
                }
                tokio::time::sleep(REFUSED_RETRY).await;
                let _ = socket.disconnect(url.as_str()).await;
                if let Err(e) = socket.connect(url.as_str()).await {
                    tracing::warn!(endpoint = %url, "reconnecting to {url} failed: {e}");
                    return;
                }
            }
            Ok(MonitorEvent::Disconnected { peer, reason, .. }) => {
                let why = match reason {
                    DisconnectReason::Error(reason) => {
                        log_error_disconnect(&url, &peer, &reason);
                        reason
                    }
                    DisconnectReason::PeerClosed => "the publisher closed the connection".into(),
                    DisconnectReason::LocalClose => "closed here".into(),
                    DisconnectReason::HandshakeRefused(refusal) => {
                        format!("the publisher refused the handshake: {refusal:?}")
                    }
                    other => format!("{other:?}"),
                };
                connection.disconnected(&url, &why);
            }
            Ok(MonitorEvent::Closed) | Err(MonitorRecvError::Closed) => return,
            Ok(_) | Err(_) => {}
        }
    }
}

/// Follows a CURVE server socket's connection events: logs and counts each
/// failed handshake.
///
/// A client that hangs up in the middle of the greeting gives omq no
/// failure to report: libzmq (so pyzmq) as a plain client does so on
/// seeing the server's CURVE greeting. Each accepted connection is
/// therefore tracked until its handshake succeeds or fails; one that has
/// done neither `handshake_timeout` (omq's deadline for the whole
/// handshake, after which omq itself fails it) plus a second later has
/// closed without a word, and is logged and counted as a failed handshake.
pub(crate) async fn watch_server(
    mut monitor: MonitorStream,
    bound: String,
    curve: bool,
    failures: Arc<AtomicU64>,
    handshake_timeout: Duration,
) {
    let silent_after = handshake_timeout + Duration::from_secs(1);
    // Accepted connections whose handshake has not ended: id -> (endpoint,
    // peer, when accepted).
    let mut pending: HashMap<u64, (String, String, Instant)> = HashMap::new();
    loop {
        let next_deadline = pending
            .values()
            .map(|(_, _, accepted)| *accepted + silent_after)
            .min();
        let event = tokio::select! {
            event = monitor.recv() => event,
            () = async {
                match next_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                pending.retain(|_, (endpoint, peer, accepted)| {
                    if now < *accepted + silent_after {
                        return true;
                    }
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        endpoint = %endpoint,
                        peer = %peer,
                        "a CURVE handshake on {endpoint} from {peer} failed: the client closed \
                         the connection before completing it (as a plain client does)"
                    );
                    false
                });
                continue;
            }
        };
        match event {
            Ok(MonitorEvent::Disconnected { peer, reason, .. }) => {
                posttroll_core::metrics::connection_closed();
                pending.remove(&peer.connection_id);
                if let DisconnectReason::Error(reason) = reason {
                    log_error_disconnect(&bound, &peer, &reason);
                }
            }
            Ok(MonitorEvent::Accepted { .. }) if !curve => {}
            Ok(MonitorEvent::Accepted {
                endpoint,
                peer_ident,
                connection_id,
            }) => {
                pending.insert(
                    connection_id,
                    (
                        endpoint.to_string(),
                        canonical_peer(&peer_ident.to_string()),
                        Instant::now(),
                    ),
                );
            }
            Ok(MonitorEvent::HandshakeSucceeded { peer, .. }) => {
                posttroll_core::metrics::connection_opened();
                pending.remove(&peer.connection_id);
            }
            Ok(MonitorEvent::HandshakeFailed {
                endpoint,
                peer_ident,
                reason,
            }) => {
                let peer = canonical_peer(&peer_ident.to_string());
                pending.retain(|_, (_, pending_peer, _)| *pending_peer != peer);
                failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    endpoint = %endpoint,
                    peer = %peer,
                    "a CURVE handshake on {endpoint} from {peer} failed: {reason}"
                );
            }
            // Missed events may be handshakes that ended: forget the
            // pending ones rather than report them wrongly.
            Err(MonitorRecvError::Lagged(_)) => pending.clear(),
            Ok(MonitorEvent::Closed) | Err(MonitorRecvError::Closed) => return,
            Ok(_) | Err(_) => {}
        }
    }
}

/// Logs a connection that omq closed for an error: a frame over the size
/// limit (also counted: `posttroll_refusals_total{reason="size"}`), a
/// protocol violation, a missed heartbeat, an I/O error.
fn log_error_disconnect(endpoint: &str, peer: &PeerInfo, reason: &str) {
    // omq's `Error::MessageTooLarge`, as its text.
    if reason.starts_with("message too large") {
        posttroll_core::metrics::refused(posttroll_core::metrics::Refusal::Size);
    }
    // A connecting socket's peer is the endpoint it connected to.
    let address = peer
        .peer_address
        .map(|a| canonical_peer(&a.to_string()))
        .unwrap_or_else(|| endpoint.trim_start_matches("tcp://").to_owned());
    tracing::warn!(
        endpoint = %endpoint,
        peer = %address,
        "disconnected peer {address} on {endpoint}: {reason}"
    );
}

#[async_trait]
impl SubSocket for PureSubSocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A frame already taken from omq, or one omq holds ready (up to a
    /// batch taken at once), without waiting.
    fn try_recv(&mut self) -> Result<Option<Bytes>> {
        if let Some(frame) = self.queue.pop_front() {
            return Ok(Some(frame));
        }
        let Some(socket) = self.socket.as_ref() else {
            return Ok(None);
        };
        self.batch.clear();
        match socket.try_recv_many_into(self.batch_size, &mut self.batch) {
            Ok(_) => {}
            // `recv` says what it is.
            Err(omq_tokio::Error::WouldBlock | omq_tokio::Error::Closed) => return Ok(None),
            Err(e) => return Err(omq_error("receiving on a SUB socket")(e)),
        }
        self.queue_batch();
        Ok(self.queue.pop_front())
    }

    async fn recv(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.queue.pop_front() {
                return Ok(frame);
            }
            let Some(socket) = self.socket.as_ref() else {
                return Err(self.closed_error());
            };
            // Cancel-safe: omq hands out messages only when this future is
            // polled to completion, and they go to the queue at once.
            self.batch.clear();
            match socket
                .recv_many_into(self.batch_size, &mut self.batch)
                .await
            {
                Ok(_) => {}
                Err(omq_tokio::Error::Closed) => return Err(self.closed_error()),
                Err(e) => return Err(omq_error("receiving on a SUB socket")(e)),
            }
            self.queue_batch();
        }
    }

    fn set_event_sink(&mut self, sink: EventSink) {
        self.connection.set_sink(sink, &self.endpoint.to_string());
    }

    async fn close(&mut self) -> Result<()> {
        self.queue.clear();
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        if let Some(socket) = self.socket.take() {
            // Linger 0.
            let _ = socket.close().await;
        }
        Ok(())
    }
}

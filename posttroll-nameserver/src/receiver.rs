//! [`AddressReceiver`]: takes in publishers' announcements, keeps the
//! [`AddressTable`] and publishes address additions and removals.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use posttroll::publisher::{NoisyPublisher, Publisher};
use posttroll::Context;
use posttroll_core::log_sampling;
use posttroll_core::metrics::{
    self, events, AnnouncementResult, AnnouncementSource, Refusal, ReplyPort,
};
use posttroll_core::task::{StopSignal, Worker};
use posttroll_core::{
    BindSpec, DatagramReceiver, Delivery, Endpoint, ErrorKind, Message, ReplySocket, Result, Value,
};
use tokio::time::{Instant, MissedTickBehavior};

use crate::table::{AddressTable, AnnouncementError, Timestamp};

/// The default age after which an unannounced publisher is dropped.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// How often the address publisher sends its heartbeat, in seconds.
pub const HEARTBEAT_INTERVAL_SECS: u64 = 29;

/// The name the address publisher announces (no-multicast mode).
const PUBLISHER_NAME: &str = "address_receiver";

/// The largest announcement taken on the designated-announcement port (a
/// real one is about 300 bytes); a peer sending more is disconnected by
/// the engine before the frame is read.
pub const MAX_ANNOUNCEMENT_SIZE: u64 = 64 * 1024;

/// The shared table, locked for a short, synchronous moment.
pub(crate) fn lock(table: &Mutex<AddressTable>) -> MutexGuard<'_, AddressTable> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Builds an [`AddressReceiver`].
#[derive(Debug, Clone)]
pub struct AddressReceiverBuilder {
    max_age: Duration,
    multicast: bool,
    local_only: bool,
    heartbeat: bool,
    context: Option<Context>,
    table: Option<Arc<Mutex<AddressTable>>>,
}

impl AddressReceiverBuilder {
    /// How long a publisher stays in the table without announcing itself
    /// again (default 10 minutes). Expiry is checked every `max_age / 20`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Receive announcements by multicast (default), or, when false, as
    /// requests on a reply socket at `tcp://*:<broadcast_port>` (publishers
    /// then name this host among their `nameservers`).
    pub fn multicast(mut self, multicast: bool) -> Self {
        self.multicast = multicast;
        self
    }

    /// Drop multicast announcements that come from another host (the
    /// nameserver's `-L`). Loopback counts as this host; a datagram whose
    /// source the discovery channel cannot tell (an in-process bus) is kept.
    pub fn local_only(mut self, local_only: bool) -> Self {
        self.local_only = local_only;
        self
    }

    /// Send `/heartbeat/address_receiver` every 29 s (default true).
    pub fn heartbeat(mut self, heartbeat: bool) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// The context (default [`Context::global`]).
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Keeps the addresses in this table instead of a new one (its
    /// `max_age` then wins over [`AddressReceiverBuilder::max_age`]).
    pub fn table(mut self, table: Arc<Mutex<AddressTable>>) -> Self {
        self.table = Some(table);
        self
    }

    /// Opens the announcement channel and the address publisher on
    /// `tcp://*:<address_publish_port>`, then starts receiving.
    ///
    /// In multicast mode the address publisher is a plain [`Publisher`];
    /// without multicast it is a [`NoisyPublisher`] named
    /// `address_receiver` (alias `addresses`) that announces itself to
    /// this receiver, as the reference does (which names it `localhost`;
    /// here `127.0.0.1`, which needs no name resolution: the pure-Rust
    /// engine would start its resolver threads for it).
    ///
    /// Errors when a socket cannot be bound (e.g. the port is taken).
    pub async fn start(self) -> Result<AddressReceiver> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let config = ctx.config();
        let table = self
            .table
            .unwrap_or_else(|| Arc::new(Mutex::new(AddressTable::new(self.max_age))));
        let (max_age, addresses) = {
            let table = lock(&table);
            (table.max_age(), table.len())
        };
        metrics::nameserver_addresses(addresses);

        let source = if self.multicast {
            let local_ips = if self.local_only {
                Some(local_ips())
            } else {
                None
            };
            Source::Multicast {
                receiver: ctx.discovery().receiver().await?,
                local_ips,
            }
        } else {
            let mut spec = BindSpec::new(Endpoint::tcp("*", config.broadcast_port));
            spec.port_range = (config.pub_min_port, config.pub_max_port);
            spec.security = ctx.security();
            spec.max_message_size = Some(MAX_ANNOUNCEMENT_SIZE);
            Source::Reply(ctx.transport().bind_reply(spec).await?)
        };

        let publisher = if self.multicast {
            EventPublisher::Plain(
                Publisher::builder(format!("tcp://*:{}", config.address_publish_port))
                    .context(ctx.clone())
                    .name(PUBLISHER_NAME)
                    .start()
                    .await?,
            )
        } else {
            EventPublisher::Noisy(
                NoisyPublisher::builder(PUBLISHER_NAME)
                    .port(config.address_publish_port)
                    .aliases(vec!["addresses".to_owned()])
                    .nameservers(vec!["127.0.0.1".to_owned()])
                    .context(ctx.clone())
                    .start()
                    .await?,
            )
        };
        let publish_endpoint = publisher.endpoint().clone();
        tracing::info!(
            multicast = self.multicast,
            local_only = self.local_only,
            max_age = ?max_age,
            publisher = %publish_endpoint,
            "address receiver started"
        );

        let replies_dropped = Arc::new(AtomicU64::new(0));
        let run = Run {
            replies_dropped: replies_dropped.clone(),
            table_full: 0,
            table: table.clone(),
            source,
            publisher,
            clock: Clock::new(),
            check_interval: (max_age / 20).max(Duration::from_millis(1)),
            heartbeat: self.heartbeat,
        };
        let worker = Worker::spawn(None, move |stop| run.run(stop));
        Ok(AddressReceiver {
            replies_dropped,
            table,
            publish_endpoint,
            worker: Some(worker),
        })
    }
}

/// Takes in publishers' announcements (multicast datagrams, or requests
/// on a reply socket), keeps them in an [`AddressTable`], and publishes
/// each new address and each expired one on `tcp://*:<address_publish_port>`
/// (PROTOCOL.md section 4), with a heartbeat
/// `/heartbeat/address_receiver` at most every 29 s.
///
/// A malformed announcement is logged and skipped. Dropping the receiver
/// without [`AddressReceiver::stop`] also ends its task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::{Config, Context};
/// use posttroll_nameserver::AddressReceiver;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = Config { backend: "inproc".into(), address_publish_port: 26543, ..Config::default() };
/// let mut receiver = AddressReceiver::builder()
///     .context(Context::new(config)?)
///     .max_age(Duration::from_secs(60))
///     .start()
///     .await?;
/// assert!(receiver.lookup("").is_empty());
/// receiver.stop().await;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct AddressReceiver {
    replies_dropped: Arc<AtomicU64>,
    table: Arc<Mutex<AddressTable>>,
    publish_endpoint: Endpoint,
    worker: Option<Worker>,
}

impl AddressReceiver {
    /// A builder: max age 10 minutes, multicast, heartbeat, not local-only.
    pub fn builder() -> AddressReceiverBuilder {
        AddressReceiverBuilder {
            max_age: DEFAULT_MAX_AGE,
            multicast: true,
            local_only: false,
            heartbeat: true,
            context: None,
            table: None,
        }
    }

    /// The shared table of addresses.
    pub fn table(&self) -> Arc<Mutex<AddressTable>> {
        self.table.clone()
    }

    /// The addresses offering `name` (`""`: all), as lookups return them.
    pub fn lookup(&self, name: &str) -> Vec<Value> {
        lock(&self.table).lookup(name)
    }

    /// Replies (`ok`) to designated announcements that were dropped because
    /// the announcer did not take them (it does not read its replies, or is
    /// gone). Receiving goes on for everybody else.
    pub fn replies_dropped(&self) -> u64 {
        self.replies_dropped.load(Ordering::Relaxed)
    }

    /// The counter behind [`AddressReceiver::replies_dropped`], shared.
    pub(crate) fn replies_dropped_counter(&self) -> Arc<AtomicU64> {
        self.replies_dropped.clone()
    }

    /// Where address additions and removals are published.
    pub fn publish_endpoint(&self) -> &Endpoint {
        &self.publish_endpoint
    }

    /// True until stopped (or until the announcement channel closed).
    pub fn is_running(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Stops receiving and closes the sockets; returns within 1 s, the task
    /// ended. Stopping twice is harmless.
    pub async fn stop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop().await;
        }
    }

    /// Takes the worker out, to stop it together with others.
    pub(crate) fn take_worker(&mut self) -> Option<Worker> {
        self.worker.take()
    }
}

/// This host's IP addresses, for `local_only`.
fn local_ips() -> HashSet<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's addresses; only loopback counts as local");
            HashSet::new()
        }
    }
}

fn is_local(ip: IpAddr, local_ips: &HashSet<IpAddr>) -> bool {
    let ip = ip.to_canonical();
    ip.is_loopback() || local_ips.contains(&ip)
}

/// The IP of a requester as a reply socket names it (`ip:port` on the
/// pure-Rust engine, `ip` on libzmq), canonical: an IPv4 announcer on a
/// dual-stack socket by its IPv4 address. `None` for a peer with no IP.
fn peer_ip(peer: &str) -> Option<IpAddr> {
    let ip = match peer.parse::<std::net::SocketAddr>() {
        Ok(address) => address.ip(),
        Err(_) => peer.parse::<IpAddr>().ok()?,
    };
    Some(ip.to_canonical())
}

/// A wall clock that follows tokio's clock, so paused-time tests see
/// announcements age.
#[derive(Debug)]
struct Clock {
    wall: Timestamp,
    start: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            wall: chrono::Utc::now(),
            start: Instant::now(),
        }
    }

    fn now(&self) -> Timestamp {
        let elapsed = chrono::TimeDelta::from_std(self.start.elapsed()).unwrap_or_default();
        self.wall + elapsed
    }
}

#[derive(Debug)]
enum Source {
    Multicast {
        receiver: Box<dyn DatagramReceiver>,
        /// `Some` with `local_only`.
        local_ips: Option<HashSet<IpAddr>>,
    },
    Reply(Box<dyn ReplySocket>),
}

impl Source {
    /// The next frame (cancel-safe).
    /// With a reply socket, the announcement is answered (`ok`) at once,
    /// and what became of the reply comes with it.
    async fn recv(&mut self) -> Result<(Bytes, Option<IpAddr>, Option<Result<Delivery>>)> {
        match self {
            Source::Multicast { receiver, .. } => receiver
                .recv()
                .await
                .map(|(frame, from)| (frame, from.map(|ip| ip.to_canonical()), None)),
            Source::Reply(socket) => socket.recv().await.map(|request| {
                let from = request.reply_to.peer.as_deref().and_then(peer_ip);
                let reply = socket.reply(&request.reply_to, Bytes::from_static(b"ok"));
                (request.body, from, Some(reply))
            }),
        }
    }

    async fn close(&mut self) {
        if let Source::Reply(socket) = self {
            if let Err(e) = socket.close().await {
                tracing::debug!(error = %e, "closing the announcement socket");
            }
        }
    }
}

#[derive(Debug)]
enum EventPublisher {
    Plain(Publisher),
    Noisy(NoisyPublisher),
}

impl EventPublisher {
    fn endpoint(&self) -> &Endpoint {
        match self {
            EventPublisher::Plain(p) => p.endpoint(),
            EventPublisher::Noisy(p) => p.endpoint(),
        }
    }

    async fn send(&self, msg: &Message) -> Result<()> {
        match self {
            EventPublisher::Plain(p) => p.send(msg).await,
            EventPublisher::Noisy(p) => p.send(msg).await,
        }
    }

    /// Sends an event; a failure is logged.
    async fn publish(&self, msg: &Message) {
        if let Err(e) = self.send(msg).await {
            tracing::warn!(error = %e, "cannot publish an address event");
        }
    }

    async fn stop(&self) {
        let result = match self {
            EventPublisher::Plain(p) => p.stop().await,
            EventPublisher::Noisy(p) => p.stop().await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "stopping the address publisher");
        }
    }
}

/// The receiving loop's state.
struct Run {
    /// Announcement replies the announcer did not take.
    replies_dropped: Arc<AtomicU64>,
    /// New addresses refused because the table was full.
    table_full: u64,
    table: Arc<Mutex<AddressTable>>,
    source: Source,
    publisher: EventPublisher,
    clock: Clock,
    check_interval: Duration,
    heartbeat: bool,
}

impl Run {
    async fn run(mut self, mut stop: StopSignal) {
        let mut expiry = tokio::time::interval(self.check_interval);
        expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(Duration::from_secs(HEARTBEAT_INTERVAL_SECS));
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let received = tokio::select! {
                _ = stop.stopped() => break,
                _ = expiry.tick() => {
                    self.expire().await;
                    continue;
                }
                _ = heartbeat.tick(), if self.heartbeat => {
                    self.send_heartbeat().await;
                    continue;
                }
                received = self.source.recv() => received,
            };
            match received {
                Ok((frame, from, reply)) => {
                    match reply {
                        None | Some(Ok(Delivery::Sent)) => {}
                        Some(Ok(dropped)) => {
                            let total = self.replies_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                            metrics::nameserver_reply_dropped(ReplyPort::Announcement);
                            if log_sampling::sample(total, events::ANNOUNCEMENT_REPLY_DROPPED) {
                                tracing::warn!(reason = ?dropped, total, peer = ?from, "dropped an announcement reply the announcer does not take");
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "cannot reply to an announcement")
                        }
                    }
                    // Multicast sources are filtered by host (local_only);
                    // a designated announcement is taken from anywhere.
                    let from = if matches!(self.source, Source::Multicast { .. }) {
                        from
                    } else {
                        None
                    };
                    self.process(&frame, from).await;
                }
                Err(e) if e.kind() == ErrorKind::Closed => {
                    tracing::error!(error = %e, "the announcement channel closed; address receiver stops");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "receiving an announcement failed");
                    // Do not spin on a persistent error.
                    tokio::select! {
                        _ = stop.stopped() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        }
        self.source.close().await;
        self.publisher.stop().await;
        tracing::debug!("address receiver stopped");
    }

    async fn process(&mut self, frame: &[u8], from: Option<IpAddr>) {
        let source = match self.source {
            Source::Multicast { .. } => AnnouncementSource::Multicast,
            Source::Reply(_) => AnnouncementSource::Designated,
        };
        let counted = |result, refusal: Option<Refusal>| {
            metrics::nameserver_announcement(source, result);
            if let Some(refusal) = refusal {
                metrics::refused(refusal);
            }
        };
        if let (
            Source::Multicast {
                local_ips: Some(local),
                ..
            },
            Some(ip),
        ) = (&self.source, from)
        {
            if !is_local(ip, local) {
                counted(AnnouncementResult::Refused, Some(Refusal::Policy));
                tracing::debug!(%ip, "discarding an announcement from another host");
                return;
            }
        }
        let now = self.clock.now();
        let (result, addresses) = {
            let mut table = lock(&self.table);
            let result = table.announce(frame, now);
            (result, table.len())
        };
        match result {
            Ok(Some(event)) => {
                counted(AnnouncementResult::Accepted, None);
                metrics::nameserver_addresses(addresses);
                tracing::info!(event = %event, "nameserver: publish add");
                self.publisher.publish(&event).await;
            }
            Ok(None) => {
                counted(AnnouncementResult::Accepted, None);
                tracing::trace!("address refreshed");
            }
            Err(e @ AnnouncementError::NotAnAnnouncement { .. }) => {
                counted(AnnouncementResult::Ignored, None);
                tracing::debug!(reason = %e, "ignoring a datagram")
            }
            Err(e @ AnnouncementError::TableFull { .. }) => {
                counted(AnnouncementResult::Refused, Some(Refusal::TableFull));
                self.table_full += 1;
                if log_sampling::sample(self.table_full, events::TABLE_FULL) {
                    tracing::warn!(reason = %e, refused = self.table_full, from = ?from, "refusing a new address");
                }
            }
            Err(e) => {
                counted(AnnouncementResult::Refused, Some(Refusal::Malformed));
                tracing::warn!(
                    reason = %e,
                    frame = %excerpt(frame),
                    from = ?from,
                    "ignoring a malformed announcement"
                );
            }
        }
    }

    async fn expire(&mut self) {
        let now = self.clock.now();
        let (removed, addresses) = {
            let mut table = lock(&self.table);
            let removed = table.expire(now);
            (removed, table.len())
        };
        if !removed.is_empty() {
            metrics::nameserver_addresses_expired(removed.len());
            metrics::nameserver_addresses(addresses);
        }
        for event in removed {
            tracing::info!(event = %event, "publish remove");
            self.publisher.publish(&event).await;
        }
    }

    async fn send_heartbeat(&mut self) {
        let beat = Message::new(
            format!("/heartbeat/{PUBLISHER_NAME}"),
            "beat",
            Value::object([("min_interval", Value::from(HEARTBEAT_INTERVAL_SECS))]),
        );
        match beat {
            Ok(beat) => self.publisher.publish(&beat).await,
            Err(e) => tracing::warn!(error = %e, "cannot build the heartbeat"),
        }
    }
}

/// The start of a frame, for logs.
pub(crate) fn excerpt(frame: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(&frame[..frame.len().min(MAX)]);
    if frame.len() > MAX {
        format!("{text}... ({} bytes)", frame.len())
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn loopback_and_own_addresses_are_local() {
        let own: HashSet<IpAddr> = [IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))].into();
        assert!(is_local(IpAddr::V4(Ipv4Addr::LOCALHOST), &own));
        assert!(is_local(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), &own));
        assert!(is_local(IpAddr::V6(Ipv6Addr::LOCALHOST), &own));
        assert!(is_local(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), &own));
        assert!(is_local(
            IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped()),
            &own
        ));
        assert!(!is_local(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)), &own));
        assert!(!is_local(IpAddr::V4(Ipv4Addr::BROADCAST), &own));
    }

    #[test]
    fn requesters_are_named_by_their_canonical_ip() {
        for (peer, ip) in [
            ("[::ffff:127.0.0.1]:40000", Some("127.0.0.1")),
            ("::ffff:10.1.2.3", Some("10.1.2.3")),
            ("127.0.0.1:40000", Some("127.0.0.1")),
            ("127.0.0.1", Some("127.0.0.1")),
            ("[::1]:40000", Some("::1")),
            ("::1", Some("::1")),
            ("/tmp/ns.sock", None),
            ("", None),
        ] {
            assert_eq!(peer_ip(peer), ip.map(|ip| ip.parse().unwrap()), "{peer}");
        }
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b"abc"), "abc");
        assert!(excerpt(&[b'x'; 500]).ends_with("(500 bytes)"));
    }
}

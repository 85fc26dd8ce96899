//! Subscribing to messages: [`Subscriber`] connects to publishers' addresses;
//! [`NSSubscriber`] asks a nameserver for them (and can follow address
//! changes); [`create_subscriber_from_dict_config`] picks one from
//! settings, as the reference does.

mod budget;
mod connections;
mod heartbeat_alarm;
mod ns_subscriber;
mod settings;
mod topics;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::message::CURRENT_VERSION;
use posttroll_core::{
    Address, ConnectionEvent, Endpoint, Error, ErrorKind, Message, Result, Security, SubSocket,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub(crate) use budget::{Budget, Charge};
use connections::Connections;
pub use connections::Events;
pub(crate) use heartbeat_alarm::AlarmSettings;
use heartbeat_alarm::{topics_take_beats, BeatWatch, BEAT_TOPIC};
pub use ns_subscriber::{NSSubscriber, NSSubscriberBuilder};
pub(crate) use settings::create_subscriber;
pub use settings::{
    create_subscriber_from_dict_config, NameserverSetting, SubscriberKind, SubscriberSettings,
};
pub use topics::{magickfy_topic, magickfy_topics};

use crate::discovery::worker::{stop_all, StopSignal, Worker};
use crate::Context;

/// A subscriber-side filter: messages for which it returns `false` are
/// dropped.
pub type MessageFilter = Arc<dyn Fn(&Message) -> bool + Send + Sync>;

/// How many received frames may wait in a subscriber before its sockets
/// stop being read, whatever their size (the byte budget,
/// `subscriber_queue_bytes`, bounds them too).
pub(crate) const QUEUE: usize = 1024;

/// How much of an undecodable frame is logged.
const LOGGED_BYTES: usize = 64;

/// Receives messages from publishers (the reference's `Subscriber`).
///
/// One socket per address, all read by background tasks into one queue;
/// [`Subscriber::recv`] takes the next message from it. Cheap to clone:
/// clones share everything, so one task may `recv` while another `add`s,
/// `remove`s or `stop`s. Dropping the last clone without
/// [`Subscriber::stop`] ends the tasks too.
///
/// # Memory
///
/// The queue is bounded in bytes and in frames: it holds at most
/// [`Config::subscriber_queue_bytes`](posttroll_core::Config::subscriber_queue_bytes)
/// (default 64 MiB; [`SubscriberBuilder::queue_bytes`] overrides it) of
/// received frames and at most 1024 of them. A reader that took a frame from
/// its socket waits for room for it before it reads the next one, so a
/// consumer that stops calling [`Subscriber::recv`] makes the subscriber
/// stop reading its sockets: the engine's high-water mark then applies, and
/// a plain publisher drops messages for this subscriber only while a
/// [no-drop](crate::publisher::PublisherBuilder::no_drop) publisher waits.
/// The subscriber drops nothing to make room (it drops only frames that do
/// not decode, logged, and messages the filter rejects). A frame larger
/// than the whole budget is let through alone, once the queue is empty.
///
/// The total a subscriber may hold is therefore `subscriber_queue_bytes`,
/// plus the one frame each reader holds while waiting for room (counted in
/// [`Subscriber::queued_bytes`]), plus the engine's own receive queue per
/// connected publisher (a few frames, each at most
/// [`Config::max_message_size`](posttroll_core::Config::max_message_size)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::{publisher::Publisher, subscriber::Subscriber, Message};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = Publisher::builder("inproc://subscriber-doc").start().await?;
/// let subscriber = Subscriber::builder()
///     .addresses(["inproc://subscriber-doc"])
///     .topics(["/counter"])
///     .start()
///     .await?;
/// // Publishing is fire-and-forget: repeat until the subscription is in place.
/// let msg = loop {
///     publisher.send(&Message::new("/counter", "info", "1")?).await?;
///     if let Some(msg) = subscriber.recv(Some(Duration::from_millis(50))).await? {
///         break msg;
///     }
/// };
/// assert_eq!(msg.subject(), "/counter");
/// subscriber.stop().await?;
/// publisher.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub struct Subscriber {
    inner: Arc<Inner>,
    /// The receive in progress of this handle's [`Stream`](futures_core::Stream)
    /// (each clone has its own). A mutex only to keep the handle `Sync`:
    /// `poll_next` has `&mut self` and never locks it.
    next: Mutex<Option<NextMessage>>,
}

/// A receive in progress, for the `Stream` implementation.
type NextMessage = Pin<Box<dyn Future<Output = Result<Option<Message>>> + Send>>;

impl Clone for Subscriber {
    fn clone(&self) -> Subscriber {
        Subscriber::from_inner(self.inner.clone())
    }
}

/// The messages, as a [`Stream`](futures_core::Stream): the same as
/// [`Subscriber::recv`] with no timeout; it ends once the subscriber is
/// stopped. Each clone of a subscriber is its own stream over the shared
/// queue.
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use posttroll::subscriber::Subscriber;
/// use posttroll::Context;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let mut subscriber = Subscriber::builder().start().await?;
/// subscriber.stop().await?;
/// // (with futures' StreamExt: `while let Some(msg) = subscriber.next().await`)
/// let next = poll_fn(|cx| Pin::new(&mut subscriber).poll_next(cx)).await;
/// assert!(next.is_none());
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
impl futures_core::Stream for Subscriber {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Message>>> {
        let this = self.get_mut();
        let next = this.next.get_mut().unwrap_or_else(PoisonError::into_inner);
        if next.is_none() {
            // Queued messages are taken at once, without a future.
            if let Some((msg, _charge)) = this.inner.try_take() {
                return Poll::Ready(Some(Ok(msg)));
            }
            let subscriber = Subscriber::from_inner(this.inner.clone());
            *next = Some(Box::pin(async move { subscriber.recv(None).await }));
        }
        let Some(pending) = next.as_mut() else {
            return Poll::Pending;
        };
        let result = match pending.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        *next = None;
        Poll::Ready(match result {
            Ok(Some(msg)) => Some(Ok(msg)),
            // No timeout: `None` does not come.
            Ok(None) => None,
            Err(err) if err.kind() == ErrorKind::Closed => None,
            Err(err) => Some(Err(err)),
        })
    }
}

struct Inner {
    ctx: Context,
    topics: Vec<String>,
    filter: Option<MessageFilter>,
    translate: bool,
    /// Serializes `add`, `remove` and `update`.
    ops: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    budget: Budget,
    tx: mpsc::Sender<Frame>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Frame>>,
    closed: watch::Sender<bool>,
    tasks: Arc<()>,
    /// The connected publishers and the event streams.
    connections: Arc<Connections>,
    /// What to do about publishers whose heartbeats stop.
    alarm: Option<AlarmSettings>,
}

#[derive(Default)]
struct State {
    closed: bool,
    subs: Vec<Sub>,
    hooks: Vec<Worker>,
}

struct Sub {
    address: Address,
    worker: Worker,
}

/// A frame, where it came from, and its room in the budget.
struct Frame {
    uri: Arc<str>,
    host: Option<Arc<str>>,
    bytes: Bytes,
    charge: Charge,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field(
                "addresses",
                &self
                    .addresses()
                    .iter()
                    .map(Address::uri)
                    .collect::<Vec<_>>(),
            )
            .field("topics", &self.inner.topics)
            .field("translate", &self.inner.translate)
            .field("message_filter", &self.inner.filter.is_some())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// Builds a [`Subscriber`]; see [`Subscriber::builder`].
///
/// The subscriber's queue is bounded in bytes by
/// [`queue_bytes`](Self::queue_bytes) (default the `subscriber_queue_bytes`
/// config key, 64 MiB) and to 1024 frames; when it is full the subscriber
/// stops reading its sockets (see the memory section of [`Subscriber`]).
#[derive(Clone, Default)]
#[must_use = "a builder does nothing until started"]
pub struct SubscriberBuilder {
    addresses: Vec<Address>,
    topics: Option<Vec<String>>,
    filter: Option<MessageFilter>,
    translate: bool,
    queue_bytes: Option<u64>,
    budget: Option<Budget>,
    context: Option<Context>,
    alarm: Option<AlarmSettings>,
}

impl fmt::Debug for SubscriberBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberBuilder")
            .field("addresses", &self.addresses)
            .field("topics", &self.topics)
            .field("message_filter", &self.filter.is_some())
            .field("translate", &self.translate)
            .field("queue_bytes", &self.queue_bytes)
            .field("heartbeat_alarm", &self.alarm)
            .finish_non_exhaustive()
    }
}

impl SubscriberBuilder {
    /// The publishers to connect to: URIs (`tcp://host:port`, ...) or
    /// [`Address`]es with metadata (whose `backend` chooses the security).
    pub fn addresses<I, A>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        self.addresses = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// The topics (subject prefixes; see [`magickfy_topics`]); default `""`,
    /// every message. An empty list subscribes to nothing.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Drops the received messages for which `filter` returns `false`.
    pub fn message_filter(
        mut self,
        filter: impl Fn(&Message) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// The same as [`SubscriberBuilder::message_filter`], with a shared filter.
    pub fn message_filter_arc(mut self, filter: Option<MessageFilter>) -> Self {
        self.filter = filter;
        self
    }

    /// Replaces the host of each received message's sender with the host of
    /// the publisher's URI (default `false`).
    pub fn translate(mut self, translate: bool) -> Self {
        self.translate = translate;
        self
    }

    /// How many bytes of received frames the subscriber may hold for its
    /// consumer before it stops reading its sockets (default the
    /// `subscriber_queue_bytes` config key, 64 MiB); see
    /// [`Subscriber`]'s memory section.
    ///
    /// Clamped to at least 1 byte (0 lets one frame at a time through) and
    /// at most 4 GiB - 1 (less on 32-bit targets: what a tokio semaphore
    /// holds); [`Subscriber::queue_bytes`] tells the value used.
    pub fn queue_bytes(mut self, bytes: u64) -> Self {
        self.queue_bytes = Some(bytes);
        self
    }

    /// Watches the publishers' heartbeats (the `/heartbeat/<name>` messages
    /// of [`Publisher::heartbeat`](crate::publisher::Publisher::heartbeat)
    /// and of the reference's publishers): a publisher whose last beat
    /// announced `min_interval` and that sends no other beat within
    /// `scale × min_interval` is reported
    /// [`ConnectionEvent::Silent`] on [`Subscriber::events`] (and logged).
    /// A publisher that never sent a beat is not watched. See
    /// [`reconnect_when_silent`](Self::reconnect_when_silent).
    ///
    /// This replaces the heartbeat monitors that pytroll programs write by
    /// hand (the file movers' `heartbeat_alarm_scale`, which is 10 there).
    /// The subscriber subscribes to heartbeats for it; they are passed on
    /// to [`Subscriber::recv`] only when the topics ask for them.
    ///
    /// A scale that is not a positive finite number turns the watch off.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::subscriber::Subscriber;
    ///
    /// let builder = Subscriber::builder()
    ///     .addresses(["tcp://127.0.0.1:40000"])
    ///     .heartbeat_alarm_scale(10.0)
    ///     .reconnect_when_silent(true);
    /// # drop(builder);
    /// ```
    pub fn heartbeat_alarm_scale(mut self, scale: f64) -> Self {
        self.alarm = (scale.is_finite() && scale > 0.0).then_some(AlarmSettings {
            scale,
            reconnect: self.alarm.is_some_and(|a| a.reconnect),
        });
        self
    }

    /// With [`heartbeat_alarm_scale`](Self::heartbeat_alarm_scale): a
    /// silent publisher is also disconnected and connected again (once per
    /// alarm period while it stays silent), which recovers a connection
    /// that a broken network path left open but dead. Default `false`.
    pub fn reconnect_when_silent(mut self, reconnect: bool) -> Self {
        if let Some(alarm) = self.alarm.as_mut() {
            alarm.reconnect = reconnect;
        } else if reconnect {
            tracing::warn!("reconnect_when_silent needs heartbeat_alarm_scale first: ignored");
        }
        self
    }

    /// The heartbeat alarm settings as they are (for other builders).
    pub(crate) fn alarm(mut self, alarm: Option<AlarmSettings>) -> Self {
        self.alarm = alarm;
        self
    }

    /// The heartbeat alarm settings set so far.
    pub(crate) fn alarm_settings(&self) -> Option<AlarmSettings> {
        self.alarm
    }

    /// Takes room from `budget`, shared with other queues, instead of a
    /// budget of its own (a listener container shares its budget with its
    /// subscriber so that both queues together stay within it).
    pub(crate) fn budget(mut self, budget: Option<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Connects to every address and starts receiving.
    ///
    /// Errors when an address is not a valid endpoint or cannot be
    /// connected.
    pub async fn start(self) -> Result<Subscriber> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let topics = magickfy_topics(self.topics.unwrap_or_else(|| vec![String::new()]));
        let budget = match self.budget {
            Some(budget) => budget,
            None => Budget::new(
                self.queue_bytes
                    .unwrap_or(ctx.config().subscriber_queue_bytes),
            ),
        };
        let subscriber =
            Subscriber::new(ctx, topics, self.filter, self.translate, budget, self.alarm);
        for address in self.addresses {
            if let Err(err) = subscriber.add(address, None).await {
                subscriber.stop().await?;
                return Err(err);
            }
        }
        Ok(subscriber)
    }
}

impl Subscriber {
    /// A builder; with no addresses it receives nothing until
    /// [`Subscriber::add`].
    pub fn builder() -> SubscriberBuilder {
        SubscriberBuilder::default()
    }

    fn new(
        ctx: Context,
        topics: Vec<String>,
        filter: Option<MessageFilter>,
        translate: bool,
        budget: Budget,
        alarm: Option<AlarmSettings>,
    ) -> Subscriber {
        let (tx, rx) = mpsc::channel(QUEUE);
        Subscriber::from_inner(Arc::new(Inner {
            ctx,
            topics,
            filter,
            translate,
            ops: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            budget,
            tx,
            rx: tokio::sync::Mutex::new(rx),
            closed: watch::channel(false).0,
            tasks: Arc::new(()),
            connections: Connections::new(),
            alarm,
        }))
    }

    fn from_inner(inner: Arc<Inner>) -> Subscriber {
        Subscriber {
            inner,
            next: Mutex::new(None),
        }
    }

    /// The topics subscribed to by default (with the magic word).
    pub fn topics(&self) -> &[String] {
        &self.inner.topics
    }

    /// The bytes of received frames the subscriber holds now: queued for
    /// the consumer, or taken from a socket and waiting for room (for a
    /// [`ListenerContainer`](crate::listener::ListenerContainer)'s
    /// subscriber, the container's queue too). See the memory section of
    /// [`Subscriber`]: while the consumer stalls it stays at most
    /// [`queue_bytes`](Self::queue_bytes) plus one frame per connected
    /// publisher.
    pub fn queued_bytes(&self) -> u64 {
        self.inner.budget.held()
    }

    /// The byte budget of the queue (see
    /// [`SubscriberBuilder::queue_bytes`]), after clamping.
    pub fn queue_bytes(&self) -> u64 {
        self.inner.budget.capacity()
    }

    /// Connects to one more publisher, for `topics` (`None` or an empty
    /// list: the subscriber's topics).
    ///
    /// As the reference: an address already connected is left alone, and an
    /// address whose `supported_message_version` is above `v1.2` is not
    /// connected (a warning is logged). A URI without a `backend` field
    /// gets the config's `backend`.
    ///
    /// Errors when the URI is not an endpoint, connecting fails, or the
    /// subscriber is stopped.
    pub async fn add(
        &self,
        address: impl Into<Address>,
        topics: Option<Vec<String>>,
    ) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        self.add_locked(address.into(), topics).await
    }

    async fn add_locked(&self, address: Address, topics: Option<Vec<String>>) -> Result<()> {
        let inner = &self.inner;
        if self.state().closed {
            return Err(Error::closed("subscriber"));
        }
        let address = with_backend(address, &inner.ctx.config().backend);
        if let Some(version) = address.supported_message_version() {
            if version > CURRENT_VERSION {
                tracing::warn!(
                    "will not connect to {}: it supports message version {version}, above {CURRENT_VERSION}",
                    address.uri()
                );
                return Ok(());
            }
        }
        if self
            .state()
            .subs
            .iter()
            .any(|s| s.address.uri() == address.uri())
        {
            return Ok(());
        }
        let topics = match topics {
            Some(t) if !t.is_empty() => magickfy_topics(t),
            _ => inner.topics.clone(),
        };
        let endpoint = Endpoint::parse(address.uri())?;
        let security =
            Security::from_backend_name(address.backend().unwrap_or(&inner.ctx.config().backend));
        tracing::info!(
            "subscriber adding address {} with topics {topics:?}",
            address.uri()
        );
        // With the heartbeat alarm, beats are taken even when the topics
        // do not ask for them (and then not passed on).
        let pass_beats = topics_take_beats(&topics);
        let mut socket_topics = topics;
        if inner.alarm.is_some() && !pass_beats {
            socket_topics.push(BEAT_TOPIC.to_owned());
        }
        let dial = Dial {
            ctx: inner.ctx.clone(),
            endpoint,
            topics: socket_topics,
            security,
        };
        let mut socket = dial.connect().await?;
        let uri: Arc<str> = Arc::from(address.uri());
        socket.set_event_sink(inner.connections.sink());
        let link = Link {
            uri,
            host: dial.endpoint.host().map(Arc::from),
            budget: inner.budget.clone(),
            tx: inner.tx.clone(),
            connections: inner.connections.clone(),
            beats: inner.alarm.map(BeatWatch::new),
            pass_beats,
            dial,
        };
        let worker = Worker::spawn(Some(&inner.tasks), move |stop| reader(socket, link, stop));
        let mut state = self.state();
        if state.closed {
            return Err(Error::closed("subscriber"));
        }
        state.subs.push(Sub { address, worker });
        drop(state);
        inner.connections.poke();
        Ok(())
    }

    /// Disconnects from the publisher at `uri` (nothing when unknown).
    pub async fn remove(&self, uri: &str) -> Result<()> {
        let _ops = self.inner.ops.lock().await;
        self.remove_locked(uri).await;
        Ok(())
    }

    async fn remove_locked(&self, uri: &str) {
        let sub = {
            let mut state = self.state();
            let index = state.subs.iter().position(|s| s.address.uri() == uri);
            index.map(|i| state.subs.remove(i))
        };
        if let Some(sub) = sub {
            tracing::info!("subscriber removing address {uri}");
            sub.worker.stop().await;
            self.inner.connections.forget(uri);
        }
    }

    /// Makes the connected addresses these: removes the others, adds the
    /// new ones. Returns whether anything was removed or added.
    pub async fn update<I, A>(&self, addresses: I) -> Result<bool>
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        let _ops = self.inner.ops.lock().await;
        let mut wanted: Vec<Address> = Vec::new();
        for address in addresses {
            let address = address.into();
            match wanted.iter_mut().find(|a| a.uri() == address.uri()) {
                Some(known) => *known = address,
                None => wanted.push(address),
            }
        }
        let current: Vec<String> = self
            .state()
            .subs
            .iter()
            .map(|s| s.address.uri().to_owned())
            .collect();
        let to_remove: Vec<&String> = current
            .iter()
            .filter(|uri| !wanted.iter().any(|a| a.uri() == uri.as_str()))
            .collect();
        let to_add: Vec<Address> = wanted
            .into_iter()
            .filter(|a| !current.iter().any(|uri| uri == a.uri()))
            .collect();
        let changed = !to_remove.is_empty() || !to_add.is_empty();
        for uri in to_remove {
            self.remove_locked(uri).await;
        }
        for address in to_add {
            self.add_locked(address, None).await?;
        }
        Ok(changed)
    }

    /// The connected addresses, in the order they were added.
    pub fn addresses(&self) -> Vec<Address> {
        self.state()
            .subs
            .iter()
            .map(|s| s.address.clone())
            .collect()
    }

    /// The next message; `Ok(None)` when `timeout` passes first (the
    /// reference's `None`); with no timeout, waits for one.
    ///
    /// Frames that do not decode are logged (with their first bytes) and
    /// skipped; messages the filter rejects are skipped. Errors with
    /// [`ErrorKind::Closed`] once the subscriber is stopped (a `recv`
    /// waiting then returns at once).
    pub async fn recv(&self, timeout: Option<Duration>) -> Result<Option<Message>> {
        Ok(self.recv_charged(timeout).await?.map(|(msg, _charge)| msg))
    }

    /// [`Subscriber::recv`], with the message's room in the budget, for a
    /// queue that holds the message further (the room is given back when
    /// the [`Charge`] is dropped).
    pub(crate) async fn recv_charged(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<(Message, Charge)>> {
        let inner = &self.inner;
        // The hot path: frames already queued are taken without setting up
        // the waits below.
        if let Some(msg) = inner.try_take() {
            return Ok(Some(msg));
        }
        let mut closed = inner.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(Error::closed("subscriber"));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let next = async {
            let mut rx = inner.rx.lock().await;
            loop {
                let Some(frame) = rx.recv().await else {
                    return Err(Error::closed("subscriber"));
                };
                if let Some(msg) = inner.process(frame) {
                    return Ok(Some(msg));
                }
            }
        };
        let timed_out = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            result = next => result,
            _ = closed.wait_for(|c| *c) => Err(Error::closed("subscriber")),
            () = timed_out => Ok(None),
        }
    }

    /// Disconnects everything and ends every task; returns within 1 s.
    /// Calling it again does nothing.
    pub async fn stop(&self) -> Result<()> {
        let workers: Vec<Worker> = {
            let mut state = self.state();
            if state.closed {
                return Ok(());
            }
            state.closed = true;
            let subs = std::mem::take(&mut state.subs);
            let hooks = std::mem::take(&mut state.hooks);
            subs.into_iter().map(|s| s.worker).chain(hooks).collect()
        };
        self.inner.closed.send_replace(true);
        tracing::debug!("stopping the subscriber ({} tasks)", workers.len());
        stop_all(workers).await;
        self.inner.connections.close();
        self.inner.connections.poke();
        Ok(())
    }

    /// The connection events of this subscriber's publishers from now on:
    /// [`ConnectionEvent::Connected`] when the handshake with one
    /// succeeded, [`ConnectionEvent::Disconnected`] when its connection is
    /// lost (the subscriber connects again by itself), and, with
    /// [`SubscriberBuilder::heartbeat_alarm_scale`],
    /// [`ConnectionEvent::Silent`] when its heartbeats stop. A
    /// [`Stream`](futures_core::Stream); it ends when the subscriber stops.
    ///
    /// The stream starts with a `Connected` for each publisher connected
    /// at the time of the call. The in-process backend reports a publisher
    /// connected while one is bound on its endpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use posttroll::{publisher::Publisher, subscriber::Subscriber, ConnectionEvent};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
    /// let subscriber = Subscriber::builder()
    ///     .addresses(["inproc://events-doc"])
    ///     .start()
    ///     .await?;
    /// let mut events = subscriber.events();
    /// let publisher = Publisher::builder("inproc://events-doc").start().await?;
    /// let event = events.next().await;
    /// assert!(matches!(event, Some(ConnectionEvent::Connected { .. })));
    /// publisher.stop().await?;
    /// subscriber.stop().await?;
    /// # Ok::<(), posttroll::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn events(&self) -> Events {
        self.inner.connections.subscribe()
    }

    /// Waits until the subscriber has at least one address and is
    /// connected to each of them (their handshakes succeeded), at most
    /// `timeout`.
    ///
    /// A connected subscriber still gets a publisher's messages only once
    /// its subscription reached the publisher, a moment later: to be sure
    /// nothing sent is missed, the publisher waits
    /// ([`Publisher::wait_for_subscribers`](crate::publisher::Publisher::wait_for_subscribers)).
    ///
    /// On the two ZMTP engines an `inproc://` address reports no
    /// connection (their connection events come from TCP and IPC
    /// handshakes), so waiting for one times out there; the in-process
    /// backend (`backend: inproc`) reports its addresses.
    ///
    /// Errors with `Timeout` (naming the addresses not connected) when
    /// `timeout` passes first, with `Closed` when the subscriber stops.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        if self.is_stopped() {
            return Err(Error::closed("subscriber"));
        }
        let inner = &self.inner;
        inner
            .connections
            .wait_connected(
                || {
                    if self.is_stopped() {
                        return Vec::new();
                    }
                    self.addresses()
                        .iter()
                        .map(|a| a.uri().to_owned())
                        .collect()
                },
                timeout,
            )
            .await
    }

    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        self.state().closed
    }

    /// The number of tasks still alive (a test hook).
    #[doc(hidden)]
    pub fn live_tasks(&self) -> usize {
        Arc::strong_count(&self.inner.tasks) - 1
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps an extra task (e.g. an address listener), stopped with the
    /// subscriber; errors (and drops it) when already stopped.
    fn push_hook(&self, worker: Worker) -> Result<()> {
        let mut state = self.state();
        if state.closed {
            return Err(Error::closed("subscriber"));
        }
        state.hooks.push(worker);
        Ok(())
    }
}

impl Inner {
    /// A message already queued, when nobody else is receiving and the
    /// subscriber is not stopped.
    fn try_take(&self) -> Option<(Message, Charge)> {
        if *self.closed.borrow() {
            return None;
        }
        let mut rx = self.rx.try_lock().ok()?;
        while let Ok(frame) = rx.try_recv() {
            if let Some(msg) = self.process(frame) {
                return Some(msg);
            }
        }
        None
    }

    /// Decodes, filters and translates one frame; the message keeps the
    /// frame's room in the budget.
    fn process(&self, frame: Frame) -> Option<(Message, Charge)> {
        let mut msg = match Message::decode(&frame.bytes) {
            Ok(msg) => msg,
            Err(err) => {
                posttroll_core::metrics::message_undecodable();
                let start = &frame.bytes[..frame.bytes.len().min(LOGGED_BYTES)];
                tracing::warn!(
                    "dropping a frame from {} that does not decode ({err}); it starts with {:?}",
                    frame.uri,
                    String::from_utf8_lossy(start)
                );
                return None;
            }
        };
        if let Some(filter) = &self.filter {
            if !filter(&msg) {
                return None;
            }
        }
        if self.translate {
            if let Some(host) = &frame.host {
                if let Err(err) = msg.set_host(host) {
                    tracing::debug!(
                        "cannot translate the sender of a message from {}: {err}",
                        frame.uri
                    );
                }
            }
        }
        Some((msg, frame.charge))
    }
}

/// The address with a `backend` field (the config's when it has none), as
/// the reference's `ensure_address_is_dict`.
fn with_backend(mut address: Address, backend: &str) -> Address {
    if address.backend().is_none() && !address.metadata().contains_key("backend") {
        address.set("backend", backend);
    }
    address
}

/// How a reader (re)connects its socket.
struct Dial {
    ctx: Context,
    endpoint: Endpoint,
    topics: Vec<String>,
    security: Security,
}

impl Dial {
    async fn connect(&self) -> Result<Box<dyn SubSocket>> {
        self.ctx
            .transport()
            .connect_subscriber(&self.endpoint, &self.topics, self.security)
            .await
    }
}

/// What a reader needs besides its socket.
struct Link {
    uri: Arc<str>,
    host: Option<Arc<str>>,
    budget: Budget,
    tx: mpsc::Sender<Frame>,
    connections: Arc<Connections>,
    /// The heartbeat alarm of this publisher, when set.
    beats: Option<BeatWatch>,
    /// Whether heartbeat messages go on to the consumer.
    pass_beats: bool,
    dial: Dial,
}

/// Reads one socket into the subscriber's queue until stopped. Each frame
/// gets its room in `budget` before the next one is read, so a full queue
/// stops the reading.
async fn reader(mut socket: Box<dyn SubSocket>, mut link: Link, mut stop: StopSignal) {
    let uri = link.uri.clone();
    let mut failing = false;
    // Whether frames were queued since the socket last made this task wait.
    let mut delivered = false;
    // The stop signal is checked (cheaply) before each frame and only
    // awaited while the socket or the queue makes this task wait: ready
    // frames cost no wait set-up, and a stop is still seen within one frame
    // under a flood.
    while !stop.is_stopped() {
        let alarm = link.beats.as_ref().and_then(|b| b.deadline);
        // Frames the socket holds already are taken without a future.
        let ready = socket.try_recv().transpose();
        let received = if let Some(received) = ready {
            received
        } else {
            if delivered {
                // Let the consumer take what was just queued before the
                // socket is polled again (on libzmq, a system call that
                // re-arms its descriptor): a lone message reaches the
                // consumer sooner.
                delivered = false;
                tokio::task::yield_now().await;
            }
            tokio::select! {
                biased;
                received = socket.recv() => received,
                _ = stop.stopped() => break,
                () = async {
                    match alarm {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => {
                    match silent(socket, &mut link, &mut stop).await {
                        Some(again) => socket = again,
                        None => return,
                    }
                    continue;
                }
            }
        };
        match received {
            Ok(bytes) => {
                failing = false;
                posttroll_core::metrics::message_received();
                if let Some(beats) = link.beats.as_mut() {
                    if beats.observe(&bytes) && !link.pass_beats {
                        continue;
                    }
                }
                let mut charge = link.budget.hold(bytes.len());
                if !charge.try_reserve() {
                    tracing::trace!(
                        "subscriber queue full: not reading {uri} until the consumer takes frames"
                    );
                    tokio::select! {
                        _ = stop.stopped() => break,
                        reserved = charge.reserve() => if reserved.is_err() { break },
                    }
                }
                let frame = Frame {
                    uri: uri.clone(),
                    host: link.host.clone(),
                    bytes,
                    charge,
                };
                match link.tx.try_send(frame) {
                    Ok(()) => delivered = true,
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                    Err(mpsc::error::TrySendError::Full(frame)) => tokio::select! {
                        _ = stop.stopped() => break,
                        sent = link.tx.send(frame) => if sent.is_err() { break },
                    },
                }
            }
            Err(err) if err.kind() == ErrorKind::Closed => break,
            Err(err) => {
                if failing {
                    tracing::debug!("receiving from {uri} failed again: {err}");
                } else {
                    tracing::warn!("receiving from {uri} failed: {err}; trying again");
                    failing = true;
                }
                tokio::select! {
                    _ = stop.stopped() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
    if let Err(err) = socket.close().await {
        tracing::debug!("closing the subscription to {uri}: {err}");
    }
}

/// The heartbeat alarm rang for `link`'s publisher: reports it and, when
/// asked to, connects again (trying every second while that fails); the
/// socket to read next, or `None` when stopped meanwhile.
async fn silent(
    mut socket: Box<dyn SubSocket>,
    link: &mut Link,
    stop: &mut StopSignal,
) -> Option<Box<dyn SubSocket>> {
    let Some(beats) = link.beats.as_mut() else {
        return Some(socket);
    };
    let since = beats.since;
    beats.rang();
    let uri = link.uri.to_string();
    tracing::warn!(
        "no heartbeat from {uri} within the alarm time (heartbeat_alarm_scale x its min_interval){}",
        if beats.reconnects() { "; reconnecting" } else { "" }
    );
    link.connections.emit(ConnectionEvent::Silent {
        address: uri.clone(),
        since,
    });
    if !beats.reconnects() {
        return Some(socket);
    }
    if let Err(err) = socket.close().await {
        tracing::debug!("closing the silent subscription to {uri}: {err}");
    }
    link.connections.emit(ConnectionEvent::Disconnected {
        address: uri.clone(),
        reason: "no heartbeat within the alarm time: reconnecting".to_owned(),
    });
    loop {
        match link.dial.connect().await {
            Ok(mut again) => {
                again.set_event_sink(link.connections.sink());
                return Some(again);
            }
            Err(err) => {
                tracing::error!(
                    "reconnecting to the silent publisher {uri} failed: {err}; trying again in 1 s"
                );
                tokio::select! {
                    _ = stop.stopped() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

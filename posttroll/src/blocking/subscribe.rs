//! Blocking subscribers: [`Subscriber`] and the [`Subscribe`] guard (the
//! reference's `with Subscribe(...) as sub:`).
//!
//! See the [module documentation](super) for the rule on async contexts.

use std::time::Duration;

use posttroll_core::{Address, ConnectionEvent, ErrorKind, Message, Result};

use super::{block_on, in_async_context, run, OnRuntime};
use crate::subscriber::{
    self as asynch, MessageFilter, NameserverSetting, SubscriberKind, SubscriberSettings,
};
use crate::Context;

/// A blocking [`crate::subscriber::Subscriber`]. Cheap to clone: one
/// thread may receive while another stops it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::blocking::subscribe::Subscriber;
/// use posttroll::{Config, Context};
///
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let subscriber = Subscriber::builder()
///     .addresses(["tcp://127.0.0.1:40000"])
///     .topics(["/counter"])
///     .context(ctx)
///     .start()?;
/// // Nothing is published there: one `None` per timeout.
/// for msg in subscriber.recv(Some(Duration::from_millis(10))).take(2) {
///     assert!(msg?.is_none());
/// }
/// subscriber.stop()?;
/// assert!(subscriber.recv(None).next().is_none());
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Subscriber {
    inner: OnRuntime<asynch::Subscriber>,
}

/// Builds a blocking [`Subscriber`]; the setters are those of
/// [`crate::subscriber::SubscriberBuilder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until started"]
pub struct SubscriberBuilder(asynch::SubscriberBuilder);

/// The messages of a blocking subscriber; see [`Subscriber::recv`].
#[derive(Debug)]
pub struct Messages<'a> {
    subscriber: &'a asynch::Subscriber,
    timeout: Option<Duration>,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<Option<Message>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match run(self.subscriber.recv(self.timeout)) {
            Ok(item) => Some(Ok(item)),
            Err(err) if err.kind() == ErrorKind::Closed => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

/// A subscriber's connection events, waiting for each; see
/// [`Subscriber::events`].
#[derive(Debug)]
pub struct EventsIter {
    events: asynch::Events,
}

impl EventsIter {
    /// The next event, waiting at most `timeout`: `Ok(None)` when it passes
    /// first, `Err(Closed)` once the subscriber stopped.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<ConnectionEvent>> {
        let events = &mut self.events;
        match run(async { Ok(tokio::time::timeout(timeout, events.next()).await) })? {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => Err(posttroll_core::Error::closed("subscriber")),
            Err(_) => Ok(None),
        }
    }
}

impl Iterator for EventsIter {
    type Item = ConnectionEvent;

    fn next(&mut self) -> Option<ConnectionEvent> {
        let events = &mut self.events;
        block_on(events.next()).ok().flatten()
    }
}

impl Subscriber {
    /// A builder; see [`crate::subscriber::Subscriber::builder`].
    pub fn builder() -> SubscriberBuilder {
        SubscriberBuilder::default()
    }

    /// The async subscriber underneath.
    pub fn as_async(&self) -> &asynch::Subscriber {
        &self.inner
    }

    /// The messages, as the reference's `recv(timeout)` generator: endless,
    /// `Ok(None)` each time `timeout` passes with nothing (with no timeout,
    /// waits); it ends once the subscriber is stopped. An error ends it
    /// too, after being yielded.
    pub fn recv(&self, timeout: Option<Duration>) -> Messages<'_> {
        Messages {
            subscriber: &self.inner,
            timeout,
            done: false,
        }
    }

    /// The next message, `Ok(None)` after `timeout`; see
    /// [`crate::subscriber::Subscriber::recv`].
    pub fn recv_one(&self, timeout: Option<Duration>) -> Result<Option<Message>> {
        run(self.inner.recv(timeout))
    }

    /// See [`crate::subscriber::Subscriber::add`].
    pub fn add(&self, address: impl Into<Address>, topics: Option<Vec<String>>) -> Result<()> {
        run(self.inner.add(address, topics))
    }

    /// See [`crate::subscriber::Subscriber::remove`].
    pub fn remove(&self, uri: &str) -> Result<()> {
        run(self.inner.remove(uri))
    }

    /// See [`crate::subscriber::Subscriber::update`].
    pub fn update<I, A>(&self, addresses: I) -> Result<bool>
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        run(self.inner.update(addresses))
    }

    /// The connected addresses.
    pub fn addresses(&self) -> Vec<Address> {
        self.inner.addresses()
    }

    /// The connection events from now on, as an iterator that waits for
    /// each; see [`crate::subscriber::Subscriber::events`]. It ends when
    /// the subscriber stops.
    pub fn events(&self) -> EventsIter {
        EventsIter {
            events: self.inner.events(),
        }
    }

    /// Waits until connected to every address; see
    /// [`crate::subscriber::Subscriber::wait_connected`].
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        run(self.inner.wait_connected(timeout))
    }

    /// See [`crate::subscriber::Subscriber::queued_bytes`].
    pub fn queued_bytes(&self) -> u64 {
        self.inner.queued_bytes()
    }

    /// Stops the subscriber; returns within 1 s.
    pub fn stop(&self) -> Result<()> {
        run(self.inner.stop())
    }
}

impl From<asynch::Subscriber> for Subscriber {
    fn from(subscriber: asynch::Subscriber) -> Subscriber {
        Subscriber {
            inner: OnRuntime::new(subscriber),
        }
    }
}

impl SubscriberBuilder {
    /// See [`crate::subscriber::SubscriberBuilder::addresses`].
    pub fn addresses<I, A>(self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        SubscriberBuilder(self.0.addresses(addresses))
    }

    /// See [`crate::subscriber::SubscriberBuilder::heartbeat_alarm_scale`].
    pub fn heartbeat_alarm_scale(self, scale: f64) -> Self {
        SubscriberBuilder(self.0.heartbeat_alarm_scale(scale))
    }

    /// See [`crate::subscriber::SubscriberBuilder::reconnect_when_silent`].
    pub fn reconnect_when_silent(self, reconnect: bool) -> Self {
        SubscriberBuilder(self.0.reconnect_when_silent(reconnect))
    }

    /// See [`crate::subscriber::SubscriberBuilder::topics`].
    pub fn topics<I, S>(self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SubscriberBuilder(self.0.topics(topics))
    }

    /// See [`crate::subscriber::SubscriberBuilder::message_filter`].
    pub fn message_filter(self, filter: impl Fn(&Message) -> bool + Send + Sync + 'static) -> Self {
        SubscriberBuilder(self.0.message_filter(filter))
    }

    /// See [`crate::subscriber::SubscriberBuilder::translate`].
    pub fn translate(self, translate: bool) -> Self {
        SubscriberBuilder(self.0.translate(translate))
    }

    /// See [`crate::subscriber::SubscriberBuilder::queue_bytes`].
    pub fn queue_bytes(self, bytes: u64) -> Self {
        SubscriberBuilder(self.0.queue_bytes(bytes))
    }

    /// See [`crate::subscriber::SubscriberBuilder::context`].
    pub fn context(self, context: Context) -> Self {
        SubscriberBuilder(self.0.context(context))
    }

    /// Connects and starts receiving.
    pub fn start(self) -> Result<Subscriber> {
        run(self.0.start()).map(Subscriber::from)
    }
}

/// The subscribing guard, the reference's `with Subscribe(services, topics,
/// ...) as sub:`: a [`Subscriber`] made from the settings as
/// [`crate::subscriber::create_subscriber_from_dict_config`] does (a plain
/// one on `addresses` when the nameserver is disabled, else one fed by the
/// nameserver), stopped when the guard is dropped. It dereferences to the
/// [`Subscriber`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::blocking::subscribe::Subscribe;
/// use posttroll::{Config, Context};
///
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let sub = Subscribe::builder()
///     .addresses(vec!["tcp://127.0.0.1:40000".into()])
///     .nameserver_disabled()
///     .topics(vec!["/counter".into()])
///     .context(ctx)
///     .start()?;
/// assert!(sub.recv_one(Some(Duration::from_millis(10)))?.is_none());
/// drop(sub); // stopped
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct Subscribe {
    subscriber: Subscriber,
}

/// Builds a [`Subscribe`] guard, with the arguments of the reference's
/// `Subscribe(services="", topics="pytroll:/", addr_listener=False,
/// addresses=None, timeout=10, translate=False, nameserver="localhost",
/// message_filter=None)`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct SubscribeBuilder {
    settings: SubscriberSettings,
    context: Option<Context>,
}

impl Subscribe {
    /// `Subscribe(service, topics)`: a subscriber fed by the nameserver on
    /// `localhost` (`service` `""`: every service).
    pub fn new<S: Into<String>>(
        service: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<Subscribe> {
        Subscribe::builder()
            .services(vec![service.into()])
            .topics(topics.into_iter().map(Into::into).collect())
            .start()
    }

    /// A builder with the reference's defaults.
    pub fn builder() -> SubscribeBuilder {
        SubscribeBuilder {
            settings: SubscriberSettings {
                topics: Some(vec![posttroll_core::message::MAGIC.to_owned()]),
                ..SubscriberSettings::default()
            },
            context: None,
        }
    }

    /// A guard from full settings, on `context` (default [`Context::global`]).
    pub fn from_settings(
        settings: SubscriberSettings,
        context: Option<Context>,
    ) -> Result<Subscribe> {
        let subscriber = run(async {
            let ctx = match context {
                Some(ctx) => ctx,
                None => Context::global()?,
            };
            asynch::create_subscriber_from_dict_config(&ctx, settings).await
        })?;
        Ok(Subscribe {
            subscriber: Subscriber::from(subscriber),
        })
    }

    /// The subscriber.
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// Stops now, reporting an error (dropping the guard stops too, but
    /// only logs errors).
    pub fn stop(self) -> Result<()> {
        self.subscriber.stop()
    }
}

impl std::ops::Deref for Subscribe {
    type Target = Subscriber;

    fn deref(&self) -> &Subscriber {
        &self.subscriber
    }
}

impl Drop for Subscribe {
    fn drop(&mut self) {
        if in_async_context() {
            tracing::warn!("a Subscribe guard dropped inside an async runtime: its tasks are aborted, not stopped");
            return;
        }
        match block_on(self.subscriber.as_async().stop()) {
            Ok(Ok(())) => {}
            Ok(Err(err)) | Err(err) => tracing::warn!("stopping a subscriber: {err}"),
        }
    }
}

impl SubscribeBuilder {
    /// The services (`[""]`, the default: all; empty: none).
    pub fn services(mut self, services: Vec<String>) -> Self {
        self.settings.services = services;
        self
    }

    /// The topics (default `pytroll:/`: everything).
    pub fn topics(mut self, topics: Vec<String>) -> Self {
        self.settings.topics = Some(topics);
        self
    }

    /// Follow the nameserver's address events.
    pub fn addr_listener(mut self, addr_listener: bool) -> Self {
        self.settings.addr_listener = addr_listener;
        self
    }

    /// Addresses to connect to.
    pub fn addresses(mut self, addresses: Vec<Address>) -> Self {
        self.settings.addresses = addresses;
        self
    }

    /// How long to ask the nameserver for each service (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// See [`crate::subscriber::SubscriberBuilder::translate`].
    pub fn translate(mut self, translate: bool) -> Self {
        self.settings.translate = translate;
        self
    }

    /// The nameserver's host (default `localhost`).
    pub fn nameserver(mut self, host: impl Into<String>) -> Self {
        self.settings.nameserver = NameserverSetting::Host(host.into());
        self
    }

    /// The reference's `nameserver=False`: with addresses, a plain
    /// subscriber that asks no nameserver.
    pub fn nameserver_disabled(mut self) -> Self {
        self.settings.nameserver = NameserverSetting::Disabled;
        self
    }

    /// See [`crate::subscriber::SubscriberBuilder::message_filter`].
    pub fn message_filter(
        mut self,
        filter: impl Fn(&Message) -> bool + Send + Sync + 'static,
    ) -> Self {
        let filter: MessageFilter = std::sync::Arc::new(filter);
        self.settings.message_filter = Some(filter);
        self
    }

    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Which subscriber the settings make.
    pub fn kind(&self) -> SubscriberKind {
        self.settings.kind()
    }

    /// The settings built so far.
    pub fn settings(&self) -> &SubscriberSettings {
        &self.settings
    }

    /// Creates and starts the subscriber.
    pub fn start(self) -> Result<Subscribe> {
        Subscribe::from_settings(self.settings, self.context)
    }
}

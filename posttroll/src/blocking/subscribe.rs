//! Blocking subscribers: [`Subscriber`] and the [`Subscribe`] guard (the
//! reference's `with Subscribe(...) as sub:`).
//!
//! There are no blocking builders: build with the async builders and start
//! with `start_blocking` ([`asynch::SubscriberBuilder::start_blocking`],
//! [`asynch::NSSubscriberBuilder::start_blocking`]), or make a
//! [`Subscribe`] guard from [`SubscriberSettings`].
//!
//! See the [module documentation](super) for the rule on async contexts.

use std::time::Duration;

use posttroll_core::{Address, ConnectionEvent, ErrorKind, Message, Result};

use super::{block_on, in_async_context, run, OnRuntime};
use crate::subscriber::{self as asynch, SubscriberSettings};
use crate::Context;

/// A blocking [`crate::subscriber::Subscriber`]. Cheap to clone: one
/// thread may receive while another stops it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::subscriber::Subscriber;
/// use posttroll::Context;
///
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let subscriber = Subscriber::builder()
///     .addresses(["tcp://127.0.0.1:40000"])
///     .topics(["/counter"])
///     .start_blocking()?;
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

impl asynch::SubscriberBuilder {
    /// Connects and starts receiving, as [`start`](Self::start), and
    /// returns a blocking [`Subscriber`]. Errors too when called from
    /// inside an async runtime.
    pub fn start_blocking(self) -> Result<Subscriber> {
        run(self.start()).map(Subscriber::from)
    }
}

impl asynch::NSSubscriberBuilder {
    /// Starts the subscriber, as [`start`](Self::start), and returns a
    /// blocking [`Subscriber`]. Errors too when called from inside an
    /// async runtime.
    pub fn start_blocking(self) -> Result<Subscriber> {
        run(self.start()).map(Subscriber::from)
    }
}

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

/// The subscribing guard, the reference's `with Subscribe(services, topics,
/// ...) as sub:`: a [`Subscriber`] (which it dereferences to) made from the
/// settings as [`crate::subscriber::create_subscriber_from_dict_config`]
/// does (a plain one on `addresses` when the nameserver is disabled, else
/// one fed by the nameserver), stopped when the guard is dropped.
///
/// [`Subscribe::new`] is the reference's `Subscribe(service, topics)`; its
/// other arguments (`addr_listener`, `addresses`, `timeout`, `nameserver`,
/// ...) are the fields of [`SubscriberSettings`], for
/// [`Subscribe::from_settings`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::blocking::subscribe::Subscribe;
/// use posttroll::subscriber::{NameserverSetting, SubscriberSettings};
/// use posttroll::Context;
///
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// // Subscribe(topics=["/counter"], addresses=[...], nameserver=False)
/// let settings = SubscriberSettings {
///     addresses: vec!["tcp://127.0.0.1:40000".into()],
///     nameserver: NameserverSetting::Disabled,
///     topics: Some(vec!["/counter".into()]),
///     ..SubscriberSettings::default()
/// };
/// let sub = Subscribe::from_settings(settings, None)?;
/// assert!(sub.recv_one(Some(Duration::from_millis(10)))?.is_none());
/// drop(sub); // stopped
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct Subscribe {
    subscriber: Subscriber,
}

impl Subscribe {
    /// `Subscribe(service, topics)`: a subscriber fed by the nameserver on
    /// `localhost` (`service` `""`: every service), on [`Context::global`].
    pub fn new<I, S>(service: impl Into<String>, topics: I) -> Result<Subscribe>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let settings = SubscriberSettings {
            services: vec![service.into()],
            topics: Some(topics.into_iter().map(Into::into).collect()),
            ..SubscriberSettings::default()
        };
        Subscribe::from_settings(settings, None)
    }

    /// A guard from full settings (see
    /// [`crate::subscriber::create_subscriber_from_dict_config`]), on
    /// `context` (default [`Context::global`]).
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

    /// Stops now, reporting an error (dropping the guard stops too, but
    /// only logs errors).
    pub fn stop(self) -> Result<()> {
        self.subscriber.stop()
        // Dropping `self` then stops again, which does nothing.
    }
}

/// Everything but stopping ([`Subscribe::stop`], or dropping the guard) is
/// the [`Subscriber`]'s.
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

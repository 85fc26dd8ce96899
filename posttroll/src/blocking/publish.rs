//! Blocking publishers: [`Publisher`], [`NoisyPublisher`], and the
//! [`Publish`] guard (the reference's `with Publish(...) as pub:`).
//!
//! See the [module documentation](super) for the rule on async contexts.

use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{Endpoint, Message, Result};

use super::{block_on, in_async_context, run, OnRuntime};
use crate::publisher::{
    self as asynch, AnyPublisher, NameserversSetting, PublisherKind, PublisherSettings,
};
use crate::Context;

/// A blocking [`crate::publisher::Publisher`]. Cheap to clone.
///
/// # Examples
///
/// ```
/// use posttroll::blocking::publish::Publisher;
/// use posttroll::{Config, Context, Message};
///
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let publisher = Publisher::builder("tcp://*:0").name("my_service").context(ctx).start()?;
/// publisher.send(&Message::new("/counter", "info", "1")?)?;
/// publisher.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: OnRuntime<asynch::Publisher>,
}

/// Builds a blocking [`Publisher`]; the setters are those of
/// [`crate::publisher::PublisherBuilder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct PublisherBuilder(asynch::PublisherBuilder);

impl Publisher {
    /// A builder binding `address`; see [`crate::publisher::Publisher::builder`].
    pub fn builder(address: impl Into<String>) -> PublisherBuilder {
        PublisherBuilder(asynch::Publisher::builder(address))
    }

    /// The async publisher underneath.
    pub fn as_async(&self) -> &asynch::Publisher {
        &self.inner
    }

    /// The publisher's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The endpoint as bound.
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    /// The port bound.
    pub fn port_number(&self) -> Option<u16> {
        self.inner.port_number()
    }

    /// Sends a message; see [`crate::publisher::Publisher::send`].
    pub fn send(&self, msg: &Message) -> Result<()> {
        run(self.inner.send(msg))
    }

    /// Sends an encoded frame; see [`crate::publisher::Publisher::send_raw`].
    pub fn send_raw(&self, frame: impl Into<Bytes> + Send) -> Result<()> {
        run(self.inner.send_raw(frame))
    }

    /// Sends a heartbeat if due; see [`crate::publisher::Publisher::heartbeat`].
    pub fn heartbeat(&self, min_interval: Duration) -> Result<bool> {
        run(self.inner.heartbeat(min_interval))
    }

    /// Waits for `n` subscribers; see
    /// [`crate::publisher::Publisher::wait_for_subscribers`].
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        run(self.inner.wait_for_subscribers(n, timeout))
    }

    /// Stops the publisher; see [`crate::publisher::Publisher::stop`].
    pub fn stop(&self) -> Result<()> {
        run(self.inner.stop())
    }
}

impl From<asynch::Publisher> for Publisher {
    fn from(publisher: asynch::Publisher) -> Publisher {
        Publisher {
            inner: OnRuntime::new(publisher),
        }
    }
}

impl PublisherBuilder {
    /// See [`crate::publisher::PublisherBuilder::context`].
    pub fn context(self, context: Context) -> Self {
        PublisherBuilder(self.0.context(context))
    }

    /// See [`crate::publisher::PublisherBuilder::name`].
    pub fn name(self, name: impl Into<String>) -> Self {
        PublisherBuilder(self.0.name(name))
    }

    /// See [`crate::publisher::PublisherBuilder::min_port`].
    pub fn min_port(self, port: u16) -> Self {
        PublisherBuilder(self.0.min_port(port))
    }

    /// See [`crate::publisher::PublisherBuilder::max_port`].
    pub fn max_port(self, port: u32) -> Self {
        PublisherBuilder(self.0.max_port(port))
    }

    /// See [`crate::publisher::PublisherBuilder::send_high_water_mark`].
    pub fn send_high_water_mark(self, hwm: u32) -> Self {
        PublisherBuilder(self.0.send_high_water_mark(hwm))
    }

    /// See [`crate::publisher::PublisherBuilder::no_drop`].
    pub fn no_drop(self, no_drop: bool) -> Self {
        PublisherBuilder(self.0.no_drop(no_drop))
    }

    /// Binds the socket; see [`crate::publisher::PublisherBuilder::start`].
    pub fn start(self) -> Result<Publisher> {
        run(self.0.start()).map(Publisher::from)
    }
}

/// A blocking [`crate::publisher::NoisyPublisher`]: a publisher that
/// announces itself. Stop it with [`NoisyPublisher::stop`]; dropping it
/// also ends the announcements.
///
/// # Examples
///
/// ```
/// use posttroll::blocking::publish::NoisyPublisher;
/// use posttroll::{Config, Context, Message};
///
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let publisher = NoisyPublisher::builder("my_service").context(ctx).start()?;
/// publisher.send(&Message::new("/counter", "info", "1")?)?;
/// publisher.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct NoisyPublisher {
    inner: OnRuntime<asynch::NoisyPublisher>,
}

/// Builds a blocking [`NoisyPublisher`]; the setters are those of
/// [`crate::publisher::NoisyPublisherBuilder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct NoisyPublisherBuilder(asynch::NoisyPublisherBuilder);

impl NoisyPublisher {
    /// A builder for a publisher announced as `name`; see
    /// [`crate::publisher::NoisyPublisher::builder`].
    pub fn builder(name: impl Into<String>) -> NoisyPublisherBuilder {
        NoisyPublisherBuilder(asynch::NoisyPublisher::builder(name))
    }

    /// The async publisher underneath.
    pub fn as_async(&self) -> &asynch::NoisyPublisher {
        &self.inner
    }

    /// The URI announced.
    pub fn announced_uri(&self) -> &str {
        self.inner.announced_uri()
    }

    /// The port bound.
    pub fn port_number(&self) -> Option<u16> {
        self.inner.port_number()
    }

    /// Sends a message; see [`crate::publisher::Publisher::send`].
    pub fn send(&self, msg: &Message) -> Result<()> {
        run(self.inner.send(msg))
    }

    /// Sends an encoded frame; see [`crate::publisher::Publisher::send_raw`].
    pub fn send_raw(&self, frame: impl Into<Bytes> + Send) -> Result<()> {
        run(self.inner.send_raw(frame))
    }

    /// Sends a heartbeat if due; see [`crate::publisher::Publisher::heartbeat`].
    pub fn heartbeat(&self, min_interval: Duration) -> Result<bool> {
        run(self.inner.heartbeat(min_interval))
    }

    /// Waits for `n` subscribers; see
    /// [`crate::publisher::Publisher::wait_for_subscribers`].
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        run(self.inner.wait_for_subscribers(n, timeout))
    }

    /// Stops publishing and announcing; returns within 1 s.
    pub fn stop(&self) -> Result<()> {
        run(self.inner.stop())
    }
}

impl From<asynch::NoisyPublisher> for NoisyPublisher {
    fn from(publisher: asynch::NoisyPublisher) -> NoisyPublisher {
        NoisyPublisher {
            inner: OnRuntime::new(publisher),
        }
    }
}

impl NoisyPublisherBuilder {
    /// See [`crate::publisher::NoisyPublisherBuilder::context`].
    pub fn context(self, context: Context) -> Self {
        NoisyPublisherBuilder(self.0.context(context))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::port`].
    pub fn port(self, port: u16) -> Self {
        NoisyPublisherBuilder(self.0.port(port))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::aliases`].
    pub fn aliases(self, aliases: Vec<String>) -> Self {
        NoisyPublisherBuilder(self.0.aliases(aliases))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::broadcast_interval`].
    pub fn broadcast_interval(self, interval: Duration) -> Self {
        NoisyPublisherBuilder(self.0.broadcast_interval(interval))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::nameservers`].
    pub fn nameservers(self, nameservers: Vec<String>) -> Self {
        NoisyPublisherBuilder(self.0.nameservers(nameservers))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::min_port`].
    pub fn min_port(self, port: u16) -> Self {
        NoisyPublisherBuilder(self.0.min_port(port))
    }

    /// See [`crate::publisher::NoisyPublisherBuilder::max_port`].
    pub fn max_port(self, port: u32) -> Self {
        NoisyPublisherBuilder(self.0.max_port(port))
    }

    /// Binds and starts announcing; see
    /// [`crate::publisher::NoisyPublisherBuilder::start`].
    pub fn start(self) -> Result<NoisyPublisher> {
        run(self.0.start()).map(NoisyPublisher::from)
    }
}

/// The publishing guard, the reference's `with Publish(name, port, ...) as
/// pub:`: a [`Publisher`] or a [`NoisyPublisher`] chosen from the settings
/// as [`crate::publisher::create_publisher_from_dict_config`] does, stopped
/// when the guard is dropped.
///
/// With only a name (and a port), it is a [`NoisyPublisher`] announced by
/// multicast; with a port and [`PublishBuilder::nameservers_disabled`], a
/// plain publisher on that port.
///
/// # Examples
///
/// ```
/// use posttroll::blocking::publish::Publish;
/// use posttroll::{Config, Context, Message};
///
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// {
///     let publish = Publish::builder("my_service").port(40911).context(ctx).start()?;
///     assert_eq!(publish.port_number(), Some(40911));
///     publish.send(&Message::new("/counter", "info", "1")?)?;
/// } // stopped here
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct Publish {
    publisher: Option<OnRuntime<AnyPublisher>>,
}

/// Builds a [`Publish`] guard, with the arguments of the reference's
/// `Publish(name, port=0, aliases=None, broadcast_interval=2,
/// nameservers=None, min_port=None, max_port=None)`.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct PublishBuilder {
    settings: PublisherSettings,
    context: Option<Context>,
}

impl Publish {
    /// `Publish(name, port)`: a noisy publisher on `port` (0: a free one),
    /// announced by multicast.
    pub fn new(name: impl Into<String>, port: u16) -> Result<Publish> {
        Publish::builder(name).port(port).start()
    }

    /// A builder for a publisher named `name`.
    pub fn builder(name: impl Into<String>) -> PublishBuilder {
        PublishBuilder {
            settings: PublisherSettings::named(name),
            context: None,
        }
    }

    /// A guard from full settings (which may lack a name: see
    /// [`crate::publisher::create_publisher_from_dict_config`]), on
    /// `context` (default [`Context::global`]).
    pub fn from_settings(
        settings: &PublisherSettings,
        context: Option<Context>,
    ) -> Result<Publish> {
        let publisher = run(async {
            let ctx = match context {
                Some(ctx) => ctx,
                None => Context::global()?,
            };
            asynch::create_publisher_from_dict_config(&ctx, settings).await
        })?;
        Ok(Publish {
            publisher: Some(OnRuntime::new(publisher)),
        })
    }

    fn get(&self) -> Result<&AnyPublisher> {
        match &self.publisher {
            Some(p) => Ok(p),
            None => Err(posttroll_core::Error::closed("publish guard")),
        }
    }

    /// Which kind of publisher was made.
    pub fn kind(&self) -> Option<PublisherKind> {
        self.publisher.as_ref().map(|p| p.kind())
    }

    /// The async publisher underneath (`None` once stopped).
    pub fn as_async(&self) -> Option<&AnyPublisher> {
        self.publisher.as_deref()
    }

    /// Sends a message; see [`crate::publisher::Publisher::send`].
    pub fn send(&self, msg: &Message) -> Result<()> {
        let publisher = self.get()?;
        run(publisher.send(msg))
    }

    /// Sends an encoded frame; see [`crate::publisher::Publisher::send_raw`].
    pub fn send_raw(&self, frame: impl Into<Bytes> + Send) -> Result<()> {
        let publisher = self.get()?;
        run(publisher.send_raw(frame))
    }

    /// Sends a heartbeat if due; see [`crate::publisher::Publisher::heartbeat`].
    pub fn heartbeat(&self, min_interval: Duration) -> Result<bool> {
        let publisher = self.get()?;
        run(publisher.heartbeat(min_interval))
    }

    /// Waits for `n` subscribers; see
    /// [`crate::publisher::Publisher::wait_for_subscribers`].
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        let publisher = self.get()?;
        run(publisher.wait_for_subscribers(n, timeout))
    }

    /// The port bound.
    pub fn port_number(&self) -> Option<u16> {
        self.publisher.as_ref().and_then(|p| p.port_number())
    }

    /// Stops now, reporting an error (dropping the guard stops too, but
    /// only logs errors).
    pub fn stop(mut self) -> Result<()> {
        match self.publisher.take() {
            Some(publisher) => run(publisher.stop()),
            None => Ok(()),
        }
    }
}

impl Drop for Publish {
    fn drop(&mut self) {
        let Some(publisher) = self.publisher.take() else {
            return;
        };
        if in_async_context() {
            tracing::warn!("a Publish guard dropped inside an async runtime: its tasks are aborted, not stopped");
            return;
        }
        match block_on(publisher.stop()) {
            Ok(Ok(())) => {}
            Ok(Err(err)) | Err(err) => tracing::warn!("stopping a publisher: {err}"),
        }
    }
}

impl PublishBuilder {
    /// The port (0, the default: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.settings.port = Some(port);
        self
    }

    /// The aliases announced.
    pub fn aliases(mut self, aliases: Vec<String>) -> Self {
        self.settings.aliases = aliases;
        self
    }

    /// The broadcast interval (default 2 s; zero: never).
    pub fn broadcast_interval(mut self, interval: Duration) -> Self {
        self.settings.broadcast_interval = Some(interval);
        self
    }

    /// Announce to these nameservers instead of by multicast.
    pub fn nameservers(mut self, nameservers: Vec<String>) -> Self {
        self.settings.nameservers = NameserversSetting::List(nameservers);
        self
    }

    /// The reference's `nameservers=False`: with a port, a plain publisher
    /// that announces nothing.
    pub fn nameservers_disabled(mut self) -> Self {
        self.settings.nameservers = NameserversSetting::Disabled;
        self
    }

    /// See [`crate::publisher::PublisherBuilder::min_port`].
    pub fn min_port(mut self, port: u16) -> Self {
        self.settings.min_port = Some(port);
        self
    }

    /// See [`crate::publisher::PublisherBuilder::max_port`].
    pub fn max_port(mut self, port: u32) -> Self {
        self.settings.max_port = Some(port);
        self
    }

    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// The settings built so far.
    pub fn settings(&self) -> &PublisherSettings {
        &self.settings
    }

    /// Creates and starts the publisher.
    pub fn start(self) -> Result<Publish> {
        Publish::from_settings(&self.settings, self.context)
    }
}

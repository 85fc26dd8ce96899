//! Blocking publishers: [`Publisher`], [`NoisyPublisher`], and the
//! [`Publish`] guard (the reference's `with Publish(...) as pub:`).
//!
//! There are no blocking builders: build with the async builders and start
//! with `start_blocking` ([`asynch::PublisherBuilder::start_blocking`],
//! [`asynch::NoisyPublisherBuilder::start_blocking`]), or make a
//! [`Publish`] guard from [`PublisherSettings`].
//!
//! See the [module documentation](super) for the rule on async contexts.

use std::ops::Deref;
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{Endpoint, Message, Result};

use super::{block_on, in_async_context, run, OnRuntime};
use crate::publisher::{self as asynch, AnyPublisher, PublisherKind, PublisherSettings};
use crate::Context;

/// A blocking [`crate::publisher::Publisher`]. Cheap to clone.
///
/// # Examples
///
/// ```
/// use posttroll::publisher::Publisher;
/// use posttroll::Message;
///
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = Publisher::builder("tcp://*:0").name("my_service").start_blocking()?;
/// publisher.send(&Message::new("/counter", "info", "1")?)?;
/// publisher.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: OnRuntime<asynch::Publisher>,
}

impl asynch::PublisherBuilder {
    /// Binds the socket, as [`start`](Self::start), and returns a blocking
    /// [`Publisher`]. Errors too when called from inside an async runtime.
    pub fn start_blocking(self) -> Result<Publisher> {
        run(self.start()).map(Publisher::from)
    }
}

impl Publisher {
    /// The async publisher underneath.
    pub fn as_async(&self) -> &asynch::Publisher {
        &self.inner
    }

    /// See [`crate::publisher::Publisher::name`].
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// See [`crate::publisher::Publisher::endpoint`].
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    /// See [`crate::publisher::Publisher::port_number`].
    pub fn port_number(&self) -> Option<u16> {
        self.inner.port_number()
    }

    /// See [`crate::publisher::Publisher::send`].
    pub fn send(&self, msg: &Message) -> Result<()> {
        run(self.inner.send(msg))
    }

    /// See [`crate::publisher::Publisher::send_raw`].
    pub fn send_raw(&self, frame: impl Into<Bytes> + Send) -> Result<()> {
        run(self.inner.send_raw(frame))
    }

    /// See [`crate::publisher::Publisher::heartbeat`].
    pub fn heartbeat(&self, min_interval: Duration) -> Result<bool> {
        run(self.inner.heartbeat(min_interval))
    }

    /// See [`crate::publisher::Publisher::wait_for_subscribers`].
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        run(self.inner.wait_for_subscribers(n, timeout))
    }

    /// See [`crate::publisher::Publisher::stop`].
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

/// A blocking [`crate::publisher::NoisyPublisher`]: a [`Publisher`] (which
/// it dereferences to) that announces itself. Stop it with
/// [`NoisyPublisher::stop`]; dropping it also ends the announcements.
///
/// # Examples
///
/// ```
/// use posttroll::publisher::NoisyPublisher;
/// use posttroll::Message;
///
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = NoisyPublisher::builder("my_service").start_blocking()?;
/// publisher.send(&Message::new("/counter", "info", "1")?)?;
/// publisher.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct NoisyPublisher {
    publisher: Publisher,
    inner: OnRuntime<asynch::NoisyPublisher>,
}

impl asynch::NoisyPublisherBuilder {
    /// Binds and starts announcing, as [`start`](Self::start), and returns
    /// a blocking [`NoisyPublisher`]. Errors too when called from inside an
    /// async runtime.
    pub fn start_blocking(self) -> Result<NoisyPublisher> {
        run(self.start()).map(NoisyPublisher::from)
    }
}

impl NoisyPublisher {
    /// The async publisher underneath.
    pub fn as_async(&self) -> &asynch::NoisyPublisher {
        &self.inner
    }

    /// See [`crate::publisher::NoisyPublisher::announced_uri`].
    pub fn announced_uri(&self) -> &str {
        self.inner.announced_uri()
    }

    /// See [`crate::publisher::NoisyPublisher::services`].
    pub fn services(&self) -> &[String] {
        self.inner.services()
    }

    /// Stops publishing and announcing; see
    /// [`crate::publisher::NoisyPublisher::stop`] (not the
    /// [`Publisher::stop`] the dereference also reaches).
    pub fn stop(&self) -> Result<()> {
        run(self.inner.stop())
    }
}

/// Everything but stopping ([`NoisyPublisher::stop`]) is the
/// [`Publisher`]'s.
impl Deref for NoisyPublisher {
    type Target = Publisher;

    fn deref(&self) -> &Publisher {
        &self.publisher
    }
}

impl From<asynch::NoisyPublisher> for NoisyPublisher {
    fn from(publisher: asynch::NoisyPublisher) -> NoisyPublisher {
        NoisyPublisher {
            publisher: Publisher::from(asynch::Publisher::clone(&publisher)),
            inner: OnRuntime::new(publisher),
        }
    }
}

/// The publishing guard, the reference's `with Publish(name, port, ...) as
/// pub:`: a [`Publisher`] (which it dereferences to), announced or not as
/// [`crate::publisher::create_publisher_from_dict_config`] decides from the
/// settings, stopped (announcements included) when the guard is dropped.
///
/// [`Publish::new`] is the reference's `Publish(name, port)`; its other
/// arguments (`aliases`, `broadcast_interval`, `nameservers`, ...) are the
/// fields of [`PublisherSettings`], for [`Publish::from_settings`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::blocking::publish::Publish;
/// use posttroll::publisher::{PublisherKind, PublisherSettings};
/// use posttroll::Message;
///
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// // Publish("my_service", 40911, aliases=["counter"], broadcast_interval=1)
/// let settings = PublisherSettings {
///     port: Some(40911),
///     aliases: vec!["counter".into()],
///     broadcast_interval: Some(Duration::from_secs(1)),
///     ..PublisherSettings::named("my_service")
/// };
/// {
///     let publish = Publish::from_settings(&settings, None)?;
///     assert_eq!(publish.kind(), PublisherKind::Noisy);
///     assert_eq!(publish.port_number(), Some(40911));
///     publish.send(&Message::new("/counter", "info", "1")?)?;
/// } // stopped here
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct Publish {
    publisher: Publisher,
    inner: OnRuntime<AnyPublisher>,
}

impl Publish {
    /// `Publish(name, port)`: a noisy publisher on `port` (0: a free one),
    /// announced by multicast, on [`Context::global`].
    pub fn new(name: impl Into<String>, port: u16) -> Result<Publish> {
        let settings = PublisherSettings {
            port: Some(port),
            ..PublisherSettings::named(name)
        };
        Publish::from_settings(&settings, None)
    }

    /// A guard from full settings (see
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
            publisher: Publisher::from(asynch::Publisher::clone(&publisher)),
            inner: OnRuntime::new(publisher),
        })
    }

    /// Which kind of publisher the settings made.
    pub fn kind(&self) -> PublisherKind {
        self.inner.kind()
    }

    /// The async publisher underneath.
    pub fn as_async(&self) -> &AnyPublisher {
        &self.inner
    }

    /// Stops now (announcements included), reporting an error (dropping
    /// the guard stops too, but only logs errors).
    pub fn stop(self) -> Result<()> {
        run(self.inner.stop())
        // Dropping `self` then stops again, which does nothing.
    }
}

/// Everything but stopping ([`Publish::stop`], or dropping the guard) is
/// the [`Publisher`]'s.
impl Deref for Publish {
    type Target = Publisher;

    fn deref(&self) -> &Publisher {
        &self.publisher
    }
}

impl Drop for Publish {
    fn drop(&mut self) {
        if in_async_context() {
            tracing::warn!("a Publish guard dropped inside an async runtime: its tasks are aborted, not stopped");
            return;
        }
        match block_on(self.inner.stop()) {
            Ok(Ok(())) => {}
            Ok(Err(err)) | Err(err) => tracing::warn!("stopping a publisher: {err}"),
        }
    }
}

//! Publishing messages: [`Publisher`] binds a socket and sends;
//! [`NoisyPublisher`] also announces itself so that it can be found by
//! name; [`create_publisher_from_dict_config`] picks one from settings, as
//! the reference does.

mod noisy;
mod settings;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{
    BindSpec, Data, Endpoint, Error, Message, PubOptions, PubSocket, Result, Value,
};
use tokio::time::Instant;

pub use noisy::{NoisyPublisher, NoisyPublisherBuilder};
pub use settings::{
    create_publisher_from_dict_config, AnyPublisher, NameserversSetting, PublisherKind,
    PublisherSettings,
};

use crate::Context;

/// A bound publishing socket that sends messages (the reference's
/// `Publisher`).
///
/// Cheap to clone: clones share the socket. Sending from several tasks at
/// once is fine.
///
/// # Examples
///
/// ```
/// use posttroll::{publisher::Publisher, Message};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = Publisher::builder("tcp://*:0").name("my_service").start().await?;
/// assert!(publisher.port_number().is_some_and(|port| port != 0));
/// publisher.send(&Message::new("/counter", "info", "1")?).await?;
/// publisher.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    socket: Box<dyn PubSocket>,
    endpoint: Endpoint,
    message_version: Option<String>,
    last_beat: Mutex<Option<Instant>>,
    stopped: AtomicBool,
}

/// Builds a [`Publisher`]; see [`Publisher::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct PublisherBuilder {
    address: String,
    name: String,
    context: Option<Context>,
    min_port: Option<u16>,
    max_port: Option<u32>,
    options: PubOptions,
}

impl Publisher {
    /// A builder binding `address`, e.g. `tcp://*:0` (a free port in
    /// `[min_port, max_port)`), `tcp://*:9000`, `tcp://[::1]:9000`,
    /// `ipc:///tmp/pub.sock` or `inproc://x`. `*` is every interface: IPv6
    /// and IPv4 where the host is dual-stack, else IPv4 (as the reference);
    /// `0.0.0.0` is IPv4 only.
    pub fn builder(address: impl Into<String>) -> PublisherBuilder {
        PublisherBuilder {
            address: address.into(),
            name: String::new(),
            context: None,
            min_port: None,
            max_port: None,
            options: PubOptions::default(),
        }
    }

    /// The publisher's name (used in heartbeat subjects; may be empty).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The endpoint as bound, with the real port.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The port bound (TCP endpoints only).
    pub fn port_number(&self) -> Option<u16> {
        self.inner.endpoint.port()
    }

    /// Sends a message, encoded with the context's `message_version`.
    ///
    /// Errors with [`ErrorKind::Closed`](posttroll_core::ErrorKind::Closed)
    /// after [`Publisher::stop`].
    pub async fn send(&self, msg: &Message) -> Result<()> {
        let frame = msg.encode_with(self.inner.message_version.as_deref());
        self.send_raw(frame).await
    }

    /// Sends an already encoded frame as is (the reference's `send`, which
    /// takes the encoded string).
    pub async fn send_raw(&self, frame: impl Into<Bytes> + Send) -> Result<()> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(Error::closed(format!(
                "publisher on {}",
                self.inner.endpoint
            )));
        }
        // Sent at once when the engine has room, without a boxed future.
        if let Some(frame) = self.inner.socket.try_send(frame.into())? {
            self.inner.socket.send(frame).await?;
        }
        posttroll_core::metrics::message_sent();
        Ok(())
    }

    /// Waits until at least `n` subscribers have subscribed (their
    /// subscriptions reached this publisher, so they get what is sent
    /// next), at most `timeout`; returns how many there are. This replaces
    /// the `sleep` after starting a publisher that slow-joining subscribers
    /// otherwise need.
    ///
    /// A subscriber counts once it has at least one subscription (on the
    /// libzmq engine, which cannot tell subscribers apart, each
    /// subscription counts: a subscriber of two topics counts twice).
    ///
    /// Errors with [`ErrorKind::Timeout`](posttroll_core::ErrorKind::Timeout)
    /// when fewer subscribed in time, with `Closed` after [`Publisher::stop`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use posttroll::{publisher::Publisher, subscriber::Subscriber, Message};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
    /// let publisher = Publisher::builder("inproc://wait-doc").start().await?;
    /// let subscriber = Subscriber::builder()
    ///     .addresses(["inproc://wait-doc"])
    ///     .start()
    ///     .await?;
    /// publisher.wait_for_subscribers(1, Duration::from_secs(5)).await?;
    /// publisher.send(&Message::new("/counter", "info", "1")?).await?;
    /// let msg = subscriber.recv(Some(Duration::from_secs(5))).await?;
    /// assert_eq!(msg.map(|m| m.subject().to_owned()).as_deref(), Some("/counter"));
    /// # subscriber.stop().await?;
    /// # publisher.stop().await?;
    /// # Ok::<(), posttroll::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(Error::closed(format!(
                "publisher on {}",
                self.inner.endpoint
            )));
        }
        self.inner.socket.wait_for_subscribers(n, timeout).await
    }

    /// Sends a heartbeat, `Message("/heartbeat/<name>", "beat",
    /// {"min_interval": <seconds>})`, when at least `min_interval` passed
    /// since the last one (always when `min_interval` is zero). Returns
    /// whether one was sent.
    ///
    /// The seconds are written as an integer when whole (`{"min_interval":
    /// 10}`), else as a float (`{"min_interval": 0.5}`), as Python writes
    /// the number it is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use posttroll::publisher::Publisher;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
    /// let publisher = Publisher::builder("tcp://*:0").name("beater").start().await?;
    /// assert!(publisher.heartbeat(Duration::from_secs(60)).await?);
    /// assert!(!publisher.heartbeat(Duration::from_secs(60)).await?);
    /// assert!(publisher.heartbeat(Duration::ZERO).await?);
    /// publisher.stop().await?;
    /// # Ok::<(), posttroll::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn heartbeat(&self, min_interval: Duration) -> Result<bool> {
        {
            let now = Instant::now();
            let mut last = self
                .inner
                .last_beat
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = min_interval.is_zero()
                || last.is_none_or(|last| now.saturating_duration_since(last) >= min_interval);
            if !due {
                return Ok(false);
            }
            *last = Some(now);
        }
        tracing::debug!("publishing a heartbeat (min_interval {min_interval:?})");
        let msg = heartbeat_message(&self.inner.name, min_interval)?;
        self.send(&msg).await?;
        Ok(true)
    }

    /// Unbinds the socket; later sends fail. Calling it again does nothing.
    pub async fn stop(&self) -> Result<()> {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        tracing::debug!("stopping the publisher on {}", self.inner.endpoint);
        match tokio::time::timeout(
            crate::discovery::worker::STOP_GRACE,
            self.inner.socket.close(),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("closing the publisher on {} timed out", self.inner.endpoint);
                Ok(())
            }
        }
    }

    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }
}

/// The heartbeat message of publisher `name`.
pub(crate) fn heartbeat_message(name: &str, min_interval: Duration) -> Result<Message> {
    Ok(Message::new(
        format!("/heartbeat/{name}"),
        "beat",
        Data::Json(Value::object([(
            "min_interval",
            seconds_value(min_interval),
        )])),
    )?)
}

/// Seconds as Python would write the number given: an int when whole.
pub(crate) fn seconds_value(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::from(d.as_secs())
    } else {
        Value::Float(d.as_secs_f64())
    }
}

impl PublisherBuilder {
    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// The publisher's name, used in heartbeat subjects.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The lowest port a port 0 may become (default the `pub_min_port`
    /// config key; 0 also means the default, as in the reference).
    pub fn min_port(mut self, port: u16) -> Self {
        self.min_port = Some(port);
        self
    }

    /// The exclusive upper bound of the ports a port 0 may become (default
    /// the `pub_max_port` config key; 0 also means the default).
    pub fn max_port(mut self, port: u32) -> Self {
        self.max_port = Some(port);
        self
    }

    /// The send high-water mark, in messages (the engine's default when
    /// unset; 0 is unbounded).
    pub fn send_high_water_mark(mut self, hwm: u32) -> Self {
        self.options.send_high_water_mark = Some(hwm);
        self
    }

    /// Blocks the sender instead of dropping messages when a subscriber's
    /// queue is full (the reference always drops).
    pub fn no_drop(mut self, no_drop: bool) -> Self {
        self.options.no_drop = no_drop;
        self
    }

    /// Binds the socket.
    ///
    /// Errors when the address cannot be parsed, the context cannot be
    /// built, or binding fails (port taken, range exhausted, ...).
    pub async fn start(self) -> Result<Publisher> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let endpoint = Endpoint::parse(&self.address)?;
        let config = ctx.config();
        let min = self
            .min_port
            .filter(|p| *p != 0)
            .unwrap_or(config.pub_min_port);
        let max = self
            .max_port
            .filter(|p| *p != 0)
            .unwrap_or(config.pub_max_port);
        let spec = BindSpec {
            endpoint,
            port_range: (min, max),
            security: ctx.security(),
            options: self.options,
            max_message_size: None,
        };
        let socket = ctx.transport().bind_publisher(spec).await?;
        let endpoint = socket.endpoint().clone();
        tracing::info!(
            "publisher {:?} for {} started on {endpoint}",
            self.name,
            self.address
        );
        Ok(Publisher {
            inner: Arc::new(Inner {
                name: self.name,
                socket,
                endpoint,
                message_version: config.message_version.clone(),
                last_beat: Mutex::new(None),
                stopped: AtomicBool::new(false),
            }),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_messages() {
        let frame =
            |d| String::from_utf8(heartbeat_message("pub", d).unwrap().encode_with(None)).unwrap();
        assert!(
            frame(Duration::from_secs(10)).ends_with(r#"application/json {"min_interval": 10}"#)
        );
        assert!(frame(Duration::from_millis(500))
            .ends_with(r#"application/json {"min_interval": 0.5}"#));
        assert!(frame(Duration::ZERO).ends_with(r#"application/json {"min_interval": 0}"#));
        assert!(frame(Duration::ZERO).starts_with("pytroll://heartbeat/pub beat "));
    }
}

//! [`NSSubscriber`]: a subscriber that finds publishers through a
//! nameserver.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use posttroll_core::{Address, Data, Endpoint, Message, Result, SubSocket, Value};

use super::{AlarmSettings, Budget, Inner, MessageFilter, Subscriber};
use crate::discovery::worker::{StopSignal, Worker};
use crate::Context;

/// The topic of the nameserver's address events.
const ADDRESS_TOPIC: &str = "pytroll://address";

/// Subscribes to services by name, asking a nameserver for their addresses
/// (the reference's `NSSubscriber`).
///
/// [`NSSubscriberBuilder::start`] connects to the `addresses` given, starts
/// the address listener if asked, then asks the nameserver for each
/// service and connects to what it gets, and returns the [`Subscriber`].
///
/// With `addr_listener`, the subscriber also follows the nameserver's
/// address events (`pytroll://address` on `tcp://<nameserver>:<address_publish_port>`):
/// an address appearing with a wanted service is added (the whole event
/// metadata as the [`Address`]), an address expiring is removed.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use posttroll::subscriber::NSSubscriber;
///
/// # async fn example() -> posttroll::Result<()> {
/// let subscriber = NSSubscriber::builder()
///     .services(["viirs"])
///     .topics(["/sdr"])
///     .addr_listener(true)
///     .start()
///     .await?;
/// while let Some(msg) = subscriber.recv(Some(Duration::from_secs(5))).await? {
///     println!("{msg}");
/// }
/// subscriber.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NSSubscriber;

impl NSSubscriber {
    /// A builder with the reference's defaults: every service (`[""]`), the
    /// topic `pytroll:/` (everything), no address listener, no extra
    /// addresses, a 10 s lookup timeout, no translation, the nameserver on
    /// `localhost`.
    pub fn builder() -> NSSubscriberBuilder {
        NSSubscriberBuilder {
            services: vec![String::new()],
            topics: vec![posttroll_core::message::MAGIC.to_owned()],
            addr_listener: false,
            addresses: Vec::new(),
            timeout: Duration::from_secs(10),
            translate: false,
            nameserver: "localhost".to_owned(),
            filter: None,
            queue_bytes: None,
            budget: None,
            context: None,
            alarm: None,
        }
    }
}

/// Builds a [`Subscriber`] fed by a nameserver; see [`NSSubscriber::builder`].
#[derive(Clone)]
#[must_use = "a builder does nothing until started"]
pub struct NSSubscriberBuilder {
    services: Vec<String>,
    topics: Vec<String>,
    addr_listener: bool,
    addresses: Vec<Address>,
    timeout: Duration,
    translate: bool,
    nameserver: String,
    filter: Option<MessageFilter>,
    queue_bytes: Option<u64>,
    budget: Option<Budget>,
    context: Option<Context>,
    alarm: Option<AlarmSettings>,
}

impl fmt::Debug for NSSubscriberBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NSSubscriberBuilder")
            .field("services", &self.services)
            .field("topics", &self.topics)
            .field("addr_listener", &self.addr_listener)
            .field("addresses", &self.addresses)
            .field("timeout", &self.timeout)
            .field("translate", &self.translate)
            .field("nameserver", &self.nameserver)
            .field("message_filter", &self.filter.is_some())
            .field("queue_bytes", &self.queue_bytes)
            .field("heartbeat_alarm", &self.alarm)
            .finish_non_exhaustive()
    }
}

impl NSSubscriberBuilder {
    /// The services (publisher names or aliases) to subscribe to: `[""]`
    /// (the default) means all, an empty list none.
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services = services.into_iter().map(Into::into).collect();
        self
    }

    /// The topics (see [`super::magickfy_topics`]); default `pytroll:/`.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Follow the nameserver's address events (default `false`).
    pub fn addr_listener(mut self, addr_listener: bool) -> Self {
        self.addr_listener = addr_listener;
        self
    }

    /// Addresses to connect to besides those of the services.
    pub fn addresses<I, A>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        self.addresses = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// How long to ask the nameserver for each service (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// See [`super::SubscriberBuilder::translate`].
    pub fn translate(mut self, translate: bool) -> Self {
        self.translate = translate;
        self
    }

    /// The nameserver's host (default `localhost`); `tcp://host:port` is
    /// accepted for lookups, the address listener then using its host.
    pub fn nameserver(mut self, nameserver: impl Into<String>) -> Self {
        self.nameserver = nameserver.into();
        self
    }

    /// See [`super::SubscriberBuilder::message_filter`] (the reference
    /// drops this setting for nameserver subscribers; it is honoured here).
    pub fn message_filter(
        mut self,
        filter: impl Fn(&Message) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// The same as [`NSSubscriberBuilder::message_filter`], with a shared filter.
    pub fn message_filter_arc(mut self, filter: Option<MessageFilter>) -> Self {
        self.filter = filter;
        self
    }

    /// See [`super::SubscriberBuilder::queue_bytes`].
    pub fn queue_bytes(mut self, bytes: u64) -> Self {
        self.queue_bytes = Some(bytes);
        self
    }

    /// See [`super::SubscriberBuilder::heartbeat_alarm_scale`].
    pub fn heartbeat_alarm_scale(mut self, scale: f64) -> Self {
        self.alarm = Subscriber::builder()
            .alarm(self.alarm)
            .heartbeat_alarm_scale(scale)
            .alarm_settings();
        self
    }

    /// See [`super::SubscriberBuilder::reconnect_when_silent`].
    pub fn reconnect_when_silent(mut self, reconnect: bool) -> Self {
        self.alarm = Subscriber::builder()
            .alarm(self.alarm)
            .reconnect_when_silent(reconnect)
            .alarm_settings();
        self
    }

    /// See [`super::SubscriberBuilder::budget`].
    pub(crate) fn budget(mut self, budget: Option<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the subscriber; see [`NSSubscriber`].
    ///
    /// Errors as the reference: when an address cannot be connected, or a
    /// nameserver lookup fails (e.g. times out); the subscriber is then
    /// stopped. A service for which the nameserver has no address is only
    /// a warning.
    pub async fn start(self) -> Result<Subscriber> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        tracing::debug!("subscribing to topics {:?}", self.topics);
        let mut builder = Subscriber::builder()
            .addresses(self.addresses)
            .topics(self.topics)
            .translate(self.translate)
            .message_filter_arc(self.filter)
            .budget(self.budget)
            .alarm(self.alarm)
            .context(ctx.clone());
        if let Some(bytes) = self.queue_bytes {
            builder = builder.queue_bytes(bytes);
        }
        let subscriber = builder.start().await?;
        let result = async {
            if self.addr_listener {
                start_address_listener(&ctx, &subscriber, self.services.clone(), &self.nameserver)
                    .await?;
            }
            for service in &self.services {
                let addresses = crate::nameserver::get_pub_addresses(
                    &ctx,
                    std::slice::from_ref(service),
                    self.timeout,
                    &self.nameserver,
                )
                .await?;
                if addresses.is_empty() {
                    tracing::warn!("cannot get any address for {service:?}");
                    continue;
                }
                tracing::debug!(
                    "got addresses for {service:?}: {:?}",
                    addresses.iter().map(Address::uri).collect::<Vec<_>>()
                );
                for address in addresses {
                    subscriber.add(address, None).await?;
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(subscriber),
            Err(err) => {
                subscriber.stop().await?;
                Err(err)
            }
        }
    }
}

/// The host of a nameserver given as `host`, `tcp://host` or
/// `tcp://host:port`.
fn nameserver_host(nameserver: &str) -> String {
    let rest = nameserver.trim();
    let rest = rest.strip_prefix("tcp://").unwrap_or(rest);
    if let Ok(Endpoint::Tcp { host, .. }) = Endpoint::parse(&format!("tcp://{rest}")) {
        if rest.starts_with('[') || rest.matches(':').count() == 1 {
            return host;
        }
    }
    rest.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

async fn start_address_listener(
    ctx: &Context,
    subscriber: &Subscriber,
    services: Vec<String>,
    nameserver: &str,
) -> Result<()> {
    let endpoint = Endpoint::tcp(
        nameserver_host(nameserver),
        ctx.config().address_publish_port,
    );
    tracing::info!("subscriber listening to address events on {endpoint}");
    let socket = ctx
        .transport()
        .connect_subscriber(&endpoint, &[ADDRESS_TOPIC.to_owned()], ctx.security())
        .await?;
    let weak = Arc::downgrade(&subscriber.inner);
    let worker = Worker::spawn(Some(&subscriber.inner.tasks), move |stop| {
        address_listener(socket, weak, services, stop)
    });
    subscriber.push_hook(worker)
}

async fn address_listener(
    mut socket: Box<dyn SubSocket>,
    subscriber: Weak<Inner>,
    services: Vec<String>,
    mut stop: StopSignal,
) {
    let endpoint = socket.endpoint().clone();
    loop {
        let received = tokio::select! {
            _ = stop.stopped() => break,
            received = socket.recv() => received,
        };
        let frame = match received {
            Ok(frame) => frame,
            Err(err) if err.kind() == posttroll_core::ErrorKind::Closed => break,
            Err(err) => {
                tracing::warn!("receiving address events from {endpoint} failed: {err}");
                tokio::select! {
                    _ = stop.stopped() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                continue;
            }
        };
        let msg = match Message::decode(&frame) {
            Ok(msg) => msg,
            Err(err) => {
                tracing::warn!(
                    "dropping an address event from {endpoint} that does not decode: {err}"
                );
                continue;
            }
        };
        let Some(inner) = subscriber.upgrade() else {
            break;
        };
        let subscriber = Subscriber::from_inner(inner);
        tokio::select! {
            _ = stop.stopped() => break,
            () = handle_address_event(&subscriber, &services, &msg) => {}
        }
    }
    if let Err(err) = socket.close().await {
        tracing::debug!("closing the address listener on {endpoint}: {err}");
    }
}

/// The reference's `_AddressListener.handle_msg`.
async fn handle_address_event(subscriber: &Subscriber, services: &[String], msg: &Message) {
    let Data::Json(Value::Object(data)) = &msg.data else {
        tracing::debug!("ignoring an address event without a dict: {}", msg.head());
        return;
    };
    let Some(uri) = data.get("URI").and_then(Value::as_str) else {
        tracing::debug!("ignoring an address event without a URI: {}", msg.head());
        return;
    };
    let status = data.get("status").is_none_or(Value::is_truthy);
    if status {
        let address = match Address::from_metadata(data.clone()) {
            Ok(address) => address,
            Err(err) => {
                tracing::debug!("ignoring an address event: {err}");
                return;
            }
        };
        if let Some(service) = services.iter().find(|s| address.has_service(s)) {
            tracing::debug!("adding address {uri} for {service:?}");
            if let Err(err) = subscriber.add(address, None).await {
                tracing::warn!("cannot add the address {uri}: {err}");
            }
        }
    } else {
        tracing::debug!("removing address {uri}");
        if let Err(err) = subscriber.remove(uri).await {
            tracing::warn!("cannot remove the address {uri}: {err}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::nameserver_host;

    #[test]
    fn nameserver_hosts() {
        assert_eq!(nameserver_host("localhost"), "localhost");
        assert_eq!(nameserver_host("tcp://nshost"), "nshost");
        assert_eq!(nameserver_host("tcp://nshost:5557"), "nshost");
        assert_eq!(nameserver_host("nshost:5557"), "nshost");
        assert_eq!(nameserver_host("tcp://[::1]:5557"), "::1");
        assert_eq!(nameserver_host("::1"), "::1");
    }
}

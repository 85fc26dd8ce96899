//! [`ListenerContainer`]: a subscriber that follows the nameserver and
//! feeds a queue, as the reference's `posttroll.listener`.

use std::time::Duration;

use posttroll_core::{Address, ErrorKind, Message, Result};
use tokio::sync::mpsc;

use crate::discovery::worker::{stop_all, StopSignal, Worker};
use crate::subscriber::{
    create_subscriber, Budget, Charge, NameserverSetting, Subscriber, SubscriberSettings, QUEUE,
};
use crate::Context;

/// A message in the output queue, holding its frame's room in the
/// container's byte budget until the consumer takes it.
pub(crate) type Queued = (Message, Charge);

/// Builds a [`ListenerContainer`]; see [`ListenerContainer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct ListenerContainerBuilder {
    topics: Vec<String>,
    addresses: Vec<Address>,
    nameserver: NameserverSetting,
    services: Vec<String>,
    queue_bytes: Option<u64>,
    context: Option<Context>,
}

impl ListenerContainerBuilder {
    /// Publishers to connect to besides those the nameserver names.
    pub fn addresses<I, A>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        self.addresses = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// The host of the nameserver to ask (default `localhost`).
    pub fn nameserver(mut self, host: impl Into<String>) -> Self {
        self.nameserver = NameserverSetting::Host(host.into());
        self
    }

    /// No nameserver: listen to the given [`addresses`](Self::addresses)
    /// only (the reference's `nameserver=False`; with no addresses, the
    /// nameserver on `localhost` is used all the same, as there).
    pub fn without_nameserver(mut self) -> Self {
        self.nameserver = NameserverSetting::Disabled;
        self
    }

    /// The services to listen to (default `[""]`: all of them).
    pub fn services<I, S>(mut self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.services = services.into_iter().map(Into::into).collect();
        self
    }

    /// How many bytes of received messages (counted as the size of their
    /// frames) the container and its subscriber together may hold before
    /// the subscriber stops reading its sockets (default the
    /// `subscriber_queue_bytes` config key, 64 MiB); see
    /// [`ListenerContainer`]'s memory section and
    /// [`SubscriberBuilder::queue_bytes`](crate::subscriber::SubscriberBuilder::queue_bytes).
    pub fn queue_bytes(mut self, bytes: u64) -> Self {
        self.queue_bytes = Some(bytes);
        self
    }

    /// The context (default [`Context::global`]).
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Creates the subscriber (with an address listener, so publishers
    /// that appear later are followed) and starts moving its messages to
    /// the output queue.
    ///
    /// Errors when the subscriber cannot be created.
    pub async fn start(self) -> Result<ListenerContainer> {
        let ctx = match self.context.clone() {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let budget = Budget::new(
            self.queue_bytes
                .unwrap_or(ctx.config().subscriber_queue_bytes),
        );
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut container = ListenerContainer {
            settings: self,
            ctx,
            budget,
            tx,
            rx,
            running: None,
        };
        container.start_listener().await?;
        Ok(container)
    }
}

/// A running listener: its subscriber and the task feeding the queue.
#[derive(Debug)]
struct Running {
    subscriber: Subscriber,
    worker: Worker,
}

/// A subscriber that follows the nameserver's address events and puts
/// every message it receives in an output queue, as the reference's
/// `ListenerContainer` (which runs it in a thread).
///
/// Dropping the container without [`ListenerContainer::stop`] also ends
/// its task (the subscriber then stops when dropped).
///
/// # Memory
///
/// The output queue holds at most 1024 messages, and it shares one byte
/// budget with the subscriber's own queue:
/// [`Config::subscriber_queue_bytes`](posttroll_core::Config::subscriber_queue_bytes)
/// (default 64 MiB; [`ListenerContainerBuilder::queue_bytes`] overrides
/// it), a message counting as the size of its frame. When the consumer
/// stops calling [`recv`](Self::recv), the queue fills, the task feeding it
/// waits, the subscriber's queue fills and the subscriber stops reading its
/// sockets, so the engine's high-water mark applies (a plain publisher drops
/// for this subscriber only, a
/// [no-drop](crate::publisher::PublisherBuilder::no_drop) publisher waits).
/// Nothing is dropped on the way, and the budget stays the same across
/// [`restart_listener`](Self::restart_listener).
///
/// The total the container may hold is therefore `subscriber_queue_bytes`,
/// plus one frame per connected publisher that the subscriber's reader holds
/// while it waits for room (both counted in
/// [`queued_bytes`](Self::queued_bytes)), plus the engine's own receive
/// queue per connected publisher (a few frames, each at most
/// [`Config::max_message_size`](posttroll_core::Config::max_message_size)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::listener::ListenerContainer;
/// use posttroll::publisher::Publisher;
/// use posttroll::Message;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = Publisher::builder("tcp://*:40010").start().await?;
/// let mut listener = ListenerContainer::builder(["/counter"])
///     .addresses(["tcp://127.0.0.1:40010"])
///     .without_nameserver()
///     .start()
///     .await?;
/// let msg = loop {
///     publisher.send(&Message::new("/counter", "info", "1")?).await?;
///     if let Some(msg) = listener.recv(Some(Duration::from_millis(50))).await {
///         break msg;
///     }
/// };
/// assert_eq!(msg.subject(), "/counter");
/// listener.stop().await;
/// publisher.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct ListenerContainer {
    settings: ListenerContainerBuilder,
    ctx: Context,
    budget: Budget,
    tx: mpsc::Sender<Queued>,
    rx: mpsc::Receiver<Queued>,
    running: Option<Running>,
}

impl ListenerContainer {
    /// A builder listening to `topics` (subject prefixes such as
    /// `/counter`), on every service the nameserver on `localhost` knows.
    pub fn builder<I, S>(topics: I) -> ListenerContainerBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ListenerContainerBuilder {
            topics: topics.into_iter().map(Into::into).collect(),
            addresses: Vec::new(),
            nameserver: NameserverSetting::Host("localhost".to_owned()),
            services: vec![String::new()],
            queue_bytes: None,
            context: None,
        }
    }

    /// The next message in the output queue, waiting at most `timeout`
    /// (`None`: until one comes); `None` when the time passed first, as
    /// Python's `output_queue.get(True, timeout)` raising `Empty`.
    ///
    /// Messages received before a [`stop`](Self::stop) stay in the queue.
    ///
    /// Cancel-safe: used in `tokio::select!`, a message is taken only when
    /// `recv` returns it.
    pub async fn recv(&mut self, timeout: Option<Duration>) -> Option<Message> {
        let queued = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, self.rx.recv())
                .await
                .ok()
                .flatten(),
            // The container holds a sender, so this waits for a message.
            None => self.rx.recv().await,
        };
        queued.map(|(msg, _charge)| msg)
    }

    /// The next message if one is queued, without waiting (Python's
    /// `output_queue.get_nowait()`).
    pub fn try_recv(&mut self) -> Option<Message> {
        self.rx.try_recv().ok().map(|(msg, _charge)| msg)
    }

    /// The number of messages in the output queue.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when the output queue is empty.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The bytes of received messages the container holds now, counted as
    /// the size of their frames: in the output queue, in the subscriber's
    /// queue, and taken from a socket and waiting for room. See the memory
    /// section of [`ListenerContainer`]: while the consumer stalls it stays
    /// at most [`queue_bytes`](Self::queue_bytes) plus one frame per
    /// connected publisher.
    pub fn queued_bytes(&self) -> u64 {
        self.budget.held()
    }

    /// The byte budget shared by the output queue and the subscriber's (see
    /// [`ListenerContainerBuilder::queue_bytes`]), after clamping.
    pub fn queue_bytes(&self) -> u64 {
        self.budget.capacity()
    }

    /// The running subscriber (`None` once stopped), e.g. to look at its
    /// addresses.
    pub fn subscriber(&self) -> Option<&Subscriber> {
        self.running.as_ref().map(|r| &r.subscriber)
    }

    /// The topics listened to.
    pub fn topics(&self) -> &[String] {
        &self.settings.topics
    }

    /// True while the listener runs.
    pub fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| !r.worker.is_finished())
    }

    /// Stops the listener: the subscriber is stopped and the feeding task
    /// has ended when this returns, within 1 s. Stopping twice is harmless;
    /// the queue keeps what it holds.
    pub async fn stop(&mut self) {
        if let Some(Running { subscriber, worker }) = self.running.take() {
            tracing::debug!("stopping the listener");
            worker.signal();
            let (stopped, ()) = tokio::join!(subscriber.stop(), stop_all(vec![worker]));
            if let Err(e) = stopped {
                tracing::debug!(error = %e, "stopping the listener's subscriber");
            }
            tracing::debug!("listener stopped");
        }
    }

    /// Stops the listener and starts it again on `topics` (after a
    /// configuration change), with the other settings as they were. The
    /// output queue and its byte budget stay the same.
    ///
    /// Errors when the new subscriber cannot be created; the container is
    /// then stopped.
    pub async fn restart_listener<I, S>(&mut self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        // Collected before any await: the future holds no `I`.
        let topics = topics.into_iter().map(Into::into).collect();
        self.stop().await;
        self.settings.topics = topics;
        self.start_listener().await
    }

    /// The byte budget, shared with the queue [`take_queue`](Self::take_queue)
    /// hands over.
    #[cfg(feature = "blocking")]
    pub(crate) fn budget(&self) -> Budget {
        self.budget.clone()
    }

    /// Hands the output queue over (to the blocking API's `OutputQueue`);
    /// [`recv`](Self::recv) then finds nothing.
    #[cfg(feature = "blocking")]
    pub(crate) fn take_queue(&mut self) -> mpsc::Receiver<Queued> {
        let (_, closed) = mpsc::channel(1);
        std::mem::replace(&mut self.rx, closed)
    }

    async fn start_listener(&mut self) -> Result<()> {
        let settings = SubscriberSettings {
            services: self.settings.services.clone(),
            topics: Some(self.settings.topics.clone()),
            addr_listener: true,
            addresses: self.settings.addresses.clone(),
            nameserver: self.settings.nameserver.clone(),
            ..SubscriberSettings::default()
        };
        let subscriber = create_subscriber(&self.ctx, settings, Some(self.budget.clone())).await?;
        let tx = self.tx.clone();
        let feeding = subscriber.clone();
        let worker = Worker::spawn(None, move |stop| feed(feeding, tx, stop));
        self.running = Some(Running { subscriber, worker });
        Ok(())
    }
}

/// Moves the subscriber's messages to the queue until stopped. A full
/// queue makes it wait, and so the subscriber's queue fills and the
/// subscriber stops reading its sockets.
async fn feed(subscriber: Subscriber, tx: mpsc::Sender<Queued>, mut stop: StopSignal) {
    loop {
        let received = tokio::select! {
            _ = stop.stopped() => break,
            received = subscriber.recv_charged(None) => received,
        };
        match received {
            Ok(Some((msg, charge))) => {
                tracing::debug!(message = %msg, "new message received");
                let queued = match tx.try_send((msg, charge)) {
                    Ok(()) => continue,
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                    Err(mpsc::error::TrySendError::Full(queued)) => queued,
                };
                tracing::trace!("the listener's output queue is full: waiting for the consumer");
                tokio::select! {
                    sent = tx.send(queued) => if sent.is_err() {
                        // The container is gone.
                        break;
                    },
                    _ = stop.stopped() => {
                        // As the messages still in the subscriber's queue,
                        // which stopping it discards.
                        tracing::debug!("the listener stopped with a message not yet queued: discarded");
                        break;
                    }
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::Closed => break,
            Err(e) => {
                tracing::warn!(error = %e, "the listener's subscriber failed");
                tokio::select! {
                    _ = stop.stopped() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

//! [`ListenerContainer`]: a subscriber that follows the nameserver and
//! feeds a queue, as the reference's `posttroll.listener`.

use std::time::Duration;

use posttroll_core::{Address, ErrorKind, Message, Result};
use tokio::sync::mpsc;

use crate::discovery::worker::{stop_all, StopSignal, Worker};
use crate::subscriber::{
    create_subscriber_from_dict_config, NameserverSetting, Subscriber, SubscriberSettings,
};
use crate::Context;

/// Builds a [`ListenerContainer`]; see [`ListenerContainer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct ListenerContainerBuilder {
    topics: Vec<String>,
    addresses: Vec<Address>,
    nameserver: NameserverSetting,
    services: Vec<String>,
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
        let (tx, rx) = mpsc::unbounded_channel();
        let mut container = ListenerContainer {
            settings: self,
            ctx,
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
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::listener::ListenerContainer;
/// use posttroll::publisher::Publisher;
/// use posttroll::{Config, Context, Message};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let publisher = Publisher::builder("tcp://*:40010").context(ctx.clone()).start().await?;
/// let mut listener = ListenerContainer::builder(vec!["/counter".into()])
///     .addresses(["tcp://127.0.0.1:40010"])
///     .without_nameserver()
///     .context(ctx)
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
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Message>,
    running: Option<Running>,
}

impl ListenerContainer {
    /// A builder listening to `topics` (subject prefixes such as
    /// `/counter`), on every service the nameserver on `localhost` knows.
    pub fn builder(topics: Vec<String>) -> ListenerContainerBuilder {
        ListenerContainerBuilder {
            topics,
            addresses: Vec::new(),
            nameserver: NameserverSetting::Host("localhost".to_owned()),
            services: vec![String::new()],
            context: None,
        }
    }

    /// The next message in the output queue, waiting at most `timeout`
    /// (`None`: until one comes); `None` when the time passed first, as
    /// Python's `output_queue.get(True, timeout)` raising `Empty`.
    ///
    /// Messages received before a [`stop`](Self::stop) stay in the queue.
    pub async fn recv(&mut self, timeout: Option<Duration>) -> Option<Message> {
        match timeout {
            Some(timeout) => tokio::time::timeout(timeout, self.rx.recv())
                .await
                .ok()
                .flatten(),
            // The container holds a sender, so this waits for a message.
            None => self.rx.recv().await,
        }
    }

    /// The output queue itself, e.g. for `tokio::select!` or
    /// [`try_recv`](mpsc::UnboundedReceiver::try_recv).
    pub fn receiver(&mut self) -> &mut mpsc::UnboundedReceiver<Message> {
        &mut self.rx
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
    /// output queue stays the same, so a holder of
    /// [`receiver`](Self::receiver) keeps receiving.
    ///
    /// Errors when the new subscriber cannot be created; the container is
    /// then stopped.
    pub async fn restart_listener(&mut self, topics: Vec<String>) -> Result<()> {
        self.stop().await;
        self.settings.topics = topics;
        self.start_listener().await
    }

    /// Hands the output queue over (to the blocking API's `OutputQueue`);
    /// [`recv`](Self::recv) then finds nothing.
    pub(crate) fn take_queue(&mut self) -> mpsc::UnboundedReceiver<Message> {
        let (_, closed) = mpsc::unbounded_channel();
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
        let subscriber = create_subscriber_from_dict_config(&self.ctx, settings).await?;
        let tx = self.tx.clone();
        let feeding = subscriber.clone();
        let worker = Worker::spawn(None, move |stop| feed(feeding, tx, stop));
        self.running = Some(Running { subscriber, worker });
        Ok(())
    }
}

/// Moves the subscriber's messages to the queue until stopped.
async fn feed(subscriber: Subscriber, tx: mpsc::UnboundedSender<Message>, mut stop: StopSignal) {
    loop {
        let received = tokio::select! {
            _ = stop.stopped() => break,
            received = subscriber.recv(None) => received,
        };
        match received {
            Ok(Some(msg)) => {
                tracing::debug!(message = %msg, "new message received");
                if tx.send(msg).is_err() {
                    // The container is gone.
                    break;
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

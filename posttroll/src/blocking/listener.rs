//! The listener container without async (see [`crate::listener`]).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::blocking::listener::ListenerContainer;
//! use posttroll::blocking::publish::Publisher;
//! use posttroll::{Config, Context, Message};
//!
//! let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
//! let publisher = Publisher::builder("tcp://*:40011").context(ctx.clone()).start()?;
//! let listener = ListenerContainer::builder(vec!["/counter".into()])
//!     .addresses(["tcp://127.0.0.1:40011"])
//!     .without_nameserver()
//!     .context(ctx)
//!     .start()?;
//! let msg = loop {
//!     publisher.send(&Message::new("/counter", "info", "1")?)?;
//!     // As Python's `output_queue.get(True, 0.05)`.
//!     if let Some(msg) = listener.output_queue().get(Some(Duration::from_millis(50))) {
//!         break msg;
//!     }
//! };
//! assert_eq!(msg.subject(), "/counter");
//! listener.stop()?;
//! publisher.stop()?;
//! # Ok::<(), posttroll::Error>(())
//! ```

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use posttroll_core::{Address, Message, Result};
use tokio::sync::mpsc;

use super::{block_on, run, runtime};
use crate::listener::{self as r#async, Queued};
use crate::subscriber::Budget;
use crate::Context;

/// Builds a blocking [`ListenerContainer`]; the options are those of
/// [`crate::listener::ListenerContainerBuilder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct ListenerContainerBuilder(r#async::ListenerContainerBuilder);

impl ListenerContainerBuilder {
    /// See [`crate::listener::ListenerContainerBuilder::addresses`].
    pub fn addresses<I, A>(self, addresses: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Address>,
    {
        ListenerContainerBuilder(self.0.addresses(addresses))
    }

    /// See [`crate::listener::ListenerContainerBuilder::nameserver`].
    pub fn nameserver(self, host: impl Into<String>) -> Self {
        ListenerContainerBuilder(self.0.nameserver(host))
    }

    /// See [`crate::listener::ListenerContainerBuilder::without_nameserver`].
    pub fn without_nameserver(self) -> Self {
        ListenerContainerBuilder(self.0.without_nameserver())
    }

    /// See [`crate::listener::ListenerContainerBuilder::services`].
    pub fn services<I, S>(self, services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ListenerContainerBuilder(self.0.services(services))
    }

    /// See [`crate::listener::ListenerContainerBuilder::queue_bytes`].
    pub fn queue_bytes(self, bytes: u64) -> Self {
        ListenerContainerBuilder(self.0.queue_bytes(bytes))
    }

    /// See [`crate::listener::ListenerContainerBuilder::context`].
    pub fn context(self, context: Context) -> Self {
        ListenerContainerBuilder(self.0.context(context))
    }

    /// Starts listening in the background; see
    /// [`crate::listener::ListenerContainerBuilder::start`].
    pub fn start(self) -> Result<ListenerContainer> {
        let mut container = run(self.0.start())?;
        let rx = container.take_queue();
        let budget = container.budget();
        Ok(ListenerContainer {
            container: Mutex::new(Some(container)),
            queue: OutputQueue {
                rx: Mutex::new(rx),
                budget,
            },
        })
    }
}

/// The queue a [`ListenerContainer`] fills, as Python's `Queue`, but
/// bounded: at most 1024 messages, and together with the subscriber's
/// queue at most the container's byte budget (see the memory section of
/// [`crate::listener::ListenerContainer`]). A consumer that stops calling
/// [`get`](Self::get) makes the subscriber stop reading its sockets; no
/// message is dropped on the way.
#[derive(Debug)]
pub struct OutputQueue {
    rx: Mutex<mpsc::Receiver<Queued>>,
    budget: Budget,
}

impl OutputQueue {
    /// The next message, waiting at most `timeout` (`None`: until one
    /// comes); `None` when the time passed first (Python's `get(True,
    /// timeout)` raising `Empty`).
    ///
    /// Called from inside an async runtime, where blocking is forbidden, it
    /// does not wait: it logs a warning and returns what is already queued.
    pub fn get(&self, timeout: Option<Duration>) -> Option<Message> {
        let mut rx = self.lock();
        let next = async {
            match timeout {
                Some(timeout) => tokio::time::timeout(timeout, rx.recv())
                    .await
                    .ok()
                    .flatten(),
                None => rx.recv().await,
            }
        };
        let queued = match block_on(next) {
            Ok(queued) => queued,
            Err(e) => {
                tracing::warn!(error = %e, "OutputQueue::get called from an async runtime; not waiting");
                rx.try_recv().ok()
            }
        };
        queued.map(|(msg, _charge)| msg)
    }

    /// The next message if one is queued (Python's `get_nowait()`).
    pub fn get_nowait(&self) -> Option<Message> {
        self.lock().try_recv().ok().map(|(msg, _charge)| msg)
    }

    /// The bytes of received messages the listener holds now; see
    /// [`crate::listener::ListenerContainer::queued_bytes`].
    pub fn queued_bytes(&self) -> u64 {
        self.budget.held()
    }

    /// The number of queued messages (Python's `qsize()`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no message is queued (Python's `empty()`).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, mpsc::Receiver<Queued>> {
        self.rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A subscriber following the nameserver and feeding an [`OutputQueue`],
/// as the reference's `ListenerContainer`; see
/// [`crate::listener::ListenerContainer`]. Its methods take `&self`, so
/// one thread may [`stop`](Self::stop) it while another waits on the
/// queue. Dropping it stops it too.
#[derive(Debug)]
pub struct ListenerContainer {
    container: Mutex<Option<r#async::ListenerContainer>>,
    queue: OutputQueue,
}

impl ListenerContainer {
    /// A builder listening to `topics` on every service the nameserver on
    /// `localhost` knows.
    pub fn builder(topics: Vec<String>) -> ListenerContainerBuilder {
        ListenerContainerBuilder(r#async::ListenerContainer::builder(topics))
    }

    /// The queue the listener fills (Python's `output_queue`).
    pub fn output_queue(&self) -> &OutputQueue {
        &self.queue
    }

    /// True while the listener runs.
    pub fn is_running(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(r#async::ListenerContainer::is_running)
    }

    /// The addresses the listener's subscriber is connected to.
    pub fn addresses(&self) -> Vec<Address> {
        self.lock()
            .as_ref()
            .and_then(|c| c.subscriber().map(crate::subscriber::Subscriber::addresses))
            .unwrap_or_default()
    }

    /// Stops the listener; returns within 1 s. The queue keeps what it
    /// holds.
    ///
    /// Errors only when called from inside an async runtime.
    pub fn stop(&self) -> Result<()> {
        let mut guard = self.lock();
        match guard.as_mut() {
            Some(container) => block_on(container.stop()),
            None => Ok(()),
        }
    }

    /// Stops the listener and starts it again on `topics`, feeding the same
    /// queue; see [`crate::listener::ListenerContainer::restart_listener`].
    pub fn restart_listener(&self, topics: Vec<String>) -> Result<()> {
        let mut guard = self.lock();
        match guard.as_mut() {
            Some(container) => run(container.restart_listener(topics)),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<r#async::ListenerContainer>> {
        self.container
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for ListenerContainer {
    fn drop(&mut self) {
        let container = self.lock().take();
        if let Some(container) = container {
            // Drop inside the runtime's context: the backend may need one to
            // release its sockets.
            match runtime() {
                Ok(rt) => {
                    let _guard = rt.enter();
                    drop(container);
                }
                Err(_) => drop(container),
            }
        }
    }
}

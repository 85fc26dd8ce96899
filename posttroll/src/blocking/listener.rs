//! The listener container without async (see [`crate::listener`]): build
//! it with [`crate::listener::ListenerContainer::builder`] and start it with
//! [`start_blocking`](crate::listener::ListenerContainerBuilder::start_blocking).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::listener::ListenerContainer;
//! use posttroll::publisher::Publisher;
//! use posttroll::Message;
//!
//! # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
//! let publisher = Publisher::builder("tcp://*:40011").start_blocking()?;
//! let listener = ListenerContainer::builder(["/counter"])
//!     .addresses(["tcp://127.0.0.1:40011"])
//!     .without_nameserver()
//!     .start_blocking()?;
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

impl r#async::ListenerContainerBuilder {
    /// Starts listening in the background, as [`start`](Self::start), and
    /// returns a blocking [`ListenerContainer`]. Errors too when called
    /// from inside an async runtime.
    pub fn start_blocking(self) -> Result<ListenerContainer> {
        let mut container = run(self.start())?;
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
    pub fn restart_listener<I, S>(&self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
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

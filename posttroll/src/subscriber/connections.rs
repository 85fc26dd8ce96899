//! What a subscriber knows of its connections: which publishers are
//! connected (for [`Subscriber::wait_connected`](super::Subscriber::wait_connected))
//! and the [`ConnectionEvent`]s handed to [`Events`] streams.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use posttroll_core::{ConnectionEvent, Error, EventSink, Result};
use tokio::sync::{mpsc, watch};

/// How many events an [`Events`] stream holds for a reader that does not
/// keep up; beyond that, its newest events are dropped (and counted).
pub(crate) const EVENTS_QUEUE: usize = 256;

/// The connection state of one subscriber, shared with its sockets' event
/// sinks.
#[derive(Debug)]
pub(crate) struct Connections {
    /// Where each [`Events`] stream gets its events.
    listeners: Mutex<Vec<mpsc::Sender<ConnectionEvent>>>,
    /// The addresses connected now; also poked when the subscriber's
    /// addresses change, so that waiters look again.
    connected: watch::Sender<HashSet<String>>,
}

impl Connections {
    pub(crate) fn new() -> Arc<Connections> {
        Arc::new(Connections {
            listeners: Mutex::new(Vec::new()),
            connected: watch::channel(HashSet::new()).0,
        })
    }

    fn listeners(&self) -> MutexGuard<'_, Vec<mpsc::Sender<ConnectionEvent>>> {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A sink for one socket's events.
    pub(crate) fn sink(self: &Arc<Self>) -> EventSink {
        let connections = Arc::downgrade(self);
        EventSink::new(move |event| {
            if let Some(connections) = connections.upgrade() {
                connections.emit(event);
            }
        })
    }

    /// Records one event and hands it to every stream (never waits).
    pub(crate) fn emit(&self, event: ConnectionEvent) {
        // The listeners' lock also orders the connected set's changes with
        // new streams (see `subscribe`).
        let mut listeners = self.listeners();
        match &event {
            ConnectionEvent::Connected { address } => {
                tracing::debug!("subscriber connected to {address}");
                self.connected.send_modify(|set| {
                    set.insert(address.clone());
                });
            }
            ConnectionEvent::Disconnected { address, reason } => {
                tracing::debug!("subscriber disconnected from {address}: {reason}");
                self.connected.send_modify(|set| {
                    set.remove(address);
                });
            }
            _ => {}
        }
        listeners.retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("a connection-event stream is full: dropped {event}");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Forgets a removed address (its socket is closed: no more events).
    pub(crate) fn forget(&self, address: &str) {
        self.connected.send_modify(|set| {
            set.remove(address);
        });
    }

    /// Ends every stream (the subscriber stopped).
    pub(crate) fn close(&self) {
        self.listeners().clear();
    }

    /// Wakes the waiters of [`Connections::wait_connected`] (the addresses
    /// changed).
    pub(crate) fn poke(&self) {
        self.connected.send_modify(|_| {});
    }

    /// A new stream: a `Connected` for each publisher connected now, then
    /// the events from now on.
    pub(crate) fn subscribe(&self) -> Events {
        let (tx, rx) = mpsc::channel(EVENTS_QUEUE);
        let mut listeners = self.listeners();
        let mut connected: Vec<String> = self.connected.borrow().iter().cloned().collect();
        connected.sort();
        for address in connected {
            // A full queue drops the rest, as for later events.
            let _ = tx.try_send(ConnectionEvent::Connected { address });
        }
        listeners.push(tx);
        Events { rx }
    }

    /// Waits until `addresses()` is not empty and each of them is
    /// connected, at most `timeout`.
    pub(crate) async fn wait_connected(
        &self,
        addresses: impl Fn() -> Vec<String>,
        timeout: Duration,
    ) -> Result<()> {
        let mut rx = self.connected.subscribe();
        let mut missing = Vec::new();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                {
                    let connected = rx.borrow_and_update();
                    let wanted = addresses();
                    missing = wanted
                        .iter()
                        .filter(|a| !connected.contains(a.as_str()))
                        .cloned()
                        .collect();
                    if !wanted.is_empty() && missing.is_empty() {
                        return Ok(());
                    }
                }
                if rx.changed().await.is_err() {
                    return Err(Error::closed("subscriber"));
                }
            }
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) if missing.is_empty() => {
                Err(Error::timeout("a publisher address to connect to", timeout))
            }
            Err(_) => Err(Error::timeout(
                format!("connections to {}", missing.join(", ")),
                timeout,
            )),
        }
    }
}

/// A subscriber's connection events, from the moment it was asked for
/// (see [`Subscriber::events`](super::Subscriber::events)): a
/// [`Stream`](futures_core::Stream), or [`Events::next`] for a loop.
///
/// It holds up to 256 events for a reader that does not keep up; newer ones
/// are dropped until it reads again. It ends when the subscriber stops.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<ConnectionEvent>,
}

impl Events {
    /// The next event; `None` once the subscriber is gone.
    pub async fn next(&mut self) -> Option<ConnectionEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting now.
    pub fn try_next(&mut self) -> Option<ConnectionEvent> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Events {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

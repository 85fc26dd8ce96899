//! Connection events: what happened to a subscriber's connection to one
//! publisher, as engines report it and as the `posttroll` facade hands it
//! to applications (`Subscriber::events`).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// What happened to the connection to one publisher.
///
/// # Examples
///
/// ```
/// use posttroll_core::ConnectionEvent;
///
/// let event = ConnectionEvent::Connected { address: "tcp://127.0.0.1:9000".into() };
/// assert_eq!(event.address(), "tcp://127.0.0.1:9000");
/// assert_eq!(event.to_string(), "connected to tcp://127.0.0.1:9000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection is up: the ZMTP handshake with the publisher
    /// succeeded (its messages flow from now on).
    Connected {
        /// The publisher's address, as the subscriber was given it.
        address: String,
    },
    /// The connection was lost; the engine connects again by itself.
    Disconnected {
        /// The publisher's address.
        address: String,
        /// Why, as far as the engine knows (closed by the peer, missed
        /// heartbeats, a protocol error, ...).
        reason: String,
    },
    /// The publisher sent no heartbeat message within the alarm time (its
    /// announced `min_interval` times the subscriber's
    /// `heartbeat_alarm_scale`), although the connection may look up.
    Silent {
        /// The publisher's address.
        address: String,
        /// When its last heartbeat (or, before any, the subscription)
        /// came.
        since: SystemTime,
    },
}

impl ConnectionEvent {
    /// The publisher's address the event is about.
    pub fn address(&self) -> &str {
        match self {
            ConnectionEvent::Connected { address }
            | ConnectionEvent::Disconnected { address, .. }
            | ConnectionEvent::Silent { address, .. } => address,
        }
    }
}

impl fmt::Display for ConnectionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionEvent::Connected { address } => write!(f, "connected to {address}"),
            ConnectionEvent::Disconnected { address, reason } => {
                write!(f, "disconnected from {address}: {reason}")
            }
            ConnectionEvent::Silent { address, since } => {
                let since: chrono::DateTime<chrono::Utc> = (*since).into();
                write!(
                    f,
                    "{address} is silent: no heartbeat since {}",
                    since.format("%Y-%m-%dT%H:%M:%S%.3fZ")
                )
            }
        }
    }
}

/// Where a socket reports its connection events: a callback, called from
/// the engine's own tasks and threads, that must return at once (it may
/// not block or wait).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use posttroll_core::{ConnectionEvent, EventSink};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = EventSink::new({
///     let seen = seen.clone();
///     move |event| seen.lock().unwrap().push(event)
/// });
/// sink.emit(ConnectionEvent::Connected { address: "tcp://h:1".into() });
/// assert_eq!(seen.lock().unwrap().len(), 1);
/// ```
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(ConnectionEvent) + Send + Sync>);

impl EventSink {
    /// A sink calling `report` with each event.
    pub fn new(report: impl Fn(ConnectionEvent) + Send + Sync + 'static) -> EventSink {
        EventSink(Arc::new(report))
    }

    /// Reports one event.
    pub fn emit(&self, event: ConnectionEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventSink")
    }
}

/// The connection state a socket keeps for its [`EventSink`]: whether it is
/// connected now, so that a sink installed later learns it at once.
///
/// Engines share one between the socket and the task or thread that sees
/// the connection events.
#[derive(Debug, Default)]
pub struct ConnectionState {
    inner: std::sync::Mutex<StateInner>,
}

#[derive(Debug, Default)]
struct StateInner {
    sink: Option<EventSink>,
    connected: bool,
}

impl ConnectionState {
    /// A state: not connected, no sink.
    pub fn new() -> ConnectionState {
        ConnectionState::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StateInner> {
        crate::engine::lock(&self.inner)
    }

    /// Installs the sink; when the socket is connected already, the sink
    /// gets a `Connected` for `address` at once.
    pub fn set_sink(&self, sink: EventSink, address: &str) {
        let connected = {
            let mut inner = self.lock();
            inner.sink = Some(sink.clone());
            inner.connected
        };
        if connected {
            sink.emit(ConnectionEvent::Connected {
                address: address.to_owned(),
            });
        }
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.lock().connected
    }

    /// The connection is up: reports `Connected` (once per change).
    pub fn connected(&self, address: &str) {
        let sink = {
            let mut inner = self.lock();
            if inner.connected {
                return;
            }
            inner.connected = true;
            inner.sink.clone()
        };
        if let Some(sink) = sink {
            sink.emit(ConnectionEvent::Connected {
                address: address.to_owned(),
            });
        }
    }

    /// The connection was lost: reports `Disconnected` (once per change).
    pub fn disconnected(&self, address: &str, reason: &str) {
        let sink = {
            let mut inner = self.lock();
            if !inner.connected {
                return;
            }
            inner.connected = false;
            inner.sink.clone()
        };
        if let Some(sink) = sink {
            sink.emit(ConnectionEvent::Disconnected {
                address: address.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn state_reports_changes_once_and_replays_a_connection() {
        let state = ConnectionState::new();
        state.connected("tcp://h:1");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = EventSink::new({
            let seen = seen.clone();
            move |e| seen.lock().unwrap_or_else(|e| e.into_inner()).push(e)
        });
        state.set_sink(sink, "tcp://h:1");
        state.connected("tcp://h:1");
        state.disconnected("tcp://h:1", "gone");
        state.disconnected("tcp://h:1", "gone again");
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(
            seen,
            vec![
                ConnectionEvent::Connected {
                    address: "tcp://h:1".into()
                },
                ConnectionEvent::Disconnected {
                    address: "tcp://h:1".into(),
                    reason: "gone".into()
                },
            ]
        );
        assert!(!state.is_connected());
    }
}

//! The built-in heartbeat monitor: a publisher that sends no
//! `/heartbeat/<name>` beat within `heartbeat_alarm_scale` times the
//! `min_interval` it announces in its beats is reported
//! [`Silent`](posttroll_core::ConnectionEvent::Silent) (and may be
//! reconnected). It replaces the monitors pytroll programs write by hand.

use std::time::{Duration, SystemTime};

use posttroll_core::{Message, Value};
use tokio::time::Instant;

/// The wire prefix of every heartbeat message (`/heartbeat/<name>`).
pub(crate) const BEAT_TOPIC: &str = "pytroll://heartbeat";

/// What a subscriber does about silent publishers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AlarmSettings {
    /// The alarm rings after `scale` times the announced `min_interval`.
    pub(crate) scale: f64,
    /// Connect again to a silent publisher.
    pub(crate) reconnect: bool,
}

/// One publisher's beats, as seen by its reader.
#[derive(Debug)]
pub(crate) struct BeatWatch {
    settings: AlarmSettings,
    /// When the last beat came (or the watch started).
    pub(crate) since: SystemTime,
    /// The last announced `min_interval`.
    min_interval: Option<Duration>,
    /// When the alarm rings; `None`: not armed (no beat seen yet, or it
    /// rang and nothing re-armed it).
    pub(crate) deadline: Option<Instant>,
}

impl BeatWatch {
    pub(crate) fn new(settings: AlarmSettings) -> BeatWatch {
        BeatWatch {
            settings,
            since: SystemTime::now(),
            min_interval: None,
            deadline: None,
        }
    }

    /// Looks at a received frame: a beat arms the alarm again. True when
    /// the frame was a heartbeat message.
    pub(crate) fn observe(&mut self, frame: &[u8]) -> bool {
        if !frame.starts_with(BEAT_TOPIC.as_bytes()) {
            return false;
        }
        let Ok(msg) = Message::decode(frame) else {
            return false;
        };
        if msg.msg_type() != "beat" {
            return true;
        }
        if let Some(interval) = min_interval(&msg) {
            self.min_interval = Some(interval);
        }
        self.since = SystemTime::now();
        self.deadline = self.period().map(|period| Instant::now() + period);
        true
    }

    /// The alarm time: scale times the announced `min_interval` (none for
    /// a `min_interval` of 0, which promises no rate).
    fn period(&self) -> Option<Duration> {
        let interval = self.min_interval.filter(|i| !i.is_zero())?;
        Duration::try_from_secs_f64(interval.as_secs_f64() * self.settings.scale).ok()
    }

    /// The alarm rang: re-armed for another period when the publisher is
    /// reconnected (so a publisher still silent rings again), else off
    /// until the next beat.
    pub(crate) fn rang(&mut self) {
        self.deadline = if self.settings.reconnect {
            self.period().map(|period| Instant::now() + period)
        } else {
            None
        };
    }

    /// Whether a silent publisher is reconnected.
    pub(crate) fn reconnects(&self) -> bool {
        self.settings.reconnect
    }
}

/// The `min_interval` a beat announces, in seconds (an integer or a
/// float; absent, negative or not finite: none).
fn min_interval(msg: &Message) -> Option<Duration> {
    let seconds = msg.data.get("min_interval").and_then(Value::as_f64)?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// True when one of `topics` (wire prefixes) takes heartbeat messages.
pub(crate) fn topics_take_beats(topics: &[String]) -> bool {
    topics
        .iter()
        .any(|t| t.starts_with(BEAT_TOPIC) || BEAT_TOPIC.starts_with(t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(min_interval: Duration) -> Vec<u8> {
        crate::publisher::heartbeat_message("p", min_interval)
            .map(|m| m.encode())
            .unwrap_or_default()
    }

    #[test]
    fn a_beat_arms_the_alarm_for_scale_times_its_interval() {
        let mut watch = BeatWatch::new(AlarmSettings {
            scale: 3.0,
            reconnect: false,
        });
        assert!(watch.deadline.is_none());
        assert!(!watch.observe(b"pytroll://other info a"));
        assert!(watch.observe(&beat(Duration::from_secs(2))));
        let left = watch
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        assert!(left > Duration::from_secs(5) && left <= Duration::from_secs(6));
        watch.rang();
        assert!(watch.deadline.is_none());
    }

    #[test]
    fn a_reconnecting_watch_rings_again() {
        let mut watch = BeatWatch::new(AlarmSettings {
            scale: 2.0,
            reconnect: true,
        });
        assert!(watch.observe(&beat(Duration::from_millis(500))));
        watch.rang();
        assert!(watch.deadline.is_some());
    }

    #[test]
    fn topics_that_take_beats() {
        assert!(topics_take_beats(&["pytroll:/".into()]));
        assert!(topics_take_beats(&["".into()]));
        assert!(topics_take_beats(&["pytroll://heartbeat/p".into()]));
        assert!(!topics_take_beats(&["pytroll://new".into()]));
    }
}

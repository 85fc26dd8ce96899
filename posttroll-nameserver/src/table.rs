//! [`AddressTable`]: the nameserver's table of announced publishers, as pure
//! logic with the clock passed in (no sockets, no timers).

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use indexmap::IndexMap;
use posttroll_core::message::{Map, BASE_VERSION, CURRENT_VERSION};
use posttroll_core::{Data, DateTime, Message, Value};

/// The time stamps the table works with: UTC wall-clock times.
pub type Timestamp = chrono::DateTime<Utc>;

/// Why an announcement was not taken into the table.
///
/// The reference crashes its receiving thread on most of these; here the
/// caller logs the reason and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnnouncementError {
    /// The frame is not a posttroll message.
    Undecodable(String),
    /// The message is not an announcement (wrong type or subject); not an
    /// error on a shared multicast channel, so callers usually log it at
    /// debug level.
    NotAnAnnouncement {
        /// The message's subject.
        subject: String,
        /// The message's type.
        msg_type: String,
    },
    /// The message's data is not a dict.
    DataNotADict,
    /// The data has no string `URI`.
    NoUri,
    /// The table holds [`AddressTable::max_bytes`] of addresses already: a
    /// new address is refused (known ones are still refreshed) until some
    /// expire.
    TableFull {
        /// The table's limit, in bytes.
        max_bytes: usize,
    },
}

impl fmt::Display for AnnouncementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnouncementError::Undecodable(e) => write!(f, "not a posttroll message: {e}"),
            AnnouncementError::NotAnAnnouncement { subject, msg_type } => write!(
                f,
                "not an address announcement (subject '{subject}', type '{msg_type}'; \
                 expected type 'info' and a subject starting with '/address')"
            ),
            AnnouncementError::DataNotADict => {
                write!(f, "the announcement's data is not a dict")
            }
            AnnouncementError::NoUri => write!(f, "the announcement's data has no string \"URI\""),
            AnnouncementError::TableFull { max_bytes } => write!(
                f,
                "the address table is full ({max_bytes} bytes of addresses): a new address is \
                 refused until others expire"
            ),
        }
    }
}

impl std::error::Error for AnnouncementError {}

#[derive(Debug, Clone)]
struct Entry {
    /// The announced data plus `status` and `name` (no `receive_time`).
    metadata: Map,
    received: Timestamp,
    /// What the entry counts against the table's byte limit.
    size: usize,
}

/// The nameserver's table: URI → the metadata its publisher announced.
///
/// Feed it announcements with [`AddressTable::announce`], drop stale
/// entries with [`AddressTable::expire`], answer lookups with
/// [`AddressTable::lookup`]; every time comes in as an argument, so the
/// table is tested without waiting. Entries keep the order in which their
/// URI was first seen, as the reference's dict.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::{Message, Value};
/// use posttroll_nameserver::AddressTable;
///
/// let mut table = AddressTable::new(Duration::from_secs(600));
/// let t0 = chrono::Utc::now();
/// let announcement = Message::new("/address/viirs", "info", Value::object([
///     ("URI", Value::from("tcp://10.0.0.1:40000")),
///     ("service", Value::from(vec!["viirs", "sdr"])),
/// ])).unwrap();
///
/// // A new URI: the event to publish comes back.
/// let added = table.announce(&announcement.encode(), t0).unwrap();
/// assert_eq!(added.unwrap().data.get("status"), Some(&Value::Bool(true)));
/// // Seen again: only refreshed.
/// assert!(table.announce(&announcement.encode(), t0).unwrap().is_none());
///
/// let found = table.lookup("sdr");
/// assert_eq!(found[0]["name"].as_str(), Some("address"));
/// assert!(table.lookup("avhrr").is_empty());
///
/// // Ten minutes and a bit later the entry expires.
/// let removed = table.expire(t0 + chrono::TimeDelta::seconds(601));
/// assert_eq!(removed[0].data.get("status"), Some(&Value::Bool(false)));
/// assert!(table.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct AddressTable {
    max_age: Duration,
    entries: IndexMap<String, Entry>,
    /// The sum of the entries' sizes.
    bytes: usize,
    max_bytes: usize,
}

/// The default of [`AddressTable::max_bytes`]: 2 MiB of addresses, about
/// 7,000 publishers of a typical 300-byte announcement (real networks have
/// tens to hundreds), and a `lookup("")` reply well under the default
/// `max_message_size` (4 MiB) of the clients that read it.
pub const DEFAULT_MAX_TABLE_BYTES: usize = 2 * 1024 * 1024;

/// The subject prefix of announcements (compared lower-cased).
const ANNOUNCEMENT_PREFIX: &str = "/address";

impl AddressTable {
    /// An empty table whose entries expire `max_age` after their last
    /// announcement.
    pub fn new(max_age: Duration) -> AddressTable {
        AddressTable {
            max_age,
            entries: IndexMap::new(),
            bytes: 0,
            max_bytes: DEFAULT_MAX_TABLE_BYTES,
        }
    }

    /// The same table with another byte limit (see
    /// [`AddressTable::max_bytes`]).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> AddressTable {
        self.max_bytes = max_bytes;
        self
    }

    /// How many bytes of addresses the table holds at most (the sum of
    /// each entry's encoded announcement); a new address beyond that is
    /// refused with [`AnnouncementError::TableFull`] until others expire.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// How many bytes of addresses the table holds now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How long an entry lives without a new announcement.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The URIs in the table, oldest first.
    pub fn uris(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Decodes an announcement frame and takes it in at time `now`; see
    /// [`AddressTable::announce_message`].
    pub fn announce(
        &mut self,
        frame: &[u8],
        now: Timestamp,
    ) -> Result<Option<Message>, AnnouncementError> {
        let msg =
            Message::decode(frame).map_err(|e| AnnouncementError::Undecodable(e.to_string()))?;
        self.announce_message(msg, now)
    }

    /// Takes in an announcement at time `now`, as the reference's
    /// `process_address_message`: a message of type `info` whose subject
    /// starts with `/address` (any case) and whose data is a dict with a
    /// string `URI`.
    ///
    /// The entry's metadata is the data plus `"status": true`, `"name"` (the
    /// second path element of the subject, i.e. `address`) and, in
    /// lookups, `receive_time`. Returns the event to publish when the URI is
    /// new: the received message with `status: true` and the smallest
    /// version its data needs (`v1.01` unless it holds a datetime), so old
    /// clients can read it. A known URI is refreshed and returns `None`.
    pub fn announce_message(
        &mut self,
        mut msg: Message,
        now: Timestamp,
    ) -> Result<Option<Message>, AnnouncementError> {
        let is_announcement = msg.msg_type() == "info"
            && msg
                .subject()
                .to_lowercase()
                .starts_with(ANNOUNCEMENT_PREFIX);
        if !is_announcement {
            return Err(AnnouncementError::NotAnAnnouncement {
                subject: msg.subject().chars().take(80).collect(),
                msg_type: msg.msg_type().chars().take(40).collect(),
            });
        }
        // The subject starts with "/address" (case aside), so it has a
        // second path element.
        let name = msg
            .subject()
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let size = msg.encode().len();
        let data = match &mut msg.data {
            Data::Json(Value::Object(data)) => data,
            _ => return Err(AnnouncementError::DataNotADict),
        };
        let uri = match data.get("URI") {
            Some(Value::String(uri)) => uri.to_string(),
            _ => return Err(AnnouncementError::NoUri),
        };
        data.insert("status".into(), Value::Bool(true));
        let mut metadata = data.clone();
        let known = self.entries.get(uri.as_str()).map(|entry| entry.size);
        let after = self.bytes - known.unwrap_or(0) + size;
        if after > self.max_bytes && known.is_none() {
            return Err(AnnouncementError::TableFull {
                max_bytes: self.max_bytes,
            });
        }
        self.bytes = after;
        metadata.insert("name".into(), Value::from(name));

        let event = if self.entries.contains_key(uri.as_str()) {
            None
        } else {
            let version = if data.values().any(Value::contains_datetime) {
                CURRENT_VERSION
            } else {
                BASE_VERSION
            };
            // A decoded version is a token, so this cannot fail; keep the
            // received version if it somehow does.
            Some(msg.clone().with_version(version).unwrap_or(msg))
        };
        self.entries.insert(
            uri,
            Entry {
                metadata,
                received: now,
                size,
            },
        );
        Ok(event)
    }

    /// Drops the entries whose last announcement is more than `max_age`
    /// before `now`, returning the removal events to publish:
    /// `Message("/address/<name>", "info", {"status": false, "URI": uri,
    /// "service": [...]})`.
    pub fn expire(&mut self, now: Timestamp) -> Vec<Message> {
        let max_age = chrono::TimeDelta::from_std(self.max_age).unwrap_or(chrono::TimeDelta::MAX);
        let mut events = Vec::new();
        let mut removed = 0;
        self.entries.retain(|uri, entry| {
            if now.signed_duration_since(entry.received) <= max_age {
                return true;
            }
            removed += entry.size;
            let name = entry
                .metadata
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let service = entry
                .metadata
                .get("service")
                .cloned()
                .unwrap_or(Value::Null);
            let data = Value::object([
                ("status", Value::Bool(false)),
                ("URI", Value::from(uri.as_str())),
                ("service", service),
            ]);
            match Message::new(format!("/address/{name}"), "info", data) {
                Ok(msg) => events.push(msg),
                Err(e) => tracing::warn!(uri = %uri, error = %e, "cannot build the removal event"),
            }
            false
        });
        self.bytes -= removed;
        events
    }

    /// The metadata of the entries offering `name`, oldest first: all of
    /// them for `""`, else those whose `service` list holds `name`. Each is
    /// a dict with `receive_time` as an ISO string
    /// (`2026-11-25T21:59:26.298565+00:00`), ready for a lookup reply.
    ///
    /// As in the reference, a `service` given as one string matches any
    /// `name` it contains (Python's `name in "..."`).
    pub fn lookup(&self, name: &str) -> Vec<Value> {
        self.entries
            .values()
            .filter(|entry| name.is_empty() || offers(&entry.metadata, name))
            .map(|entry| {
                let mut metadata = entry.metadata.clone();
                metadata.insert(
                    "receive_time".into(),
                    Value::from(DateTime::from(entry.received).isoformat()),
                );
                Value::Object(metadata)
            })
            .collect()
    }
}

/// Python's `name in metadata["service"]`.
fn offers(metadata: &Map, name: &str) -> bool {
    match metadata.get("service") {
        Some(Value::Array(services)) => services.iter().any(|s| s.as_str() == Some(name)),
        Some(Value::String(service)) => service.contains(name),
        Some(Value::Object(services)) => services.contains_key(name),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> Timestamp {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .unwrap_or_default()
    }

    fn announcement(uri: &str, services: &[&str]) -> Vec<u8> {
        Message::new(
            "/address/svc",
            "info",
            Value::object([
                ("URI", Value::from(uri)),
                ("service", Value::from(services.to_vec())),
                ("supported_message_version", Value::from("v1.2")),
                ("backend", Value::from("unsecure_zmq")),
            ]),
        )
        .unwrap()
        .with_version("v1.2")
        .unwrap()
        .encode_with(None)
    }

    #[test]
    fn the_table_is_bounded_in_bytes() {
        let one = announcement("tcp://h:1", &["a"]).len();
        let mut table = AddressTable::new(Duration::from_secs(10)).with_max_bytes(one * 3 + 10);
        for port in 0..3 {
            let frame = announcement(&format!("tcp://h:{port}"), &["a"]);
            assert!(table.announce(&frame, t(0)).unwrap().is_some());
        }
        let full = table.bytes();
        assert!(full <= table.max_bytes(), "{full}");
        // A new address is refused, naming the limit...
        let error = table
            .announce(&announcement("tcp://h:9", &["a"]), t(1))
            .unwrap_err();
        assert_eq!(
            error,
            AnnouncementError::TableFull {
                max_bytes: one * 3 + 10
            }
        );
        assert!(error.to_string().contains("full"), "{error}");
        assert_eq!(table.len(), 3);
        // ...a known one is still refreshed...
        assert!(table
            .announce(&announcement("tcp://h:0", &["a"]), t(5))
            .unwrap()
            .is_none());
        assert_eq!(table.bytes(), full);
        // ...and once others expire there is room again.
        assert_eq!(table.expire(t(12)).len(), 2);
        assert!(table.bytes() < full);
        assert!(table
            .announce(&announcement("tcp://h:9", &["a"]), t(12))
            .unwrap()
            .is_some());
    }

    #[test]
    fn metadata_has_status_name_and_receive_time_in_order() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        let event = table
            .announce(&announcement("tcp://h:1", &["a", "b"]), t(0))
            .unwrap()
            .unwrap();
        assert_eq!(event.version(), Some("v1.01"));
        assert_eq!(event.subject(), "/address/svc");
        let event_keys: Vec<_> = event
            .data
            .as_json()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            event_keys,
            [
                "URI",
                "service",
                "supported_message_version",
                "backend",
                "status"
            ]
        );
        // Written naive, as the reference's v1.01 re-publication.
        let encoded = String::from_utf8(event.encode_with(None)).unwrap();
        assert!(
            !encoded.split(' ').nth(3).unwrap().contains("+00:00"),
            "{encoded}"
        );

        let found = table.lookup("a");
        assert_eq!(found.len(), 1);
        let keys: Vec<_> = found[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "URI",
                "service",
                "supported_message_version",
                "backend",
                "status",
                "name",
                "receive_time"
            ]
        );
        assert_eq!(found[0]["name"].as_str(), Some("address"));
        assert_eq!(found[0]["status"], Value::Bool(true));
        assert_eq!(
            found[0]["receive_time"].as_str(),
            Some("2023-11-14T22:13:20+00:00")
        );
        assert_eq!(table.lookup("").len(), 1);
        assert!(table.lookup("c").is_empty());
    }

    #[test]
    fn version_is_v1_2_when_the_data_holds_a_datetime() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        let frame = b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json {\"URI\": \"tcp://h:2\", \"since\": \"2020-01-01T00:00:00\"}";
        let event = table.announce(frame, t(0)).unwrap().unwrap();
        assert_eq!(event.version(), Some("v1.2"));
    }

    #[test]
    fn known_uris_are_refreshed_not_republished() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        assert!(table
            .announce(&announcement("tcp://h:1", &["a"]), t(0))
            .unwrap()
            .is_some());
        assert!(table
            .announce(&announcement("tcp://h:2", &["b"]), t(1))
            .unwrap()
            .is_some());
        assert!(table
            .announce(&announcement("tcp://h:1", &["a"]), t(8))
            .unwrap()
            .is_none());
        assert_eq!(table.uris(), ["tcp://h:1", "tcp://h:2"]);
        // h:2 was last seen at 1, h:1 at 8.
        assert!(table.expire(t(11)).is_empty());
        let removed = table.expire(t(12));
        assert_eq!(removed.len(), 1);
        let data = removed[0].data.as_json().unwrap();
        assert_eq!(removed[0].subject(), "/address/address");
        assert_eq!(data["URI"].as_str(), Some("tcp://h:2"));
        assert_eq!(data["status"], Value::Bool(false));
        assert_eq!(data["service"], Value::from(vec!["b"]));
        assert_eq!(table.uris(), ["tcp://h:1"]);
        assert_eq!(table.expire(t(19)).len(), 1);
        assert!(table.is_empty());
        // Gone and back: published again.
        assert!(table
            .announce(&announcement("tcp://h:1", &["a"]), t(20))
            .unwrap()
            .is_some());
    }

    #[test]
    fn exactly_max_age_is_kept() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        table
            .announce(&announcement("tcp://h:1", &["a"]), t(0))
            .unwrap();
        assert!(table.expire(t(10)).is_empty());
        assert_eq!(
            table
                .expire(t(10) + chrono::TimeDelta::microseconds(1))
                .len(),
            1
        );
    }

    #[test]
    fn subject_prefix_is_case_insensitive_and_name_is_the_second_element() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        let msg = Message::new(
            "/ADDRESS/x",
            "info",
            Value::object([("URI", Value::from("tcp://h:3"))]),
        )
        .unwrap();
        assert!(table.announce_message(msg, t(0)).unwrap().is_some());
        assert_eq!(table.lookup("")[0]["name"].as_str(), Some("ADDRESS"));
    }

    #[test]
    fn a_single_string_service_matches_like_python_in() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        let msg = Message::new(
            "/address/x",
            "info",
            Value::object([
                ("URI", Value::from("tcp://h:3")),
                ("service", Value::from("viirs_sdr")),
            ]),
        )
        .unwrap();
        table.announce_message(msg, t(0)).unwrap();
        assert_eq!(table.lookup("sdr").len(), 1);
        assert!(table.lookup("avhrr").is_empty());
    }

    #[test]
    fn malformed_announcements_are_errors() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        type Check = fn(&AnnouncementError) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (b"hello".to_vec(), |e| matches!(e, AnnouncementError::Undecodable(_))),
            (vec![0xff, 0xfe], |e| matches!(e, AnnouncementError::Undecodable(_))),
            (
                b"pytroll://address/x beat a@b 2020-01-01T00:00:00 v1.01".to_vec(),
                |e| matches!(e, AnnouncementError::NotAnAnnouncement { .. }),
            ),
            (
                b"pytroll://other/x info a@b 2020-01-01T00:00:00 v1.01".to_vec(),
                |e| matches!(e, AnnouncementError::NotAnAnnouncement { .. }),
            ),
            (
                b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01".to_vec(),
                |e| *e == AnnouncementError::DataNotADict,
            ),
            (
                b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 text/ascii tcp://h:1".to_vec(),
                |e| *e == AnnouncementError::DataNotADict,
            ),
            (
                b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json [1]".to_vec(),
                |e| *e == AnnouncementError::DataNotADict,
            ),
            (
                b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json {\"uri\": \"x\"}".to_vec(),
                |e| *e == AnnouncementError::NoUri,
            ),
            (
                b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json {\"URI\": 5}".to_vec(),
                |e| *e == AnnouncementError::NoUri,
            ),
        ];
        for (frame, check) in cases {
            let err = table.announce(&frame, t(0)).unwrap_err();
            assert!(
                check(&err),
                "{:?}: {err:?}",
                String::from_utf8_lossy(&frame)
            );
            assert!(!err.to_string().is_empty());
        }
        assert!(table.is_empty());
    }

    #[test]
    fn an_announced_status_false_is_overridden_in_place() {
        let mut table = AddressTable::new(Duration::from_secs(10));
        let msg = Message::new(
            "/address/x",
            "info",
            Value::object([
                ("status", Value::Bool(false)),
                ("URI", Value::from("tcp://h:3")),
            ]),
        )
        .unwrap();
        let event = table.announce_message(msg, t(0)).unwrap().unwrap();
        let keys: Vec<_> = event
            .data
            .as_json()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["status", "URI"]);
        assert_eq!(table.lookup("")[0]["status"], Value::Bool(true));
    }
}

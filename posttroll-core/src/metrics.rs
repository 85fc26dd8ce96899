//! The metrics posttroll emits, all named here, through the
//! [`metrics`](https://docs.rs/metrics) facade: with this crate's cargo
//! feature `metrics` (turned on by the `metrics` feature of `posttroll` and
//! `posttroll-nameserver`) every function below counts into whatever
//! recorder the application installed (its own exporter: Prometheus,
//! StatsD, ...); without the feature, or without a recorder, they do
//! nothing. The `nameserver` binary serves them itself
//! (`--metrics-address`).
//!
//! Names follow Prometheus' conventions: the `posttroll_` prefix, `_total`
//! on counters, base units; every label takes a few fixed values (never a
//! peer's address or a service name), so the number of series is bounded.
//!
//! | metric | type | labels | counts |
//! | --- | --- | --- | --- |
//! | `posttroll_messages_sent_total` | counter | | frames sent by this process's publishers (the nameserver's address events and heartbeats included) |
//! | `posttroll_messages_received_total` | counter | | frames this process's subscribers read from their sockets |
//! | `posttroll_messages_undecodable_total` | counter | | received frames that are not posttroll messages (dropped, logged) |
//! | `posttroll_refusals_total` | counter | `reason`: `size`, `malformed`, `policy`, `not_authorised`, `table_full` | peer input refused: a frame over `max_message_size` (`size`: the pure-Rust engine on every socket, the libzmq engine on subscribers), a request or announcement that does not parse or is not a request (`malformed`), a peer outside `authorized_client_addresses` or a multicast announcement from another host under `--local-only` (`policy`), a CURVE key not admitted (`not_authorised`), a new address beyond the table's byte limit (`table_full`) |
//! | `posttroll_connections_opened_total` | counter | | connections to this process's bound sockets whose handshake succeeded (pure-Rust engine) |
//! | `posttroll_connections_closed_total` | counter | | connections to this process's bound sockets torn down (pure-Rust engine); opened − closed is the number open |
//! | `posttroll_log_lines_suppressed_total` | counter | `event` | repeated warnings the log sampler did not write ([`log_sampling::sample`](crate::log_sampling::sample)) |
//! | `posttroll_nameserver_addresses` | gauge | | addresses in the nameserver's table |
//! | `posttroll_nameserver_lookups_total` | counter | `result`: `found`, `not_found`, `refused` | lookup requests, by answer |
//! | `posttroll_nameserver_announcements_total` | counter | `source`: `multicast`, `designated`; `result`: `accepted`, `refused`, `ignored` | announcements received, by channel and outcome (`ignored`: another kind of message on the channel) |
//! | `posttroll_nameserver_addresses_expired_total` | counter | | addresses dropped because their publisher stopped announcing them |
//! | `posttroll_nameserver_replies_dropped_total` | counter | `port`: `lookup`, `announcement` | replies the requester did not take (its queue full, or gone) |
//!
//! The counters are process-wide: a process running two nameservers (a
//! test) adds both up, and the address gauge is the last one set.
//!
//! # Examples
//!
//! ```
//! use posttroll_core::metrics::{self, Refusal};
//!
//! // Without a recorder (or without the `metrics` feature) this does nothing.
//! metrics::refused(Refusal::Size);
//! assert_eq!(Refusal::NotAuthorised.label(), "not_authorised");
//! ```

/// Frames sent by this process's publishers.
pub const MESSAGES_SENT: &str = "posttroll_messages_sent_total";
/// Frames read by this process's subscribers.
pub const MESSAGES_RECEIVED: &str = "posttroll_messages_received_total";
/// Received frames that are not posttroll messages.
pub const MESSAGES_UNDECODABLE: &str = "posttroll_messages_undecodable_total";
/// Peer input refused, by `reason` ([`Refusal`]).
pub const REFUSALS: &str = "posttroll_refusals_total";
/// Connections to bound sockets whose handshake succeeded.
pub const CONNECTIONS_OPENED: &str = "posttroll_connections_opened_total";
/// Connections to bound sockets torn down.
pub const CONNECTIONS_CLOSED: &str = "posttroll_connections_closed_total";
/// Log lines the sampler suppressed, by `event`.
pub const LOG_LINES_SUPPRESSED: &str = "posttroll_log_lines_suppressed_total";
/// Addresses in the nameserver's table (a gauge).
pub const NAMESERVER_ADDRESSES: &str = "posttroll_nameserver_addresses";
/// Lookups, by `result` ([`LookupResult`]).
pub const NAMESERVER_LOOKUPS: &str = "posttroll_nameserver_lookups_total";
/// Announcements, by `source` ([`AnnouncementSource`]) and `result`
/// ([`AnnouncementResult`]).
pub const NAMESERVER_ANNOUNCEMENTS: &str = "posttroll_nameserver_announcements_total";
/// Addresses expired from the nameserver's table.
pub const NAMESERVER_ADDRESSES_EXPIRED: &str = "posttroll_nameserver_addresses_expired_total";
/// Replies the requester did not take, by `port` ([`ReplyPort`]).
pub const NAMESERVER_REPLIES_DROPPED: &str = "posttroll_nameserver_replies_dropped_total";

/// Why a peer's input was refused: the `reason` label of
/// [`REFUSALS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// A frame over the size limit (`max_message_size`, or the
    /// nameserver's 64 KiB on its request ports).
    Size,
    /// Not a posttroll message, not a request, or lacking what it needs.
    Malformed,
    /// Refused by the configuration: a peer not in
    /// `authorized_client_addresses`, an announcement from another host
    /// with `--local-only`.
    Policy,
    /// A CURVE client whose public key is not admitted.
    NotAuthorised,
    /// A new address while the nameserver's table is full.
    TableFull,
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 5] = [
        Refusal::Size,
        Refusal::Malformed,
        Refusal::Policy,
        Refusal::NotAuthorised,
        Refusal::TableFull,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Size => "size",
            Refusal::Malformed => "malformed",
            Refusal::Policy => "policy",
            Refusal::NotAuthorised => "not_authorised",
            Refusal::TableFull => "table_full",
        }
    }
}

/// How a lookup was answered: the `result` label of [`NAMESERVER_LOOKUPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupResult {
    /// With one address or more.
    Found,
    /// With none.
    NotFound,
    /// With an error: the request was malformed.
    Refused,
}

impl LookupResult {
    /// Every result.
    pub const ALL: [LookupResult; 3] = [
        LookupResult::Found,
        LookupResult::NotFound,
        LookupResult::Refused,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            LookupResult::Found => "found",
            LookupResult::NotFound => "not_found",
            LookupResult::Refused => "refused",
        }
    }
}

/// Where an announcement came from: the `source` label of
/// [`NAMESERVER_ANNOUNCEMENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnouncementSource {
    /// A multicast datagram.
    Multicast,
    /// A request on the broadcast port (designated nameservers, no
    /// multicast).
    Designated,
}

impl AnnouncementSource {
    /// Every source.
    pub const ALL: [AnnouncementSource; 2] = [
        AnnouncementSource::Multicast,
        AnnouncementSource::Designated,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            AnnouncementSource::Multicast => "multicast",
            AnnouncementSource::Designated => "designated",
        }
    }
}

/// What became of an announcement: the `result` label of
/// [`NAMESERVER_ANNOUNCEMENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnouncementResult {
    /// Taken into the table (a new address, or one refreshed).
    Accepted,
    /// Refused: malformed, from another host with `--local-only`, or the
    /// table full (the reason is counted in [`REFUSALS`]).
    Refused,
    /// Not an announcement (another message on the channel).
    Ignored,
}

impl AnnouncementResult {
    /// Every result.
    pub const ALL: [AnnouncementResult; 3] = [
        AnnouncementResult::Accepted,
        AnnouncementResult::Refused,
        AnnouncementResult::Ignored,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            AnnouncementResult::Accepted => "accepted",
            AnnouncementResult::Refused => "refused",
            AnnouncementResult::Ignored => "ignored",
        }
    }
}

/// The nameserver's reply ports: the `port` label of
/// [`NAMESERVER_REPLIES_DROPPED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyPort {
    /// The lookup ports (plain and CURVE).
    Lookup,
    /// The designated-announcement port.
    Announcement,
}

impl ReplyPort {
    /// Every port.
    pub const ALL: [ReplyPort; 2] = [ReplyPort::Lookup, ReplyPort::Announcement];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            ReplyPort::Lookup => "lookup",
            ReplyPort::Announcement => "announcement",
        }
    }
}

/// The `event` label values of [`LOG_LINES_SUPPRESSED`], one per sampled
/// warning.
pub mod events {
    /// A lookup reply the requester did not take.
    pub const LOOKUP_REPLY_DROPPED: &str = "lookup_reply_dropped";
    /// An announcement reply the announcer did not take.
    pub const ANNOUNCEMENT_REPLY_DROPPED: &str = "announcement_reply_dropped";
    /// A new address refused, the table being full.
    pub const TABLE_FULL: &str = "table_full";
    /// A frame over `max_message_size` dropped by a libzmq subscriber.
    pub const OVERSIZED_FRAME: &str = "oversized_frame";
    /// Every event.
    pub const ALL: [&str; 4] = [
        LOOKUP_REPLY_DROPPED,
        ANNOUNCEMENT_REPLY_DROPPED,
        TABLE_FULL,
        OVERSIZED_FRAME,
    ];
}

/// Adds `n` to a counter.
#[inline]
fn add(name: &'static str, labels: &[(&'static str, &'static str)], n: u64) {
    #[cfg(feature = "metrics")]
    {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(key, value)| metrics::Label::from_static_parts(key, value))
            .collect();
        metrics::counter!(name, labels).increment(n);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, labels, n);
}

/// A frame sent by a publisher.
#[inline]
pub fn message_sent() {
    add(MESSAGES_SENT, &[], 1);
}

/// A frame read by a subscriber.
#[inline]
pub fn message_received() {
    add(MESSAGES_RECEIVED, &[], 1);
}

/// A received frame that does not decode.
#[inline]
pub fn message_undecodable() {
    add(MESSAGES_UNDECODABLE, &[], 1);
}

/// Peer input refused, for `reason`.
#[inline]
pub fn refused(reason: Refusal) {
    add(REFUSALS, &[("reason", reason.label())], 1);
}

/// A connection to a bound socket completed its handshake.
#[inline]
pub fn connection_opened() {
    add(CONNECTIONS_OPENED, &[], 1);
}

/// A connection to a bound socket was torn down.
#[inline]
pub fn connection_closed() {
    add(CONNECTIONS_CLOSED, &[], 1);
}

/// A log line of `event` suppressed by the sampler.
#[inline]
pub fn log_line_suppressed(event: &'static str) {
    add(LOG_LINES_SUPPRESSED, &[("event", event)], 1);
}

/// The nameserver's table now holds `n` addresses.
#[inline]
pub fn nameserver_addresses(n: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(NAMESERVER_ADDRESSES).set(n as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = n;
}

/// A lookup answered with `result`.
#[inline]
pub fn nameserver_lookup(result: LookupResult) {
    add(NAMESERVER_LOOKUPS, &[("result", result.label())], 1);
}

/// An announcement from `source`, with `result`.
#[inline]
pub fn nameserver_announcement(source: AnnouncementSource, result: AnnouncementResult) {
    add(
        NAMESERVER_ANNOUNCEMENTS,
        &[("source", source.label()), ("result", result.label())],
        1,
    );
}

/// `n` addresses expired from the nameserver's table.
#[inline]
pub fn nameserver_addresses_expired(n: usize) {
    if n > 0 {
        add(
            NAMESERVER_ADDRESSES_EXPIRED,
            &[],
            u64::try_from(n).unwrap_or(u64::MAX),
        );
    }
}

/// A reply on `port` that the requester did not take.
#[inline]
pub fn nameserver_reply_dropped(port: ReplyPort) {
    add(NAMESERVER_REPLIES_DROPPED, &[("port", port.label())], 1);
}

/// Describes every metric above to the installed recorder (its help text)
/// and creates each series at 0, so that a scrape lists them all before
/// they first move. An exporter calls it once, after installing its
/// recorder; does nothing without the `metrics` feature.
pub fn describe() {
    #[cfg(feature = "metrics")]
    {
        use metrics::{describe_counter, describe_gauge, Unit};
        let counters: [(&'static str, &'static str); 11] = [
            (MESSAGES_SENT, "Frames sent by this process's publishers."),
            (MESSAGES_RECEIVED, "Frames read by this process's subscribers."),
            (
                MESSAGES_UNDECODABLE,
                "Received frames that are not posttroll messages (dropped).",
            ),
            (
                REFUSALS,
                "Peer input refused, by reason (size, malformed, policy, not_authorised, table_full).",
            ),
            (
                CONNECTIONS_OPENED,
                "Connections to bound sockets whose handshake succeeded (pure-Rust engine).",
            ),
            (
                CONNECTIONS_CLOSED,
                "Connections to bound sockets torn down (pure-Rust engine).",
            ),
            (
                LOG_LINES_SUPPRESSED,
                "Repeated warnings the log sampler did not write, by event.",
            ),
            (
                NAMESERVER_LOOKUPS,
                "Nameserver lookups, by result (found, not_found, refused).",
            ),
            (
                NAMESERVER_ANNOUNCEMENTS,
                "Announcements received by the nameserver, by source and result.",
            ),
            (
                NAMESERVER_ADDRESSES_EXPIRED,
                "Addresses dropped because their publisher stopped announcing them.",
            ),
            (
                NAMESERVER_REPLIES_DROPPED,
                "Nameserver replies the requester did not take, by port.",
            ),
        ];
        for (name, help) in counters {
            describe_counter!(name, Unit::Count, help);
        }
        describe_gauge!(
            NAMESERVER_ADDRESSES,
            Unit::Count,
            "Addresses in the nameserver's table."
        );
        for name in [
            MESSAGES_SENT,
            MESSAGES_RECEIVED,
            MESSAGES_UNDECODABLE,
            CONNECTIONS_OPENED,
            CONNECTIONS_CLOSED,
            NAMESERVER_ADDRESSES_EXPIRED,
        ] {
            add(name, &[], 0);
        }
        for reason in Refusal::ALL {
            add(REFUSALS, &[("reason", reason.label())], 0);
        }
        for event in events::ALL {
            add(LOG_LINES_SUPPRESSED, &[("event", event)], 0);
        }
        for result in LookupResult::ALL {
            add(NAMESERVER_LOOKUPS, &[("result", result.label())], 0);
        }
        for source in AnnouncementSource::ALL {
            for result in AnnouncementResult::ALL {
                add(
                    NAMESERVER_ANNOUNCEMENTS,
                    &[("source", source.label()), ("result", result.label())],
                    0,
                );
            }
        }
        for port in ReplyPort::ALL {
            add(NAMESERVER_REPLIES_DROPPED, &[("port", port.label())], 0);
        }
        // Registers the gauge without changing its value.
        metrics::gauge!(NAMESERVER_ADDRESSES).increment(0.0);
    }
}

/// A recorder that keeps every counter and gauge in memory, by series
/// (`name{label=value,...}`, labels in the order given): for tests of code
/// that counts through posttroll (install it with
/// `metrics::set_global_recorder` or `metrics::with_local_recorder`).
/// Cheap to clone: clones share the values. Histograms are dropped.
///
/// # Examples
///
/// ```
/// use posttroll_core::metrics::{refused, CountingRecorder, Refusal};
///
/// let recorder = CountingRecorder::default();
/// metrics::with_local_recorder(&recorder, || refused(Refusal::Size));
/// assert_eq!(recorder.get("posttroll_refusals_total{reason=size}"), 1);
/// assert_eq!(recorder.get("posttroll_refusals_total{reason=policy}"), 0);
/// ```
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Default)]
pub struct CountingRecorder(
    std::sync::Arc<
        std::sync::Mutex<
            std::collections::BTreeMap<String, std::sync::Arc<std::sync::atomic::AtomicU64>>,
        >,
    >,
);

#[cfg(feature = "metrics")]
impl CountingRecorder {
    fn slot(&self, key: &metrics::Key) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let series = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(series)
            .or_default()
            .clone()
    }

    /// A counter's value (0 when it was never registered), e.g.
    /// `get("posttroll_messages_sent_total{}")`.
    pub fn get(&self, series: &str) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(series)
            .map_or(0, |v| v.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A gauge's value, when it was registered.
    pub fn gauge(&self, series: &str) -> Option<f64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(series)
            .map(|v| f64::from_bits(v.load(std::sync::atomic::Ordering::Relaxed)))
    }

    /// True when the series was registered (a counter at 0 included).
    pub fn has(&self, series: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(series)
    }
}

#[cfg(feature = "metrics")]
impl metrics::Recorder for CountingRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.slot(key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.slot(key))
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_created_and_counts() {
        let recorder = CountingRecorder::default();
        metrics::with_local_recorder(&recorder, || {
            describe();
            refused(Refusal::Size);
            refused(Refusal::Size);
            nameserver_announcement(AnnouncementSource::Designated, AnnouncementResult::Accepted);
            nameserver_addresses(3);
            nameserver_addresses_expired(2);
            for n in 1..=1001 {
                crate::log_sampling::sample(n, events::TABLE_FULL);
            }
        });
        assert_eq!(recorder.get("posttroll_refusals_total{reason=size}"), 2);
        assert!(recorder.has("posttroll_refusals_total{reason=not_authorised}"));
        assert_eq!(
            recorder
                .get("posttroll_nameserver_announcements_total{source=designated,result=accepted}"),
            1
        );
        assert!(recorder
            .has("posttroll_nameserver_announcements_total{source=multicast,result=ignored}"));
        assert_eq!(
            recorder.gauge("posttroll_nameserver_addresses{}"),
            Some(3.0)
        );
        assert_eq!(
            recorder.get("posttroll_nameserver_addresses_expired_total{}"),
            2
        );
        // 1 and 1000 are logged: 999 suppressed.
        assert_eq!(
            recorder.get("posttroll_log_lines_suppressed_total{event=table_full}"),
            999
        );
        assert!(recorder.has("posttroll_messages_sent_total{}"));
        assert_eq!(recorder.get("posttroll_messages_sent_total{}"), 0);
    }
}

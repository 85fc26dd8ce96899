//! One behaviour suite for every ZMTP engine: the transport tests that are
//! the same for the libzmq engine (`posttroll-backend-zmq`) and the
//! pure-Rust one (`posttroll-backend-purerust`), written once against the
//! engine-neutral [`Transport`] trait.
//!
//! Each engine's test file calls [`conformance_tests!`](crate::conformance_tests)
//! with its transport: one `#[tokio::test]` per body that needs nothing
//! but a transport, under the body's name, so every engine runs every such
//! check (a body added to the macro's list runs on all of them). Bodies
//! that take more (a second transport, a count) get a hand-written test in
//! each engine's file; what only one engine does (libzmq's ZAP and
//! per-context `inproc://`, omq's keepalive read back with `ss`, ...) stays
//! in that engine's own tests.
//!
//! The bodies panic on failure, as tests do. PUB/SUB bodies never sleep to
//! synchronise: they repeat a probe frame until the subscriber sees one
//! (the slow-joiner, [`sync`]), and every wait has a deadline
//! ([`DEADLINE`]). Run them on a multi-threaded runtime (they spawn tasks
//! that must make progress while the test body waits).
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo(transport: &dyn posttroll::backend::Transport) {
//! use posttroll_testkit::conformance;
//!
//! conformance::topics_filter_by_prefix(transport).await;
//! conformance::request_reply_round_trip(transport).await;
//! # }
//! ```

// A conformance check reports a failure by panicking, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One `#[tokio::test]` (multi-threaded, 2 workers) for each body of the
/// suite that needs nothing but a transport, named as the body and
/// calling it with `$transport` (an expression evaluated in each test).
/// The calling crate needs `tokio` with its `macros` feature.
///
/// # Examples
///
/// In an engine's `tests/` file:
///
/// ```no_run
/// use posttroll_backend_purerust::PureRustTransport;
///
/// fn transport() -> PureRustTransport {
///     PureRustTransport::new(&posttroll::Config::default()).unwrap()
/// }
///
/// posttroll_testkit::conformance_tests!(transport());
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($transport:expr) => {
        $crate::conformance_tests!(@each $transport;
            wildcard_binds_take_ipv4_and_ipv6_clients,
            pubsub_round_trip_ipc,
            pubsub_round_trip_inproc,
            subscriber_connects_before_publisher_binds,
            topics_filter_by_prefix,
            wait_for_subscribers_times_out,
            wait_for_subscribers_beside_a_waiting_no_drop_sender,
            no_drop_loses_nothing_over_tcp,
            no_drop_loses_nothing_over_inproc,
            default_high_water_mark_drops_under_load,
            request_reply_round_trip,
            reply_socket_survives_a_client_that_never_reads,
            request_reply_over_inproc_and_ipc,
            cancelled_receives_lose_nothing,
        );
    };
    (@each $transport:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::$name(&$transport).await;
            }
        )*
    };
}

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll::backend::{
    BindSpec, Delivery, EventSink, PubOptions, PubSocket, ReplySocket, ReplyTo, SubSocket,
    Transport,
};
use posttroll::{Config, ConnectionEvent, Endpoint, ErrorKind, Security};
use tokio::sync::mpsc;

/// The frame PUB/SUB tests repeat until a subscriber sees it.
pub const PROBE: &[u8] = b"pytroll://probe";

/// How long any single wait of the suite may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Parses an endpoint written in a test.
pub fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

/// Owned topics from string literals.
pub fn topics(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

/// A name unique in this process run: `prefix-<pid>-<n>`, for `inproc://`
/// names and `ipc://` paths.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Repeats `probe` until the subscriber receives a frame (the slow-joiner
/// of PUB/SUB), within [`DEADLINE`].
pub async fn sync(publisher: &dyn PubSocket, subscriber: &mut dyn SubSocket, probe: &[u8]) {
    let start = Instant::now();
    loop {
        publisher.send(Bytes::copy_from_slice(probe)).await.unwrap();
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(10), subscriber.recv()).await
        {
            assert_eq!(frame.unwrap(), probe);
            return;
        }
        assert!(start.elapsed() < DEADLINE, "the subscriber never joined");
    }
}

/// The next frame that does not start with [`PROBE`], within [`DEADLINE`].
pub async fn next_data(subscriber: &mut dyn SubSocket) -> Bytes {
    loop {
        let frame = tokio::time::timeout(DEADLINE, subscriber.recv())
            .await
            .expect("no frame before the deadline")
            .unwrap();
        if !frame.starts_with(PROBE) {
            return frame;
        }
    }
}

/// Frames of every awkward kind: plain, UTF-8, every byte value, 60 kB,
/// and the shortest topic.
pub fn sample_frames() -> Vec<Bytes> {
    let mut binary = b"pytroll://bin ".to_vec();
    binary.extend(0..=255u8);
    let mut big = b"pytroll://big ".to_vec();
    big.resize(60_000, b'x');
    vec![
        Bytes::from_static(b"pytroll://test/a info user@host 2024-01-01T00:00:00 v1.01"),
        Bytes::from(
            "pytroll://test/utf8 info u@h 2024-01-01T00:00:00 v1.01 text/ascii norrk\u{f6}ping",
        ),
        Bytes::from(binary),
        Bytes::from(big),
        Bytes::from_static(b"pytroll:/"),
    ]
}

/// A frame of the load tests: a sequence number, padded to about 420 bytes.
pub fn numbered(i: u32) -> Bytes {
    let mut frame = format!("pytroll://load {i:010} ").into_bytes();
    frame.resize(420, b'.');
    Bytes::from(frame)
}

/// The sequence number of a [`numbered`] frame.
pub fn number_of(frame: &[u8]) -> u32 {
    std::str::from_utf8(&frame[15..25])
        .unwrap()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------- pub/sub

/// Binds a publisher on `bind`, connects a subscriber to `connect(bound)`,
/// sends the [`sample_frames`] through and checks them, then checks that
/// both sockets report `Closed` once closed.
pub async fn round_trip(
    t: &dyn Transport,
    bind: Endpoint,
    connect: impl Fn(&Endpoint) -> Endpoint,
) {
    let publisher = t.bind_publisher(BindSpec::new(bind)).await.unwrap();
    let target = connect(publisher.endpoint());
    let mut subscriber = t
        .connect_subscriber(&target, &topics(&["pytroll:/"]), Security::Plain)
        .await
        .unwrap();
    assert_eq!(subscriber.endpoint(), &target);
    sync(&*publisher, &mut *subscriber, PROBE).await;
    for frame in sample_frames() {
        publisher.send(frame).await.unwrap();
    }
    for frame in sample_frames() {
        assert_eq!(next_data(&mut *subscriber).await, frame);
    }
    subscriber.close().await.unwrap();
    assert_eq!(
        subscriber.recv().await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    publisher.close().await.unwrap();
    assert_eq!(
        publisher.send("x".into()).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

/// PUB/SUB over IPv4 tcp: port 0 gets an ephemeral port, and `*` binds
/// every interface while the bound endpoint keeps the host as given.
pub async fn pubsub_round_trip_tcp(t: &dyn Transport) {
    round_trip(t, ep("tcp://127.0.0.1:0"), |bound| {
        assert!(bound.port().unwrap() >= 49152);
        bound.clone()
    })
    .await;
    round_trip(t, ep("tcp://*:0"), |bound| {
        assert_eq!(bound.host(), Some("*"));
        Endpoint::tcp("127.0.0.1", bound.port().unwrap())
    })
    .await;
}

/// The hosts a client reaches a `tcp://*` socket on: `127.0.0.1` and,
/// where the host is dual-stack (so `*` binds `[::]`), `::1`; elsewhere a
/// line on stderr says that IPv6 is not tested
/// ([`crate::ipv6::dual_stack_or_skip`]).
fn wildcard_hosts() -> &'static [&'static str] {
    if crate::ipv6::dual_stack_or_skip("IPv6 clients of tcp://*") {
        &["127.0.0.1", "::1"]
    } else {
        &["127.0.0.1"]
    }
}

/// `tcp://*` (port 0 and a fixed port) takes IPv4 and IPv6 clients where
/// the host is dual-stack: publishers and repliers alike, the bound
/// endpoint keeping `*`.
pub async fn wildcard_binds_take_ipv4_and_ipv6_clients(t: &dyn Transport) {
    let hosts = wildcard_hosts();
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://*:0")))
        .await
        .unwrap();
    assert_eq!(publisher.endpoint().host(), Some("*"));
    let port = publisher.endpoint().port().unwrap();
    for host in hosts {
        let mut subscriber = t
            .connect_subscriber(&Endpoint::tcp(*host, port), &topics(&[""]), Security::Plain)
            .await
            .unwrap();
        sync(&*publisher, &mut *subscriber, PROBE).await;
    }
    let fixed = crate::ports::free_tcp_port();
    let rep = t
        .bind_reply(BindSpec::new(Endpoint::tcp("*", fixed)))
        .await
        .unwrap();
    assert_eq!(rep.endpoint(), &Endpoint::tcp("*", fixed));
    let server = echo_replies(rep, hosts.len());
    for host in hosts {
        assert_echo(t, &Endpoint::tcp(*host, fixed), host).await;
    }
    server.await.unwrap();
}

/// Sends [`PROBE`] on `publisher` until `admitted` got 20 of it, checking
/// each time that `refused` got nothing.
async fn admitted_not_refused(
    publisher: &dyn PubSocket,
    admitted: &mut dyn SubSocket,
    refused: &mut dyn SubSocket,
) {
    let start = Instant::now();
    let mut got = 0;
    while got < 20 {
        assert!(start.elapsed() < DEADLINE, "the admitted client got {got}");
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(10), admitted.recv()).await {
            assert_eq!(frame.unwrap(), PROBE);
            got += 1;
        }
        let leaked = tokio::time::timeout(Duration::from_millis(1), refused.recv()).await;
        assert!(leaked.is_err(), "a refused client received");
    }
}

/// The IP allow-list on `tcp://*` sockets of a dual-stack host, with
/// transports of the engine `transport` makes from a configuration: one
/// admits `::1` only, one `127.0.0.1` only (an IPv4 client of the
/// dual-stack socket, `::ffff:127.0.0.1`, is checked as `127.0.0.1`), and a
/// client connects from each. Publishers admit and refuse subscribers; the
/// `::1` replier answers `::1` and never `127.0.0.1`. Each refusal is
/// logged naming the client by its canonical address (`127.0.0.1 is not in
/// authorized_client_addresses`, `::1 is not ...`), never as
/// `::ffff:127.0.0.1` (see [`crate::logs`]). Says so and returns where `*`
/// binds IPv4 only.
pub async fn allow_list_checks_ipv6_clients<T: Transport>(transport: impl Fn(&Config) -> T) {
    crate::logs::logs();
    if wildcard_hosts().len() < 2 {
        return;
    }
    let allows = |ip: &str| {
        transport(&Config {
            authorized_client_addresses: vec![ip.into()],
            ..Config::default()
        })
    };
    let (allows_v6, allows_v4) = (allows("[::1]"), allows("127.0.0.1"));
    let client = &transport(&Config::default());
    for (server, admitted, refused) in [
        (&allows_v6, "::1", "127.0.0.1"),
        (&allows_v4, "127.0.0.1", "::1"),
    ] {
        let publisher = server
            .bind_publisher(BindSpec::new(ep("tcp://*:0")))
            .await
            .unwrap();
        let port = publisher.endpoint().port().unwrap();
        let connect = |host: &str| Endpoint::tcp(host, port);
        let all = topics(&[""]);
        let mut admitted = client
            .connect_subscriber(&connect(admitted), &all, Security::Plain)
            .await
            .unwrap();
        let mut refused = client
            .connect_subscriber(&connect(refused), &all, Security::Plain)
            .await
            .unwrap();
        admitted_not_refused(&*publisher, &mut *admitted, &mut *refused).await;
    }
    let rep = allows_v6
        .bind_reply(BindSpec::new(ep("tcp://*:0")))
        .await
        .unwrap();
    let port = rep.endpoint().port().unwrap();
    let server = echo_replies(rep, 1);
    let slack = Duration::from_secs(5);
    assert_times_out(client, &Endpoint::tcp("127.0.0.1", port), slack).await;
    assert_echo(client, &Endpoint::tcp("::1", port), "over ::1").await;
    server.await.unwrap();
    crate::logs::wait_for_log(&[
        "refused a connection from 127.0.0.1",
        "127.0.0.1 is not in authorized_client_addresses",
        "refused a connection from ::1",
        "::1 is not in authorized_client_addresses",
    ])
    .await;
    let logged = crate::logs::logged();
    assert!(
        !logged.contains("::ffff:"),
        "a peer named IPv4-mapped:\n{logged}"
    );
}

/// PUB/SUB over an `ipc://` socket file in the temporary directory.
pub async fn pubsub_round_trip_ipc(t: &dyn Transport) {
    let path = std::env::temp_dir().join(unique("ptrs-ipc") + ".sock");
    let endpoint = Endpoint::Ipc(path.clone());
    round_trip(t, endpoint.clone(), |bound| {
        assert_eq!(bound, &endpoint);
        bound.clone()
    })
    .await;
    let _ = std::fs::remove_file(path);
}

/// PUB/SUB over `inproc://` within one transport.
pub async fn pubsub_round_trip_inproc(t: &dyn Transport) {
    let name = ep(&format!("inproc://{}", unique("ptrs")));
    round_trip(t, name, |bound| bound.clone()).await;
}

/// A subscriber may connect before anything is bound: it joins once the
/// publisher binds.
pub async fn subscriber_connects_before_publisher_binds(t: &dyn Transport) {
    let port = crate::ports::free_tcp_port();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let mut subscriber = t
        .connect_subscriber(&endpoint, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    let publisher = t.bind_publisher(BindSpec::new(endpoint)).await.unwrap();
    assert_eq!(publisher.endpoint().port(), Some(port));
    sync(&*publisher, &mut *subscriber, PROBE).await;
}

/// Topics filter by byte prefix, and a subscriber with no topic gets
/// nothing.
pub async fn topics_filter_by_prefix(t: &dyn Transport) {
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let mut subscriber = t
        .connect_subscriber(
            publisher.endpoint(),
            &topics(&["pytroll://counter", "pytroll://probe"]),
            Security::Plain,
        )
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    for frame in [
        "pytroll://counter 1",
        "pytroll://other 2",
        "pytroll:/counter 3",
        "pytroll://counter/2 4",
        "pytroll://counter end",
    ] {
        publisher.send(frame.into()).await.unwrap();
    }
    let mut got = Vec::new();
    loop {
        let frame = next_data(&mut *subscriber).await;
        got.push(String::from_utf8(frame.to_vec()).unwrap());
        if got.last().is_some_and(|f| f.ends_with("end")) {
            break;
        }
    }
    assert_eq!(
        got,
        [
            "pytroll://counter 1",
            "pytroll://counter/2 4",
            "pytroll://counter end"
        ]
    );

    // No topic at all: nothing.
    let mut deaf = t
        .connect_subscriber(publisher.endpoint(), &[], Security::Plain)
        .await
        .unwrap();
    for _ in 0..20 {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), deaf.recv())
            .await
            .is_err()
    );
}

/// Port 0 binds in the configured port range: a taken one-port range is a
/// bind error naming the range and `pub_min_port`, `replies` reply sockets
/// all land in their range, an empty range is an error (not a hang), and a
/// fixed port in use is a bind error.
pub async fn port_zero_binds_in_the_configured_range(t: &dyn Transport, replies: usize) {
    let port = crate::ports::free_tcp_port();
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.port_range = (port, u32::from(port) + 1);
    let first = t.bind_publisher(spec.clone()).await.unwrap();
    assert_eq!(first.endpoint(), &Endpoint::tcp("127.0.0.1", port));

    // The one-port range is taken now: a clear error naming the range.
    let err = t.bind_publisher(spec.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bind);
    let range = format!("[{port}, {})", u32::from(port) + 1);
    assert!(err.to_string().contains(&range), "{err}");
    assert!(err.to_string().contains("pub_min_port"), "{err}");

    // Reply sockets take their ports from their range too.
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.port_range = (40000, 40100);
    let mut sockets = Vec::new();
    for _ in 0..replies {
        let rep = t.bind_reply(spec.clone()).await.unwrap();
        let p = rep.endpoint().port().unwrap();
        assert!((40000..40100).contains(&p), "{p}");
        sockets.push(rep);
    }

    // An empty range is an error, not a hang.
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.port_range = (5000, 5000);
    let err = t.bind_publisher(spec).await.unwrap_err();
    assert!(err.to_string().contains("[5000, 5000)"), "{err}");

    // A fixed port in use is a bind error.
    let err = t
        .bind_publisher(BindSpec::new(Endpoint::tcp("127.0.0.1", port)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bind);
}

// ---------------------------------------------------------------- connection events

/// An [`EventSink`] that hands its events to a channel, and that channel.
pub fn event_channel() -> (EventSink, mpsc::UnboundedReceiver<ConnectionEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink = EventSink::new(move |event| {
        // The receiver may be gone: the event is then of no interest.
        let _ = tx.send(event);
    });
    (sink, rx)
}

/// The next event of `events`, within [`DEADLINE`].
pub async fn next_event(events: &mut mpsc::UnboundedReceiver<ConnectionEvent>) -> ConnectionEvent {
    tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("no connection event before the deadline")
        .expect("the event sink is gone")
}

/// How long a subscriber took to report its connection events, as
/// [`subscriber_reports_connected_and_disconnected`] measured them.
#[derive(Debug, Clone, Copy)]
pub struct EventTimes {
    /// From `connect_subscriber` to `Connected`.
    pub connected: Duration,
    /// From the publisher's `close` to `Disconnected`.
    pub disconnected: Duration,
}

/// A subscriber over tcp reports `Connected` (with the publisher's address,
/// once the handshake is done), a sink installed later gets `Connected` at
/// once, and closing the publisher makes it report `Disconnected` (with a
/// reason). Returns how long the events took.
pub async fn subscriber_reports_connected_and_disconnected(t: &dyn Transport) -> EventTimes {
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = publisher.endpoint().clone();
    let address = endpoint.to_string();
    let start = Instant::now();
    let mut subscriber = t
        .connect_subscriber(&endpoint, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    let (sink, mut events) = event_channel();
    subscriber.set_event_sink(sink);
    assert_eq!(
        next_event(&mut events).await,
        ConnectionEvent::Connected {
            address: address.clone()
        }
    );
    let connected = start.elapsed();
    // The connection is up: frames flow.
    sync(&*publisher, &mut *subscriber, PROBE).await;

    // A sink installed now learns the state at once, and takes over.
    let (sink, mut later) = event_channel();
    subscriber.set_event_sink(sink);
    assert_eq!(
        later.try_recv().ok(),
        Some(ConnectionEvent::Connected {
            address: address.clone()
        }),
        "a sink installed while connected gets Connected at once"
    );

    let start = Instant::now();
    publisher.close().await.unwrap();
    drop(publisher);
    match next_event(&mut later).await {
        ConnectionEvent::Disconnected {
            address: from,
            reason,
        } => {
            assert_eq!(from, address);
            assert!(!reason.is_empty());
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let disconnected = start.elapsed();
    assert!(
        events.try_recv().is_err(),
        "the replaced sink got events after it was replaced"
    );
    subscriber.close().await.unwrap();
    EventTimes {
        connected,
        disconnected,
    }
}

// ---------------------------------------------------------------- subscriber counts

/// `rounds` times: a new publisher, a subscriber connects,
/// `wait_for_subscribers(1, 5 s)` returns once its subscription is in, and
/// one frame sent once then reaches it (no probe, no repetition). Returns
/// the longest wait for the subscriber.
pub async fn publisher_waits_for_a_subscriber_then_sends_once(
    t: &dyn Transport,
    rounds: usize,
) -> Duration {
    let mut longest = Duration::ZERO;
    for round in 0..rounds {
        let publisher = t
            .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
            .await
            .unwrap();
        let mut subscriber = t
            .connect_subscriber(
                publisher.endpoint(),
                &topics(&["pytroll://once"]),
                Security::Plain,
            )
            .await
            .unwrap();
        let start = Instant::now();
        let count = publisher
            .wait_for_subscribers(1, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        longest = longest.max(start.elapsed());
        assert!(count >= 1, "round {round}: {count} subscribers");
        let frame = Bytes::from(format!("pytroll://once {round}"));
        publisher.send(frame.clone()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), subscriber.recv())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the one frame sent never came"))
            .unwrap();
        assert_eq!(got, frame, "round {round}");
        subscriber.close().await.unwrap();
        publisher.close().await.unwrap();
    }
    longest
}

/// Waits for one subscriber on `publisher` for 200 ms and checks that it
/// fails with `Timeout` after those 200 ms (and not much later).
async fn assert_no_subscriber(publisher: &dyn PubSocket, why: &str) {
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    let err = match publisher.wait_for_subscribers(1, timeout).await {
        Ok(n) => panic!("{why}: {n} subscriber(s)"),
        Err(e) => e,
    };
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{why}: {err}");
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(2),
        "{why}: took {elapsed:?}"
    );
}

/// `wait_for_subscribers` fails with `Timeout` after its timeout (not much
/// later) when nobody subscribed, when the only subscriber has no topic,
/// and once the one that had subscribed is gone; asking for no subscriber
/// at all answers at once.
pub async fn wait_for_subscribers_times_out(t: &dyn Transport) {
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    assert_no_subscriber(&*publisher, "nobody connected").await;
    let none = publisher
        .wait_for_subscribers(0, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(none, 0);
    // Asking for none with no time to wait is answered, never a timeout
    // (the socket's count may come back after the deadline).
    for _ in 0..200 {
        let none = publisher
            .wait_for_subscribers(0, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(none, 0);
    }

    // A subscriber with no topic subscribed to nothing.
    let deaf = t
        .connect_subscriber(publisher.endpoint(), &[], Security::Plain)
        .await
        .unwrap();
    assert_no_subscriber(&*publisher, "a subscriber without topics").await;

    // One that subscribed counts, until it leaves.
    let mut subscriber = t
        .connect_subscriber(
            publisher.endpoint(),
            &topics(&["pytroll://"]),
            Security::Plain,
        )
        .await
        .unwrap();
    let one = publisher
        .wait_for_subscribers(1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(one, 1);
    subscriber.close().await.unwrap();
    drop(subscriber);
    let start = Instant::now();
    loop {
        match publisher
            .wait_for_subscribers(1, Duration::from_millis(50))
            .await
        {
            Err(e) if e.kind() == ErrorKind::Timeout => break,
            Err(e) => panic!("{e}"),
            Ok(_) => assert!(
                start.elapsed() < DEADLINE,
                "a subscriber that left still counts"
            ),
        }
    }
    drop(deaf);
    publisher.close().await.unwrap();
}

/// A `no_drop` publisher (high-water mark 10) sends 2000 frames of 32 KiB
/// (more than the socket buffers hold) to a slow reader, so its sender
/// waits for room again and again, while
/// another task keeps asking for more subscribers than there are: the
/// frames all arrive in order (looking for subscribers steals no wakeup
/// from the waiting sender), and a second subscriber (of a topic nothing
/// is sent on) that joins in the middle is counted meanwhile.
pub async fn wait_for_subscribers_beside_a_waiting_no_drop_sender(t: &dyn Transport) {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options = PubOptions {
        send_high_water_mark: Some(10),
        no_drop: true,
    };
    let publisher: Arc<dyn PubSocket> = Arc::from(t.bind_publisher(spec).await.unwrap());
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    let count = 2000;
    let big = |i: u32| {
        let mut frame = numbered(i).to_vec();
        frame.resize(32 * 1024, b'.');
        Bytes::from(frame)
    };
    let reader = tokio::spawn(async move {
        slow_reader(&mut *subscriber, count, 20).await;
        subscriber
    });
    let sender = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut waited = 0u32;
            for i in 0..count {
                let start = Instant::now();
                publisher.send(big(i)).await.unwrap();
                if start.elapsed() >= Duration::from_millis(1) {
                    waited += 1;
                }
            }
            waited
        })
    };
    // Asks all along for three subscribers, never there.
    let asker = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut asked = 0u32;
            loop {
                match publisher
                    .wait_for_subscribers(3, Duration::from_millis(2))
                    .await
                {
                    Err(e) if e.kind() == ErrorKind::Timeout => asked += 1,
                    Err(e) if e.kind() == ErrorKind::Closed => return asked,
                    other => panic!("{other:?}"),
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = t
        .connect_subscriber(
            publisher.endpoint(),
            &topics(&["nothing is sent here"]),
            Security::Plain,
        )
        .await
        .unwrap();
    let two = publisher.wait_for_subscribers(2, DEADLINE).await.unwrap();
    assert_eq!(two, 2);
    assert!(!sender.is_finished(), "the transfer ended too soon to tell");
    let waited = tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .expect("the sender got stuck")
        .unwrap();
    let mut subscriber = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the reader did not get everything in time")
        .unwrap();
    publisher.close().await.unwrap();
    let asked = asker.await.unwrap();
    eprintln!(
        "{count} frames through a no_drop sender that waited {waited} times, \
         while subscribers were asked for {asked} times"
    );
    assert!(
        waited > 0,
        "the sender never waited: the test proves nothing"
    );
    subscriber.close().await.unwrap();
    drop(second);
}

// ---------------------------------------------------------------- high-water marks

/// Reads `count` [`numbered`] frames, asserting that each arrives once and
/// in order, and pauses 5 ms every `pause_every` frames so that the
/// sender's queue fills up again and again.
async fn slow_reader(subscriber: &mut dyn SubSocket, count: u32, pause_every: u32) {
    let mut expected = 0;
    while expected < count {
        let frame = next_data(subscriber).await;
        assert_eq!(number_of(&frame), expected, "lost or reordered");
        expected += 1;
        if expected % pause_every == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A `no_drop` publisher with a high-water mark of 10 sends `count`
/// [`numbered`] frames on `bind` to a slow reader: every one arrives, in
/// order, and the publisher had to wait for room at least once.
pub async fn no_drop_through(t: &dyn Transport, bind: Endpoint, count: u32) {
    let mut spec = BindSpec::new(bind);
    spec.options = PubOptions {
        send_high_water_mark: Some(10),
        no_drop: true,
    };
    let publisher = t.bind_publisher(spec).await.unwrap();
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;

    // A slow reader: it pauses every 1000 frames, so the publisher's
    // queue (10 frames, then the socket buffers) fills up again and again.
    let reader = tokio::spawn(async move {
        slow_reader(&mut *subscriber, count, 1000).await;
        count
    });
    let start = Instant::now();
    let mut waited = 0;
    for i in 0..count {
        let send_start = Instant::now();
        publisher.send(numbered(i)).await.unwrap();
        if send_start.elapsed() >= Duration::from_millis(1) {
            waited += 1;
        }
    }
    let received = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the reader did not get everything in time")
        .unwrap();
    assert_eq!(received, count);
    eprintln!(
        "no_drop over {}: {count} frames sent and received, none lost, in {:?}; \
         {waited} sends waited for room",
        publisher.endpoint(),
        start.elapsed()
    );
    assert!(
        waited > 0,
        "the publisher never had to wait: the test proves nothing"
    );
}

/// [`no_drop_through`] 100 000 frames over tcp.
pub async fn no_drop_loses_nothing_over_tcp(t: &dyn Transport) {
    no_drop_through(t, ep("tcp://127.0.0.1:0"), 100_000).await;
}

/// [`no_drop_through`] 100 000 frames over `inproc://`.
pub async fn no_drop_loses_nothing_over_inproc(t: &dyn Transport) {
    no_drop_through(t, ep(&format!("inproc://{}", unique("nodrop"))), 100_000).await;
}

/// The default publisher drops what a subscriber that does not read cannot
/// take: of 100 000 frames some but not all arrive, in order; the count
/// received is printed.
pub async fn default_high_water_mark_drops_under_load(t: &dyn Transport) {
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    let sent = 100_000;
    for i in 0..sent {
        publisher.send(numbered(i)).await.unwrap();
    }
    let mut received = 0u32;
    let mut last = None;
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), subscriber.recv()).await
    {
        let frame = frame.unwrap();
        if frame.starts_with(PROBE) {
            continue;
        }
        let n = number_of(&frame);
        assert!(last.is_none_or(|l| n > l), "reordered");
        last = Some(n);
        received += 1;
    }
    eprintln!(
        "default HWM: {received} of {sent} frames received, {} dropped",
        sent - received
    );
    assert!(received > 0);
    assert!(received < sent, "nothing was dropped");
}

// ---------------------------------------------------------------- req/rep

/// REQ/REP over tcp: requests get their replies; several requests may be
/// received before any is answered, and each reply reaches its own
/// requester whatever the order; a reply with no envelope is a protocol
/// error; a closed replier reports `Closed`.
pub async fn request_reply_round_trip(t: &dyn Transport) {
    let mut rep = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", rep.endpoint().port().unwrap());

    assert_eq!(
        rep.reply(&ReplyTo::default(), "x".into())
            .unwrap_err()
            .kind(),
        ErrorKind::Protocol
    );
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            let request = rep.recv().await.unwrap();
            let mut answer = b"echo:".to_vec();
            answer.extend_from_slice(&request.body);
            assert_eq!(
                rep.reply(&request.reply_to, answer.into()).unwrap(),
                Delivery::Sent
            );
        }
        // Two requests in flight at once, answered in reverse order.
        let first = rep.recv().await.unwrap();
        let second = rep.recv().await.unwrap();
        for request in [second, first] {
            let mut answer = b"late:".to_vec();
            answer.extend_from_slice(&request.body);
            assert_eq!(
                rep.reply(&request.reply_to, answer.into()).unwrap(),
                Delivery::Sent
            );
        }
        rep
    });
    for i in 0..3 {
        let reply = t
            .request(
                &endpoint,
                Security::Plain,
                format!("ping {i}").into(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(reply, format!("echo:ping {i}"));
    }
    let ask = |text: &'static str| {
        t.request(
            &endpoint,
            Security::Plain,
            text.into(),
            Duration::from_secs(10),
        )
    };
    let (a, b) = tokio::join!(ask("a"), ask("b"));
    assert_eq!(a.unwrap(), "late:a");
    assert_eq!(b.unwrap(), "late:b");
    let mut rep = server.await.unwrap();
    rep.close().await.unwrap();
    assert_eq!(rep.recv().await.unwrap_err().kind(), ErrorKind::Closed);
}

/// A client that sends requests and never reads its replies (a raw
/// DEALER, [`crate::peers::Dealer`]) cannot wedge a reply socket: its
/// replies are dropped once its queue is full ([`Delivery::DroppedPeerBusy`]),
/// and other requesters are answered while it floods and after it is gone.
pub async fn reply_socket_survives_a_client_that_never_reads(t: &dyn Transport) {
    let mut rep = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", rep.endpoint().port().unwrap());
    let dealer = crate::peers::Dealer::connect(&endpoint).await.unwrap();
    // 16 KiB replies fill the deaf client's queues and socket buffers soon.
    let big = Bytes::from(vec![b'r'; 16 * 1024]);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let (mut sent, mut dropped) = (0u64, 0u64);
        loop {
            let request = tokio::select! {
                r = rep.recv() => r.unwrap(),
                _ = stop_rx.changed() => break,
            };
            let answer = if request.body.starts_with(b"flood") {
                big.clone()
            } else {
                let mut echo = b"echo:".to_vec();
                echo.extend_from_slice(&request.body);
                Bytes::from(echo)
            };
            match rep.reply(&request.reply_to, answer).unwrap() {
                Delivery::Sent => sent += 1,
                _ => dropped += 1,
            }
        }
        (rep, sent, dropped)
    });
    // Flood until the server has had to drop (bounded in count and time).
    let start = Instant::now();
    let flood = 20_000;
    let mut flooded = 0;
    while flooded < flood && start.elapsed() < DEADLINE {
        dealer
            .send_request(Bytes::from_static(b"flood"))
            .await
            .unwrap();
        flooded += 1;
        if flooded % 500 == 0 {
            // Others are answered during the flood.
            assert_echo_prefixed(t, &endpoint, &format!("during {flooded}")).await;
        }
    }
    assert_echo_prefixed(t, &endpoint, "after the flood").await;
    dealer.close().await;
    assert_echo_prefixed(t, &endpoint, "after the client left").await;
    stop_tx.send_replace(true);
    let (mut rep, sent, dropped) = server.await.unwrap();
    assert!(
        dropped > 0,
        "the deaf client never filled up: {sent} sent, {flooded} flooded"
    );
    rep.close().await.unwrap();
}

/// Requests `text` from an echoing (`echo:`) replier and checks the answer.
async fn assert_echo_prefixed(t: &dyn Transport, endpoint: &Endpoint, text: &str) {
    let reply = t
        .request(
            endpoint,
            Security::Plain,
            Bytes::copy_from_slice(text.as_bytes()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(reply, format!("echo:{text}"));
}

/// Binds a reply socket on `endpoint`, retrying for up to [`DEADLINE`]
/// while the port is still held (by a replier that just closed).
pub async fn rebind_reply(t: &dyn Transport, endpoint: &Endpoint) -> Box<dyn ReplySocket> {
    let start = Instant::now();
    loop {
        match t.bind_reply(BindSpec::new(endpoint.clone())).await {
            Ok(rep) => return rep,
            Err(e) => {
                assert!(start.elapsed() < DEADLINE, "cannot rebind: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Answers `n` requests on `rep` with their own bytes, in a task that
/// hands the socket back.
pub fn echo_replies(
    mut rep: Box<dyn ReplySocket>,
    n: usize,
) -> tokio::task::JoinHandle<Box<dyn ReplySocket>> {
    tokio::spawn(async move {
        for _ in 0..n {
            let request = rep.recv().await.unwrap();
            rep.reply(&request.reply_to, request.body).unwrap();
        }
        rep
    })
}

/// Requests `text` from an echoing replier on `endpoint` (10 s timeout)
/// and checks the answer is `text`.
pub async fn assert_echo(t: &dyn Transport, endpoint: &Endpoint, text: &str) {
    let reply = t
        .request(
            endpoint,
            Security::Plain,
            Bytes::copy_from_slice(text.as_bytes()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(reply, text);
}

/// REQ/REP over `inproc://` and `ipc://`.
pub async fn request_reply_over_inproc_and_ipc(t: &dyn Transport) {
    let path = std::env::temp_dir().join(unique("ptrs-rep") + ".sock");
    for endpoint in [
        ep(&format!("inproc://{}", unique("rep"))),
        Endpoint::Ipc(path.clone()),
    ] {
        let rep = t.bind_reply(BindSpec::new(endpoint.clone())).await.unwrap();
        let server = echo_replies(rep, 1);
        assert_echo(t, &endpoint, "hello").await;
        server.await.unwrap();
    }
    let _ = std::fs::remove_file(path);
}

/// A request of `anyone?` to `endpoint` with a 300 ms timeout fails with
/// `Timeout` after at least 300 ms and less than 300 ms + `slack`.
pub async fn assert_times_out(t: &dyn Transport, endpoint: &Endpoint, slack: Duration) {
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = t
        .request(endpoint, Security::Plain, "anyone?".into(), timeout)
        .await
        .unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        elapsed >= timeout && elapsed < timeout + slack,
        "took {elapsed:?}"
    );
}

/// A request to a tcp port or an `inproc://` name nobody bound times out
/// (see [`assert_times_out`] for `slack`).
pub async fn request_times_out_when_nothing_is_bound(t: &dyn Transport, slack: Duration) {
    let port = crate::ports::free_tcp_port();
    assert_times_out(t, &Endpoint::tcp("127.0.0.1", port), slack).await;
    assert_times_out(t, &ep(&format!("inproc://{}", unique("nobody"))), slack).await;
}

/// A request a replier takes but never answers times out (see
/// [`assert_times_out`] for `slack`).
pub async fn request_times_out_when_the_reply_never_comes(t: &dyn Transport, slack: Duration) {
    let mut rep = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = rep.endpoint().clone();
    let server = tokio::spawn(async move {
        // Takes the request and never answers.
        let request = rep.recv().await.unwrap();
        assert_eq!(request.body, "anyone?");
        rep
    });
    assert_times_out(t, &endpoint, slack).await;
    let _rep = server.await.unwrap();
}

// ---------------------------------------------------------------- cancel-safety

/// Receives cancelled mid-wait (by a 50 µs timeout) lose nothing: 20 000
/// frames from a `no_drop` publisher all arrive, in order.
pub async fn cancelled_receives_lose_nothing(t: &dyn Transport) {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options.no_drop = true;
    let publisher = t.bind_publisher(spec).await.unwrap();
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    let count = 20_000;
    let sender = tokio::spawn(async move {
        for i in 0..count {
            publisher.send(numbered(i)).await.unwrap();
            if i % 1000 == 0 {
                tokio::task::yield_now().await;
            }
        }
        publisher
    });
    let mut expected = 0;
    let mut cancelled = 0;
    let start = Instant::now();
    while expected < count {
        assert!(start.elapsed() < DEADLINE * 3, "stuck at {expected}");
        // A very short timeout cancels many receives mid-wait.
        match tokio::time::timeout(Duration::from_micros(50), subscriber.recv()).await {
            Ok(frame) => {
                let frame = frame.unwrap();
                if frame.starts_with(PROBE) {
                    continue;
                }
                assert_eq!(number_of(&frame), expected);
                expected += 1;
            }
            Err(_) => cancelled += 1,
        }
    }
    eprintln!("{count} frames in order through {cancelled} cancelled receives");
    sender.await.unwrap();
}

// ---------------------------------------------------------------- security

/// Without CURVE keys, `Security::Curve` is `Unsupported` for publishers
/// (naming `secure_zmq`), subscribers and requests, except on `inproc://`,
/// which never uses security, as in the reference.
pub async fn curve_without_keys_is_unsupported_except_on_inproc(t: &dyn Transport) {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.security = Security::Curve;
    let err = t.bind_publisher(spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string().contains("CURVE: enable secure_zmq"),
        "{err}"
    );
    let err = t
        .connect_subscriber(&ep("tcp://127.0.0.1:1"), &[], Security::Curve)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = t
        .request(
            &ep("tcp://127.0.0.1:1"),
            Security::Curve,
            "x".into(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let mut spec = BindSpec::new(ep(&format!("inproc://{}", unique("curve"))));
    spec.security = Security::Curve;
    t.bind_publisher(spec).await.unwrap();
}

// ---------------------------------------------------------------- allow-list

/// With an allow-list that admits 127.0.0.1, a local subscriber joins
/// `publisher` (bound by `t` on tcp) and a request to a replier of `t` on
/// tcp gets its answer. The engine's test checks, around this, that its
/// sockets really go through the check.
pub async fn allowed_client_connects_and_receives(t: &dyn Transport, publisher: &dyn PubSocket) {
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(publisher, &mut *subscriber, PROBE).await;

    // REQ/REP through the check too.
    let rep = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = rep.endpoint().clone();
    let server = echo_replies(rep, 1);
    assert_echo(t, &endpoint, "hi").await;
    server.await.unwrap();
}

// ---------------------------------------------------------------- pyzmq peers

/// Lower-case hex of `b`, as the [`PY_SUB`] and [`PY_PUB`] scripts use.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bytes of lower-case hex `s` (of even length).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A pyzmq SUB script (run as `python -c SCRIPT ARGS`); arguments: the endpoint and a frame count.
/// It subscribes to everything, prints `READY` at the first [`PROBE`],
/// then, once it has that many other frames, `FRAME <hex>` for each and
/// `END`.
pub const PY_SUB: &str = r#"
import sys, zmq
endpoint, count = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.RCVTIMEO = 20000
s.connect(endpoint)
got, ready = [], False
while len(got) < count:
    f = s.recv()
    if f.startswith(b"pytroll://probe"):
        if not ready:
            print("READY", flush=True)
            ready = True
        continue
    got.append(f)
for f in got:
    print("FRAME " + f.hex(), flush=True)
print("END", flush=True)
s.close(linger=0)
ctx.term()
"#;

/// A pyzmq PUB script (run as `python -c SCRIPT ARGS`); arguments: frames in hex. It binds a free
/// loopback port and prints `PORT <n>`, sends [`PROBE`]s until it reads
/// `GO` on stdin, then sends each frame after a decoy that does not match
/// the `pytroll:/` topic, and stops once it reads `DONE`.
pub const PY_PUB: &str = r#"
import sys, threading, time, zmq
frames = [bytes.fromhex(h) for h in sys.argv[1:]]
ctx = zmq.Context()
p = ctx.socket(zmq.PUB)
port = p.bind_to_random_port("tcp://127.0.0.1")
print(f"PORT {port}", flush=True)
go, done = threading.Event(), threading.Event()
def control():
    for line in sys.stdin:
        if line.strip() == "GO":
            go.set()
        elif line.strip() == "DONE":
            done.set()
            return
threading.Thread(target=control, daemon=True).start()
deadline = time.time() + 20
while not go.is_set() and time.time() < deadline:
    p.send(b"pytroll://probe")
    time.sleep(0.01)
for f in frames:
    p.send(b"not for you: " + f)
    p.send(f)
done.wait(20)
p.close(linger=1000)
ctx.term()
"#;

// ---------------------------------------------------------------- closing

/// Sockets of every kind left open by [`close_wakes_a_waiting_sender`],
/// for the engine's test to drop (in field order) and check that dropping
/// never hangs.
#[derive(Debug)]
pub struct OpenSockets {
    /// The subscriber that stopped reading.
    pub subscriber: Box<dyn SubSocket>,
    /// A reply socket that never got a request.
    pub reply: Box<dyn ReplySocket>,
    /// A publisher with 1000 frames sent and nobody to take them.
    pub other: Box<dyn PubSocket>,
    /// The closed publisher.
    pub publisher: Arc<Box<dyn PubSocket>>,
}

/// A `no_drop` publisher (high-water mark 1) whose subscriber stops
/// reading makes its sender wait; closing the publisher wakes that sender
/// with `Closed`. Then opens sockets of every kind, queues frames, and
/// aborts a request in flight to nowhere, and hands the sockets back for
/// the caller to drop.
pub async fn close_wakes_a_waiting_sender(t: Arc<dyn Transport>) -> OpenSockets {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options = PubOptions {
        send_high_water_mark: Some(1),
        no_drop: true,
    };
    let publisher = Arc::new(t.bind_publisher(spec).await.unwrap());
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&**publisher, &mut *subscriber, PROBE).await;

    // The subscriber stops reading: a no_drop sender ends up waiting ...
    let blocked = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut i = 0;
            loop {
                if let Err(e) = publisher.send(numbered(i)).await {
                    return (i, e);
                }
                i += 1;
            }
        })
    };
    let start = Instant::now();
    while !blocked.is_finished() && start.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!blocked.is_finished(), "the sender never had to wait");
    // ... and closing the publisher wakes it with `Closed`.
    publisher.close().await.unwrap();
    let (sent, err) = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("close did not wake the waiting sender")
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Closed);
    eprintln!("the sender waited after {sent} frames");

    // Open sockets of every kind, with frames queued, and a request in
    // flight to nowhere.
    let reply = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let other = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    for i in 0..1000 {
        other.send(numbered(i)).await.unwrap();
    }
    let pending = {
        let t = t.clone();
        tokio::spawn(async move {
            let nowhere = Endpoint::tcp("127.0.0.1", crate::ports::free_tcp_port());
            t.request(
                &nowhere,
                Security::Plain,
                "x".into(),
                Duration::from_secs(60),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    pending.abort();
    let _ = pending.await;
    OpenSockets {
        subscriber,
        reply,
        other,
        publisher,
    }
}

// ---------------------------------------------------------------- size limits

/// Frames over a socket's size limit are refused by the engine (the peer
/// is disconnected) and never reach the caller; the socket goes on
/// serving: a reply socket bound with a 1 KiB limit answers the next
/// requests after a 100 KiB request from a raw client, and a subscriber of
/// `small` (a transport whose config `max_message_size` is 64 KiB) gets
/// the small frames a publisher sends after a 1 MiB one, never the big one.
pub async fn oversized_frames_are_refused(t: &dyn Transport, small: &dyn Transport) {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.max_message_size = Some(1024);
    let mut rep = t.bind_reply(spec).await.unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", rep.endpoint().port().unwrap());
    let server = tokio::spawn(async move {
        let mut largest = 0;
        loop {
            let request = rep.recv().await.unwrap();
            largest = largest.max(request.body.len());
            let mut echo = b"echo:".to_vec();
            echo.extend_from_slice(&request.body);
            rep.reply(&request.reply_to, echo.into()).unwrap();
            if request.body.as_ref() == b"last" {
                return largest;
            }
        }
    });
    let dealer = crate::peers::Dealer::connect(&endpoint).await.unwrap();
    dealer
        .send_request(Bytes::from(vec![b'x'; 100 * 1024]))
        .await
        .unwrap();
    assert!(
        dealer.wait_disconnected(DEADLINE).await,
        "the client that sent 100 KiB to a 1 KiB reply socket was not disconnected"
    );
    assert_echo_prefixed(t, &endpoint, "still serving").await;
    dealer.close().await;
    assert_echo_prefixed(t, &endpoint, "last").await;
    let largest = server.await.unwrap();
    assert!(largest <= 1024, "a {largest}-byte request got through");

    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options.no_drop = true;
    let publisher = t.bind_publisher(spec).await.unwrap();
    let mut subscriber = small
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    let big = Bytes::from(vec![b'b'; 1024 * 1024]);
    publisher.send(big).await.unwrap();
    // The subscriber is disconnected and reconnects: repeat small frames
    // until one arrives after the big one was refused.
    let start = Instant::now();
    loop {
        publisher.send(Bytes::from_static(b"small")).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(20), subscriber.recv()).await {
            Ok(frame) => {
                let frame = frame.unwrap();
                assert!(
                    frame.len() <= 64 * 1024,
                    "a {}-byte frame got through",
                    frame.len()
                );
                if frame.as_ref() == b"small" {
                    break;
                }
            }
            Err(_) => assert!(start.elapsed() < DEADLINE, "no frame after the big one"),
        }
    }
    publisher.close().await.unwrap();
}

// ---------------------------------------------------------------- liveness

/// A subscriber of `t` (a transport whose config has ZMTP heartbeats of
/// 0.3 s / 1 s) behind a path that stops forwarding without closing (a
/// [`crate::proxy::BlackHoleProxy`]) closes its silent connection within
/// the heartbeat interval + timeout (and a margin), connects again, and
/// receives again within 5 s once the path heals. Returns how long the
/// detection and the recovery took.
pub async fn silent_publisher_is_noticed_and_followed_again(
    t: &dyn Transport,
) -> (Duration, Duration) {
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options.no_drop = false;
    let publisher = t.bind_publisher(spec).await.unwrap();
    let target: std::net::SocketAddr =
        format!("127.0.0.1:{}", publisher.endpoint().port().unwrap())
            .parse()
            .unwrap();
    let proxy = crate::proxy::BlackHoleProxy::start(target).await.unwrap();
    let mut subscriber = t
        .connect_subscriber(
            &Endpoint::tcp("127.0.0.1", proxy.port()),
            &topics(&[""]),
            Security::Plain,
        )
        .await
        .unwrap();
    sync(&*publisher, &mut *subscriber, PROBE).await;
    assert_eq!(proxy.closed_by_client(), 0);

    proxy.black_hole();
    let holed = Instant::now();
    let noticed = proxy
        .wait_for(Duration::from_secs(5), |_, closed| closed >= 1)
        .await;
    let detection = holed.elapsed();
    assert!(
        noticed,
        "the subscriber kept its silent connection for {detection:?}"
    );
    assert!(
        detection < Duration::from_millis(1300 + 1000),
        "noticed only after {detection:?} (heartbeat 0.3 s + 1 s)"
    );
    // It connects again (through the black hole).
    assert!(
        proxy
            .wait_for(Duration::from_secs(5), |accepted, _| accepted >= 2)
            .await,
        "the subscriber did not connect again"
    );

    proxy.heal();
    let healed = Instant::now();
    loop {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(20), subscriber.recv()).await
        {
            frame.unwrap();
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(5),
            "nothing received 5 s after the path healed"
        );
    }
    let recovery = healed.elapsed();
    publisher.close().await.unwrap();
    (detection, recovery)
}

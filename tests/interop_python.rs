//! Interop with the Python reference (posttroll 1.16.0): real processes
//! talking over loopback on `unsecure_zmq`, on the engine of the test run:
//! `POSTTROLL_ENGINE` (`libzmq` or `purerust`, read by
//! `posttroll_testkit::engine`), else the registry's default. Every Rust
//! context here checks the engine it runs on, so that
//! `POSTTROLL_ENGINE=libzmq cargo test --workspace --all-features` and
//! `POSTTROLL_ENGINE=purerust ...` run this same suite on each engine.
//!
//! - 1: Python `NoisyPublisher` -> Rust nameserver (no multicast) ->
//!   Python `get_pub_address`.
//! - 2: Rust `NoisyPublisher` -> Rust nameserver -> Python `Subscribe`.
//! - 3: Python `NoisyPublisher` -> Rust nameserver -> Rust `NSSubscriber`.
//! - 4: the reference's `nameserver --no-multicast` serving a Rust
//!   publisher, subscriber and lookups.
//! - 5: multicast announcements on loopback, Python -> Rust nameserver and
//!   Rust -> Python nameserver.
//! - 6: address expiry (max age 1 s): add then remove events from a Rust
//!   nameserver (seen by Rust and Python address listeners) and from a
//!   Python one (seen by a Rust address listener).
//! - 7: in 2 and 3, the sample message (non-ASCII subject and text, naive
//!   and aware datetimes, floats) crosses byte-identical both ways: raw
//!   frames compared, and each side decodes and re-encodes the other's
//!   frame to the same bytes; both encode the sample to the same bytes.
//!
//! The Python side is `tests/python/interop_peer.py`, run through
//! `posttroll_testkit::python` (which finds the interpreter: `PTRS_PYTHON`,
//! else the workspace's `.venv/bin/python`; a test without
//! one is skipped loudly, or fails under `CI`). Ports come from the
//! testkit's free-port helpers and reach the peer as `POSTTROLL_*`
//! variables; multicast stays on interface 127.0.0.1 with TTL 0 and a
//! unique 239.255.x.y group. Every wait is bounded: the peer prints a
//! `READY` line once it is set up, and everything else is polled with a
//! deadline.
#![cfg(any(feature = "zmq", feature = "purerust"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use posttroll::backend::{EventSink, SubSocket};
use posttroll::nameserver::get_pub_address;
use posttroll::publisher::NoisyPublisher;
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{
    Address, Config, ConnectionEvent, Context, Data, DateTime, Endpoint, ErrorKind, Message,
    Security, Value,
};
use posttroll_testkit::python::{self, config_env, PythonProcess};
use posttroll_testkit::{
    assert_test_engine, free_tcp_ports, loopback_multicast, with_test_engine, FixtureBackend,
    FixtureOptions, NameServerFixture,
};
use tokio::time::Instant;

/// The Python peer's source.
const PEER: &str = include_str!("python/interop_peer.py");

/// The bound of every wait (each is normally over in well under a second).
const WAIT: Duration = Duration::from_secs(10);

/// The topic of the sample messages.
const TOPIC: &str = "/interop";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Starts the peer in `mode` with `args`, the `POSTTROLL_*` variables of
/// `config`, and waits for its `READY` line; returns the peer and what
/// follows `READY`.
async fn spawn_peer(args: &[&str], config: &Config) -> (PythonProcess, String) {
    let peer = PythonProcess::spawn(PEER, args, &config_env(config)).unwrap();
    let rest = expect_line(&peer, "READY").await;
    (peer, rest)
}

/// Waits for the peer's next line starting with `prefix` (others are
/// skipped) and returns the rest of it, trimmed; fails the test with the
/// peer's transcript when none comes within [`WAIT`].
async fn expect_line(peer: &PythonProcess, prefix: &str) -> String {
    match peer
        .wait_for_line_async(|l| l.starts_with(prefix), WAIT)
        .await
    {
        Some(line) => line[prefix.len()..].trim().to_owned(),
        None => panic!("no {prefix:?} line from the peer:\n{}", peer.describe()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex string {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Parses JSON (from the peer) with the library's own message decoder.
fn parse_json(json: &str) -> Value {
    let frame =
        format!("pytroll://json info a@b 2024-01-01T00:00:00 v1.01 application/json {json}");
    match Message::decode(frame).unwrap().data {
        Data::Json(value) => value,
        other => panic!("not JSON: {other:?}"),
    }
}

/// A configuration on free ports to give a Python nameserver (and the Rust
/// side talking to it): loopback-only multicast (a free UDP
/// `broadcast_port`), or, without `multicast`, a free TCP `broadcast_port`
/// for the announcement REP socket; `own_ip` 127.0.0.1.
fn python_ns_config(multicast: bool) -> Config {
    let ports = free_tcp_ports(4);
    let config = loopback_multicast(Config {
        own_ip: Some("127.0.0.1".to_owned()),
        ..zmq_config()
    });
    Config {
        nameserver_port: ports[0],
        secure_zmq_nameserver_port: ports[1],
        address_publish_port: ports[2],
        broadcast_port: if multicast {
            config.broadcast_port
        } else {
            ports[3]
        },
        ..config
    }
}

/// The default configuration (`backend: unsecure_zmq`) on the engine of
/// the test run (`POSTTROLL_ENGINE`, else the registry's default).
fn zmq_config() -> Config {
    with_test_engine(Config::default())
}

/// A context for `config`, checked to run on the engine of the test run.
fn zmq_context(config: &Config) -> Context {
    let ctx = Context::new(config.clone()).unwrap();
    assert_eq!(ctx.backend_name(), "unsecure_zmq");
    assert_test_engine(&ctx);
    ctx
}

/// A Rust nameserver on `unsecure_zmq` (the test run's engine), on free
/// ports.
async fn rust_nameserver(multicast: bool, max_age: Duration) -> NameServerFixture {
    let ns = NameServerFixture::start(FixtureOptions {
        multicast,
        max_age,
        backend: FixtureBackend::Configured(zmq_config()),
    })
    .await
    .unwrap();
    assert_eq!(ns.context().backend_name(), "unsecure_zmq");
    assert_test_engine(ns.context());
    ns
}

/// Asks the nameserver on 127.0.0.1 for `name` until it knows an address
/// (it may not be up yet, or not have the announcement yet).
async fn wait_for_service(ctx: &Context, name: &str) -> Vec<Address> {
    let deadline = Instant::now() + WAIT;
    loop {
        match get_pub_address(ctx, name, Duration::from_millis(500), "127.0.0.1").await {
            Ok(found) if !found.is_empty() => return found,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connect) => {}
            Err(e) => panic!("looking up {name:?}: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the nameserver never knew {name:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the nameserver on 127.0.0.1 answers a lookup.
async fn wait_for_nameserver(ctx: &Context) {
    let deadline = Instant::now() + WAIT;
    loop {
        match get_pub_address(ctx, "", Duration::from_millis(500), "127.0.0.1").await {
            Ok(_) => return,
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connect) => {}
            Err(e) => panic!("asking the nameserver: {e}"),
        }
        assert!(Instant::now() < deadline, "the nameserver never answered");
    }
}

/// Polls `check` until it holds, for at most [`WAIT`].
async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The sample message: a non-ASCII subject, JSON data with a naive and an
/// aware datetime, non-ASCII text, floats. The peer's `sample_message()` is
/// the same message built by the reference.
fn sample_message() -> Message {
    let data = Value::object([
        (
            "start_time",
            Value::from(DateTime::parse_isoformat("2024-05-06T07:08:09.123456").unwrap()),
        ),
        (
            "end_time",
            Value::from(DateTime::parse_isoformat("2024-05-06T07:09:00+00:00").unwrap()),
        ),
        ("station", Value::from("Norrköping/Kiruna ÅÄÖ €")),
        ("sun_zenith", Value::from(97.3)),
        ("tiny", Value::from(1.5e-7)),
        ("third", Value::from(1.0 / 3.0)),
        ("count", Value::from(42)),
        (
            "flags",
            Value::Array(vec![
                Value::from(true),
                Value::Null,
                Value::from(2.0),
                Value::from("ñ"),
            ]),
        ),
    ]);
    Message::new("/interop/smörgåsbord/ñ", "file", data)
        .unwrap()
        .with_sender("interop@localhost")
        .unwrap()
        .with_time(DateTime::parse_isoformat("2024-05-06T07:08:09.987654+00:00").unwrap())
}

/// Checks that `msg` is the sample message, field by field.
fn assert_is_sample(msg: &Message) {
    assert_eq!(msg.subject(), "/interop/smörgåsbord/ñ");
    assert_eq!(msg.msg_type(), "file");
    assert_eq!(msg.sender(), "interop@localhost");
    assert_eq!(msg.version(), Some("v1.2"));
    assert_eq!(msg.time.isoformat(), "2024-05-06T07:08:09.987654+00:00");
    let data = &msg.data;
    let start = data.get("start_time").and_then(Value::as_datetime).unwrap();
    assert!(start.is_naive());
    assert_eq!(start.isoformat(), "2024-05-06T07:08:09.123456");
    let end = data.get("end_time").and_then(Value::as_datetime).unwrap();
    assert_eq!(end.offset_micros(), Some(0));
    assert_eq!(
        data.get("station").and_then(Value::as_str),
        Some("Norrköping/Kiruna ÅÄÖ €")
    );
    assert_eq!(data.get("sun_zenith").and_then(Value::as_f64), Some(97.3));
    assert_eq!(data.get("tiny").and_then(Value::as_f64), Some(1.5e-7));
    assert_eq!(data.get("third").and_then(Value::as_f64), Some(1.0 / 3.0));
    assert_eq!(data.get("count").and_then(Value::as_i64), Some(42));
    let flags = data.get("flags").and_then(Value::as_array).unwrap();
    assert_eq!(flags[0], Value::from(true));
    assert_eq!(flags[1], Value::Null);
    assert_eq!(flags[2], Value::Float(2.0));
    assert_eq!(flags[3].as_str(), Some("ñ"));
}

/// A raw SUB socket on `uri` for the sample topic: the frames exactly as
/// they came over the wire.
async fn raw_subscriber(ctx: &Context, uri: &str, topic: &str) -> Box<dyn SubSocket> {
    ctx.transport()
        .connect_subscriber(
            &Endpoint::parse(uri).unwrap(),
            &[topic.to_owned()],
            Security::Plain,
        )
        .await
        .unwrap()
}

/// [`raw_subscriber`] to a publisher that runs already, returned once
/// connected: an event published once (an address added) then reaches it.
async fn connected_raw_subscriber(ctx: &Context, uri: &str, topic: &str) -> Box<dyn SubSocket> {
    let mut socket = raw_subscriber(ctx, uri, topic).await;
    let (tx, rx) = std::sync::mpsc::channel();
    socket.set_event_sink(EventSink::new(move |event| {
        let _ = tx.send(event);
    }));
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.try_recv() {
            Ok(ConnectionEvent::Connected { .. }) => return socket,
            Ok(_) => {}
            Err(_) => {
                assert!(Instant::now() < deadline, "{uri}: not connected in time");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

async fn recv_raw(socket: &mut Box<dyn SubSocket>) -> Vec<u8> {
    tokio::time::timeout(WAIT, socket.recv())
        .await
        .expect("no frame in time")
        .unwrap()
        .to_vec()
}

/// Receives the next address event for `uri` (others, e.g. the
/// nameserver's own address or heartbeats, are skipped); its `status`.
async fn next_address_event(socket: &mut Box<dyn SubSocket>, uri: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, socket.recv())
            .await
            .unwrap_or_else(|_| panic!("no address event for {uri} in time"))
            .unwrap();
        let msg = Message::decode(&frame).unwrap();
        if msg.data.get("URI").and_then(Value::as_str) == Some(uri) {
            assert!(msg.subject().starts_with("/address/"), "{msg}");
            return msg.data.get("status").is_none_or(Value::is_truthy);
        }
    }
}

fn uris(subscriber: &Subscriber) -> Vec<String> {
    subscriber
        .addresses()
        .iter()
        .map(|a| a.uri().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Python publisher -> Rust nameserver -> Python lookup
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_publisher_announces_to_rust_nameserver_and_python_lookup_finds_it() {
    let Some(_) = python::require() else { return };
    let ns = rust_nameserver(false, Duration::from_secs(60)).await;
    let (publisher, port) =
        spawn_peer(&["publish", "py_pub_1", "localhost", "0.5"], ns.config()).await;
    let uri = format!("tcp://127.0.0.1:{port}");

    // The Rust nameserver has it...
    let found = ns
        .wait_for_service("py_pub_1", WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", publisher.describe()));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uri(), uri);

    // ... and the reference's get_pub_address gets its metadata from it.
    let (lookup, _) = spawn_peer(&["lookup", "py_pub_1-alias", "127.0.0.1"], ns.config()).await;
    let found = parse_json(&expect_line(&lookup, "FOUND").await);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let meta = &found[0];
    assert_eq!(meta.get("URI").and_then(Value::as_str), Some(uri.as_str()));
    assert_eq!(
        meta.get("service"),
        Some(&Value::Array(vec![
            "py_pub_1".into(),
            "py_pub_1-alias".into()
        ]))
    );
    // The second element of the announcement's subject `/address/py_pub_1`.
    assert_eq!(meta.get("name").and_then(Value::as_str), Some("address"));
    assert_eq!(meta.get("status"), Some(&Value::Bool(true)));
    assert_eq!(
        meta.get("backend").and_then(Value::as_str),
        Some("unsecure_zmq")
    );
    assert_eq!(
        meta.get("supported_message_version")
            .and_then(Value::as_str),
        Some("v1.2")
    );
    // An ISO string in the reply, a datetime once decoded.
    assert!(meta
        .get("receive_time")
        .and_then(Value::as_datetime)
        .is_some());
    assert!(
        lookup.wait(WAIT).is_some_and(|s| s.success()),
        "{}",
        lookup.describe()
    );
    ns.stop().await;
}

// ---------------------------------------------------------------------------
// 2. (and 7, Rust -> Python) Rust publisher -> Rust nameserver -> Python subscriber
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_publisher_reaches_python_subscriber_through_rust_nameserver_byte_identical() {
    let Some(_) = python::require() else { return };
    let ns = rust_nameserver(false, Duration::from_secs(60)).await;
    let publisher = NoisyPublisher::builder("rs_pub_2")
        .context(ns.context().clone())
        .nameservers(ns.announce_to())
        .broadcast_interval(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    ns.wait_for_service("rs_pub_2", WAIT).await.unwrap();

    let (subscriber, ready) =
        spawn_peer(&["subscribe", "rs_pub_2", "127.0.0.1", TOPIC], ns.config()).await;
    let found = parse_json(&ready);
    assert_eq!(
        found,
        Value::Array(vec![publisher.announced_uri().into()]),
        "the Python subscriber's addresses"
    );

    let sample = sample_message();
    // What `send` writes: the context's message_version (none) applies.
    let frame = sample.encode_with(None);
    // A message off the topic, which the subscribers must not take first.
    let other = Message::new("/other", "info", "not for the topic").unwrap();
    let (mut msg, mut raw) = (None, None);
    let deadline = Instant::now() + WAIT;
    while msg.is_none() || raw.is_none() {
        assert!(Instant::now() < deadline, "{}", subscriber.describe());
        publisher.send(&other).await.unwrap();
        publisher.send(&sample).await.unwrap();
        if let Some(line) = subscriber.read_line_async(Duration::from_millis(20)).await {
            if let Some(h) = line.strip_prefix("MSG ") {
                msg = Some(unhex(h));
            } else if let Some(h) = line.strip_prefix("RAW ") {
                raw = Some(unhex(h));
            }
        }
    }
    // The frame the reference's raw SUB got is the one sent...
    assert_eq!(hex(&raw.unwrap()), hex(&frame));
    // ... and the reference decodes it and encodes it back to the same bytes.
    assert_eq!(
        String::from_utf8(msg.unwrap()).unwrap(),
        String::from_utf8(frame).unwrap()
    );
    assert!(
        subscriber.wait(WAIT).is_some_and(|s| s.success()),
        "{}",
        subscriber.describe()
    );
    publisher.stop().await.unwrap();
    ns.stop().await;
}

// ---------------------------------------------------------------------------
// 3. (and 7, Python -> Rust) Python publisher -> Rust nameserver -> Rust NSSubscriber
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_publisher_reaches_rust_nssubscriber_byte_identical() {
    let Some(_) = python::require() else { return };
    let ns = rust_nameserver(false, Duration::from_secs(60)).await;
    let (mut publisher, port) =
        spawn_peer(&["publish", "py_pub_3", "127.0.0.1", "0.5"], ns.config()).await;
    let sent = unhex(&expect_line(&publisher, "SENT").await);
    let uri = format!("tcp://127.0.0.1:{port}");
    // The reference encodes the sample message exactly as we do.
    assert_eq!(
        String::from_utf8(sent.clone()).unwrap(),
        String::from_utf8(sample_message().encode_with(None)).unwrap()
    );
    ns.wait_for_service("py_pub_3", WAIT).await.unwrap();

    let ctx = ns.context().clone();
    let mut raw = raw_subscriber(&ctx, &uri, "pytroll://interop").await;
    let subscriber = NSSubscriber::builder()
        .services(["py_pub_3"])
        .topics([TOPIC])
        .nameserver("127.0.0.1")
        .timeout(Duration::from_secs(5))
        .context(ctx)
        .start()
        .await
        .unwrap();
    assert_eq!(uris(&subscriber), vec![uri.clone()]);

    let msg = subscriber
        .recv(Some(WAIT))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no message:\n{}", publisher.describe()));
    assert_is_sample(&msg);
    // Re-encoded, the message is the frame the reference sent...
    assert_eq!(hex(&msg.encode_with(None)), hex(&sent));
    // ... which is exactly what came over the wire.
    assert_eq!(hex(&recv_raw(&mut raw).await), hex(&sent));

    publisher.write_line("stop").unwrap();
    expect_line(&publisher, "STOPPED").await;
    raw.close().await.unwrap();
    subscriber.stop().await.unwrap();
    ns.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Python nameserver (the `nameserver` script, --no-multicast) serving Rust
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nameserver_serves_rust_publisher_and_subscriber() {
    let Some(_) = python::require() else { return };
    let config = python_ns_config(false);
    let ctx = zmq_context(&config);
    let (nameserver, _) = spawn_peer(&["nameserver", "--no-multicast"], &config).await;

    let publisher = NoisyPublisher::builder("rs_pub_4")
        .aliases(["rs_alias_4"])
        .context(ctx.clone())
        .nameservers(["127.0.0.1"])
        .broadcast_interval(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    let uri = publisher.announced_uri().to_owned();
    assert!(uri.starts_with("tcp://127.0.0.1:"), "{uri}");

    let found = wait_for_service(&ctx, "rs_alias_4").await;
    assert_eq!(found.len(), 1, "{found:?}\n{}", nameserver.describe());
    let address = &found[0];
    assert_eq!(address.uri(), uri);
    assert_eq!(address.services(), vec!["rs_pub_4", "rs_alias_4"]);
    assert_eq!(address.backend(), Some("unsecure_zmq"));
    assert!(address.status());
    assert_eq!(
        address.metadata().get("name").and_then(Value::as_str),
        Some("address")
    );
    assert!(address
        .metadata()
        .get("receive_time")
        .and_then(Value::as_datetime)
        .is_some());

    let subscriber = NSSubscriber::builder()
        .services(["rs_pub_4"])
        .topics([TOPIC])
        .nameserver("127.0.0.1")
        .timeout(Duration::from_secs(5))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(uris(&subscriber), vec![uri.clone()]);
    let sample = sample_message();
    let deadline = Instant::now() + WAIT;
    let msg = loop {
        assert!(Instant::now() < deadline, "no message arrived");
        publisher.send(&sample).await.unwrap();
        if let Some(msg) = subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
        {
            break msg;
        }
    };
    assert_is_sample(&msg);
    assert_eq!(hex(&msg.encode_with(None)), hex(&sample.encode_with(None)));
    assert!(nameserver.try_wait().is_none(), "{}", nameserver.describe());
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// 5. Multicast announcements on loopback, both ways
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_multicast_announcement_reaches_rust_nameserver() {
    let Some(_) = python::require() else { return };
    let ns = rust_nameserver(true, Duration::from_secs(60)).await;
    assert_eq!(ns.config().mc_ttl, 0);
    assert_eq!(
        ns.config().multicast_interface.as_deref(),
        Some("127.0.0.1")
    );
    let (publisher, port) =
        spawn_peer(&["publish", "py_mc_5", "multicast", "0.2"], ns.config()).await;
    let found = ns
        .wait_for_service("py_mc_5-alias", WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", publisher.describe()));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uri(), format!("tcp://127.0.0.1:{port}"));
    assert_eq!(found[0].services(), vec!["py_mc_5", "py_mc_5-alias"]);
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_multicast_announcement_reaches_python_nameserver() {
    let Some(_) = python::require() else { return };
    let config = python_ns_config(true);
    assert_eq!(config.mc_ttl, 0);
    let ctx = zmq_context(&config);
    let (nameserver, _) = spawn_peer(&["nameserver"], &config).await;
    wait_for_nameserver(&ctx).await;

    let publisher = NoisyPublisher::builder("rs_mc_5")
        .context(ctx.clone())
        .broadcast_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let found = wait_for_service(&ctx, "rs_mc_5").await;
    assert_eq!(found.len(), 1, "{found:?}\n{}", nameserver.describe());
    assert_eq!(found[0].uri(), publisher.announced_uri());
    assert_eq!(found[0].services(), vec!["rs_mc_5"]);
    publisher.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// 6. Address expiry: add then remove events, from either nameserver
// ---------------------------------------------------------------------------

/// How long addresses live in the expiry tests.
const SHORT_MAX_AGE: Duration = Duration::from_secs(1);

/// The announcement interval of the publishers in the expiry tests.
const SHORT_INTERVAL: Duration = Duration::from_millis(200);

/// The earliest a remove event may come after a publisher is told to stop:
/// its last announcement is at most one interval earlier (less 100 ms for
/// the clocks of two processes).
const EARLIEST_REMOVAL: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_nameserver_expiry_reaches_rust_and_python_address_listeners() {
    let Some(_) = python::require() else { return };
    let ns = rust_nameserver(false, SHORT_MAX_AGE).await;
    let ctx = ns.context().clone();
    let events_uri = format!("tcp://127.0.0.1:{}", ns.config().address_publish_port);
    let mut events = connected_raw_subscriber(&ctx, &events_uri, "pytroll://address").await;
    let subscriber = NSSubscriber::builder()
        .services(["py_exp_6"])
        .addr_listener(true)
        .nameserver("127.0.0.1")
        .timeout(Duration::from_millis(300))
        .context(ctx)
        .start()
        .await
        .unwrap();
    assert!(subscriber.addresses().is_empty());
    let (mut listener, _) = spawn_peer(&["listen", "py_exp_6", "127.0.0.1"], ns.config()).await;

    let (mut publisher, port) = spawn_peer(
        &[
            "publish",
            "py_exp_6",
            "127.0.0.1",
            &SHORT_INTERVAL.as_secs_f64().to_string(),
        ],
        ns.config(),
    )
    .await;
    let uri = format!("tcp://127.0.0.1:{port}");
    assert!(next_address_event(&mut events, &uri).await, "an add event");
    poll_until("the Rust subscriber to add the address", || {
        uris(&subscriber) == vec![uri.clone()]
    })
    .await;
    // The reference's address listener added it to its subscriber...
    assert_eq!(
        expect_line(&listener, "ADD").await,
        format!("{uri} [\"{uri}\"]")
    );

    // The last announcement comes at most one interval before the publisher
    // takes the stop: no remove event before max_age - interval from here.
    let stopping = Instant::now();
    publisher.write_line("stop").unwrap();
    expect_line(&publisher, "STOPPED").await;
    assert!(
        !next_address_event(&mut events, &uri).await,
        "a remove event"
    );
    let after = stopping.elapsed();
    assert!(after >= EARLIEST_REMOVAL, "removed after {after:?}");
    poll_until("the Rust subscriber to remove the address", || {
        subscriber.addresses().is_empty()
    })
    .await;
    // ... and removed it.
    assert_eq!(expect_line(&listener, "REMOVE").await, format!("{uri} []"));

    listener.close_stdin();
    events.close().await.unwrap();
    subscriber.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nameserver_expiry_reaches_rust_address_listener() {
    let Some(_) = python::require() else { return };
    let config = python_ns_config(false);
    let ctx = zmq_context(&config);
    // The `nameserver` script has no max-age option: the reference's
    // NameServer class is given one.
    let (nameserver, _) = spawn_peer(
        &[
            "nameserver-max-age",
            &SHORT_MAX_AGE.as_secs_f64().to_string(),
        ],
        &config,
    )
    .await;
    wait_for_nameserver(&ctx).await;
    let events_uri = format!("tcp://127.0.0.1:{}", config.address_publish_port);
    let mut events = connected_raw_subscriber(&ctx, &events_uri, "pytroll://address").await;
    let subscriber = NSSubscriber::builder()
        .services(["rs_exp_6"])
        .addr_listener(true)
        .nameserver("127.0.0.1")
        .timeout(Duration::from_millis(300))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert!(subscriber.addresses().is_empty());

    let publisher = NoisyPublisher::builder("rs_exp_6")
        .context(ctx.clone())
        .nameservers(["127.0.0.1"])
        .broadcast_interval(SHORT_INTERVAL)
        .start()
        .await
        .unwrap();
    let uri = publisher.announced_uri().to_owned();
    assert!(
        next_address_event(&mut events, &uri).await,
        "an add event\n{}",
        nameserver.describe()
    );
    poll_until("the Rust subscriber to add the address", || {
        uris(&subscriber) == vec![uri.clone()]
    })
    .await;

    let stopping = Instant::now();
    publisher.stop().await.unwrap();
    assert!(
        !next_address_event(&mut events, &uri).await,
        "a remove event"
    );
    let after = stopping.elapsed();
    assert!(after >= EARLIEST_REMOVAL, "removed after {after:?}");
    poll_until("the Rust subscriber to remove the address", || {
        subscriber.addresses().is_empty()
    })
    .await;
    assert!(nameserver.try_wait().is_none(), "{}", nameserver.describe());
    events.close().await.unwrap();
    subscriber.stop().await.unwrap();
}

//! The nameserver on isolated in-process networks (the reference's
//! `test_nameserver.py` scenarios and more): lookups and their metadata,
//! publishers appearing and expiring, the address events and heartbeat on
//! the wire, malformed requests and announcements, local-only, stopping,
//! the blocking nameserver. The facade's clients are the instruments.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use posttroll::backend::{Backend, DatagramReceiver, DatagramSender, Discovery};
use posttroll::nameserver::{get_pub_address, get_pub_addresses};
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{
    Address, Config, Context, Data, Endpoint, ErrorKind, Message, Result, Security, Value,
};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_nameserver::NameServer;
use posttroll_testkit::isolated::{default_ctx, isolated, noisy, start_ns};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Waits (on tokio's clock) until `cond` holds, checking every 5 ms; panics
/// with `what` after `limit`.
async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// --- lookups -----------------------------------------------------------------

async fn lookup_returns_metadata(multicast: bool) {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, multicast, Duration::from_secs(3)).await;
    let publisher = noisy(
        &ctx,
        "data_provider",
        &["this_data"],
        multicast,
        Duration::from_millis(100),
    )
    .await;

    for name in ["this_data", "data_provider"] {
        let found = get_pub_addresses(
            &ctx,
            &[name.to_owned()],
            Duration::from_secs(2),
            "localhost",
        )
        .await
        .unwrap();
        let found: Vec<&Address> = found
            .iter()
            .filter(|a| a.has_service("data_provider"))
            .collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        let meta = found[0].metadata();
        assert_eq!(meta["status"], Value::Bool(true));
        assert_eq!(
            meta["service"],
            Value::from(vec!["data_provider", "this_data"])
        );
        assert_eq!(meta["name"].as_str(), Some("address"));
        assert_eq!(meta["backend"].as_str(), Some(ctx.announced_backend()));
        assert_eq!(meta["supported_message_version"].as_str(), Some("v1.2"));
        // An ISO string on the wire, a datetime once decoded (as in Python).
        assert!(
            matches!(meta["receive_time"], Value::DateTime(_)),
            "{:?}",
            meta["receive_time"]
        );
        assert_eq!(found[0].uri(), publisher.announced_uri());
    }
    assert!(get_pub_address(
        &ctx,
        "nothing_like_this",
        Duration::from_secs(1),
        "localhost"
    )
    .await
    .unwrap()
    .is_empty());

    publisher.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test]
async fn lookup_returns_metadata_multicast() {
    lookup_returns_metadata(true).await;
}

#[tokio::test]
async fn lookup_returns_metadata_no_multicast() {
    lookup_returns_metadata(false).await;
}

#[tokio::test]
async fn no_multicast_address_publisher_registers_itself() {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, false, Duration::from_secs(60)).await;
    let found = get_pub_addresses(
        &ctx,
        &["addresses".to_owned()],
        Duration::from_secs(2),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].services(), ["address_receiver", "addresses"]);
    assert_eq!(
        Endpoint::parse(found[0].uri()).unwrap().port(),
        Some(ctx.config().address_publish_port)
    );
    ns.stop().await;
}

#[tokio::test]
async fn secure_lookups_are_served_on_the_secure_port_with_curve() {
    let (ctx, net) = isolated(Config::default());
    // The same network under a secure_zmq configuration.
    let config = Config {
        backend: "secure_zmq".into(),
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    };
    let secure_ctx = Context::with_backend(config.clone(), net.backend(&config));
    let ns = start_ns(&secure_ctx, true, Duration::from_secs(60)).await;
    assert_eq!(ns.lookup_endpoint().port(), Some(5557));
    assert_eq!(
        ns.secure_lookup_endpoint().and_then(Endpoint::port),
        Some(5558)
    );
    let bound = net.bound_endpoints();
    assert!(
        bound.contains(&(Endpoint::tcp("*", 5557), Security::Plain)),
        "{bound:?}"
    );
    assert!(
        bound.contains(&(Endpoint::tcp("*", 5558), Security::Curve)),
        "{bound:?}"
    );
    // Both ports answer: the plain one to a plain client, the secure one
    // to a secure_zmq client.
    assert!(
        get_pub_address(&ctx, "", Duration::from_secs(1), "localhost")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        get_pub_address(&secure_ctx, "", Duration::from_secs(1), "localhost")
            .await
            .unwrap()
            .is_empty()
    );
    ns.stop().await;
}

#[tokio::test]
async fn nameserver_on_an_inproc_address() {
    let (ctx, _net) = default_ctx();
    let ns = NameServer::builder()
        .context(ctx.clone())
        .address("inproc://ns1")
        .start()
        .await
        .unwrap();
    assert_eq!(ns.lookup_endpoint(), &Endpoint::Inproc("ns1".into()));
    assert!(
        get_pub_address(&ctx, "x", Duration::from_secs(1), "inproc://ns1")
            .await
            .unwrap()
            .is_empty()
    );
    ns.stop().await;
}

// --- publishers appearing and expiring --------------------------------------

async fn publishers_appear_and_expire(multicast: bool) {
    let (ctx, _net) = default_ctx();
    let max_age = Duration::from_millis(500);
    let ns = start_ns(&ctx, multicast, max_age).await;
    let subscriber = NSSubscriber::builder()
        .services(["this_data"])
        .topics(["/counter"])
        .addr_listener(true)
        .timeout(Duration::from_millis(200))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let uris = |s: &Subscriber| {
        s.addresses()
            .iter()
            .map(|a| a.uri().to_owned())
            .collect::<Vec<_>>()
    };
    let count = |s: &Subscriber, uri: &str| uris(s).iter().filter(|u| *u == uri).count();
    assert!(uris(&subscriber).is_empty());

    // Appears: the nameserver publishes the addition, the subscriber connects.
    let first = noisy(
        &ctx,
        "data_provider",
        &["this_data"],
        multicast,
        Duration::from_secs(2),
    )
    .await;
    let first_uri = first.announced_uri().to_owned();
    wait_until(
        "the first publisher is added",
        Duration::from_secs(5),
        || count(&subscriber, &first_uri) == 1,
    )
    .await;

    // Stops announcing: removed after max_age (checked every max_age/20).
    first.stop().await.unwrap();
    let stopped = Instant::now();
    wait_until(
        "the first publisher expires",
        Duration::from_secs(5),
        || count(&subscriber, &first_uri) == 0,
    )
    .await;
    let took = stopped.elapsed();
    assert!(
        took <= max_age + max_age / 20 + Duration::from_millis(100),
        "expired after {took:?}"
    );
    assert!(ns
        .lookup("")
        .iter()
        .all(|m| m["URI"].as_str() != Some(&first_uri)));

    // A publisher of another service is not added ...
    let other = noisy(
        &ctx,
        "data_provider_2",
        &["another_data"],
        multicast,
        Duration::from_secs(2),
    )
    .await;
    let other_uri = other.announced_uri().to_owned();
    wait_until(
        "the nameserver lists the other publisher",
        Duration::from_secs(5),
        || ns.lookup("another_data").len() == 1,
    )
    .await;
    // ... which shows once a later, wanted one is: events are handled in order.
    let third = noisy(
        &ctx,
        "data_provider_3",
        &["this_data"],
        multicast,
        Duration::from_secs(2),
    )
    .await;
    let third_uri = third.announced_uri().to_owned();
    wait_until(
        "the third publisher is added",
        Duration::from_secs(5),
        || count(&subscriber, &third_uri) == 1,
    )
    .await;
    assert_eq!(count(&subscriber, &other_uri), 0);

    for p in [other, third] {
        p.stop().await.unwrap();
    }
    subscriber.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test(start_paused = true)]
async fn publishers_appear_and_expire_multicast() {
    publishers_appear_and_expire(true).await;
}

#[tokio::test(start_paused = true)]
async fn publishers_appear_and_expire_no_multicast() {
    publishers_appear_and_expire(false).await;
}

/// The address events on the wire: the addition is the announcement with
/// `status: true` in v1.01; the removal names the URI and its services.
#[tokio::test(start_paused = true)]
async fn address_events_on_the_wire() {
    let (ctx, net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(10)).await;
    let mut events = ctx
        .transport()
        .connect_subscriber(
            &Endpoint::tcp("localhost", ctx.config().address_publish_port),
            &["pytroll://address".to_owned()],
            Security::Plain,
        )
        .await
        .unwrap();
    // A raw announcement, as a Python publisher sends it.
    let announcement = Message::new(
        "/address/viirs",
        "info",
        Value::object([
            ("URI", Value::from("tcp://10.0.0.1:40000")),
            ("service", Value::from(vec!["viirs", "sdr"])),
            ("supported_message_version", Value::from("v1.2")),
            ("backend", Value::from("unsecure_zmq")),
        ]),
    )
    .unwrap()
    .with_version("v1.2")
    .unwrap();
    let sender = net.discovery().sender().await.unwrap();
    sender
        .send(Bytes::from(announcement.encode()))
        .await
        .unwrap();

    let added = events.recv().await.unwrap();
    let added_text = String::from_utf8(added.to_vec()).unwrap();
    let expected_head = format!(
        "pytroll://address/viirs info {} {} v1.01 application/json ",
        announcement.sender(),
        announcement.time.without_offset().isoformat()
    );
    assert_eq!(
        added_text,
        format!(
            "{expected_head}{}",
            r#"{"URI": "tcp://10.0.0.1:40000", "service": ["viirs", "sdr"], "supported_message_version": "v1.2", "backend": "unsecure_zmq", "status": true}"#
        )
    );
    // Announced again: refreshed, not published again; no re-announcement
    // for 11 s: removed.
    sender
        .send(Bytes::from(announcement.encode()))
        .await
        .unwrap();
    let start = Instant::now();
    let removed = Message::decode(events.recv().await.unwrap()).unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(removed.subject(), "/address/address");
    assert_eq!(removed.msg_type(), "info");
    assert_eq!(
        removed.data,
        Data::Json(Value::object([
            ("status", Value::Bool(false)),
            ("URI", Value::from("tcp://10.0.0.1:40000")),
            ("service", Value::from(vec!["viirs", "sdr"])),
        ]))
    );
    assert!(ns.lookup("").is_empty());
    events.close().await.unwrap();
    ns.stop().await;
}

// --- heartbeat ---------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn address_publisher_heartbeat_every_29_seconds() {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(600)).await;
    let mut beats = ctx
        .transport()
        .connect_subscriber(
            ns.address_publish_endpoint(),
            &["pytroll://heartbeat".to_owned()],
            Security::Plain,
        )
        .await
        .unwrap();
    // The first beat may have gone out before we connected; time the next two.
    let first = Message::decode(beats.recv().await.unwrap()).unwrap();
    let t1 = Instant::now();
    let second = Message::decode(beats.recv().await.unwrap()).unwrap();
    let gap = t1.elapsed();
    assert!(
        gap >= Duration::from_secs(29) && gap < Duration::from_secs(30),
        "{gap:?}"
    );
    for beat in [first, second] {
        assert_eq!(beat.subject(), "/heartbeat/address_receiver");
        assert_eq!(beat.msg_type(), "beat");
        assert_eq!(
            beat.data,
            Data::Json(Value::object([("min_interval", Value::Int(29))]))
        );
    }
    beats.close().await.unwrap();
    ns.stop().await;
}

// --- malformed requests ------------------------------------------------------

#[tokio::test]
async fn every_malformed_request_gets_a_reply_and_the_next_good_one_is_answered() {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    let endpoint = Endpoint::tcp("localhost", ctx.config().nameserver_port);
    let good = Message::new(
        "/oper/ns",
        "request",
        Value::object([("service", Value::from(""))]),
    )
    .unwrap()
    .with_version("v1.2")
    .unwrap();
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"hello".to_vec()),
        ("empty", Vec::new()),
        ("invalid UTF-8", vec![b'p', b'y', 0xff, 0xfe, 0x80]),
        ("oversized", vec![b'x'; 70_000]),
        ("too few fields", b"pytroll://oper/ns request".to_vec()),
        ("bad version", b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v9.0".to_vec()),
        (
            "wrong type",
            b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.2 application/json {\"service\": \"x\"}".to_vec(),
        ),
        ("no data", b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2".to_vec()),
        (
            "text data",
            b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2 text/ascii viirs".to_vec(),
        ),
        (
            "no service",
            b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2 application/json {\"name\": \"x\"}".to_vec(),
        ),
        (
            "non-string service",
            b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2 application/json {\"service\": [\"x\"]}".to_vec(),
        ),
        (
            "list data",
            b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2 application/json [\"x\"]".to_vec(),
        ),
        (
            "bad json",
            b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v1.2 application/json {\"service\": ".to_vec(),
        ),
    ];
    let mut big = good.encode();
    big.extend(std::iter::repeat_n(b' ', 70_000));
    bad.push(("oversized but valid", big));
    for (what, frame) in bad {
        let reply = ctx
            .transport()
            .request(
                &endpoint,
                Security::Plain,
                Bytes::from(frame),
                Duration::from_secs(2),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: no reply: {e}"));
        let reply = Message::decode(reply).unwrap();
        assert_eq!(reply.subject(), "/oper/ns", "{what}");
        assert_eq!(reply.msg_type(), "error", "{what}");
        assert!(
            reply.data.as_text().is_some_and(|t| !t.is_empty()),
            "{what}"
        );

        let reply = ctx
            .transport()
            .request(
                &endpoint,
                Security::Plain,
                Bytes::from(good.encode()),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        let reply = Message::decode(reply).unwrap();
        assert_eq!(reply.msg_type(), "info", "after {what}");
        assert_eq!(reply.version(), Some("v1.2"));
        assert_eq!(reply.data, Data::None);
    }
    // The client reports a refused request as a protocol error.
    ns.stop().await;
}

#[tokio::test]
async fn replies_use_the_request_version() {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    let endpoint = Endpoint::tcp("localhost", ctx.config().nameserver_port);
    for version in ["v1.01", "v1.2"] {
        let request = Message::new(
            "/oper/ns",
            "request",
            Value::object([("service", Value::from("x"))]),
        )
        .unwrap()
        .with_version(version)
        .unwrap();
        let reply = ctx
            .transport()
            .request(
                &endpoint,
                Security::Plain,
                Bytes::from(request.encode()),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert_eq!(Message::decode(reply).unwrap().version(), Some(version));
    }
    ns.stop().await;
}

// --- stopping -------------------------------------------------------------------

async fn stops_within_a_second(multicast: bool) {
    let (ctx, net) = default_ctx();
    let ns = Arc::new(start_ns(&ctx, multicast, Duration::from_secs(60)).await);
    assert!(ns.is_running());
    let waiter = tokio::spawn({
        let ns = ns.clone();
        async move { ns.wait().await }
    });
    let started = std::time::Instant::now();
    ns.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!ns.is_running());
    waiter.await.unwrap();
    // Every socket is closed; the lookup port is free again.
    assert!(net.is_idle(), "{net:?}: {:?}", net.bound_endpoints());
    let again = start_ns(&ctx, multicast, Duration::from_secs(60)).await;
    again.stop().await;
    ns.stop().await; // twice is harmless
}

#[tokio::test]
async fn stops_within_a_second_multicast() {
    stops_within_a_second(true).await;
}

#[tokio::test]
async fn stops_within_a_second_no_multicast() {
    stops_within_a_second(false).await;
}

#[tokio::test]
async fn dropping_the_handle_stops_the_nameserver() {
    let (ctx, net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    drop(ns);
    wait_until("the network is idle", Duration::from_secs(1), || {
        net.is_idle()
    })
    .await;
}

#[tokio::test]
async fn a_taken_port_is_an_error() {
    let (ctx, net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    let err = NameServer::builder()
        .context(ctx.clone())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bind, "{err}");
    ns.stop().await;
    assert!(net.is_idle(), "{:?}", net.bound_endpoints());
}

// --- local only ----------------------------------------------------------------

type Datagrams = mpsc::UnboundedReceiver<(Bytes, Option<IpAddr>)>;

/// A discovery channel whose datagrams come from chosen source addresses.
#[derive(Debug)]
struct FakeDiscovery {
    datagrams: std::sync::Mutex<Option<Datagrams>>,
}

#[derive(Debug)]
struct FakeReceiver(Datagrams);

#[async_trait]
impl DatagramReceiver for FakeReceiver {
    async fn recv(&mut self) -> Result<(Bytes, Option<IpAddr>)> {
        self.0
            .recv()
            .await
            .ok_or_else(|| posttroll::Error::closed("fake discovery"))
    }
}

#[async_trait]
impl Discovery for FakeDiscovery {
    async fn sender(&self) -> Result<Box<dyn DatagramSender>> {
        Err(posttroll::Error::Unsupported {
            backend: "fake".into(),
            what: "sending".into(),
        })
    }

    async fn receiver(&self) -> Result<Box<dyn DatagramReceiver>> {
        let rx = self.datagrams.lock().unwrap().take().expect("one receiver");
        Ok(Box::new(FakeReceiver(rx)))
    }
}

async fn local_only_case(local_only: bool) -> Vec<String> {
    let net = InprocNetwork::new();
    let config = Config {
        backend: "inproc".into(),
        ..Config::default()
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let backend = Backend {
        name: "inproc".into(),
        transport: net.backend(&config).transport,
        discovery: Arc::new(FakeDiscovery {
            datagrams: std::sync::Mutex::new(Some(rx)),
        }),
    };
    let ctx = Context::with_backend(config, backend);
    let ns = NameServer::builder()
        .context(ctx)
        .local_only(local_only)
        .start()
        .await
        .unwrap();
    let announce = |uri: &str| {
        Bytes::from(
            Message::new(
                "/address/x",
                "info",
                Value::object([
                    ("URI", Value::from(uri)),
                    ("service", Value::from(vec!["x"])),
                ]),
            )
            .unwrap()
            .encode(),
        )
    };
    tx.send((
        announce("tcp://remote:1"),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99))),
    ))
    .unwrap();
    tx.send((
        announce("tcp://loopback:1"),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ))
    .unwrap();
    // The loopback one comes last: once it is in, the remote one was handled.
    wait_until(
        "the loopback announcement is in",
        Duration::from_secs(2),
        || {
            ns.lookup("x")
                .iter()
                .any(|m| m["URI"].as_str() == Some("tcp://loopback:1"))
        },
    )
    .await;
    let uris = ns
        .lookup("x")
        .iter()
        .map(|m| m["URI"].as_str().unwrap().to_owned())
        .collect();
    ns.stop().await;
    uris
}

#[tokio::test]
async fn local_only_drops_announcements_from_other_hosts() {
    assert_eq!(local_only_case(true).await, ["tcp://loopback:1"]);
    assert_eq!(
        local_only_case(false).await,
        ["tcp://remote:1", "tcp://loopback:1"]
    );
}

#[tokio::test]
async fn malformed_announcements_are_skipped() {
    let (ctx, net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    let sender = net.discovery().sender().await.unwrap();
    for junk in [
        &b"hello"[..],
        b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 text/ascii tcp://h:1",
        b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json {\"uri\": 1}",
        b"pytroll://something/else info a@b 2020-01-01T00:00:00 v1.01 application/json {\"URI\": \"tcp://h:2\"}",
        &[0xff; 2000][..],
    ] {
        sender.send(Bytes::copy_from_slice(junk)).await.unwrap();
    }
    sender
        .send(Bytes::from_static(
            b"pytroll://address/x info a@b 2020-01-01T00:00:00 v1.01 application/json {\"URI\": \"tcp://h:3\", \"service\": [\"x\"]}",
        ))
        .await
        .unwrap();
    wait_until(
        "the good announcement is in",
        Duration::from_secs(2),
        || !ns.lookup("").is_empty(),
    )
    .await;
    assert_eq!(ns.lookup("").len(), 1);
    ns.stop().await;
}

// --- the blocking API ------------------------------------------------------------

#[test]
fn blocking_nameserver_and_lookup() {
    use posttroll::blocking::nameserver as ns;
    let (ctx, net) = default_ctx();
    let server = posttroll_nameserver::blocking::NameServer::builder()
        .context(ctx.clone())
        .start()
        .unwrap();
    assert!(
        ns::get_pub_address(&ctx, "", Duration::from_secs(1), "localhost")
            .unwrap()
            .is_empty()
    );
    let announcement = Message::new(
        "/address/b",
        "info",
        Value::object([
            ("URI", Value::from("tcp://10.0.0.3:1")),
            ("service", Value::from(vec!["b"])),
        ]),
    )
    .unwrap();
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            net.discovery()
                .sender()
                .await
                .unwrap()
                .send(Bytes::from(announcement.encode()))
                .await
                .unwrap();
        });
    }
    let found = ns::get_pub_addresses(&ctx, &["b".to_owned()], Duration::from_secs(2), "localhost")
        .unwrap();
    assert_eq!(found[0].uri(), "tcp://10.0.0.3:1");

    // Stopped from another thread while this one waits.
    let stopper = server.clone();
    let thread = std::thread::spawn(move || stopper.stop());
    server.wait().unwrap();
    thread.join().unwrap().unwrap();
    assert!(!server.is_running());
    drop(server);
}

//! IPv6 on the engine of the test run (`POSTTROLL_ENGINE`), over `::1`
//! only. The reference is IPv4-only (PROTOCOL.md); here:
//!
//! - a publisher bound on `tcp://[::1]:0` reaches a subscriber;
//! - the nameserver, bound on `tcp://*` (dual-stack where the host allows),
//!   answers lookups, takes designated announcements and publishes address
//!   events over `::1` and `127.0.0.1` alike;
//! - a publisher announcing an IPv6 address (`own_ip` `::1`, or bound on
//!   `::1`) announces `tcp://[::1]:PORT`, the nameserver returns it as is
//!   and a subscriber by service connects to it;
//! - the IP allow-list takes IPv6 entries and checks IPv6 clients, and an
//!   IPv4 client of a dual-stack socket against its IPv4 entry.
//!
//! - a nameserver listening on an IPv6 multicast group (interface-local
//!   `ff01::`, hop limit 0, on the loopback interface) hears a publisher
//!   announcing there, and a subscriber finds it.
//!
//! All but the first need `tcp://*` to be dual-stack: on a host where it
//! is not, they say so and pass (the host is served IPv4-only). The
//! multicast one runs where IPv6 multicast works on loopback: here, or in
//! a network namespace of its own, or it says why not
//! (`posttroll_testkit::ipv6`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use posttroll::nameserver::get_pub_address;
use posttroll::publisher::{NoisyPublisher, Publisher};
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{Address, Config, Context, ErrorKind, Message, Value};
use posttroll_nameserver::NameServer;
use posttroll_testkit::free_tcp_ports;
use posttroll_testkit::ipv6::{
    dual_stack_or_skip, ipv6_multicast_here_or_rerun, loopback_multicast_v6,
};
use posttroll_testkit::{assert_test_engine, with_test_engine, FixtureOptions, NameServerFixture};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe_over_ipv6_loopback() {
    let ctx = Context::new(with_test_engine(Config::default())).unwrap();
    assert_test_engine(&ctx);
    let publisher = Publisher::builder("tcp://[::1]:0")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(publisher.endpoint().host(), Some("::1"));
    let uri = format!("tcp://[::1]:{}", publisher.port_number().unwrap());
    let subscriber = subscriber_to(&ctx, uri).await;
    delivered(&publisher, subscriber, "over ::1").await;
    publisher.stop().await.unwrap();
}

/// Sends `text` on `publisher` once a subscriber is there; `subscriber`
/// must get it (both within [`WAIT`]). Stops `subscriber`.
async fn delivered(publisher: &Publisher, subscriber: Subscriber, text: &str) {
    publisher.wait_for_subscribers(1, WAIT).await.unwrap();
    publisher
        .send(&Message::new("/v6", "info", text).unwrap())
        .await
        .unwrap();
    let msg = subscriber.recv(Some(WAIT)).await.unwrap();
    assert_eq!(msg.expect("a message").data.as_text(), Some(text));
    subscriber.stop().await.unwrap();
}

/// A subscriber to `service`, found by the nameserver at `[::1]`.
async fn subscriber_by_service(ctx: &Context, service: &str) -> Subscriber {
    NSSubscriber::builder()
        .services([service])
        .nameserver("[::1]")
        .context(ctx.clone())
        .start()
        .await
        .unwrap()
}

/// A nameserver on the engine of the run, announcements by request (no
/// multicast), `own_ip` 127.0.0.1.
async fn nameserver() -> NameServerFixture {
    let ns = NameServerFixture::start(FixtureOptions {
        multicast: false,
        ..FixtureOptions::configured(Config::default())
    })
    .await
    .unwrap();
    assert_test_engine(ns.context());
    ns
}

/// Asks `nameserver` for `name` until it knows an address, within [`WAIT`].
async fn lookup(ctx: &Context, name: &str, nameserver: &str) -> Vec<Address> {
    let deadline = Instant::now() + WAIT;
    loop {
        match get_pub_address(ctx, name, Duration::from_millis(500), nameserver).await {
            Ok(found) if !found.is_empty() => return found,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => {}
            Err(e) => panic!("looking {name:?} up at {nameserver}: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the nameserver at {nameserver} never knew {name:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn uris(found: &[Address]) -> Vec<&str> {
    found.iter().map(Address::uri).collect()
}

/// Starts publishers named `name` (each on a new port, so a new address)
/// until `events` gets the address event of one, within [`WAIT`] (a
/// subscriber just connected may not have subscribed yet when the first
/// event goes out, and each address is published once); returns that
/// publisher and its event's URI.
async fn announced_until_published(
    ctx: &Context,
    name: &str,
    nameservers: &[String],
    events: &Subscriber,
) -> (NoisyPublisher, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let publisher = NoisyPublisher::builder(name)
            .nameservers(nameservers)
            .context(ctx.clone())
            .start()
            .await
            .unwrap();
        let wait_event = Instant::now() + Duration::from_millis(500);
        while let Some(left) = wait_event.checked_duration_since(Instant::now()) {
            let Ok(Some(event)) = events.recv(Some(left)).await else {
                break;
            };
            let uri = event.data.get("URI").and_then(Value::as_str);
            if uri == Some(publisher.announced_uri()) {
                assert_eq!(event.subject(), format!("/address/{name}"));
                let uri = publisher.announced_uri().to_owned();
                return (publisher, uri);
            }
        }
        publisher.stop().await.unwrap();
        assert!(Instant::now() < deadline, "no address event for {name:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nameserver_serves_ipv6_and_ipv4_clients() {
    if !dual_stack_or_skip("the_nameserver_serves_ipv6_and_ipv4_clients") {
        return;
    }
    let ns = nameserver().await;
    let ctx = ns.context().clone();
    let config = ns.config();
    // Address events over ::1.
    let events = Subscriber::builder()
        .addresses([format!("tcp://[::1]:{}", config.address_publish_port)])
        .topics(["/address/"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    events.wait_connected(WAIT).await.unwrap();

    // Announced over IPv4, as the reference announces.
    let (publisher, uri) =
        announced_until_published(&ctx, "dual", &ns.announce_to(), &events).await;
    assert!(uri.starts_with("tcp://127.0.0.1:"), "{uri}");
    let lookups_port = config.nameserver_port;
    for nameserver in [
        "[::1]".to_owned(),
        format!("tcp://[::1]:{lookups_port}"),
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
    ] {
        let found = lookup(&ctx, "dual", &nameserver).await;
        assert!(uris(&found).contains(&uri.as_str()), "{found:?}");
    }

    events.stop().await.unwrap();
    publisher.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_address_is_announced_found_and_subscribed_to() {
    if !dual_stack_or_skip("an_ipv6_address_is_announced_found_and_subscribed_to") {
        return;
    }
    let ns = nameserver().await;
    let v6 = Context::new(Config {
        own_ip: Some("::1".into()),
        ..ns.config().clone()
    })
    .unwrap();
    // Announced over ::1 to the nameserver's request port, as tcp://[::1]:P.
    let by_own_ip = NoisyPublisher::builder("v6_own_ip")
        .nameservers(["[::1]"])
        .context(v6.clone())
        .start()
        .await
        .unwrap();
    let port = by_own_ip.port_number().unwrap();
    assert_eq!(by_own_ip.announced_uri(), format!("tcp://[::1]:{port}"));
    // Bound on ::1 only: announced there, whatever own_ip says.
    let ctx = ns.context().clone();
    let bound_on_v6 = NoisyPublisher::builder("v6_bound")
        .host("::1")
        .nameservers(ns.announce_to())
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(bound_on_v6.endpoint().host(), Some("::1"));
    let port = bound_on_v6.port_number().unwrap();
    assert_eq!(bound_on_v6.announced_uri(), format!("tcp://[::1]:{port}"));

    for publisher in [&by_own_ip, &bound_on_v6] {
        let name = &publisher.services()[0];
        let found = lookup(&ctx, name, "[::1]").await;
        assert_eq!(uris(&found), [publisher.announced_uri()]);
        let subscriber = subscriber_by_service(&ctx, name).await;
        assert_eq!(uris(&subscriber.addresses()), [publisher.announced_uri()]);
        delivered(publisher, subscriber, name).await;
    }
    by_own_ip.stop().await.unwrap();
    bound_on_v6.stop().await.unwrap();
    ns.stop().await;
}

/// Sends `probe` until `admitted` gets 20 of it; `refused` must get none.
async fn admitted_and_refused(publisher: &Publisher, admitted: &Subscriber, refused: &Subscriber) {
    let probe = Message::new("/probe", "info", "probe").unwrap();
    let deadline = Instant::now() + WAIT;
    let mut got = 0;
    while got < 20 {
        assert!(
            Instant::now() < deadline,
            "the admitted client got {got} messages"
        );
        publisher.send(&probe).await.unwrap();
        if let Ok(Some(_)) = admitted.recv(Some(Duration::from_millis(10))).await {
            got += 1;
        }
        assert!(
            matches!(refused.recv(Some(Duration::ZERO)).await, Ok(None)),
            "a refused client received"
        );
    }
}

async fn subscriber_to(ctx: &Context, uri: String) -> Subscriber {
    Subscriber::builder()
        .addresses([uri])
        .context(ctx.clone())
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_takes_ipv6_entries_and_clients() {
    if !dual_stack_or_skip("the_allow_list_takes_ipv6_entries_and_clients") {
        return;
    }
    let clients = Context::new(with_test_engine(Config::default())).unwrap();
    for (allowed, admitted_host, refused_host) in [
        ("::1", "[::1]", "127.0.0.1"),
        // An IPv4 client of a dual-stack `*` socket is checked as IPv4.
        ("127.0.0.1", "127.0.0.1", "[::1]"),
    ] {
        let server = Context::new(with_test_engine(Config {
            authorized_client_addresses: vec![allowed.to_owned()],
            ..Config::default()
        }))
        .unwrap();
        assert_test_engine(&server);
        let publisher = Publisher::builder("tcp://*:0")
            .context(server)
            .start()
            .await
            .unwrap();
        let port = publisher.port_number().unwrap();
        let admitted = subscriber_to(&clients, format!("tcp://{admitted_host}:{port}")).await;
        let refused = subscriber_to(&clients, format!("tcp://{refused_host}:{port}")).await;
        admitted_and_refused(&publisher, &admitted, &refused).await;
        admitted.stop().await.unwrap();
        refused.stop().await.unwrap();
        publisher.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nameserver_allowing_only_ipv6_loopback_answers_it_only() {
    if !dual_stack_or_skip("a_nameserver_allowing_only_ipv6_loopback_answers_it_only") {
        return;
    }
    let ns = NameServerFixture::start(FixtureOptions {
        multicast: false,
        ..FixtureOptions::configured(Config {
            authorized_client_addresses: vec!["[::1]".into()],
            ..Config::default()
        })
    })
    .await
    .unwrap();
    let clients = Context::new(Config {
        authorized_client_addresses: Vec::new(),
        ..ns.config().clone()
    })
    .unwrap();
    // Answered (whatever it lists) ...
    get_pub_address(&clients, "", WAIT, "[::1]").await.unwrap();
    // ... where an IPv4 client gets no answer.
    let refused = get_pub_address(&clients, "", Duration::from_millis(500), "127.0.0.1").await;
    assert_eq!(refused.unwrap_err().kind(), ErrorKind::Timeout);
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nameserver_on_an_ipv6_group_hears_an_ipv6_publisher() {
    const TEST: &str = "a_nameserver_on_an_ipv6_group_hears_an_ipv6_publisher";
    if !dual_stack_or_skip(TEST) || !ipv6_multicast_here_or_rerun(TEST) {
        return;
    }
    let ports = free_tcp_ports(3);
    let ctx = Context::new(loopback_multicast_v6(Config {
        nameserver_port: ports[0],
        secure_zmq_nameserver_port: ports[1],
        address_publish_port: ports[2],
        own_ip: Some("::1".into()),
        ..Config::default()
    }))
    .unwrap();
    assert_test_engine(&ctx);
    assert!(ctx.config().mc_group.starts_with("ff01::"));
    // Local only: ::1 is this host.
    let ns = NameServer::builder()
        .context(ctx.clone())
        .local_only(true)
        .start()
        .await
        .unwrap();
    let publisher = NoisyPublisher::builder("v6_multicast")
        .broadcast_interval(Duration::from_millis(200))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let uri = publisher.announced_uri().to_owned();
    assert_eq!(
        uri,
        format!("tcp://[::1]:{}", publisher.port_number().unwrap())
    );
    assert_eq!(
        uris(&lookup(&ctx, "v6_multicast", "[::1]").await),
        [uri.as_str()]
    );
    let subscriber = subscriber_by_service(&ctx, "v6_multicast").await;
    delivered(&publisher, subscriber, "by an IPv6 group").await;
    publisher.stop().await.unwrap();
    ns.stop().await;
}

//! The pure-Rust transport on loopback (the behaviour shared with the
//! libzmq engine runs from `posttroll_testkit::conformance`): PUB/SUB over tcp, ipc and inproc,
//! topics, port ranges, socket options, high-water marks with and without
//! `no_drop`, REQ/REP and its timeouts (a dead peer, then recovery),
//! reconnection after a publisher restart, the IP allow-list, closing.
//!
//! No sleep is used to synchronise: PUB/SUB tests repeat a probe frame
//! until the subscriber sees one (the slow-joiner), and every wait has a
//! deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use posttroll_backend_purerust::PureRustTransport;
use posttroll_core::engine::TcpKeepalive;
use posttroll_core::{
    BindSpec, Config, Endpoint, ErrorKind, PubOptions, PubSocket, Security, Transport,
};
use posttroll_testkit::conformance as suite;

// Every body of the behaviour suite that needs nothing but a transport.
posttroll_testkit::conformance_tests!(transport());

/// How much later than its timeout a request to nobody may fail here.
const TIMEOUT_SLACK: Duration = Duration::from_millis(150);

// ---------------------------------------------------------------- pub/sub

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_round_trip_tcp() {
    let t = transport();
    suite::pubsub_round_trip_tcp(&t).await;
    // IPv6 loopback.
    suite::round_trip(&t, ep("tcp://[::1]:0"), |bound| bound.clone()).await;
}

/// Unlike libzmq's per-context namespace, omq's `inproc://` names are
/// process-wide: another transport reaches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_is_process_wide() {
    let t = transport();
    let other = transport();
    let name = ep(&format!("inproc://{}", unique("ptrs")));
    let publisher = t.bind_publisher(BindSpec::new(name.clone())).await.unwrap();
    let mut foreign = other
        .connect_subscriber(&name, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *foreign, PROBE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_reconnects_after_the_publisher_restarts() {
    let t = transport();
    let port = free_port();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let mut subscriber = t
        .connect_subscriber(&endpoint, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    let first = t
        .bind_publisher(BindSpec::new(endpoint.clone()))
        .await
        .unwrap();
    sync(&*first, &mut *subscriber, PROBE).await;
    first.close().await.unwrap();
    drop(first);
    // A new publisher on the same port: the subscriber comes back by itself.
    let start = Instant::now();
    let second = loop {
        match t.bind_publisher(BindSpec::new(endpoint.clone())).await {
            Ok(p) => break p,
            Err(e) => {
                assert!(start.elapsed() < DEADLINE, "cannot rebind: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    sync(&*second, &mut *subscriber, b"pytroll://probe again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_binds_in_the_configured_range() {
    // Many binds in a small range all land in it.
    suite::port_zero_binds_in_the_configured_range(&transport(), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_options_follow_the_config() {
    let config = Config {
        tcp_keepalive: Some(1),
        tcp_keepalive_cnt: Some(7),
        tcp_keepalive_idle: Some(61),
        tcp_keepalive_intvl: Some(11),
        ..Config::default()
    };
    let t = transport_with(&config);
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options.send_high_water_mark = Some(10);
    let publisher = t.bind_pub(spec).await.unwrap();
    let subscriber = t
        .connect_sub(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    let mut rep_spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    rep_spec.max_message_size = Some(65536);
    let rep = t.bind_rep(rep_spec).await.unwrap();
    let keepalive = TcpKeepalive::On {
        idle: Some(Duration::from_secs(61)),
        interval: Some(Duration::from_secs(11)),
        count: Some(7),
    };
    for options in [publisher.options(), subscriber.options(), rep.options()] {
        assert_eq!(options.tcp_keepalive, keepalive, "{options:?}");
        assert_eq!(options.mechanism, "NULL", "no allow-list, no check");
    }
    let p = publisher.options();
    assert_eq!(
        (p.socket_type.as_str(), p.send_high_water_mark, p.no_drop),
        ("Pub", 10, false)
    );
    assert_eq!(p.linger, Some(Duration::from_millis(100)));
    let s = subscriber.options();
    // The default limits: 4 frames of at most 4 MiB in omq's queue.
    assert_eq!(
        (s.socket_type.as_str(), s.receive_high_water_mark),
        ("Sub", 4)
    );
    assert_eq!(s.linger, Some(Duration::ZERO));
    assert_eq!(s.max_message_size, Some(4 * 1024 * 1024));
    // ZMTP heartbeats on subscribers (10 s / 30 s by default), not on
    // publishers.
    assert_eq!(
        s.heartbeat,
        Some((Duration::from_secs(10), Duration::from_secs(30)))
    );
    assert_eq!(p.heartbeat, None);
    assert_eq!(p.max_message_size, Some(4 * 1024 * 1024));
    // Reply sockets are ROUTERs, with their bind's own size limit.
    let r = rep.options();
    assert_eq!(r.socket_type.as_str(), "Router");
    assert_eq!(r.max_message_size, Some(65536));

    // Unset keys leave the system's keepalive; an unbounded HWM is omq's
    // largest queue.
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.options = PubOptions {
        send_high_water_mark: Some(0),
        no_drop: true,
    };
    let plain = transport().bind_pub(spec).await.unwrap();
    let o = plain.options();
    assert_eq!(o.tcp_keepalive, TcpKeepalive::System);
    assert_eq!((o.send_high_water_mark, o.no_drop), (1 << 20, true));
}

/// The lines `ss` prints for the established TCP connections of `port`
/// (both ends), or `None` when there is no `ss`.
fn tcp_connections_of(port: u16) -> Option<Vec<String>> {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let out = std::process::Command::new("ss")
        .args(["-tnoH", "state", "established", &filter])
        .output()
        .ok()?;
    assert!(out.status.success(), "{out:?}");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// The keepalive settings reach the real TCP connections, on both the
/// connecting and the accepting side (read back with `ss -o`: a keepalive
/// timer of at most `tcp_keepalive_idle` seconds), and without them there
/// is no keepalive timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_reaches_the_tcp_connections() {
    if tcp_connections_of(1).is_none() {
        eprintln!("\n!!!!! SKIPPED keepalive check: no `ss` (iproute2) here !!!!!\n");
        return;
    }
    let keepalive = Config {
        tcp_keepalive: Some(1),
        tcp_keepalive_cnt: Some(7),
        tcp_keepalive_idle: Some(45),
        tcp_keepalive_intvl: Some(11),
        ..Config::default()
    };
    for (config, expect_timer) in [(keepalive, true), (Config::default(), false)] {
        let t = transport_with(&config);
        let publisher = t
            .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
            .await
            .unwrap();
        let port = publisher.endpoint().port().unwrap();
        let mut subscriber = t
            .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
            .await
            .unwrap();
        sync(&*publisher, &mut *subscriber, PROBE).await;
        // Once the probes are acknowledged, the connection is idle and `ss`
        // shows its keepalive timer (while data is in flight it shows the
        // retransmission timer instead).
        let start = Instant::now();
        let lines = loop {
            let lines = tcp_connections_of(port).unwrap();
            if !lines.iter().any(|l| l.contains("timer:(on,")) {
                break lines;
            }
            assert!(start.elapsed() < DEADLINE, "never idle: {lines:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(lines.len(), 2, "both ends of one connection: {lines:?}");
        for line in &lines {
            let timer = line
                .split("timer:(keepalive,")
                .nth(1)
                .and_then(|rest| rest.split("sec").next())
                .and_then(|secs| secs.split('.').next())
                .and_then(|secs| secs.parse::<u32>().ok());
            if expect_timer {
                let secs = timer.unwrap_or_else(|| panic!("no keepalive timer: {line}"));
                assert!((30..=45).contains(&secs), "{line}");
            } else {
                assert_eq!(timer, None, "a keepalive timer without the config: {line}");
            }
        }
    }
}

// ---------------------------------------------------------------- connection events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_reports_connected_and_disconnected() {
    let times = suite::subscriber_reports_connected_and_disconnected(&transport()).await;
    eprintln!(
        "Connected {:?} after connecting, Disconnected {:?} after the publisher closed",
        times.connected, times.disconnected
    );
}

// ---------------------------------------------------------------- subscriber counts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_waits_for_a_subscriber_then_sends_once() {
    let longest = suite::publisher_waits_for_a_subscriber_then_sends_once(&transport(), 100).await;
    eprintln!("100 rounds; the longest wait for the subscriber took {longest:?}");
}

// ---------------------------------------------------------------- high-water marks

// ---------------------------------------------------------------- req/rep

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_and_the_peer_is_logged() {
    let small = transport_with(&Config {
        max_message_size: 64 * 1024,
        ..Config::default()
    });
    suite::oversized_frames_are_refused(&transport(), &small).await;
    // Both refusals name the peer that was disconnected.
    wait_for_log(&["disconnected peer 127.0.0.1:", "on tcp://127.0.0.1:"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_publisher_is_noticed_and_followed_again() {
    let t = transport_with(&Config {
        zmtp_heartbeat_interval: 0.3,
        zmtp_heartbeat_timeout: 1.0,
        ..Config::default()
    });
    let (detection, recovery) = suite::silent_publisher_is_noticed_and_followed_again(&t).await;
    eprintln!("silent publisher noticed after {detection:?}, followed again {recovery:?} after the path healed");
}

async fn assert_times_out(t: &PureRustTransport, endpoint: &Endpoint) {
    suite::assert_times_out(t, endpoint, TIMEOUT_SLACK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_when_nothing_is_bound() {
    suite::request_times_out_when_nothing_is_bound(&transport(), TIMEOUT_SLACK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_when_the_reply_never_comes() {
    suite::request_times_out_when_the_reply_never_comes(&transport(), TIMEOUT_SLACK).await;
}

/// The replier dies after taking a request: the request times out, and
/// once a replier is back on the same port the next requests get their
/// answers (a REQ whose peer died is never reused; an answered one is, and
/// reconnects when its replier restarts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_a_dead_peer_times_out_then_recovers() {
    let t = transport();
    let port = free_port();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let mut rep = t.bind_reply(BindSpec::new(endpoint.clone())).await.unwrap();
    let server = tokio::spawn(async move {
        let request = rep.recv().await.unwrap();
        assert_eq!(request.body, "anyone?");
        // Dies without answering.
        rep.close().await.unwrap();
    });
    assert_times_out(&t, &endpoint).await;
    server.await.unwrap();
    // Nobody there now: still a timeout, not a hang or an error.
    assert_times_out(&t, &endpoint).await;

    // Back on the same port.
    let rep = suite::rebind_reply(&t, &endpoint).await;
    let server = suite::echo_replies(rep, 3);
    for i in 0..3 {
        suite::assert_echo(&t, &endpoint, &format!("back? {i}")).await;
    }
    // Answered requests keep their REQ: one connection served all three.
    if let Some(lines) = tcp_connections_of(port) {
        assert_eq!(lines.len(), 2, "one connection, both ends: {lines:?}");
    }
    let mut rep = server.await.unwrap();

    // The replier restarts between two requests: the kept REQ reconnects.
    rep.close().await.unwrap();
    drop(rep);
    let rep = suite::rebind_reply(&t, &endpoint).await;
    let server = suite::echo_replies(rep, 1);
    suite::assert_echo(&t, &endpoint, "after a restart").await;
    server.await.unwrap();
}

// ---------------------------------------------------------------- cancel-safety

// ---------------------------------------------------------------- security

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_without_keys_is_unsupported_except_on_inproc() {
    suite::curve_without_keys_is_unsupported_except_on_inproc(&transport()).await;
}

#[test]
fn unresolvable_allowed_host_is_an_error_naming_it() {
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.1".into(), "no-such-host.invalid".into()],
        ..Config::default()
    };
    let err = PureRustTransport::new(&config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAddress);
    assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_client_connects_and_receives() {
    let config = Config {
        authorized_client_addresses: vec!["localhost".into(), "127.0.0.1".into()],
        ..Config::default()
    };
    let t = transport_with(&config);
    assert!(t.uses_allow_list());
    let publisher = t
        .bind_pub(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    assert_eq!(publisher.options().mechanism, "NULL+auth");
    suite::allowed_client_connects_and_receives(&t, &publisher).await;

    // inproc never checks.
    let inproc = t
        .bind_pub(BindSpec::new(ep(&format!("inproc://{}", unique("zap")))))
        .await
        .unwrap();
    assert_eq!(inproc.options().mechanism, "NULL");
}

/// With an allow-list of 127.0.0.2 only, our clients (which connect from
/// 127.0.0.1) are refused by publishers and repliers, and each refusal is
/// logged. (The admitted case from 127.0.0.2 needs a source address on the
/// client, which omq's connect has no syntax for; tests/interop.rs uses a
/// libzmq client for it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_clients_get_nothing_and_the_refusal_is_logged() {
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.2".into()],
        ..Config::default()
    };
    let server = transport_with(&config);
    let client = transport();
    let publisher = server
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let mut subscriber = client
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    for _ in 0..30 {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(10), subscriber.recv()).await;
        assert!(got.is_err(), "a refused client received");
    }
    wait_for_log(&[
        "refused a connection from 127.0.0.1",
        "127.0.0.1 is not in authorized_client_addresses",
    ])
    .await;

    let mut rep = server
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let endpoint = rep.endpoint().clone();
    let replier = tokio::spawn(async move {
        let _ = rep.recv().await;
    });
    assert_times_out(&client, &endpoint).await;
    replier.abort();
}

/// The allow-list's IPv6 entries and clients on dual-stack `tcp://*`
/// sockets; each refusal names the client by its canonical address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_checks_ipv6_clients_by_canonical_address() {
    suite::allow_list_checks_ipv6_clients(transport_with).await;
}

// ---------------------------------------------------------------- closing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_drop_never_hang() {
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.1".into()],
        ..Config::default()
    };
    let t: Arc<dyn Transport> = Arc::new(transport_with(&config));
    let open = suite::close_wakes_a_waiting_sender(t.clone()).await;
    let start = Instant::now();
    drop(open);
    drop(t);
    assert!(start.elapsed() < Duration::from_secs(1));
}

// ---------------------------------------------------------------- constructor

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_builds_the_purerust_transport() {
    let transport = PureRustTransport::new(&Config::default()).unwrap();
    assert_eq!(transport.engine(), "purerust");
    let publisher = transport
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    assert!(publisher.endpoint().port().is_some());
}

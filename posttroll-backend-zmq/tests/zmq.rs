//! The libzmq transport on loopback (the behaviour shared with the
//! pure-Rust engine runs from `posttroll_testkit::conformance`): PUB/SUB over tcp, ipc and inproc,
//! topics, port ranges, socket options, high-water marks with and without
//! `no_drop`, REQ/REP and its timeouts, the ZAP allow-list, closing, and
//! interoperability with pyzmq.
//!
//! No sleep is used to synchronise: PUB/SUB tests repeat a probe frame
//! until the subscriber sees one (the slow-joiner), and every wait has a
//! deadline.
//!
//! The pyzmq tests use `PTRS_PYTHON` if set, else the repository's
//! `.venv/bin/python` (made by `scripts/setup-python.sh`); without a
//! usable one they fail when `CI` is
//! set and are skipped loudly otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll_backend_zmq::ZmqTransport;
use posttroll_core::engine::TcpKeepalive;
use posttroll_core::{BindSpec, Config, Endpoint, ErrorKind, PubSocket, Security, Transport};
use posttroll_testkit::conformance::{
    self as suite, ep, hex, next_data, sample_frames, sync, topics, unhex, unique, DEADLINE, PROBE,
    PY_PUB, PY_SUB,
};
use posttroll_testkit::logs::{logs, wait_for_log};

// ---------------------------------------------------------------- helpers

fn transport() -> ZmqTransport {
    logs();
    ZmqTransport::new(&Config::default()).unwrap()
}

fn transport_with(config: &Config) -> ZmqTransport {
    logs();
    ZmqTransport::new(config).unwrap()
}

// Every body of the behaviour suite that needs nothing but a transport.
posttroll_testkit::conformance_tests!(transport());

/// How much later than its timeout a request to nobody may fail here.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- pub/sub

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_round_trip_tcp() {
    suite::pubsub_round_trip_tcp(&transport()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inproc_is_reachable_only_from_the_same_transport() {
    let t = transport();
    let other = transport();
    let name = ep(&format!("inproc://{}", unique("ptrs")));
    let publisher = t.bind_publisher(BindSpec::new(name.clone())).await.unwrap();
    let mut same = t
        .connect_subscriber(&name, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    let mut foreign = other
        .connect_subscriber(&name, &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    sync(&*publisher, &mut *same, PROBE).await;
    // Another context has no such inproc endpoint: nothing arrives there.
    for _ in 0..20 {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
    }
    let nothing = tokio::time::timeout(Duration::from_millis(200), foreign.recv()).await;
    assert!(nothing.is_err(), "a foreign context received over inproc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_binds_in_the_configured_range() {
    suite::port_zero_binds_in_the_configured_range(&transport(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_options_reach_every_socket() {
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
    let rep = t
        .bind_rep(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    for options in [
        publisher.options().unwrap(),
        subscriber.options().unwrap(),
        rep.options().unwrap(),
    ] {
        assert_eq!(
            options.tcp_keepalive,
            TcpKeepalive::On {
                idle: Some(Duration::from_secs(61)),
                interval: Some(Duration::from_secs(11)),
                count: Some(7),
            },
            "{options:?}"
        );
        assert_eq!(options.zap_domain, "", "no allow-list, no ZAP");
        assert_eq!(options.mechanism, "ZMQ_NULL");
    }
    let p = publisher.options().unwrap();
    assert_eq!(
        (p.socket_type.as_str(), p.send_high_water_mark, p.linger),
        ("XPUB", 10, 100)
    );
    // The default limits: 64 frames of at most 4 MiB in libzmq's queue.
    let s = subscriber.options().unwrap();
    assert_eq!(
        (s.socket_type.as_str(), s.receive_high_water_mark, s.linger),
        ("SUB", 64, 0)
    );

    // Unset keys leave libzmq's defaults (-1: the system's).
    let plain = transport()
        .bind_pub(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let o = plain.options().unwrap();
    assert_eq!(o.tcp_keepalive, TcpKeepalive::System);
    assert_eq!(o.send_high_water_mark, 1000);
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

/// libzmq does not say which peer a subscription comes from: the count is
/// of subscriptions (a subscriber of two topics counts twice; one topic
/// given twice is subscribed once), and it goes back to zero when the
/// subscriber leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_subscribers_counts_subscriptions() {
    let t = transport();
    let publisher = t
        .bind_pub(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let subscriber = t
        .connect_sub(
            publisher.endpoint(),
            &topics(&["pytroll://a", "pytroll://b", "pytroll://a"]),
            Security::Plain,
        )
        .await
        .unwrap();
    let two = publisher.wait_for_subscribers(2, DEADLINE).await.unwrap();
    assert_eq!(two, 2);
    let err = publisher
        .wait_for_subscribers(3, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(publisher.subscriptions(), 2);
    drop(subscriber);
    let start = Instant::now();
    while publisher.subscriptions() > 0 {
        assert!(start.elapsed() < DEADLINE, "the subscriptions stayed");
        // Looking for subscribers takes what libzmq queued.
        let _ = publisher
            .wait_for_subscribers(1, Duration::from_millis(10))
            .await;
    }
}

// ---------------------------------------------------------------- high-water marks

// ---------------------------------------------------------------- req/rep

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused() {
    let small = transport_with(&Config {
        max_message_size: 64 * 1024,
        ..Config::default()
    });
    suite::oversized_frames_are_refused(&transport(), &small).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_when_nothing_is_bound() {
    suite::request_times_out_when_nothing_is_bound(&transport(), TIMEOUT_SLACK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_times_out_when_the_reply_never_comes() {
    suite::request_times_out_when_the_reply_never_comes(&transport(), TIMEOUT_SLACK).await;
}

// ---------------------------------------------------------------- cancel-safety

// ---------------------------------------------------------------- security

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_is_unsupported_except_on_inproc() {
    let t = transport();
    suite::curve_without_keys_is_unsupported_except_on_inproc(&t).await;
    // The error names this backend too.
    let mut spec = BindSpec::new(ep("tcp://127.0.0.1:0"));
    spec.security = Security::Curve;
    let err = t.bind_publisher(spec).await.unwrap_err();
    assert!(err.to_string().contains("unsecure_zmq"), "{err}");
}

#[test]
fn unresolvable_allowed_host_is_an_error_naming_it() {
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.1".into(), "no-such-host.invalid".into()],
        ..Config::default()
    };
    let err = ZmqTransport::new(&config).unwrap_err();
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
    assert!(t.uses_zap());
    let publisher = t
        .bind_pub(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    assert_eq!(publisher.options().unwrap().zap_domain, "global");
    suite::allowed_client_connects_and_receives(&t, &publisher).await;

    // inproc never gets ZAP.
    let inproc = t
        .bind_pub(BindSpec::new(ep(&format!("inproc://{}", unique("zap")))))
        .await
        .unwrap();
    assert_eq!(inproc.options().unwrap().zap_domain, "");
}

/// A raw libzmq SUB in its own context, connecting from `source`.
fn raw_subscriber(context: &zmq::Context, source: &str, port: u16) -> zmq::Socket {
    let socket = context.socket(zmq::SUB).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_subscribe(b"").unwrap();
    socket
        .connect(&format!("tcp://{source}:0;127.0.0.1:{port}"))
        .unwrap();
    socket
}

fn raw_try_recv(socket: &zmq::Socket) -> Option<Vec<u8>> {
    socket.recv_bytes(zmq::DONTWAIT).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_client_gets_nothing_and_the_refusal_is_logged() {
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.2".into()],
        ..Config::default()
    };
    let t = transport_with(&config);
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://*:0")))
        .await
        .unwrap();
    let port = publisher.endpoint().port().unwrap();
    let clients = zmq::Context::new();
    // Admitted: connects from 127.0.0.2 (ZeroMQ's source-address syntax).
    let admitted = raw_subscriber(&clients, "127.0.0.2", port);
    // Refused: connects from 127.0.0.1.
    let refused = raw_subscriber(&clients, "127.0.0.1", port);

    // The admitted one gets frames (so the publisher is reachable) ...
    let start = Instant::now();
    let mut admitted_got = 0;
    while admitted_got < 50 {
        assert!(
            start.elapsed() < DEADLINE,
            "the admitted client got nothing"
        );
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        while raw_try_recv(&admitted).is_some() {
            admitted_got += 1;
        }
        // ... the refused one never does.
        assert_eq!(raw_try_recv(&refused), None, "a refused client received");
    }

    // The refusal is logged with the client's IP (the handler thread logs
    // before it answers, and the client was refused before we got here).
    wait_for_log(&[
        "refused a connection from 127.0.0.1",
        "127.0.0.1 is not in authorized_client_addresses",
    ])
    .await;
    drop(admitted);
    drop(refused);
}

/// The allow-list's IPv6 entries and clients on dual-stack `tcp://*`
/// sockets; each refusal names the client by its canonical address (never
/// `::ffff:127.0.0.1`, as libzmq's ZAP request does).
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
    // Drop it all on a plain thread.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(open);
        drop(t);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("dropping the transport and its sockets hung");
}

// ---------------------------------------------------------------- constructor

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_builds_the_libzmq_transport() {
    let transport = ZmqTransport::new(&Config::default()).unwrap();
    assert_eq!(transport.engine(), "libzmq");
    let publisher = transport
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    assert!(publisher.endpoint().port().is_some());
}

// ---------------------------------------------------------------- pyzmq interop

/// The Python interpreter with pyzmq, or `None` after a loud skip message
/// (a panic under CI).
fn python() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("PTRS_PYTHON") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")],
    };
    let found = candidates.iter().find(|p| {
        Command::new(p)
            .args(["-c", "import zmq"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    match found {
        Some(p) => Some(p.clone()),
        None => {
            let why = format!(
                "no Python with pyzmq among {candidates:?} (set PTRS_PYTHON, or run \
                 scripts/setup-python.sh)"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("\n!!!!! SKIPPED pyzmq interop test: {why} !!!!!\n");
            None
        }
    }
}

/// Lines of a child's stdout, on a channel.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_subscriber_receives_our_frames() {
    let Some(python) = python() else { return };
    let t = transport();
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let frames = sample_frames();
    let mut child = Command::new(&python)
        .args([
            "-c",
            PY_SUB,
            &publisher.endpoint().to_string(),
            &frames.len().to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "pyzmq never received a probe");
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        match lines.try_recv() {
            Ok(line) if line == "READY" => break,
            Ok(other) => panic!("unexpected line {other:?}"),
            Err(_) => {}
        }
    }
    for frame in &frames {
        publisher.send(frame.clone()).await.unwrap();
    }
    let mut got = Vec::new();
    loop {
        let line = lines.recv_timeout(DEADLINE).expect("pyzmq stopped talking");
        if line == "END" {
            break;
        }
        got.push(unhex(line.strip_prefix("FRAME ").unwrap()));
    }
    assert_eq!(got, frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_receive_pyzmq_publisher_frames() {
    let Some(python) = python() else { return };
    let frames = sample_frames();
    let mut args = vec!["-c".to_owned(), PY_PUB.to_owned()];
    args.extend(frames.iter().map(|f| hex(f)));
    let mut child = Command::new(&python)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let line = lines.recv_timeout(DEADLINE).expect("no port from pyzmq");
    let port: u16 = line.strip_prefix("PORT ").unwrap().parse().unwrap();

    let t = transport();
    let mut subscriber = t
        .connect_subscriber(
            &Endpoint::tcp("127.0.0.1", port),
            &topics(&["pytroll:/"]),
            Security::Plain,
        )
        .await
        .unwrap();
    let probe = tokio::time::timeout(DEADLINE, subscriber.recv())
        .await
        .expect("no probe from pyzmq")
        .unwrap();
    assert_eq!(probe, PROBE);
    writeln!(stdin, "GO").unwrap();
    for frame in &frames {
        assert_eq!(&next_data(&mut *subscriber).await, frame);
    }
    writeln!(stdin, "DONE").unwrap();
    assert!(child.wait().unwrap().success());
}

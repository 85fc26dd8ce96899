//! Tests of the testkit's pieces, each through the public API.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use posttroll::nameserver::get_pub_address;
use posttroll::publisher::{NoisyPublisher, Publisher};
use posttroll::subscriber::Subscriber;
use posttroll::{Config, ErrorKind, Message};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_testkit::python::{self, PythonProcess};
use posttroll_testkit::{
    blocking, recording_context, scripted_subscriber, FixtureBackend, FixtureOptions,
    NameServerFixture,
};

const WAIT: Duration = Duration::from_secs(5);

fn msg(data: &str) -> Message {
    Message::new("/counter", "info", data).unwrap()
}

// ---------------------------------------------------------------------------
// NameServerFixture
// ---------------------------------------------------------------------------

async fn noisy_publisher_is_found(multicast: bool) {
    let network = InprocNetwork::new();
    let ns = NameServerFixture::start(FixtureOptions {
        multicast,
        max_age: Duration::from_secs(60),
        backend: FixtureBackend::Inproc(network.clone()),
    })
    .await
    .unwrap();
    assert_eq!(ns.nameserver(), "127.0.0.1");
    assert_eq!(ns.announce_to().is_empty(), multicast);
    let publisher = NoisyPublisher::builder("fixture_test")
        .aliases(["alias"])
        .context(ns.context().clone())
        .nameservers(ns.announce_to())
        .broadcast_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    assert!(publisher.announced_uri().starts_with("tcp://127.0.0.1:"));

    let found = ns.wait_for_service("alias", WAIT).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uri(), publisher.announced_uri());
    // And by a plain lookup, as any client does.
    let found = get_pub_address(ns.context(), "fixture_test", WAIT, ns.nameserver())
        .await
        .unwrap();
    assert_eq!(found[0].uri(), publisher.announced_uri());
    assert_eq!(ns.handle().lookup("fixture_test").len(), 1);

    publisher.stop().await.unwrap();
    let started = Instant::now();
    ns.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!ns.handle().is_running());
    assert!(network.is_idle(), "{network:?}");
}

#[tokio::test]
async fn fixture_finds_a_noisy_publisher_announcing_by_multicast() {
    noisy_publisher_is_found(true).await;
}

#[tokio::test]
async fn fixture_finds_a_noisy_publisher_announcing_to_it() {
    noisy_publisher_is_found(false).await;
}

#[tokio::test]
async fn fixture_config_is_on_free_ports_and_loopback_only() {
    let a = NameServerFixture::start(FixtureOptions::default())
        .await
        .unwrap();
    let b = NameServerFixture::start(FixtureOptions::default())
        .await
        .unwrap();
    for ns in [&a, &b] {
        let c = ns.config();
        let ports = [
            c.nameserver_port,
            c.secure_zmq_nameserver_port,
            c.address_publish_port,
            c.broadcast_port,
        ];
        let defaults = Config::default();
        assert_ne!(c.nameserver_port, defaults.nameserver_port);
        assert_ne!(c.broadcast_port, defaults.broadcast_port);
        let mut distinct = ports.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{ports:?}");
        assert_eq!(c.mc_ttl, 0);
        assert_eq!(c.multicast_interface.as_deref(), Some("127.0.0.1"));
        assert!(c.mc_group.starts_with("239.255."));
        assert_eq!(c.own_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.backend, "inproc");
        assert_eq!(ns.context().config(), c);
        assert_eq!(
            ns.handle().lookup_endpoint().port(),
            Some(c.nameserver_port)
        );
    }
    assert_ne!(a.config().mc_group, b.config().mc_group);
    // Separate networks: one fixture does not see the other's publishers.
    let publisher = NoisyPublisher::builder("only_in_a")
        .context(a.context().clone())
        .start()
        .await
        .unwrap();
    a.wait_for_service("only_in_a", WAIT).await.unwrap();
    let err = b
        .wait_for_service("only_in_a", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    publisher.stop().await.unwrap();
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn fixture_on_an_unknown_backend_fails_naming_it() {
    let err = NameServerFixture::start(FixtureOptions::configured(Config {
        backend: "carrier_pigeon".into(),
        ..Config::default()
    }))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownBackend);
    assert!(err.to_string().contains("carrier_pigeon"));
}

/// On the real transport when it is compiled into `posttroll`: loopback
/// multicast, TTL 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_on_the_zmq_backend_when_compiled_in() {
    if !posttroll::registry().names().contains(&"unsecure_zmq") {
        eprintln!("SKIPPED: unsecure_zmq is not compiled into posttroll");
        return;
    }
    for multicast in [true, false] {
        let ns = NameServerFixture::start(FixtureOptions {
            multicast,
            ..FixtureOptions::configured(Config::default())
        })
        .await
        .unwrap();
        // On the engine of the test run (POSTTROLL_ENGINE).
        assert_eq!(
            ns.config().engine,
            posttroll_testkit::engine_from_env(),
            "the fixture fills the engine of the test run"
        );
        posttroll_testkit::assert_test_engine(ns.context());
        let publisher = NoisyPublisher::builder("zmq_fixture")
            .context(ns.context().clone())
            .nameservers(ns.announce_to())
            .broadcast_interval(Duration::from_millis(200))
            .start()
            .await
            .unwrap();
        let found = ns.wait_for_service("zmq_fixture", WAIT).await.unwrap();
        assert_eq!(found[0].uri(), publisher.announced_uri());
        publisher.stop().await.unwrap();
        ns.stop().await;
    }
}

#[test]
fn blocking_fixture_in_a_plain_test() {
    for multicast in [true, false] {
        let ns = blocking::NameServerFixture::start(FixtureOptions {
            multicast,
            ..FixtureOptions::default()
        })
        .unwrap();
        let publisher = NoisyPublisher::builder("blocking_test")
            .context(ns.context().clone())
            .nameservers(ns.announce_to())
            .start_blocking()
            .unwrap();
        let found = ns.wait_for_service("blocking_test", WAIT).unwrap();
        assert_eq!(found[0].uri(), publisher.announced_uri());
        assert!(ns.handle().is_running());
        publisher.stop().unwrap();
        let started = Instant::now();
        ns.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!ns.handle().is_running());
    }
}

// ---------------------------------------------------------------------------
// Recorder
// ---------------------------------------------------------------------------

#[tokio::test]
async fn recorder_sees_every_send_and_subscribers_still_receive() {
    let (ctx, recorder) = recording_context();
    assert!(recorder.is_empty());
    let plain = Publisher::builder("inproc://plain")
        .name("plain")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let noisy = NoisyPublisher::builder("noisy")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let subscriber = Subscriber::builder()
        .addresses(["inproc://plain"])
        .topics(["/counter"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();

    plain.send(&msg("1")).await.unwrap();
    noisy.send(&msg("2")).await.unwrap();
    plain.heartbeat(Duration::ZERO).await.unwrap();
    noisy.send_raw("raw bytes").await.unwrap();

    let messages = recorder.messages();
    let summary: Vec<(String, Option<String>)> = messages
        .iter()
        .map(|m| (m.subject().to_owned(), m.data.as_text().map(str::to_owned)))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("/counter".to_owned(), Some("1".to_owned())),
            ("/counter".to_owned(), Some("2".to_owned())),
            ("/heartbeat/plain".to_owned(), None),
        ]
    );
    assert_eq!(recorder.len(), 4);
    assert_eq!(recorder.frames()[3], "raw bytes");
    assert_eq!(recorder.frames_from(plain.endpoint()).len(), 2);
    assert_eq!(recorder.frames_from(noisy.endpoint()).len(), 2);
    // The frames are the wire encoding.
    assert!(recorder.frames()[0].starts_with(b"pytroll://counter info "));

    // The subscriber got what matched its topic, as without the recorder.
    let got = subscriber.recv(Some(WAIT)).await.unwrap().unwrap();
    assert_eq!(got.data.as_text(), Some("1"));
    assert!(subscriber
        .recv(Some(Duration::from_millis(20)))
        .await
        .unwrap()
        .is_none());

    // After stop, a send fails and is not recorded.
    plain.stop().await.unwrap();
    assert_eq!(
        plain.send(&msg("3")).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(recorder.len(), 4);
    noisy.stop().await.unwrap();
    subscriber.stop().await.unwrap();
}

#[tokio::test]
async fn recorders_are_isolated() {
    let (ctx_a, a) = recording_context();
    let (_ctx_b, b) = recording_context();
    let publisher = Publisher::builder("tcp://*:0")
        .context(ctx_a)
        .start()
        .await
        .unwrap();
    publisher.send(&msg("1")).await.unwrap();
    assert_eq!(a.len(), 1);
    assert!(b.is_empty());
    assert!(!a.network().same_network(b.network()));
    publisher.stop().await.unwrap();
}

// ---------------------------------------------------------------------------
// Scripted subscriber
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scripted_subscriber_yields_then_nothing_then_stops() {
    let script = vec![
        msg("1"),
        Message::new("/other/subject", "file", "x").unwrap(),
        msg("3"),
    ];
    let subscriber = scripted_subscriber(script.clone()).await.unwrap();
    for expected in &script {
        let got = subscriber.recv(Some(WAIT)).await.unwrap().unwrap();
        assert_eq!(got.encode(), expected.encode());
        assert_eq!(got.subject(), expected.subject());
    }
    for _ in 0..2 {
        assert!(subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
            .is_none());
    }
    let started = Instant::now();
    subscriber.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    let err = subscriber.recv(Some(WAIT)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert_eq!(subscriber.live_tasks(), 0);
}

#[tokio::test]
async fn scripted_subscriber_stopped_early_ends_the_script() {
    let subscriber = scripted_subscriber(vec![msg("1"), msg("2")]).await.unwrap();
    assert!(subscriber.recv(Some(WAIT)).await.unwrap().is_some());
    subscriber.stop().await.unwrap();
    assert_eq!(
        subscriber.recv(None).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[test]
fn blocking_scripted_subscriber_iterates_as_the_python_helper() {
    let subscriber = blocking::scripted_subscriber(vec![msg("a"), msg("b")]).unwrap();
    let received: Vec<String> = subscriber
        .recv(Some(Duration::from_millis(100)))
        .map_while(|m| m.unwrap())
        .map(|m| m.data.as_text().unwrap().to_owned())
        .collect();
    assert_eq!(received, ["a", "b"]);
    subscriber.stop().unwrap();
    assert!(subscriber.recv(None).next().is_none());
}

// ---------------------------------------------------------------------------
// Python harness
// ---------------------------------------------------------------------------

#[test]
fn python_peer_reports_the_reference_version_and_a_clean_environment() {
    let Some(interpreter) = python::require() else {
        return;
    };
    assert_eq!(python::interpreter(), Some(interpreter));
    let script = "\
import os, sys
from importlib.metadata import version
import posttroll
print(version('posttroll'))
print('args', *sys.argv[1:])
print('ttl', os.environ.get('PYTROLL_MC_TTL'))
print('port', os.environ.get('POSTTROLL_NAMESERVER_PORT'))
print('stray', os.environ.get('POSTTROLL_STRAY_TEST_VARIABLE'))
print('oops', file=sys.stderr)
";
    let ns_config = posttroll_testkit::inproc_config();
    let env = python::config_env(&Config {
        nameserver_port: 5999,
        ..ns_config
    });
    let peer = PythonProcess::spawn(script, &["x", "y"], &env).unwrap();
    let line = |peer: &PythonProcess| peer.read_line(Duration::from_secs(30));
    assert_eq!(
        line(&peer).as_deref(),
        Some("1.16.0"),
        "{}",
        peer.describe()
    );
    assert_eq!(line(&peer).as_deref(), Some("args x y"));
    assert_eq!(line(&peer).as_deref(), Some("ttl 0"));
    assert_eq!(line(&peer).as_deref(), Some("port 5999"));
    assert_eq!(line(&peer).as_deref(), Some("stray None"));
    // Then stdout closes.
    assert_eq!(line(&peer), None);
    assert!(peer.wait(Duration::from_secs(30)).unwrap().success());
    assert!(peer.stderr().contains("oops"));
    assert!(peer.describe().contains("oops"));
}

#[tokio::test]
async fn python_peer_lines_async_and_wait_for_line() {
    let Some(_) = python::require() else {
        return;
    };
    let script = format!(
        "{}\nimport posttroll.publisher as p\nfor i in range(3):\n    print('noise', i)\nprint('ip', p.get_own_ip())\nimport time\ntime.sleep(60)\n",
        python::patch_own_ip_snippet()
    );
    let peer = PythonProcess::spawn(&script, &[], &[] as &[(&str, &str)]).unwrap();
    let line = peer
        .wait_for_line_async(|l| l.starts_with("ip "), Duration::from_secs(30))
        .await;
    assert_eq!(line.as_deref(), Some("ip 127.0.0.1"), "{}", peer.describe());
    assert_eq!(peer.transcript().len(), 4);
    // Nothing more within a short timeout; the peer still runs.
    assert_eq!(peer.read_line_async(Duration::from_millis(50)).await, None);
    assert!(peer.try_wait().is_none());

    // Killed on drop.
    let pid = peer.id();
    drop(peer);
    #[cfg(target_os = "linux")]
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let _ = pid;
}

#[test]
fn python_peer_failure_is_described() {
    let Some(_) = python::require() else {
        return;
    };
    let peer = PythonProcess::spawn(
        "raise SystemExit('bad things')",
        &[],
        &[] as &[(&str, &str)],
    )
    .unwrap();
    assert_eq!(peer.read_line(Duration::from_secs(30)), None);
    let status = peer.wait(Duration::from_secs(30)).unwrap();
    assert!(!status.success());
    assert!(
        peer.describe().contains("bad things"),
        "{}",
        peer.describe()
    );
}

#[test]
fn python_peer_refuses_a_nonzero_multicast_ttl() {
    let err = PythonProcess::spawn("pass", &[], &[("PYTROLL_MC_TTL", "31")]).unwrap_err();
    // NotFound when there is no interpreter at all.
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::NotFound
    ));
}

/// Tests that patch the global context on parallel threads take turns:
/// each records only what it published itself.
#[test]
fn patched_global_contexts_take_turns_across_threads() {
    use posttroll_testkit::patched::patched_publisher;
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let (_guard, recorder) = patched_publisher();
                    // Code that takes no context.
                    let publisher = posttroll::publisher::Publisher::builder("tcp://*:0")
                        .start()
                        .await
                        .unwrap();
                    for _ in 0..20 {
                        publisher
                            .send(&posttroll::Message::new("/t", "info", format!("{i}")).unwrap())
                            .await
                            .unwrap();
                        tokio::task::yield_now().await;
                    }
                    publisher.stop().await.unwrap();
                    let texts: Vec<String> = recorder
                        .messages()
                        .iter()
                        .map(|m| m.data.as_text().unwrap_or_default().to_owned())
                        .collect();
                    assert_eq!(texts, vec![format!("{i}"); 20]);
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

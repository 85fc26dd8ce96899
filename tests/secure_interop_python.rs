//! `secure_zmq` (CURVE) through the high-level API with the Python
//! reference (posttroll 1.16.0 on pyzmq), on the engine of the test run:
//! `POSTTROLL_ENGINE` (`libzmq` or `purerust`, read by
//! `posttroll_testkit::engine`), else the registry's default. Every Rust
//! context here checks the engine it runs on.
//!
//! - a Rust CURVE `Publisher` -> a Python CURVE `Subscriber`;
//! - a Python CURVE `Publisher` -> a Rust CURVE `Subscriber` (and a plain
//!   subscriber gets nothing from it);
//! - a Rust nameserver answering Python's secure lookups (on
//!   `secure_zmq_nameserver_port`) for a Rust `NoisyPublisher` announced to
//!   it over CURVE;
//! - the reference's nameserver answering Rust secure lookups for a Rust
//!   `NoisyPublisher` announced by loopback multicast (TTL 0), and a Rust
//!   subscriber reaching it at the address found.
//!
//! The libzmq-specific secure tests (ZAP refusals, the libzmq transport
//! with pyzmq) stay in `posttroll-backend-securezmq`; the pure-Rust
//! engine's CURVE against pyzmq and libzmq at the transport level is in
//! `posttroll-backend-purerust/tests/curve.rs`. The Python side is that
//! crate's `tests/python/secure_peer.py` (its usage is in its docstring).
//! Without a Python that has the reference, the tests are skipped loudly
//! (they fail under `CI`); every wait has a deadline.
#![cfg(any(feature = "secure-zmq", feature = "purerust"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use posttroll::nameserver::get_pub_address;
use posttroll::publisher::{NoisyPublisher, Publisher};
use posttroll::subscriber::Subscriber;
use posttroll::{Address, Config, Context, Message};
use posttroll_testkit::python::{self, config_env, PythonProcess};
use posttroll_testkit::{
    assert_test_engine, free_tcp_ports, loopback_multicast, with_test_engine, CurveKeys,
    FixtureBackend, FixtureOptions, NameServerFixture,
};
use tokio::time::Instant;

/// The Python peer (shared with the libzmq crate's secure interop tests).
const PEER: &str = include_str!("../posttroll-backend-securezmq/tests/python/secure_peer.py");

/// The bound of every wait.
const WAIT: Duration = Duration::from_secs(15);

/// What the peer's `publish` mode sends.
const PY_FRAME: &str =
    "pytroll://secure/py info py@localhost 2024-05-06T07:08:09 v1.01 text/ascii from python";

/// `secure_zmq` on the test run's engine, with the four key settings of
/// `keys` (the Rust and the Python side use the same files), on free
/// ports, announcing 127.0.0.1.
fn secure_config(keys: &CurveKeys) -> Config {
    let ports = free_tcp_ports(4);
    with_test_engine(keys.apply(Config {
        backend: "secure_zmq".into(),
        nameserver_port: ports[0],
        secure_zmq_nameserver_port: ports[1],
        address_publish_port: ports[2],
        broadcast_port: ports[3],
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    }))
}

/// The Python peer in `args` with `config`'s ports, backend and key files.
fn spawn(args: &[&str], config: &Config) -> PythonProcess {
    let path = |p: &Option<PathBuf>| p.as_deref().map(Path::display).unwrap().to_string();
    let mut env = config_env(config);
    env.extend([
        (
            "POSTTROLL_SERVER_SECRET_KEY_FILE".to_owned(),
            path(&config.server_secret_key_file),
        ),
        (
            "POSTTROLL_SERVER_PUBLIC_KEY_FILE".to_owned(),
            path(&config.server_public_key_file),
        ),
        (
            "POSTTROLL_CLIENT_SECRET_KEY_FILE".to_owned(),
            path(&config.client_secret_key_file),
        ),
        (
            "POSTTROLL_CLIENTS_PUBLIC_KEYS_DIRECTORY".to_owned(),
            path(&config.clients_public_keys_directory),
        ),
    ]);
    PythonProcess::spawn(PEER, args, &env).unwrap()
}

/// The peer's next line starting with `prefix` (others skipped), trimmed
/// of it; fails with the transcript when none comes within [`WAIT`].
async fn expect_line(peer: &PythonProcess, prefix: &str) -> String {
    match peer
        .wait_for_line_async(|l| l.starts_with(prefix), WAIT)
        .await
    {
        Some(line) => line[prefix.len()..].trim().to_owned(),
        None => panic!("no {prefix} line from the peer:\n{}", peer.describe()),
    }
}

/// A context for `config`, checked to be `secure_zmq` on the test run's
/// engine.
fn secure_context(config: &Config) -> Context {
    let ctx = Context::new(config.clone()).unwrap();
    assert_eq!(ctx.backend_name(), "secure_zmq");
    assert_test_engine(&ctx);
    ctx
}

/// Asks the nameserver on 127.0.0.1 for `name` until it knows an address.
async fn lookup_until_found(ctx: &Context, name: &str) -> Vec<Address> {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no address for {name}");
        match get_pub_address(ctx, name, Duration::from_secs(1), "127.0.0.1").await {
            Ok(found) if !found.is_empty() => return found,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_curve_publisher_reaches_python_curve_subscriber() {
    let Some(_) = python::require() else { return };
    let keys = CurveKeys::new().unwrap();
    let config = secure_config(&keys);
    let publisher = Publisher::builder("tcp://127.0.0.1:0")
        .context(secure_context(&config))
        .start()
        .await
        .unwrap();
    let uri = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
    let peer = spawn(&["subscribe", &uri, "/secure"], &config);
    expect_line(&peer, "READY").await;
    let sample = Message::new("/secure/rs", "info", "from rust").unwrap();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        assert!(
            Instant::now() < deadline,
            "nothing reached Python:\n{}",
            peer.describe()
        );
        publisher.send(&sample).await.unwrap();
        if let Some(line) = peer.read_line_async(Duration::from_millis(50)).await {
            if let Some(frame) = line.strip_prefix("MSG ") {
                break frame.to_owned();
            }
        }
    };
    assert_eq!(got.as_bytes(), sample.encode_with(None));
    publisher.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_curve_publisher_reaches_rust_curve_subscriber() {
    let Some(_) = python::require() else { return };
    let keys = CurveKeys::new().unwrap();
    let config = secure_config(&keys);
    let mut peer = spawn(&["publish"], &config);
    let port: u16 = expect_line(&peer, "READY").await.parse().unwrap();
    let uri = format!("tcp://127.0.0.1:{port}");
    let subscriber = Subscriber::builder()
        .addresses(vec![uri.clone()])
        .topics(vec!["/secure"])
        .context(secure_context(&config))
        .start()
        .await
        .unwrap();
    let got = subscriber.recv(Some(WAIT)).await.unwrap();
    let got = got.unwrap_or_else(|| panic!("nothing from Python:\n{}", peer.describe()));
    assert_eq!(got.encode_with(None), PY_FRAME.as_bytes());

    // A plain subscriber (unsecure_zmq, same engine) gets nothing from the
    // CURVE publisher.
    let plain = Context::new(Config {
        backend: "unsecure_zmq".into(),
        ..config.clone()
    })
    .unwrap();
    assert_test_engine(&plain);
    let plain = Subscriber::builder()
        .addresses(vec![uri])
        .topics(vec!["/secure"])
        .context(plain)
        .start()
        .await
        .unwrap();
    assert!(plain
        .recv(Some(Duration::from_millis(500)))
        .await
        .unwrap()
        .is_none());
    plain.stop().await.unwrap();
    subscriber.stop().await.unwrap();
    peer.write_line("stop").unwrap();
    expect_line(&peer, "STOPPED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_nameserver_answers_python_secure_lookups() {
    let Some(_) = python::require() else { return };
    let keys = CurveKeys::new().unwrap();
    let ns = NameServerFixture::start(FixtureOptions {
        multicast: false,
        backend: FixtureBackend::Configured(secure_config(&keys)),
        ..FixtureOptions::default()
    })
    .await
    .unwrap();
    assert_test_engine(ns.context());
    assert!(ns.handle().secure_lookup_endpoint().is_some());
    let publisher = NoisyPublisher::builder("rs_secure_ns")
        .context(secure_context(ns.config()))
        .nameservers(ns.announce_to())
        .broadcast_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    // Python's secure lookup goes to secure_zmq_nameserver_port.
    let peer = spawn(&["lookup", "rs_secure_ns", "127.0.0.1"], ns.config());
    let found = expect_line(&peer, "FOUND").await;
    assert!(found.contains(publisher.announced_uri()), "{found}");
    assert!(found.contains("\"backend\": \"secure_zmq\""), "{found}");
    publisher.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nameserver_answers_rust_secure_lookups() {
    let Some(_) = python::require() else { return };
    let keys = CurveKeys::new().unwrap();
    // The reference's nameserver runs with multicast under secure_zmq: the
    // Rust announcement reaches it on loopback (TTL 0).
    let config = loopback_multicast(secure_config(&keys));
    let nameserver = spawn(&["nameserver"], &config);
    expect_line(&nameserver, "READY").await;
    let ctx = secure_context(&config);
    let publisher = NoisyPublisher::builder("rs_secure_py_ns")
        .context(ctx.clone())
        .broadcast_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let found = lookup_until_found(&ctx, "rs_secure_py_ns").await;
    assert_eq!(found.len(), 1, "{found:?}\n{}", nameserver.describe());
    assert_eq!(found[0].uri(), publisher.announced_uri());
    assert_eq!(found[0].backend(), Some("secure_zmq"));
    let subscriber = Subscriber::builder()
        .addresses(found)
        .topics(vec!["/secure"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let sample = Message::new("/secure/ns", "info", "hello").unwrap();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        assert!(Instant::now() < deadline, "nothing arrived");
        publisher.send(&sample).await.unwrap();
        if let Some(got) = subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
        {
            break got;
        }
    };
    assert_eq!(got.subject(), "/secure/ns");
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
    assert!(nameserver.try_wait().is_none(), "{}", nameserver.describe());
}

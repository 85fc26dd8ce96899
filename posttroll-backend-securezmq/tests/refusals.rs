//! A secure (CURVE) publisher refuses whom it must, over loopback: an
//! unknown client key, a client using the wrong server key, a plain client,
//! a client from an IP not in `authorized_client_addresses`; and the
//! admitted-keys folder is re-read without a restart.
//!
//! The publisher is built through the facade (`posttroll::Context`,
//! backend `secure_zmq`) on the engine of the test run (`POSTTROLL_ENGINE`:
//! libzmq or purerust, checked with `assert_test_engine`); the clients are
//! raw libzmq sockets (which can pick their source address, 127.0.0.2), so
//! on the pure-Rust engine every case is also a cross-engine one.
//!
//! Each refusal is checked two ways: nothing arrives, and the log says so
//! (once per refused connection: the log lines are emitted where the
//! engines count their refusals). Refusals about the client's key or IP are
//! logged by posttroll-core's `ClientKeyPolicy`, whatever the engine;
//! handshakes that fail before that (a plain client, a wrong server key)
//! are logged by each engine in its own words. An admitted client on the
//! same publisher receives, so the silence is not a publisher that sends
//! nothing.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use posttroll::backend::PubSocket;
use posttroll::Context;
use posttroll_core::keystore::{KeyPair, PublicKey};
use posttroll_core::{BindSpec, Config, Endpoint, Security};
use posttroll_testkit::{assert_test_engine, with_test_engine};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use common::Keys;

/// How long a refused client is watched for a frame that must not come.
const SILENCE: Duration = Duration::from_millis(800);
/// The bound of every wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

/// Everything logged in this test binary.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .try_init();
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many log lines contain `needle`.
fn logged_lines(needle: &str) -> usize {
    String::from_utf8_lossy(&log().lock().unwrap())
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

fn logged(needle: &str) -> bool {
    logged_lines(needle) > 0
}

/// The log lines mentioning `about` (for a failure message).
fn log_about(about: &str) -> String {
    String::from_utf8_lossy(&log().lock().unwrap())
        .lines()
        .filter(|line| line.contains(about))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A secure publisher on 127.0.0.1, on the test run's engine, sending a
/// frame every 10 ms.
struct Server {
    engine: String,
    port: u16,
    sender: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

impl Server {
    /// How many log lines say a CURVE handshake with this server failed
    /// for one of the reasons of its engine: `libzmq` (the monitor's words)
    /// or `purerust` (omq's, and the transport's own).
    fn handshake_refusals(&self, libzmq: &[&str], purerust: &[&str]) -> usize {
        let port = self.port;
        let (prefix, reasons) = match self.engine.as_str() {
            "libzmq" => (
                format!("CURVE: refused a client on tcp://127.0.0.1:{port}: "),
                libzmq,
            ),
            "purerust" => (
                format!("a CURVE handshake on tcp://127.0.0.1:{port} from "),
                purerust,
            ),
            other => panic!("no refusal log known for the engine {other}"),
        };
        String::from_utf8_lossy(&log().lock().unwrap())
            .lines()
            .filter(|line| {
                line.split_once(prefix.as_str())
                    .is_some_and(|(_, rest)| reasons.iter().any(|r| rest.contains(r)))
            })
            .count()
    }

    fn handshake_refusal_logged(&self, libzmq: &[&str], purerust: &[&str]) -> bool {
        self.handshake_refusals(libzmq, purerust) > 0
    }
}

/// A secure context on the test run's engine (checked).
fn secure_context(config: &Config) -> (Context, String) {
    log();
    let ctx = Context::new(with_test_engine(config.clone())).unwrap();
    assert_eq!(ctx.backend_name(), "secure_zmq");
    let engine = assert_test_engine(&ctx);
    (ctx, engine)
}

async fn secure_publisher(config: &Config) -> Server {
    let (ctx, engine) = secure_context(config);
    let mut spec = BindSpec::new(Endpoint::tcp("127.0.0.1", 0));
    spec.security = Security::Curve;
    let publisher: Arc<dyn PubSocket> =
        Arc::from(ctx.transport().bind_publisher(spec).await.unwrap());
    let port = publisher.endpoint().port().unwrap();
    let sender = tokio::spawn(async move {
        // The context lives as long as its publisher.
        let _ctx = ctx;
        loop {
            let frame =
                Bytes::from_static(b"pytroll://secure/test info a@b 2020-01-01T00:00:00 v1.01");
            if publisher.send(frame).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    Server {
        engine,
        port,
        sender,
    }
}

/// A raw libzmq SUB: CURVE with `(client pair, server key)` or plain.
fn raw_sub(
    ctx: &zmq::Context,
    connect: &str,
    curve: Option<(&KeyPair, &PublicKey)>,
) -> zmq::Socket {
    let socket = ctx.socket(zmq::SUB).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_subscribe(b"").unwrap();
    if let Some((pair, server)) = curve {
        socket.set_curve_publickey(&pair.public.0).unwrap();
        socket.set_curve_secretkey(&pair.secret.0).unwrap();
        socket.set_curve_serverkey(&server.0).unwrap();
    }
    socket.connect(connect).unwrap();
    socket
}

/// True when `socket` receives a frame within `within`.
async fn receives(socket: &zmq::Socket, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match socket.recv_bytes(zmq::DONTWAIT) {
            Ok(_) => return true,
            Err(zmq::Error::EAGAIN) => {}
            Err(e) => panic!("recv: {e}"),
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `check` until true; on timeout, fails showing the log lines
/// that mention `about` (a port, a key).
async fn poll_until(what: &str, about: &str, check: impl FnMut() -> bool) {
    poll_until_within(WAIT, what, about, check).await;
}

/// [`poll_until`] with another bound.
async fn poll_until_within(
    within: Duration,
    what: &str,
    about: &str,
    mut check: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the log about {about}:\n{}",
            log_about(about)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn local(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// The log line of the key policy refusing `key` (either engine).
fn unknown_key_refusal(key: &PublicKey) -> String {
    format!("its public key {} is in no *.key file", key.to_z85())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_client_key_is_refused_and_logged() {
    let keys = Keys::new();
    let server = secure_publisher(&keys.config()).await;
    let ctx = zmq::Context::new();
    let admitted = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.server.public)),
    );
    assert!(
        receives(&admitted, WAIT).await,
        "the admitted client got nothing"
    );
    let needle = unknown_key_refusal(&keys.outsider.public);
    let outsider = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.outsider, &keys.server.public)),
    );
    poll_until("the key policy's refusal in the log", &needle, || {
        logged(&needle)
    })
    .await;
    assert!(
        !receives(&outsider, SILENCE).await,
        "the unknown client received"
    );
    // The refused handshake is logged by the engine too.
    let port = server.port.to_string();
    poll_until("the engine's refusal in the log", &port, || {
        server.handshake_refusal_logged(&["the ZAP handler said"], &["CURVE authentication failed"])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_the_wrong_server_key_is_refused_and_logged() {
    let keys = Keys::new();
    let server = secure_publisher(&keys.config()).await;
    let ctx = zmq::Context::new();
    let admitted = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.server.public)),
    );
    assert!(
        receives(&admitted, WAIT).await,
        "the admitted client got nothing"
    );
    // The right client key, the wrong server key: the server cannot open
    // the client's HELLO, so the handshake fails before any key check.
    let wrong = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.outsider.public)),
    );
    let port = server.port.to_string();
    poll_until("the failed handshake in the log", &port, || {
        server.handshake_refusal_logged(&["cryptographic error"], &["CURVE HELLO"])
    })
    .await;
    assert!(
        !receives(&wrong, SILENCE).await,
        "the client with the wrong server key received"
    );
    // The client's key is admitted: the key policy refused nothing.
    assert!(!logged(&unknown_key_refusal(&keys.client.public)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_client_is_refused_and_logged() {
    let keys = Keys::new();
    let server = secure_publisher(&keys.config()).await;
    let ctx = zmq::Context::new();
    let admitted = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.server.public)),
    );
    assert!(
        receives(&admitted, WAIT).await,
        "the admitted client got nothing"
    );
    // A raw libzmq plain client (as pyzmq's) ...
    let plain = raw_sub(&ctx, &local(server.port), None);
    assert!(
        !receives(&plain, SILENCE).await,
        "the plain client received"
    );
    // ... and a plain subscriber through the facade, on the test run's
    // engine.
    let plain_ctx = Context::new(with_test_engine(Config::default())).unwrap();
    assert_eq!(plain_ctx.backend_name(), "unsecure_zmq");
    assert_test_engine(&plain_ctx);
    let mut sub = plain_ctx
        .transport()
        .connect_subscriber(
            &Endpoint::tcp("127.0.0.1", server.port),
            &["pytroll:/".into()],
            Security::Plain,
        )
        .await
        .unwrap();
    assert!(tokio::time::timeout(SILENCE, sub.recv()).await.is_err());
    let port = server.port.to_string();
    // libzmq reports a mechanism mismatch, or (when the plain client hangs
    // up first) a broken handshake, for either client. The pure-Rust
    // engine sees the mismatch in the facade's (omq's) greeting; libzmq as
    // a client hangs up on the server's greeting before sending its own,
    // which the engine reports once omq's handshake deadline (10 s) has
    // passed.
    let libzmq = ["security mechanism mismatch", "the handshake failed"];
    poll_until(
        "the facade client's failed handshake in the log",
        &port,
        || server.handshake_refusal_logged(&libzmq, &["mechanism mismatch"]),
    )
    .await;
    let hung_up = ["the client closed the connection before completing it"];
    poll_until_within(
        Duration::from_secs(20),
        "the libzmq client's failed handshake in the log",
        &port,
        || server.handshake_refusals(&libzmq, &hung_up) >= 1,
    )
    .await;
    if server.engine == "purerust" {
        // Only the plain libzmq client hung up: the admitted client's
        // connection (accepted earlier) is not reported.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            server.handshake_refusals(&[], &hung_up),
            1,
            "{}",
            log_about(&port)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_from_an_unlisted_ip_is_refused_and_logged() {
    let keys = Keys::new();
    let config = Config {
        authorized_client_addresses: vec!["127.0.0.1".into()],
        ..keys.config()
    };
    let server = secure_publisher(&config).await;
    let ctx = zmq::Context::new();
    let admitted = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.server.public)),
    );
    assert!(
        receives(&admitted, WAIT).await,
        "the admitted client got nothing"
    );
    // The same admitted key, from 127.0.0.2 (libzmq's source-address
    // syntax). Only this test connects from 127.0.0.2.
    let needle = "refused a client from 127.0.0.2: 127.0.0.2 is not in authorized_client_addresses";
    let before = logged_lines(needle);
    let from = format!("tcp://127.0.0.2:0;127.0.0.1:{}", server.port);
    let elsewhere = raw_sub(&ctx, &from, Some((&keys.client, &keys.server.public)));
    poll_until("the IP refusal in the log", "127.0.0.2", || {
        logged_lines(needle) > before
    })
    .await;
    assert!(
        !receives(&elsewhere, SILENCE).await,
        "the client from 127.0.0.2 received"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_folder_changes_apply_without_restart() {
    let keys = Keys::new();
    let server = secure_publisher(&keys.config()).await;
    let ctx = zmq::Context::new();
    let connect = || {
        raw_sub(
            &ctx,
            &local(server.port),
            Some((&keys.outsider, &keys.server.public)),
        )
    };
    let refusal = unknown_key_refusal(&keys.outsider.public);
    let key = keys.outsider.public.to_z85();
    // The policy's log line each time it re-reads the folder.
    let folder = keys.clients_dir.display().to_string();
    let reread = |count: usize| format!("folder={folder} keys={count}");

    let first = connect();
    poll_until("the first refusal", &key, || logged_lines(&refusal) >= 1).await;
    assert!(
        !receives(&first, SILENCE).await,
        "received before the key was added"
    );
    drop(first);

    let copy = keys.clients_dir.join("outsider.key");
    std::fs::copy(&keys.outsider_public_file, &copy).unwrap();
    let second = connect();
    assert!(
        receives(&second, WAIT).await,
        "not admitted after the key was added; the log about {key}:\n{}",
        log_about(&key)
    );
    drop(second);
    assert!(logged(&reread(2)), "{}", log_about(&folder));

    std::fs::remove_file(&copy).unwrap();
    let refused = logged_lines(&refusal);
    let third = connect();
    poll_until("the refusal after removal", &key, || {
        logged_lines(&refusal) > refused
    })
    .await;
    assert!(
        !receives(&third, SILENCE).await,
        "received after the key was removed"
    );
    // Read with one key, with two, then with one again.
    assert!(
        logged_lines(&reread(1)) >= 2 && logged_lines(&reread(2)) >= 1,
        "{}",
        log_about(&folder)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_settings_are_named() {
    let keys = Keys::new();
    let cases = [
        (
            "server_secret_key_file",
            Config {
                server_secret_key_file: None,
                ..keys.config()
            },
        ),
        (
            "clients_public_keys_directory",
            Config {
                clients_public_keys_directory: None,
                ..keys.config()
            },
        ),
    ];
    for (key, config) in cases {
        let (ctx, _) = secure_context(&config);
        let mut spec = BindSpec::new(Endpoint::tcp("127.0.0.1", 0));
        spec.security = Security::Curve;
        let err = ctx
            .transport()
            .bind_publisher(spec)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("secure_zmq needs `{key}`")), "{err}");
    }
    let cases = [
        (
            "client_secret_key_file",
            Config {
                client_secret_key_file: None,
                ..keys.config()
            },
        ),
        (
            "server_public_key_file",
            Config {
                server_public_key_file: None,
                ..keys.config()
            },
        ),
    ];
    for (key, config) in cases {
        let (ctx, _) = secure_context(&config);
        let err = ctx
            .transport()
            .connect_subscriber(&Endpoint::tcp("127.0.0.1", 9), &[], Security::Curve)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("secure_zmq needs `{key}`")), "{err}");
    }
    // A key file that is not there is named.
    let config = Config {
        server_public_key_file: Some(keys.dir.path().join("gone.key")),
        ..keys.config()
    };
    let (ctx, _) = secure_context(&config);
    let err = ctx
        .transport()
        .connect_subscriber(&Endpoint::tcp("127.0.0.1", 9), &[], Security::Curve)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gone.key") && err.contains("no such file"),
        "{err}"
    );
}

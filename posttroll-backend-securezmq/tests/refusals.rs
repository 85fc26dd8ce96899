//! A secure (CURVE) publisher refuses whom it must, on real libzmq over
//! loopback: an unknown client key, a client using the wrong server key, a
//! plain client, a client from an IP not in `authorized_client_addresses`;
//! and the admitted-keys folder is re-read without a restart. Each refusal
//! is checked three ways: nothing arrives, the transport's counters move,
//! and the log says so. An admitted client on the same publisher receives,
//! so the silence is not a publisher that sends nothing.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use posttroll_backend_securezmq::SecureZmqTransport;
use posttroll_backend_zmq::zmq;
use posttroll_core::keystore::{KeyPair, PublicKey};
use posttroll_core::{BindSpec, Config, Endpoint, PubSocket, Security, Transport};
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

fn logged(needle: &str) -> bool {
    String::from_utf8_lossy(&log().lock().unwrap()).contains(needle)
}

/// A secure publisher on 127.0.0.1 sending a frame every 10 ms.
struct Server {
    secure: SecureZmqTransport,
    port: u16,
    sender: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

async fn secure_publisher(config: &Config) -> Server {
    log();
    let secure = SecureZmqTransport::new(config).unwrap();
    let mut spec = BindSpec::new(Endpoint::tcp("127.0.0.1", 0));
    spec.security = Security::Curve;
    let publisher: Arc<dyn PubSocket> =
        Arc::from(secure.transport().bind_publisher(spec).await.unwrap());
    let port = publisher.endpoint().port().unwrap();
    let sender = tokio::spawn(async move {
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
        secure,
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

async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn local(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
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
    let before = server.secure.admissions();
    let outsider = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.outsider, &keys.server.public)),
    );
    poll_until("the ZAP refusal", || {
        server.secure.admissions().refused > before.refused
    })
    .await;
    assert!(
        !receives(&outsider, SILENCE).await,
        "the unknown client received"
    );
    let key = keys.outsider.public.to_z85();
    poll_until("the refusal in the log", || {
        logged(&format!("its public key {key} is in no *.key file"))
    })
    .await;
    poll_until("the monitor's count", || {
        server.secure.handshake_failures() > 0
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
    // the client's HELLO, so libzmq drops it before any ZAP request.
    let wrong = raw_sub(
        &ctx,
        &local(server.port),
        Some((&keys.client, &keys.outsider.public)),
    );
    poll_until("the failed handshake", || {
        server.secure.handshake_failures() > 0
    })
    .await;
    assert!(
        !receives(&wrong, SILENCE).await,
        "the client with the wrong server key received"
    );
    let port = server.port;
    poll_until("the refusal in the log", || {
        logged(&format!(
            "CURVE: refused a client on tcp://127.0.0.1:{port}: cryptographic error"
        ))
    })
    .await;
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
    let plain = raw_sub(&ctx, &local(server.port), None);
    poll_until("the failed handshake", || {
        server.secure.handshake_failures() > 0
    })
    .await;
    assert!(
        !receives(&plain, SILENCE).await,
        "the plain client received"
    );
    let port = server.port;
    poll_until("the refusal in the log", || {
        // libzmq reports a mechanism mismatch, or (when the plain client
        // hangs up first) a broken handshake.
        logged(&format!(
            "CURVE: refused a client on tcp://127.0.0.1:{port}: security mechanism mismatch"
        )) || logged(&format!(
            "CURVE: refused a client on tcp://127.0.0.1:{port}: the handshake failed"
        ))
    })
    .await;
    // The facade's plain subscriber (through the transport) is refused too.
    let transport = posttroll_backend_zmq::ZmqTransport::new(&Config::default()).unwrap();
    let mut sub = transport
        .connect_subscriber(
            &Endpoint::tcp("127.0.0.1", server.port),
            &["pytroll:/".into()],
            Security::Plain,
        )
        .await
        .unwrap();
    assert!(tokio::time::timeout(SILENCE, sub.recv()).await.is_err());
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
    let before = server.secure.admissions();
    // The same admitted key, from 127.0.0.2 (libzmq's source-address syntax).
    let from = format!("tcp://127.0.0.2:0;127.0.0.1:{}", server.port);
    let elsewhere = raw_sub(&ctx, &from, Some((&keys.client, &keys.server.public)));
    poll_until("the ZAP refusal", || {
        server.secure.admissions().refused > before.refused
    })
    .await;
    assert!(
        !receives(&elsewhere, SILENCE).await,
        "the client from 127.0.0.2 received"
    );
    poll_until("the refusal in the log", || {
        logged("refused a client from 127.0.0.2: 127.0.0.2 is not in authorized_client_addresses")
    })
    .await;
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

    let refused = server.secure.admissions().refused;
    let first = connect();
    poll_until("the first refusal", || {
        server.secure.admissions().refused > refused
    })
    .await;
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
        "not admitted after the key was added"
    );
    drop(second);

    std::fs::remove_file(&copy).unwrap();
    let refused = server.secure.admissions().refused;
    let third = connect();
    poll_until("the refusal after removal", || {
        server.secure.admissions().refused > refused
    })
    .await;
    assert!(
        !receives(&third, SILENCE).await,
        "received after the key was removed"
    );
    assert!(
        server.secure.admissions().reloads >= 3,
        "{:?}",
        server.secure.admissions()
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
        let secure = SecureZmqTransport::new(&config).unwrap();
        let mut spec = BindSpec::new(Endpoint::tcp("127.0.0.1", 0));
        spec.security = Security::Curve;
        let err = secure
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
        let secure = SecureZmqTransport::new(&config).unwrap();
        let err = secure
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
    let secure = SecureZmqTransport::new(&config).unwrap();
    let err = secure
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

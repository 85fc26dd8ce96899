//! CURVE (`secure_zmq`) on the pure-Rust engine: our own server and
//! client, the client-key folder (a refused client is admitted once its
//! key file appears, without a restart), pyzmq in both roles, and libzmq
//! (`posttroll-backend-securezmq`) in both roles.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use posttroll_backend_purerust::{CurveConfig, PureRustTransport};
use posttroll_backend_securezmq::SecureZmqTransport;
use posttroll_core::keystore::zpl;
use posttroll_core::{BindSpec, Config, ErrorKind, PubSocket, Security, SubSocket, Transport};
use posttroll_testkit::python::{self, PythonProcess};

/// Key files in a fresh folder: the server's pair, the client's pair, and
/// the folder of admitted client keys (with the client's key in it unless
/// `admit` is false).
struct Keys {
    root: PathBuf,
    config: Config,
}

impl Keys {
    fn new(admit: bool) -> Keys {
        let root = std::env::temp_dir().join(unique("ptrs-omq-curve"));
        for sub in ["server", "client", "admitted"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        zpl::create_certificates(&root.join("server"), "server").unwrap();
        zpl::create_certificates(&root.join("client"), "client").unwrap();
        let keys = Keys {
            config: Config {
                backend: "secure_zmq".into(),
                server_secret_key_file: Some(root.join("server/server.key_secret")),
                server_public_key_file: Some(root.join("server/server.key")),
                client_secret_key_file: Some(root.join("client/client.key_secret")),
                clients_public_keys_directory: Some(root.join("admitted")),
                ..Config::default()
            },
            root,
        };
        if admit {
            keys.admit_client();
        }
        keys
    }

    fn admit_client(&self) {
        std::fs::copy(
            self.root.join("client/client.key"),
            self.root.join("admitted/client.key"),
        )
        .unwrap();
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    fn transport(&self) -> PureRustTransport {
        logs();
        PureRustTransport::builder(&self.config)
            .curve(CurveConfig::from_config(&self.config).unwrap())
            .build()
            .unwrap()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn curve_spec(endpoint: &str) -> BindSpec {
    let mut spec = BindSpec::new(ep(endpoint));
    spec.security = Security::Curve;
    spec
}

async fn exchange(publisher: &dyn PubSocket, subscriber: &mut dyn SubSocket) {
    sync(publisher, subscriber, PROBE).await;
    for frame in sample_frames() {
        publisher.send(frame).await.unwrap();
    }
    for frame in sample_frames() {
        assert_eq!(next_data(subscriber).await, frame);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_pubsub_and_reqrep_between_our_sockets() {
    let keys = Keys::new(true);
    let t = keys.transport();
    let publisher = t.bind_pub(curve_spec("tcp://127.0.0.1:0")).await.unwrap();
    assert_eq!(publisher.options().mechanism, "CURVE-server");
    let mut subscriber = t
        .connect_sub(publisher.endpoint(), &topics(&[""]), Security::Curve)
        .await
        .unwrap();
    assert_eq!(subscriber.options().mechanism, "CURVE-client");
    exchange(&publisher, &mut subscriber).await;

    let mut rep = t.bind_reply(curve_spec("tcp://127.0.0.1:0")).await.unwrap();
    let endpoint = rep.endpoint().clone();
    let replier = tokio::spawn(async move {
        let request = rep.recv().await.unwrap();
        rep.reply(&request.reply_to, request.body).unwrap();
    });
    let reply = t
        .request(&endpoint, Security::Curve, "secret?".into(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(reply, "secret?");
    replier.await.unwrap();

    // A plain client gets nothing from a CURVE server.
    let mut plain = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
        .await
        .unwrap();
    for _ in 0..20 {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(10), plain.recv()).await;
        assert!(got.is_err(), "a plain client received from a CURVE server");
    }
    // The server logged and counted the failed handshakes.
    wait_for_log(&["a CURVE handshake on tcp://127.0.0.1:"]).await;
    assert!(t.handshake_failures() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_client_is_admitted_once_its_key_file_appears() {
    let keys = Keys::new(false);
    let t = keys.transport();
    let publisher = t.bind_pub(curve_spec("tcp://127.0.0.1:0")).await.unwrap();
    let mut subscriber = t
        .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Curve)
        .await
        .unwrap();
    for _ in 0..30 {
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(10), subscriber.recv()).await;
        assert!(got.is_err(), "a client with an unknown key received");
    }
    wait_for_log(&["refused a client from 127.0.0.1", "is in no *.key file"]).await;
    let counts = t.curve().unwrap().policy().counts();
    assert!(counts.refused >= 1 && counts.admitted == 0, "{counts:?}");
    // omq's client gave up after the refusal; ours tries again, and the
    // server re-reads the folder: the new key file lets it in.
    keys.admit_client();
    let start = Instant::now();
    sync(&publisher, &mut *subscriber, PROBE).await;
    eprintln!("admitted {:?} after the key file appeared", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_settings_are_named() {
    let keys = Keys::new(true);
    let mut config = keys.config.clone();
    config.server_secret_key_file = None;
    config.client_secret_key_file = None;
    logs();
    let t = PureRustTransport::builder(&config)
        .curve(CurveConfig::from_config(&config).unwrap())
        .build()
        .unwrap();
    let err = t
        .bind_publisher(curve_spec("tcp://127.0.0.1:0"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Security);
    assert!(err.to_string().contains("server_secret_key_file"), "{err}");
    let err = t
        .connect_subscriber(&ep("tcp://127.0.0.1:1"), &[], Security::Curve)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("client_secret_key_file"), "{err}");
    // `secure` builds it all from the config.
    let secure = PureRustTransport::secure(&keys.config).unwrap();
    assert!(secure.curve().is_some());
    assert_eq!(secure.engine(), "purerust");
}

// ---------------------------------------------------------------- pyzmq

const PY_CURVE_SUB: &str = r#"
import sys, zmq, zmq.auth
endpoint, client_secret, server_public, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cpub, csec = zmq.auth.load_certificate(client_secret)
spub, _ = zmq.auth.load_certificate(server_public)
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.curve_publickey, s.curve_secretkey, s.curve_serverkey = cpub, csec, spub
s.setsockopt(zmq.SUBSCRIBE, b"")
s.RCVTIMEO = 20000
s.connect(endpoint)
got, ready = 0, False
while got < count:
    f = s.recv()
    if f.startswith(b"pytroll://probe"):
        if not ready:
            print("READY", flush=True)
            ready = True
        continue
    got += 1
    print("FRAME " + f.hex(), flush=True)
print("END", flush=True)
s.close(linger=0)
ctx.term()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_curve_subscriber_receives_from_our_curve_publisher() {
    if python::require().is_none() {
        return;
    }
    let keys = Keys::new(true);
    let t = keys.transport();
    let publisher = t.bind_pub(curve_spec("tcp://127.0.0.1:0")).await.unwrap();
    let frames = sample_frames();
    let peer = PythonProcess::spawn(
        PY_CURVE_SUB,
        &[
            &publisher.endpoint().to_string(),
            &keys.path("client/client.key_secret"),
            &keys.path("server/server.key"),
            &frames.len().to_string(),
        ],
        &[] as &[(&str, &str)],
    )
    .unwrap();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE, "{}", peer.describe());
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        if let Some(line) = peer.read_line_async(Duration::from_millis(10)).await {
            assert_eq!(line, "READY");
            break;
        }
    }
    for frame in &frames {
        publisher.send(frame.clone()).await.unwrap();
    }
    for frame in &frames {
        let line = peer.read_line_async(DEADLINE).await.unwrap();
        assert_eq!(line, format!("FRAME {}", hex(frame)));
    }
    assert_eq!(peer.read_line_async(DEADLINE).await.as_deref(), Some("END"));
}

const PY_CURVE_SERVER: &str = r#"
import sys, threading, time, zmq, zmq.auth
server_secret = sys.argv[1]
spub, ssec = zmq.auth.load_certificate(server_secret)
ctx = zmq.Context()
p = ctx.socket(zmq.PUB)
p.curve_server = True
p.curve_publickey, p.curve_secretkey = spub, ssec
pport = p.bind_to_random_port("tcp://127.0.0.1")
r = ctx.socket(zmq.REP)
r.curve_server = True
r.curve_publickey, r.curve_secretkey = spub, ssec
rport = r.bind_to_random_port("tcp://127.0.0.1")
print(f"PORTS {pport} {rport}", flush=True)
stop = threading.Event()
def reply():
    r.RCVTIMEO = 200
    while not stop.is_set():
        try:
            r.send(b"py:" + r.recv())
        except zmq.Again:
            pass
threading.Thread(target=reply, daemon=True).start()
deadline = time.time() + 30
while time.time() < deadline:
    p.send(b"pytroll://probe from python")
    time.sleep(0.01)
    if sys.stdin in __import__("select").select([sys.stdin], [], [], 0)[0]:
        break
stop.set()
time.sleep(0.3)
p.close(linger=0)
r.close(linger=0)
ctx.term()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_curve_clients_talk_to_pyzmq_curve_servers() {
    if python::require().is_none() {
        return;
    }
    let keys = Keys::new(true);
    let t = keys.transport();
    let mut peer = PythonProcess::spawn(
        PY_CURVE_SERVER,
        &[&keys.path("server/server.key_secret")],
        &[] as &[(&str, &str)],
    )
    .unwrap();
    let line = peer
        .read_line_async(DEADLINE)
        .await
        .unwrap_or_else(|| panic!("{}", peer.describe()));
    let ports: Vec<u16> = line
        .strip_prefix("PORTS ")
        .unwrap()
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    let mut subscriber = t
        .connect_subscriber(
            &posttroll_core::Endpoint::tcp("127.0.0.1", ports[0]),
            &topics(&["pytroll://probe"]),
            Security::Curve,
        )
        .await
        .unwrap();
    let frame = tokio::time::timeout(DEADLINE, subscriber.recv())
        .await
        .expect("nothing from the pyzmq CURVE publisher")
        .unwrap();
    assert_eq!(frame, "pytroll://probe from python");
    let reply = t
        .request(
            &posttroll_core::Endpoint::tcp("127.0.0.1", ports[1]),
            Security::Curve,
            "hi".into(),
            DEADLINE,
        )
        .await
        .unwrap();
    assert_eq!(reply, "py:hi");
    peer.write_line("stop").unwrap();
    assert!(peer.wait(DEADLINE).is_some());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------- libzmq

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curve_across_engines_both_ways() {
    let keys = Keys::new(true);
    let ours = keys.transport();
    let theirs = SecureZmqTransport::new(&keys.config).unwrap();
    let theirs = theirs.transport();
    for (server, client) in [
        (&ours as &dyn Transport, theirs as &dyn Transport),
        (theirs as &dyn Transport, &ours as &dyn Transport),
    ] {
        let publisher = server
            .bind_publisher(curve_spec("tcp://127.0.0.1:0"))
            .await
            .unwrap();
        let mut subscriber = client
            .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Curve)
            .await
            .unwrap();
        exchange(&*publisher, &mut *subscriber).await;
        let mut rep = server
            .bind_reply(curve_spec("tcp://127.0.0.1:0"))
            .await
            .unwrap();
        let endpoint = rep.endpoint().clone();
        let replier = tokio::spawn(async move {
            let request = rep.recv().await.unwrap();
            rep.reply(&request.reply_to, request.body).unwrap();
        });
        let reply = client
            .request(&endpoint, Security::Curve, "x".into(), DEADLINE)
            .await
            .unwrap();
        assert_eq!(reply, "x");
        replier.await.unwrap();
    }
}

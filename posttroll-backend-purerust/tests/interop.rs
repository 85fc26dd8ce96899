//! The pure-Rust engine against the other ZeroMQ implementations on
//! loopback: pyzmq (the Python reference's library) both ways for PUB/SUB
//! and REQ/REP, and libzmq through `posttroll-backend-zmq` both ways
//! (cross-engine), plus the IP allow-list admitting a libzmq client that
//! connects from 127.0.0.2.
//!
//! The pyzmq tests use the interpreter of `posttroll_testkit::python`
//! (`PTRS_PYTHON`, else the workspace's `.venv`); without one they fail
//! under `CI` and are
//! skipped loudly otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use posttroll_backend_zmq::ZmqTransport;
use posttroll_core::{BindSpec, Config, Endpoint, PubOptions, Security, Transport};
use posttroll_testkit::conformance::{hex, unhex, PY_PUB, PY_SUB};
use posttroll_testkit::python::{self, PythonProcess};

const NO_ENV: &[(&str, &str)] = &[];

// ---------------------------------------------------------------- pyzmq

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_subscriber_receives_our_frames() {
    if python::require().is_none() {
        return;
    }
    let t = transport();
    let publisher = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let frames = sample_frames();
    let peer = PythonProcess::spawn(
        PY_SUB,
        &[&publisher.endpoint().to_string(), &frames.len().to_string()],
        NO_ENV,
    )
    .unwrap();
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "pyzmq never received a probe: {}",
            peer.describe()
        );
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        if let Some(line) = peer.read_line_async(Duration::from_millis(10)).await {
            assert_eq!(line, "READY");
            break;
        }
    }
    for frame in &frames {
        publisher.send(frame.clone()).await.unwrap();
    }
    let mut got = Vec::new();
    loop {
        let line = peer
            .read_line_async(DEADLINE)
            .await
            .unwrap_or_else(|| panic!("pyzmq stopped talking: {}", peer.describe()));
        if line == "END" {
            break;
        }
        got.push(unhex(line.strip_prefix("FRAME ").unwrap()));
    }
    assert_eq!(got, frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
    assert!(peer.wait(DEADLINE).is_some_and(|s| s.success()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_receive_pyzmq_publisher_frames() {
    if python::require().is_none() {
        return;
    }
    let frames = sample_frames();
    let args: Vec<String> = frames.iter().map(|f| hex(f)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peer = PythonProcess::spawn(PY_PUB, &args, NO_ENV).unwrap();
    let line = peer
        .read_line_async(DEADLINE)
        .await
        .unwrap_or_else(|| panic!("no port from pyzmq: {}", peer.describe()));
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
    peer.write_line("GO").unwrap();
    for frame in &frames {
        assert_eq!(&next_data(&mut *subscriber).await, frame);
    }
    peer.write_line("DONE").unwrap();
    assert!(peer.wait(DEADLINE).is_some_and(|s| s.success()));
}

const PY_REP: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REP)
port = s.bind_to_random_port("tcp://127.0.0.1")
print(f"PORT {port}", flush=True)
s.RCVTIMEO = 20000
for _ in range(int(sys.argv[1])):
    s.send(b"py:" + s.recv())
s.close(linger=1000)
ctx.term()
print("END", flush=True)
"#;

const PY_REQ: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.RCVTIMEO = 20000
s.connect(sys.argv[1])
for i in range(int(sys.argv[2])):
    s.send(b"ping %d" % i)
    print("REPLY " + s.recv().decode(), flush=True)
s.close(linger=0)
ctx.term()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_with_pyzmq_both_ways() {
    if python::require().is_none() {
        return;
    }
    let t = transport();
    // Our REQ, pyzmq's REP.
    let peer = PythonProcess::spawn(PY_REP, &["3"], NO_ENV).unwrap();
    let line = peer.read_line_async(DEADLINE).await.unwrap();
    let port: u16 = line.strip_prefix("PORT ").unwrap().parse().unwrap();
    for i in 0..3 {
        let reply = t
            .request(
                &Endpoint::tcp("127.0.0.1", port),
                Security::Plain,
                format!("req {i}").into(),
                DEADLINE,
            )
            .await
            .unwrap();
        assert_eq!(reply, format!("py:req {i}"));
    }
    assert_eq!(peer.read_line_async(DEADLINE).await.as_deref(), Some("END"));

    // pyzmq's REQ, our REP.
    let mut rep = t
        .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
        .await
        .unwrap();
    let peer = PythonProcess::spawn(PY_REQ, &[&rep.endpoint().to_string(), "3"], NO_ENV).unwrap();
    for i in 0..3 {
        let request = tokio::time::timeout(DEADLINE, rep.recv())
            .await
            .expect("no request from pyzmq")
            .unwrap();
        assert_eq!(request.body, format!("ping {i}"));
        let mut answer = b"rs:".to_vec();
        answer.extend_from_slice(&request.body);
        rep.reply(&request.reply_to, answer.into()).unwrap();
        assert_eq!(
            peer.read_line_async(DEADLINE).await,
            Some(format!("REPLY rs:ping {i}"))
        );
    }
    assert!(peer.wait(DEADLINE).is_some_and(|s| s.success()));
}

// ---------------------------------------------------------------- cross-engine

fn libzmq() -> ZmqTransport {
    ZmqTransport::new(&Config::default()).unwrap()
}

/// A burst of numbered frames from `publisher` through `subscriber`, no
/// frame lost (no_drop publisher).
async fn burst(
    publisher: &dyn posttroll_core::PubSocket,
    subscriber: &mut dyn posttroll_core::SubSocket,
    count: u32,
) {
    sync(publisher, subscriber, PROBE).await;
    for frame in sample_frames() {
        publisher.send(frame).await.unwrap();
    }
    for frame in sample_frames() {
        assert_eq!(next_data(subscriber).await, frame);
    }
    let sending = async {
        for i in 0..count {
            publisher.send(numbered(i)).await.unwrap();
        }
    };
    let receiving = async {
        for i in 0..count {
            assert_eq!(number_of(&next_data(subscriber).await), i);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(sending, receiving)
    })
    .await
    .expect("the burst did not get through in time");
}

fn no_drop_spec(endpoint: &str) -> BindSpec {
    let mut spec = BindSpec::new(ep(endpoint));
    spec.options = PubOptions {
        send_high_water_mark: Some(100),
        no_drop: true,
    };
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purerust_publisher_to_libzmq_subscriber() {
    let ours = transport();
    let theirs = libzmq();
    for endpoint in [
        "tcp://127.0.0.1:0".to_owned(),
        format!(
            "ipc://{}",
            std::env::temp_dir()
                .join(unique("ptrs-x1") + ".sock")
                .display()
        ),
    ] {
        let publisher = ours.bind_publisher(no_drop_spec(&endpoint)).await.unwrap();
        let mut subscriber = theirs
            .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
            .await
            .unwrap();
        burst(&*publisher, &mut *subscriber, 20_000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libzmq_publisher_to_purerust_subscriber() {
    let ours = transport();
    let theirs = libzmq();
    for endpoint in [
        "tcp://127.0.0.1:0".to_owned(),
        format!(
            "ipc://{}",
            std::env::temp_dir()
                .join(unique("ptrs-x2") + ".sock")
                .display()
        ),
    ] {
        let publisher = theirs
            .bind_publisher(no_drop_spec(&endpoint))
            .await
            .unwrap();
        let mut subscriber = ours
            .connect_subscriber(publisher.endpoint(), &topics(&[""]), Security::Plain)
            .await
            .unwrap();
        burst(&*publisher, &mut *subscriber, 20_000).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_across_engines() {
    let ours = transport();
    let theirs = libzmq();
    for (server, client) in [
        (&ours as &dyn Transport, &theirs as &dyn Transport),
        (&theirs as &dyn Transport, &ours as &dyn Transport),
    ] {
        let mut rep = server
            .bind_reply(BindSpec::new(ep("tcp://127.0.0.1:0")))
            .await
            .unwrap();
        let endpoint = rep.endpoint().clone();
        let replier = tokio::spawn(async move {
            for _ in 0..2 {
                let request = rep.recv().await.unwrap();
                rep.reply(&request.reply_to, request.body).unwrap();
            }
        });
        for i in 0..2 {
            let reply = client
                .request(
                    &endpoint,
                    Security::Plain,
                    format!("{} asks {i}", client.engine()).into(),
                    DEADLINE,
                )
                .await
                .unwrap();
            assert_eq!(reply, format!("{} asks {i}", client.engine()));
        }
        replier.await.unwrap();
    }
}

// ---------------------------------------------------------------- allow-list

/// A raw libzmq SUB in its own context, connecting from `source`
/// (libzmq's source-address syntax, which omq's connect has not).
fn raw_subscriber(context: &zmq::Context, source: &str, port: u16) -> zmq::Socket {
    let socket = context.socket(zmq::SUB).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_subscribe(b"").unwrap();
    socket
        .connect(&format!("tcp://{source}:0;127.0.0.1:{port}"))
        .unwrap();
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_admits_127_0_0_2_and_refuses_127_0_0_1() {
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
    let admitted = raw_subscriber(&clients, "127.0.0.2", port);
    let refused = raw_subscriber(&clients, "127.0.0.1", port);

    let start = Instant::now();
    let mut admitted_got = 0;
    while admitted_got < 50 {
        assert!(
            start.elapsed() < DEADLINE,
            "the admitted client got nothing"
        );
        publisher.send(Bytes::from_static(PROBE)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        while admitted.recv_bytes(zmq::DONTWAIT).is_ok() {
            admitted_got += 1;
        }
        assert!(
            refused.recv_bytes(zmq::DONTWAIT).is_err(),
            "a refused client received"
        );
    }
    wait_for_log(&[
        "refused a connection from 127.0.0.1",
        "127.0.0.1 is not in authorized_client_addresses",
    ])
    .await;
}

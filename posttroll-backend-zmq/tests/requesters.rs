//! `Transport::request` keeps the REQ socket of an answered request for the
//! next request to the same endpoint, and only then: these tests watch the
//! server's side with raw libzmq sockets on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use posttroll_backend_zmq::ZmqTransport;
use posttroll_core::{Config, Endpoint, ErrorKind, Security, Transport};

const TIMEOUT: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A raw REP socket on `port` answering `n` requests with `echo:<request>`,
/// and counting the connections it accepted (socket monitor).
fn echo_server(context: &zmq::Context, port: u16, n: usize) -> thread::JoinHandle<usize> {
    let rep = context.socket(zmq::REP).unwrap();
    rep.set_linger(0).unwrap();
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let id = SERVERS.fetch_add(1, Ordering::Relaxed);
    let monitor_endpoint = format!("inproc://monitor-{id}");
    rep.monitor(&monitor_endpoint, zmq::SocketEvent::ACCEPTED as i32)
        .unwrap();
    let monitor = context.socket(zmq::PAIR).unwrap();
    monitor.connect(&monitor_endpoint).unwrap();
    // A socket just closed on this port releases it asynchronously (the
    // reaper thread): retry until it is free.
    let start = Instant::now();
    loop {
        match rep.bind(&format!("tcp://127.0.0.1:{port}")) {
            Ok(()) => break,
            Err(zmq::Error::EADDRINUSE) if start.elapsed() < TIMEOUT => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("binding port {port}: {e}"),
        }
    }
    thread::spawn(move || {
        rep.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
        for _ in 0..n {
            let request = rep.recv_bytes(0).unwrap();
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&request);
            rep.send(reply, 0).unwrap();
        }
        // Each monitor event is two frames: the event, then the endpoint.
        let mut accepted = 0;
        while let Ok(frame) = monitor.recv_bytes(zmq::DONTWAIT) {
            if monitor.get_rcvmore().unwrap() {
                accepted += 1;
            }
            drop(frame);
        }
        accepted
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_requests_share_one_connection() {
    let context = zmq::Context::new();
    let port = free_port();
    let server = echo_server(&context, port, 5);
    let t = ZmqTransport::new(&Config::default()).unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    for i in 0..5 {
        let request = format!("ping {i}");
        let reply = t
            .request(&endpoint, Security::Plain, request.clone().into(), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(reply, format!("echo:{request}"));
    }
    assert_eq!(server.join().unwrap(), 1, "connections accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_request_does_not_poison_the_next() {
    // A ROUTER that ignores the first request and answers the second.
    let context = zmq::Context::new();
    let router = context.socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let last = router.get_last_endpoint().unwrap().unwrap();
    let port: u16 = last.rsplit_once(':').unwrap().1.parse().unwrap();
    let server = thread::spawn(move || {
        router.set_rcvtimeo(TIMEOUT.as_millis() as i32).unwrap();
        let ignored = router.recv_multipart(0).unwrap();
        assert_eq!(ignored.last().unwrap(), b"first");
        let mut second = router.recv_multipart(0).unwrap();
        assert_eq!(second.last().unwrap(), b"second");
        *second.last_mut().unwrap() = b"answer".to_vec();
        router.send_multipart(second, 0).unwrap();
    });
    let t = ZmqTransport::new(&Config::default()).unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let err = t
        .request(
            &endpoint,
            Security::Plain,
            "first".into(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // A reused socket would still wait for the first reply (EFSM on send).
    let reply = t
        .request(&endpoint, Security::Plain, "second".into(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(reply, "answer");
    server.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_follows_a_server_restart() {
    let context = zmq::Context::new();
    let port = free_port();
    let t = ZmqTransport::new(&Config::default()).unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let server = echo_server(&context, port, 1);
    let reply = t
        .request(&endpoint, Security::Plain, "before".into(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(reply, "echo:before");
    server.join().unwrap();
    // The server's socket is closed (dropped with its thread); a new one
    // binds the same port. The kept socket reconnects by itself.
    let server = echo_server(&context, port, 1);
    let start = Instant::now();
    let reply = t
        .request(&endpoint, Security::Plain, "after".into(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(reply, "echo:after");
    assert!(start.elapsed() < TIMEOUT);
    server.join().unwrap();
}

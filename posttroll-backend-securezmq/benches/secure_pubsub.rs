//! PUB→SUB throughput of 420-byte frames over `tcp://127.0.0.1`, CURVE
//! (`secure_zmq`) against plain, in the same run, through the same
//! `SecureZmqTransport` (so the only difference is the CURVE encryption of
//! each frame). No losses: the publisher's SNDHWM is 0 (unbounded) and a
//! libzmq subscriber never drops.
//!
//! ```text
//! cargo bench -p posttroll-backend-securezmq --bench secure_pubsub
//! PTRS_BENCH_N=200000 PTRS_BENCH_RUNS=1 cargo bench -p posttroll-backend-securezmq --bench secure_pubsub
//! ```
//!
//! Prints `RESULT name=value unit` lines; each figure is the best of
//! `PTRS_BENCH_RUNS` runs (default 3) of `PTRS_BENCH_N` frames (default
//! 300 000), timed from the first frame sent to the last one received.
//! Without `--bench` (which `cargo bench` passes) it only runs a smoke
//! round of 5 000 frames.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll_backend_securezmq::SecureZmqTransport;
use posttroll_core::keystore::{zpl, KeyPair};
use posttroll_core::{BindSpec, Config, Endpoint, PubOptions, Security, Transport};

const SIZE: usize = 420;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn data_frame() -> Vec<u8> {
    let mut frame = b"D pytroll://bench/pubsub file user@host 2026-11-25T21:12:20.275840+00:00 v1.2 application/json ".to_vec();
    frame.resize(SIZE, b'x');
    frame
}

/// A secure_zmq config with fresh keys in `dir`.
fn config(dir: &std::path::Path) -> Config {
    let server = KeyPair::generate().unwrap();
    let client = KeyPair::generate().unwrap();
    let (server_public, server_secret) = zpl::write_certificates(dir, "server", &server).unwrap();
    let clients = dir.join("clients");
    std::fs::create_dir_all(&clients).unwrap();
    let (_, client_secret) = zpl::write_certificates(&clients, "client", &client).unwrap();
    Config {
        backend: "secure_zmq".into(),
        server_secret_key_file: Some(server_secret),
        server_public_key_file: Some(server_public),
        client_secret_key_file: Some(client_secret),
        clients_public_keys_directory: Some(clients),
        ..Config::default()
    }
}

/// One run: each side on its own thread with a current-thread runtime.
fn run(config: &Config, n: u64, security: Security) -> f64 {
    let transport = SecureZmqTransport::new(config).unwrap().transport().clone();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let joined = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel::<Endpoint>();
    let (start_tx, start_rx) = mpsc::channel::<Instant>();
    let publisher = {
        let transport = transport.clone();
        let joined = joined.clone();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
                spec.security = security;
                spec.options = PubOptions {
                    send_high_water_mark: Some(0),
                    no_drop: false,
                };
                let socket = transport.bind_publisher(spec).await.unwrap();
                port_tx.send(socket.endpoint().clone()).unwrap();
                let probe = Bytes::from_static(b"P");
                while !joined.load(Ordering::Acquire) {
                    socket.send(probe.clone()).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let frame = Bytes::from(data_frame());
                start_tx.send(Instant::now()).unwrap();
                for _ in 0..n {
                    socket.send(frame.clone()).await.unwrap();
                }
                socket
            })
        })
    };
    let endpoint = port_rx.recv().unwrap();
    let subscriber = std::thread::spawn(move || {
        runtime().block_on(async move {
            let mut socket = transport
                .connect_subscriber(&endpoint, &[String::new()], security)
                .await
                .unwrap();
            let mut got = 0;
            while got < n {
                let frame = socket.recv().await.unwrap();
                match frame.first() {
                    Some(b'D') => got += 1,
                    _ => joined.store(true, Ordering::Release),
                }
            }
            Instant::now()
        })
    });
    let end = subscriber.join().unwrap();
    let start = start_rx.recv().unwrap();
    drop(publisher.join().unwrap());
    n as f64 / (end - start).as_secs_f64()
}

fn best(runs: u64, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        5_000
    } else {
        env_or("PTRS_BENCH_N", 300_000)
    };
    let runs = if quick {
        1
    } else {
        env_or("PTRS_BENCH_RUNS", 3)
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    println!("PUB->SUB over tcp://127.0.0.1, {SIZE}-byte frames, N = {n}, best of {runs}");
    let plain = best(runs, || run(&config, n, Security::Plain));
    println!("RESULT plain_pubsub={plain:.0} msgs/s");
    let secure = best(runs, || run(&config, n, Security::Curve));
    println!("RESULT curve_pubsub={secure:.0} msgs/s");
    println!("RESULT curve_vs_plain={:.3} ratio", secure / plain);
}

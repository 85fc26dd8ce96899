//! CURVE (`secure_zmq`) PUB→SUB throughput of 420-byte frames over
//! `tcp://127.0.0.1` on both engines, each beside raw libzmq CURVE
//! sockets (the `zmq` crate) in the same run: the target of the
//! performance issue (14, point 6) is at least 0.8x raw on each engine.
//!
//! ```text
//! cargo bench -p posttroll-backend-securezmq --bench secure_pubsub
//! PTRS_BENCH_N=200000 PTRS_BENCH_RUNS=1 cargo bench -p posttroll-backend-securezmq --bench secure_pubsub
//! ```
//!
//! The transports are the libzmq engine's (`SecureZmqTransport`: libzmq
//! with a ZAP handler admitting the client-key folder) and the pure-Rust
//! engine's (`PureRustTransport::secure`: omq's CURVE), each side of a run
//! on its own thread with a current-thread runtime. No losses: the
//! publishers are `no_drop` with the default high-water marks and
//! subscribers never drop; raw libzmq has `SNDHWM` = `RCVHWM` = 0. Raw
//! libzmq without CURVE is printed too, for scale.
//!
//! Prints `RESULT name=value unit` lines and a `TARGET|...` line per engine
//! (`posttroll_testkit::bench`); each figure is the median of
//! `PTRS_BENCH_RUNS` runs (default 3, the three kinds alternating) of
//! `PTRS_BENCH_N` frames (default 300 000), timed from the first frame
//! sent to the last one received. Without `--bench` (which `cargo bench`
//! passes) it only runs a smoke round of 5 000 frames.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

// Raw libzmq PUB→SUB, shared with the libzmq engine's benchmarks.
#[path = "../../posttroll-backend-zmq/benches/common/raw.rs"]
mod raw;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll_backend_purerust::PureRustTransport;
use posttroll_backend_securezmq::SecureZmqTransport;
use posttroll_core::keystore::{zpl, KeyPair};
use posttroll_core::{BindSpec, Config, Endpoint, PubOptions, Security, Transport};
use posttroll_testkit::bench::Target;

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

/// The keys of a run: the server's and one admitted client's.
struct Keys {
    server: KeyPair,
    client: KeyPair,
}

/// A secure_zmq config with fresh keys in `dir`.
fn config(dir: &std::path::Path) -> (Config, Keys) {
    let server = KeyPair::generate().unwrap();
    let client = KeyPair::generate().unwrap();
    let (server_public, server_secret) = zpl::write_certificates(dir, "server", &server).unwrap();
    let clients = dir.join("clients");
    std::fs::create_dir_all(&clients).unwrap();
    let (_, client_secret) = zpl::write_certificates(&clients, "client", &client).unwrap();
    let config = Config {
        backend: "secure_zmq".into(),
        server_secret_key_file: Some(server_secret),
        server_public_key_file: Some(server_public),
        client_secret_key_file: Some(client_secret),
        clients_public_keys_directory: Some(clients),
        ..Config::default()
    };
    (config, Keys { server, client })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One run through `transport`: each side on its own thread with a
/// current-thread runtime.
fn ours(transport: Arc<dyn Transport>, n: u64) -> f64 {
    let joined = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel::<Endpoint>();
    let (start_tx, start_rx) = mpsc::channel::<Instant>();
    // The publisher's runtime may drive its socket (the pure-Rust engine):
    // it runs until the subscriber has everything.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = {
        let transport = transport.clone();
        let joined = joined.clone();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
                spec.security = Security::Curve;
                // Nothing lost: a no-drop publisher with the default
                // high-water marks (as the end-to-end benchmark). A plain
                // pure-Rust CURVE publisher loses frames under this load
                // even with an unbounded high-water mark (omq 0.33).
                spec.options = PubOptions {
                    send_high_water_mark: None,
                    no_drop: true,
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
                let _ = done_rx.await;
                socket.close().await.unwrap();
            })
        })
    };
    let endpoint = port_rx.recv().unwrap();
    let subscriber = std::thread::spawn(move || {
        runtime().block_on(async move {
            let mut socket = transport
                .connect_subscriber(&endpoint, &[String::new()], Security::Curve)
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
    let _ = done_tx.send(());
    publisher.join().unwrap();
    n as f64 / (end - start).as_secs_f64()
}

/// Raw libzmq PUB→SUB (one context, two threads, `SNDHWM` = `RCVHWM` =
/// 0), with CURVE when `keys` are given.
fn raw(n: u64, keys: Option<&Keys>) -> f64 {
    let context = zmq::Context::new();
    let (publisher, subscriber) = raw::pair(&context, zmq::PUB, true, |publisher, subscriber| {
        let Some(keys) = keys else {
            return;
        };
        let z85 = |key: String| key.into_bytes();
        publisher.set_curve_server(true).unwrap();
        publisher
            .set_curve_secretkey(&z85(keys.server.secret.to_z85()))
            .unwrap();
        subscriber
            .set_curve_serverkey(&z85(keys.server.public.to_z85()))
            .unwrap();
        subscriber
            .set_curve_publickey(&z85(keys.client.public.to_z85()))
            .unwrap();
        subscriber
            .set_curve_secretkey(&z85(keys.client.secret.to_z85()))
            .unwrap();
    });
    raw::run(publisher, subscriber, n, &data_frame()).rate
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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
        env_or("PTRS_BENCH_RUNS", 3).max(1)
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, keys) = config(dir.path());
    let libzmq: Arc<dyn Transport> = Arc::new(
        SecureZmqTransport::new(&config)
            .unwrap()
            .transport()
            .clone(),
    );
    let purerust: Arc<dyn Transport> = Arc::new(PureRustTransport::secure(&config).unwrap());
    println!(
        "CURVE PUB->SUB over tcp://127.0.0.1, {SIZE}-byte frames, N = {n}, median of {runs} \
         (raw, libzmq engine, pure-Rust engine alternating)"
    );
    let (mut raw_curve, mut raw_plain, mut ours_libzmq, mut ours_purerust) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        raw_curve.push(raw(n, Some(&keys)));
        ours_libzmq.push(ours(libzmq.clone(), n));
        ours_purerust.push(ours(purerust.clone(), n));
        raw_plain.push(raw(n, None));
        println!(
            "   run {run}: raw CURVE {:.0}, libzmq engine {:.0}, pure-Rust engine {:.0}, \
             raw without CURVE {:.0} msgs/s",
            raw_curve[run as usize - 1],
            ours_libzmq[run as usize - 1],
            ours_purerust[run as usize - 1],
            raw_plain[run as usize - 1],
        );
    }
    let raw_curve = median(&mut raw_curve);
    let raw_plain = median(&mut raw_plain);
    println!("RESULT raw_zmq_curve_pubsub={raw_curve:.0} msgs/s");
    println!("RESULT raw_zmq_plain_pubsub={raw_plain:.0} msgs/s");
    let mut met = true;
    for (engine, rates) in [
        ("libzmq", &mut ours_libzmq),
        ("purerust", &mut ours_purerust),
    ] {
        let rate = median(rates);
        let ratio = rate / raw_curve;
        println!("RESULT curve_pubsub_{engine}={rate:.0} msgs/s");
        println!("RESULT curve_{engine}_vs_raw={ratio:.3} ratio");
        met &= Target::new("curve", "CURVE pub->sub (transport)", engine)
            .ours(format!("{rate:.0} msg/s"))
            .baseline(format!("{raw_curve:.0} msg/s raw libzmq CURVE"))
            .ratio(ratio)
            .goal(">= 0.8x raw")
            .print(ratio >= 0.8);
    }
    posttroll_testkit::bench::print_summary(met);
}

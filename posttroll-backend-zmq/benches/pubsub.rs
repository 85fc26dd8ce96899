//! PUB→SUB throughput of 420-byte frames over `tcp://127.0.0.1`, two
//! threads, no losses allowed: raw `zmq` sockets against the same through
//! `ZmqTransport`'s `PubSocket`/`SubSocket`.
//!
//! ```text
//! cargo bench -p posttroll-backend-zmq --bench pubsub
//! PTRS_BENCH_N=200000 PTRS_BENCH_RUNS=1 cargo bench -p posttroll-backend-zmq --bench pubsub
//! ```
//!
//! Prints `RESULT name=value unit` lines; each figure is the best of
//! `PTRS_BENCH_RUNS` runs (default 3) of `PTRS_BENCH_N` frames (default
//! 1 000 000), timed from the first frame sent to the last one received.
//! Without `--bench` (which `cargo bench` passes) it only runs a smoke
//! round of 10 000 frames.
//!
//! Figures: `raw_zmq_pubsub` and `transport_pubsub` both with SNDHWM =
//! RCVHWM = 0 (unbounded, so nothing is dropped), and their ratio;
//! `raw_zmq_xpub_pubsub` the same raw test from an `XPUB` (what the
//! transport binds), and its ratio to the `PUB`;
//! `transport_pubsub_sub_rcvhwm_default` with the subscriber's default
//! RCVHWM (1000); `transport_pubsub_no_drop_default_hwm` with
//! `PubOptions::no_drop` and default high-water marks (bounded queues,
//! backpressure instead of losses), and its ratio to raw.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "common/raw.rs"]
mod raw;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll_backend_zmq::ZmqTransport;
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

/// Raw libzmq: SNDHWM = RCVHWM = 0, one context, two threads; the
/// publisher a `PUB`, or an `XPUB` with `ZMQ_XPUB_VERBOSE` (as
/// `ZmqTransport` binds, which sets `VERBOSER`: the same sending path).
fn raw(n: u64, xpub: bool) -> f64 {
    let context = zmq::Context::new();
    let kind = if xpub { zmq::XPUB } else { zmq::PUB };
    let (publisher, subscriber) = raw::pair(&context, kind, true, |publisher, _| {
        if xpub {
            publisher.set_xpub_verbose(true).unwrap();
        }
    });
    raw::run(publisher, subscriber, n, &data_frame()).rate
}

/// The same through `ZmqTransport`: each side on its own thread with a
/// current-thread tokio runtime.
fn transport(n: u64, hwm: Option<u32>, rcvhwm: Option<i32>, no_drop: bool) -> f64 {
    let transport = ZmqTransport::builder(&Config::default())
        .subscriber_receive_high_water_mark(rcvhwm)
        .build()
        .unwrap();
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
                spec.options = PubOptions {
                    send_high_water_mark: hwm,
                    no_drop,
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
                .connect_subscriber(&endpoint, &[String::new()], Security::Plain)
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
    rate(n, end - start)
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn best(runs: u64, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`,
    // a bare run) gets a tiny smoke round.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        10_000
    } else {
        env_or("PTRS_BENCH_N", 1_000_000)
    };
    let runs = if quick {
        1
    } else {
        env_or("PTRS_BENCH_RUNS", 3)
    };
    println!("PUB->SUB over tcp://127.0.0.1, {SIZE}-byte frames, N = {n}, best of {runs}");

    let raw_rate = best(runs, || raw(n, false));
    println!("RESULT raw_zmq_pubsub={raw_rate:.0} msgs/s");
    let raw_xpub = best(runs, || raw(n, true));
    println!("RESULT raw_zmq_xpub_pubsub={raw_xpub:.0} msgs/s");
    println!("RESULT raw_xpub_vs_pub={:.3} ratio", raw_xpub / raw_rate);
    let ours = best(runs, || transport(n, Some(0), Some(0), false));
    println!("RESULT transport_pubsub={ours:.0} msgs/s");
    println!("RESULT transport_vs_raw={:.3} ratio", ours / raw_rate);
    let defaults = best(runs, || transport(n, Some(0), None, false));
    println!("RESULT transport_pubsub_sub_rcvhwm_default={defaults:.0} msgs/s");
    let no_drop = best(runs, || transport(n, None, None, true));
    println!("RESULT transport_pubsub_no_drop_default_hwm={no_drop:.0} msgs/s");
    println!(
        "RESULT transport_no_drop_vs_raw={:.3} ratio",
        no_drop / raw_rate
    );
}

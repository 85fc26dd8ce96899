//! PUB→SUB throughput of 420-byte frames over `tcp://127.0.0.1`, two
//! threads (each a current-thread tokio runtime), no losses allowed: raw
//! `omq_tokio` sockets against the same through `PureRustTransport`'s
//! `PubSocket`/`SubSocket`.
//!
//! ```text
//! cargo bench -p posttroll-backend-purerust --bench pubsub
//! PTRS_BENCH_N=200000 PTRS_BENCH_RUNS=1 cargo bench -p posttroll-backend-purerust --bench pubsub
//! ```
//!
//! Prints `RESULT name=value unit` lines; each figure is the best of
//! `PTRS_BENCH_RUNS` runs (default 3) of `PTRS_BENCH_N` frames (default
//! 1 000 000), timed from the first frame sent to the last one received,
//! every frame counted at the subscriber. Without `--bench` (which
//! `cargo bench` passes) it only runs a smoke round of 10 000 frames.
//!
//! Figures: `raw_omq_pubsub_no_drop` (omq PUB with `xpub_nodrop`, default
//! high-water marks of 1000) and `transport_pubsub_no_drop` (the same
//! through the transport: `PubOptions::no_drop`, default high-water marks),
//! and their ratio; `transport_pubsub_no_drop_hwm_100000` with a send
//! high-water mark of 100 000; `transport_pubsub_no_drop_rcvhwm_1000` with
//! the subscriber's receive high-water mark of raw omq's (1000) instead of
//! the config's (4 frames with the defaults), and its ratio to raw.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use omq_tokio::{Message, Options, Socket, SocketType};
use posttroll_backend_purerust::PureRustTransport;
use posttroll_core::{BindSpec, Config, Endpoint, PubOptions, Security, Transport};

const SIZE: usize = 420;
const LIMIT: Duration = Duration::from_secs(120);

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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Raw omq: PUB with `xpub_nodrop`, SUB, default high-water marks.
fn raw(n: u64) -> f64 {
    let joined = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel::<String>();
    let (start_tx, start_rx) = mpsc::channel::<Instant>();
    // The publisher's runtime drives its socket: it must run until the
    // subscriber has everything.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = {
        let joined = joined.clone();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let options = Options {
                    xpub_nodrop: true,
                    ..Options::default()
                };
                let socket = Socket::new(SocketType::Pub, options);
                let bound = socket.bind("tcp://127.0.0.1:0").await.unwrap();
                port_tx.send(bound.to_string()).unwrap();
                while !joined.load(Ordering::Acquire) {
                    socket.send(Message::single("P")).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let frame = Bytes::from(data_frame());
                start_tx.send(Instant::now()).unwrap();
                for _ in 0..n {
                    socket.send(Message::single(frame.clone())).await.unwrap();
                }
                let _ = done_rx.await;
                socket
            })
        })
    };
    let endpoint = port_rx.recv().unwrap();
    let subscriber = std::thread::spawn(move || {
        runtime().block_on(async move {
            let socket = Socket::new(SocketType::Sub, Options::default());
            socket.subscribe(Bytes::new()).await.unwrap();
            socket.connect(endpoint.as_str()).await.unwrap();
            let deadline = Instant::now() + LIMIT;
            let mut got = 0;
            let mut batch = Vec::with_capacity(256);
            while got < n {
                assert!(Instant::now() < deadline, "stuck at {got} of {n}");
                batch.clear();
                socket.recv_many_into(256, &mut batch).await.unwrap();
                for message in &batch {
                    match message.part_slice(0).and_then(|p| p.first()) {
                        Some(b'D') => got += 1,
                        _ => joined.store(true, Ordering::Release),
                    }
                }
            }
            Instant::now()
        })
    });
    let end = subscriber.join().unwrap();
    let _ = done_tx.send(());
    let start = start_rx.recv().unwrap();
    drop(publisher.join().unwrap());
    rate(n, end - start)
}

/// The same through `PureRustTransport`: the publisher's send high-water
/// mark `hwm` (`None`: omq's default), the subscriber's receive high-water
/// mark `rcvhwm` (`None`: the config's, 4 frames with the defaults).
fn transport(n: u64, hwm: Option<u32>, rcvhwm: Option<u32>) -> f64 {
    let mut builder = PureRustTransport::builder(&Config::default());
    if let Some(rcvhwm) = rcvhwm {
        builder = builder.subscriber_receive_high_water_mark(Some(rcvhwm));
    }
    let transport = builder.build().unwrap();
    let joined = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = mpsc::channel::<Endpoint>();
    let (start_tx, start_rx) = mpsc::channel::<Instant>();
    // The publisher's runtime drives its socket: it must run until the
    // subscriber has everything.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();

    let publisher = {
        let transport = transport.clone();
        let joined = joined.clone();
        std::thread::spawn(move || {
            runtime().block_on(async move {
                let mut spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
                spec.options = PubOptions {
                    send_high_water_mark: hwm,
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
            let deadline = Instant::now() + LIMIT;
            let mut got = 0;
            while got < n {
                let frame = socket.recv().await.unwrap();
                match frame.first() {
                    Some(b'D') => got += 1,
                    _ => joined.store(true, Ordering::Release),
                }
                if got % 65536 == 0 {
                    assert!(Instant::now() < deadline, "stuck at {got} of {n}");
                }
            }
            Instant::now()
        })
    });
    let end = subscriber.join().unwrap();
    let _ = done_tx.send(());
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
    println!("PUB->SUB over tcp://127.0.0.1, {SIZE}-byte frames, no drop, N = {n}, best of {runs}");

    let raw_rate = best(runs, || raw(n));
    println!("RESULT raw_omq_pubsub_no_drop={raw_rate:.0} msgs/s");
    let ours = best(runs, || transport(n, None, None));
    println!("RESULT transport_pubsub_no_drop={ours:.0} msgs/s");
    println!("RESULT transport_vs_raw={:.3} ratio", ours / raw_rate);
    let big = best(runs, || transport(n, Some(100_000), None));
    println!("RESULT transport_pubsub_no_drop_hwm_100000={big:.0} msgs/s");
    let deep = best(runs, || transport(n, None, Some(1000)));
    println!("RESULT transport_pubsub_no_drop_rcvhwm_1000={deep:.0} msgs/s");
    println!(
        "RESULT transport_rcvhwm_1000_vs_raw={:.3} ratio",
        deep / raw_rate
    );
}

//! Part 2: latency at 1k msg/s, ours (with the codec), the transport alone
//! and raw libzmq, in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use posttroll::backend::{BindSpec, PubOptions};
use posttroll::subscriber::Subscriber;
use posttroll::Security;
use posttroll_testkit::bench::Target;

use crate::common::{
    context, engine, paced_runtime, percentile, runtime, sequence, skip_raw, thread_sleeps, Joined,
    Pacer, Sequence, IDLE,
};
use crate::throughput::{raw_pair, spawn_publisher};

/// Latencies in µs, sorted, and how many were lost.
pub struct Latency {
    sorted_us: Vec<f64>,
    lost: u64,
    /// Times the receiving thread went to sleep, per message received.
    sleeps: f64,
}

impl Latency {
    fn p(&self, p: f64) -> f64 {
        percentile(&self.sorted_us, p)
    }

    /// The latencies of `rounds` pooled.
    fn pool(rounds: Vec<Latency>) -> Latency {
        let received: usize = rounds.iter().map(|r| r.sorted_us.len()).sum();
        let sleeps: f64 = rounds
            .iter()
            .map(|r| r.sleeps * r.sorted_us.len() as f64)
            .sum();
        let mut sorted_us: Vec<f64> = rounds.iter().flat_map(|r| r.sorted_us.clone()).collect();
        sorted_us.sort_by(f64::total_cmp);
        Latency {
            sorted_us,
            lost: rounds.iter().map(|r| r.lost).sum(),
            sleeps: sleeps / received.max(1) as f64,
        }
    }
}

/// Ours at one message per `period`.
fn ours_latency(n: u64, period: Duration) -> Latency {
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let joined = Arc::new(Joined::default());
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // One context for both sides, as the raw baseline.
    let ctx = context();
    let publisher = spawn_publisher(
        ctx.clone(),
        n,
        Some(period),
        Some((base, sent.clone())),
        (joined.clone(), 1),
        endpoint_tx,
        done_rx,
    );
    let endpoint = endpoint_rx.recv().unwrap();
    let subscriber = thread::spawn(move || {
        runtime().block_on(async move {
            let subscriber = Subscriber::builder()
                .addresses([endpoint])
                .context(ctx)
                .start()
                .await
                .unwrap();
            let mut latencies = Vec::with_capacity(n as usize);
            let mut seen = Sequence::default();
            let mut sleeps = 0;
            let mut probed = false;
            while seen.received < n {
                let Some(msg) = subscriber.recv(Some(IDLE)).await.unwrap() else {
                    break;
                };
                let Some(seq) = sequence(&msg) else {
                    if !probed {
                        probed = true;
                        joined.join();
                    }
                    continue;
                };
                let now = base.elapsed().as_nanos() as u64;
                let at = sent[seq as usize].load(Ordering::Acquire);
                latencies.push(now.saturating_sub(at) as f64 / 1000.0);
                if seen.received == 0 {
                    sleeps = thread_sleeps();
                }
                seen.see(seq);
            }
            let sleeps = thread_sleeps() - sleeps;
            subscriber.stop().await.unwrap();
            (latencies, seen, sleeps)
        })
    });
    let (mut latencies, seen, sleeps) = subscriber.join().unwrap();
    let _ = done_tx.send(());
    let _ = publisher.join().unwrap();
    latencies.sort_by(f64::total_cmp);
    Latency {
        sorted_us: latencies,
        lost: n - seen.received,
        sleeps: sleeps as f64 / seen.received.max(1) as f64,
    }
}

/// The backend alone (no codec, no [`Subscriber`] queue): pre-encoded
/// frames through the transport's `PubSocket`/`SubSocket`, each side on
/// its own current-thread runtime, one frame per `period`.
fn transport_latency(n: u64, period: Duration, frame: &[u8]) -> Latency {
    let ctx = context();
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let joined = Arc::new(Joined::default());
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = {
        let (ctx, sent, joined) = (ctx.clone(), sent.clone(), joined.clone());
        let frame = bytes::Bytes::copy_from_slice(frame);
        thread::spawn(move || {
            paced_runtime().block_on(async move {
                let mut spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
                spec.options = PubOptions {
                    send_high_water_mark: None,
                    no_drop: true,
                };
                let socket = ctx.transport().bind_publisher(spec).await.unwrap();
                endpoint_tx.send(socket.endpoint().clone()).unwrap();
                while joined.count() == 0 {
                    socket.send(bytes::Bytes::from_static(b"P")).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let mut pacer = Pacer::new(period);
                for seq in 0..n as usize {
                    pacer.wait();
                    sent[seq].store(base.elapsed().as_nanos() as u64, Ordering::Release);
                    socket.send(frame.clone()).await.unwrap();
                    pacer.sent().await;
                }
                let _ = done_rx.await;
                socket.close().await.unwrap();
            })
        })
    };
    let endpoint = endpoint_rx.recv().unwrap();
    let receiver = thread::spawn(move || {
        runtime().block_on(async move {
            let mut socket = ctx
                .transport()
                .connect_subscriber(&endpoint, &[String::new()], Security::Plain)
                .await
                .unwrap();
            let mut latencies = Vec::with_capacity(n as usize);
            let mut sleeps = 0;
            while (latencies.len() as u64) < n {
                let Ok(frame) = tokio::time::timeout(IDLE, socket.recv()).await else {
                    break;
                };
                if frame.unwrap().len() == 1 {
                    if joined.count() == 0 {
                        joined.join();
                    }
                    continue;
                }
                let now = base.elapsed().as_nanos() as u64;
                let at = sent[latencies.len()].load(Ordering::Acquire);
                latencies.push(now.saturating_sub(at) as f64 / 1000.0);
                if latencies.len() == 1 {
                    sleeps = thread_sleeps();
                }
            }
            let sleeps = thread_sleeps() - sleeps;
            (latencies, sleeps)
        })
    });
    let (mut latencies, sleeps) = receiver.join().unwrap();
    let _ = done_tx.send(());
    publisher.join().unwrap();
    latencies.sort_by(f64::total_cmp);
    let lost = n - latencies.len() as u64;
    Latency {
        sleeps: sleeps as f64 / latencies.len().max(1) as f64,
        sorted_us: latencies,
        lost,
    }
}

/// Raw libzmq at one frame per `period` (blocking receive).
fn raw_latency(n: u64, period: Duration, frame: &[u8]) -> Latency {
    let (_context, publisher, subscriber) = raw_pair(false);
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let receiver = {
        let sent = sent.clone();
        thread::spawn(move || {
            subscriber.set_rcvtimeo(IDLE.as_millis() as i32).unwrap();
            let mut msg = zmq::Message::new();
            let mut latencies = Vec::with_capacity(n as usize);
            let mut sleeps = 0;
            while (latencies.len() as u64) < n {
                if subscriber.recv(&mut msg, 0).is_err() {
                    break;
                }
                let now = base.elapsed().as_nanos() as u64;
                let at = sent[latencies.len()].load(Ordering::Acquire);
                latencies.push(now.saturating_sub(at) as f64 / 1000.0);
                if latencies.len() == 1 {
                    sleeps = thread_sleeps();
                }
            }
            let sleeps = thread_sleeps() - sleeps;
            (latencies, sleeps)
        })
    };
    let start = Instant::now();
    let mut next = start;
    for seq in 0..n as usize {
        let now = Instant::now();
        if now < next {
            thread::sleep(next - now);
        }
        next += period;
        let now = Instant::now();
        if next < now {
            next = now + period;
        }
        sent[seq].store(base.elapsed().as_nanos() as u64, Ordering::Release);
        publisher.send(frame, 0).unwrap();
    }
    let (mut latencies, sleeps) = receiver.join().unwrap();
    latencies.sort_by(f64::total_cmp);
    let lost = n - latencies.len() as u64;
    Latency {
        sleeps: sleeps as f64 / latencies.len().max(1) as f64,
        sorted_us: latencies,
        lost,
    }
}

/// Part 2; returns whether its targets are met.
pub fn latency(latency_n: u64, rounds: u64, frame: &[u8]) -> bool {
    let period = Duration::from_millis(1);
    println!(
        "\n2. latency at 1k msg/s: {latency_n} messages, 1 ms apart, in {rounds} round(s) of \
         ours, the transport alone and raw in turn (pooled)"
    );
    let per_round = (latency_n / rounds).max(1);
    let (mut ours, mut transport, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(ours_latency(per_round, period));
        transport.push(transport_latency(per_round, period, frame));
        if !skip_raw() {
            raw.push(raw_latency(per_round, period, frame));
        }
    }
    let (ours, transport) = (Latency::pool(ours), Latency::pool(transport));
    println!(
        "   ours: received {}, lost {}, p50 {:.1} us, p99 {:.1} us, max {:.1} us; \
         receiver slept {:.2} times per message",
        ours.sorted_us.len(),
        ours.lost,
        ours.p(50.0),
        ours.p(99.0),
        ours.p(100.0),
        ours.sleeps
    );
    println!(
        "   ours, transport only (encoded frames, no codec, no Subscriber queue): \
         received {}, lost {}, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        transport.sorted_us.len(),
        transport.lost,
        transport.p(50.0),
        transport.p(99.0),
        transport.p(100.0)
    );
    println!("RESULT e2e_latency_p50={:.1} us", ours.p(50.0));
    println!("RESULT e2e_latency_p99={:.1} us", ours.p(99.0));
    if skip_raw() {
        return ours.lost == 0;
    }
    let raw = Latency::pool(raw);
    println!(
        "   raw:  received {}, lost {}, p50 {:.1} us, p99 {:.1} us, max {:.1} us; \
         receiver slept {:.2} times per message",
        raw.sorted_us.len(),
        raw.lost,
        raw.p(50.0),
        raw.p(99.0),
        raw.p(100.0),
        raw.sleeps
    );
    println!("RESULT raw_zmq_latency_p50={:.1} us", raw.p(50.0));
    println!("RESULT raw_zmq_latency_p99={:.1} us", raw.p(99.0));
    let mut met = ours.lost == 0;
    for (key, p, goal) in [("latency_p50", 50.0, 1.25), ("latency_p99", 99.0, 1.5)] {
        let ratio = ours.p(p) / raw.p(p);
        println!("RESULT e2e_{key}_vs_raw={ratio:.3} ratio");
        met &= Target::new(key, &format!("latency p{p} at 1k msg/s"), &engine())
            .ours(format!("{:.1} us", ours.p(p)))
            .baseline(format!("{:.1} us raw libzmq", raw.p(p)))
            .ratio(ratio)
            .goal(format!("<= {goal}x raw"))
            .print(ratio <= goal);
    }
    met
}

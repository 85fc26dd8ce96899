//! Part 2: latency at 1k msg/s, ours (with the codec), the transport alone
//! and raw libzmq, in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use posttroll::backend::{BindSpec, PubOptions};
use posttroll::Security;
use posttroll_testkit::bench::Target;

use crate::common::{
    context, engine, paced_runtime, percentile, runtime, skip_raw, thread_sleeps, Joined, Pacer,
    IDLE,
};
use crate::raw;
use crate::throughput::publish_and_receive;

/// The send times of a run by sequence number, in ns since a base, shared
/// by its sender and its receiver.
#[derive(Clone)]
pub struct Stamps {
    base: Instant,
    sent: Arc<Vec<AtomicU64>>,
}

impl Stamps {
    pub fn new(n: u64) -> Stamps {
        Stamps {
            base: Instant::now(),
            sent: Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// Message `seq` is sent now.
    pub fn sent(&self, seq: usize) {
        let ns = self.base.elapsed().as_nanos() as u64;
        self.sent[seq].store(ns, Ordering::Release);
    }

    /// µs since message `seq` was sent.
    fn since_sent_us(&self, seq: usize) -> f64 {
        let now = self.base.elapsed().as_nanos() as u64;
        now.saturating_sub(self.sent[seq].load(Ordering::Acquire)) as f64 / 1000.0
    }
}

/// What a receiving thread records: each message's latency, and how often
/// the thread slept from the first one on.
pub struct Recorder {
    latencies: Vec<f64>,
    sleeps: u64,
}

impl Recorder {
    pub fn new(n: u64) -> Recorder {
        Recorder {
            latencies: Vec::with_capacity(n as usize),
            sleeps: 0,
        }
    }

    /// Message `seq` arrived now.
    pub fn record(&mut self, stamps: &Stamps, seq: usize) {
        if self.latencies.is_empty() {
            self.sleeps = thread_sleeps();
        }
        self.latencies.push(stamps.since_sent_us(seq));
    }

    fn count(&self) -> usize {
        self.latencies.len()
    }

    /// The latencies of a run of `n` messages (call it on the receiving
    /// thread).
    pub fn finish(mut self, n: u64) -> Latency {
        let sleeps = thread_sleeps() - self.sleeps;
        self.latencies.sort_by(f64::total_cmp);
        let received = self.latencies.len();
        Latency {
            sorted_us: self.latencies,
            lost: n.saturating_sub(received as u64),
            sleeps: sleeps as f64 / received.max(1) as f64,
        }
    }
}

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

    fn print(&self, who: &str) {
        println!(
            "   {who}: received {}, lost {}, p50 {:.1} us, p99 {:.1} us, max {:.1} us; \
             receiver slept {:.2} times per message",
            self.sorted_us.len(),
            self.lost,
            self.p(50.0),
            self.p(99.0),
            self.p(100.0),
            self.sleeps
        );
    }
}

/// Ours at one message per `period`: [`Publisher`](posttroll::publisher::Publisher)
/// → [`Subscriber`](posttroll::subscriber::Subscriber), building, encoding
/// and decoding each message.
fn ours_latency(n: u64, period: Duration) -> Latency {
    let (mut received, _, _) = publish_and_receive(n, 1, Some(period), Some(Stamps::new(n)));
    received.remove(0).latency.unwrap()
}

/// The backend alone (no codec, no [`Subscriber`](posttroll::subscriber::Subscriber)
/// queue): pre-encoded frames through the transport's `PubSocket`/`SubSocket`,
/// each side on its own current-thread runtime, one frame per `period`.
fn transport_latency(n: u64, period: Duration, frame: &[u8]) -> Latency {
    let ctx = context();
    let stamps = Stamps::new(n);
    let joined = Arc::new(Joined::default());
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = {
        let (ctx, stamps, joined) = (ctx.clone(), stamps.clone(), joined.clone());
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
                    stamps.sent(seq);
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
            let mut recorder = Recorder::new(n);
            while (recorder.count() as u64) < n {
                let Ok(frame) = tokio::time::timeout(IDLE, socket.recv()).await else {
                    break;
                };
                if frame.unwrap().len() == 1 {
                    if joined.count() == 0 {
                        joined.join();
                    }
                    continue;
                }
                recorder.record(&stamps, recorder.count());
            }
            recorder.finish(n)
        })
    });
    let latency = receiver.join().unwrap();
    let _ = done_tx.send(());
    publisher.join().unwrap();
    latency
}

/// Raw libzmq at one frame per `period` (blocking receive).
fn raw_latency(n: u64, period: Duration, frame: &[u8]) -> Latency {
    let context = zmq::Context::new();
    let (publisher, subscriber) = raw::pair(&context, zmq::PUB, false, |_, _| {});
    let stamps = Stamps::new(n);
    let receiver = {
        let stamps = stamps.clone();
        thread::spawn(move || {
            subscriber.set_rcvtimeo(IDLE.as_millis() as i32).unwrap();
            let mut msg = zmq::Message::new();
            let mut recorder = Recorder::new(n);
            while (recorder.count() as u64) < n {
                if subscriber.recv(&mut msg, 0).is_err() {
                    break;
                }
                recorder.record(&stamps, recorder.count());
            }
            recorder.finish(n)
        })
    };
    let mut pacer = Pacer::new(period);
    for seq in 0..n as usize {
        pacer.wait();
        stamps.sent(seq);
        publisher.send(frame, 0).unwrap();
    }
    receiver.join().unwrap()
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
    ours.print("ours");
    transport.print("ours, transport only (encoded frames, no codec, no Subscriber queue)");
    println!("RESULT e2e_latency_p50={:.1} us", ours.p(50.0));
    println!("RESULT e2e_latency_p99={:.1} us", ours.p(99.0));
    if skip_raw() {
        return ours.lost == 0;
    }
    let raw = Latency::pool(raw);
    raw.print("raw");
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

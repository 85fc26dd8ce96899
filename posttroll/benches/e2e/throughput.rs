//! Parts 1 (pub→sub throughput) and 4 (fan-out, one publisher to eight
//! subscribers), each beside raw libzmq doing the same transport work.

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Context, Message};
use posttroll_testkit::bench::Target;

use crate::common::{
    context, engine, median, metadata_message, paced_runtime, per_message_us, pure_rust, range,
    runtime, sequence, skip_raw, thread_cpu_ns, CodecCost, Joined, Pacer, Sequence, IDLE, PROBE,
};
use crate::latency::{Latency, Recorder, Stamps};

/// What one throughput run saw (one subscriber).
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub rate: f64,
    pub received: u64,
    pub lost: u64,
    pub out_of_order: u64,
    /// CPU time of the sending thread per message, in µs.
    pub pub_cpu_us: f64,
    /// CPU time of the receiving thread per message, in µs.
    pub sub_cpu_us: f64,
}

/// Publishes `n` metadata messages from one thread (building and encoding
/// each), with probes before them until `expected` subscribers `joined`;
/// keeps the publisher until `done` so that nothing queued is lost at
/// close. Returns the endpoint (through `endpoint`), the instant the first
/// data message was sent and the thread's CPU time (ns) in sending them.
fn spawn_publisher(
    ctx: Context,
    n: u64,
    period: Option<Duration>,
    stamps: Option<Stamps>,
    (joined, expected): (Arc<Joined>, usize),
    endpoint: mpsc::Sender<String>,
    done: tokio::sync::oneshot::Receiver<()>,
) -> thread::JoinHandle<(Instant, u64)> {
    thread::spawn(move || {
        let rt = match period {
            Some(_) => paced_runtime(),
            None => runtime(),
        };
        rt.block_on(async move {
            let mut builder = Publisher::builder("tcp://127.0.0.1:0")
                .name("bench")
                .no_drop(true)
                .context(ctx);
            if let Ok(hwm) = std::env::var("E2E_SNDHWM") {
                builder = builder.send_high_water_mark(hwm.parse().unwrap());
            }
            let publisher = builder.start().await.unwrap();
            endpoint.send(publisher.endpoint().to_string()).unwrap();
            let probe = Message::new(PROBE, "probe", "").unwrap();
            while joined.count() < expected {
                publisher.send(&probe).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let start = Instant::now();
            let cpu = thread_cpu_ns();
            let mut pacer = period.map(Pacer::new);
            for seq in 0..n {
                if let Some(pacer) = pacer.as_mut() {
                    pacer.wait();
                }
                if let Some(stamps) = &stamps {
                    stamps.sent(seq as usize);
                }
                publisher.send(&metadata_message(seq)).await.unwrap();
                if let Some(pacer) = &pacer {
                    pacer.sent().await;
                }
            }
            let cpu = thread_cpu_ns() - cpu;
            let _ = done.await;
            publisher.stop().await.unwrap();
            (start, cpu)
        })
    })
}

/// What one subscriber thread saw.
pub struct Received {
    pub seen: Sequence,
    /// When the last message came.
    pub end: Instant,
    /// The thread's CPU time from the first data message on, in ns.
    pub cpu_ns: u64,
    /// The latencies, when the messages' send times were given.
    pub latency: Option<Latency>,
}

/// One [`Subscriber`] thread: receives `n` metadata messages (checking
/// their sequence, and recording their latencies when `stamps` says when
/// they were sent), joining on the first probe.
fn spawn_subscriber(
    ctx: Context,
    endpoint: String,
    n: u64,
    joined: Arc<Joined>,
    stamps: Option<Stamps>,
) -> thread::JoinHandle<Received> {
    thread::spawn(move || {
        runtime().block_on(async move {
            let subscriber = Subscriber::builder()
                .addresses([endpoint])
                .context(ctx)
                .start()
                .await
                .unwrap();
            let mut seen = Sequence::default();
            let mut recorder = stamps.as_ref().map(|_| Recorder::new(n));
            let mut cpu = 0;
            let mut probed = false;
            while seen.received < n {
                let Some(msg) = subscriber.recv(Some(IDLE)).await.unwrap() else {
                    break;
                };
                match sequence(&msg) {
                    Some(seq) => {
                        if let (Some(recorder), Some(stamps)) = (recorder.as_mut(), &stamps) {
                            recorder.record(stamps, seq as usize);
                        }
                        if seen.received == 0 {
                            cpu = thread_cpu_ns();
                        }
                        seen.see(seq);
                    }
                    None if !probed => {
                        probed = true;
                        joined.join();
                    }
                    None => {}
                }
            }
            let end = Instant::now();
            let cpu_ns = thread_cpu_ns() - cpu;
            let latency = recorder.map(|recorder| recorder.finish(n));
            subscriber.stop().await.unwrap();
            Received {
                seen,
                end,
                cpu_ns,
                latency,
            }
        })
    })
}

/// One publisher thread ([`spawn_publisher`]) → `subscribers` subscriber
/// threads ([`spawn_subscriber`]), one context (one libzmq I/O thread) for
/// every side, as the raw baselines: what each subscriber saw, when the
/// publisher started sending and its CPU time (ns).
pub fn publish_and_receive(
    n: u64,
    subscribers: usize,
    period: Option<Duration>,
    stamps: Option<Stamps>,
) -> (Vec<Received>, Instant, u64) {
    let joined = Arc::new(Joined::default());
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let ctx = context();
    let publisher = spawn_publisher(
        ctx.clone(),
        n,
        period,
        stamps.clone(),
        (joined.clone(), subscribers),
        endpoint_tx,
        done_rx,
    );
    let endpoint = endpoint_rx.recv().unwrap();
    let receivers: Vec<_> = (0..subscribers)
        .map(|_| {
            let (ctx, endpoint, joined) = (ctx.clone(), endpoint.clone(), joined.clone());
            spawn_subscriber(ctx, endpoint, n, joined, stamps.clone())
        })
        .collect();
    let received: Vec<_> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
    let _ = done_tx.send(());
    let (start, pub_cpu) = publisher.join().unwrap();
    (received, start, pub_cpu)
}

/// Ours: one [`Publisher`] → `subscribers` [`Subscriber`]s (each on its
/// own thread), `n` metadata messages; one run per subscriber.
fn ours(n: u64, subscribers: usize) -> Vec<Throughput> {
    let (seen, start, pub_cpu) = publish_and_receive(n, subscribers, None, None);
    seen.into_iter()
        .map(|r| Throughput {
            rate: r.seen.received as f64 / (r.end - start).as_secs_f64(),
            received: r.seen.received,
            lost: n.saturating_sub(r.seen.received),
            out_of_order: r.seen.out_of_order,
            pub_cpu_us: per_message_us(pub_cpu, n),
            sub_cpu_us: per_message_us(r.cpu_ns, r.seen.received),
        })
        .collect()
}

/// Raw libzmq: one PUB → `subscribers` SUBs (each on its own thread), one
/// context, `SNDHWM` = `RCVHWM` = 0 (nothing can drop), `n` frames of the
/// encoded metadata message.
fn raw(n: u64, subscribers: usize, frame: &[u8]) -> Vec<Throughput> {
    let context = zmq::Context::new();
    let publisher = context.socket(zmq::PUB).unwrap();
    publisher.set_sndhwm(0).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.get_last_endpoint().unwrap().unwrap();
    let joined = Arc::new(Joined::default());
    let receivers: Vec<_> = (0..subscribers)
        .map(|_| {
            let subscriber = context.socket(zmq::SUB).unwrap();
            subscriber.set_rcvhwm(0).unwrap();
            subscriber.set_subscribe(b"").unwrap();
            subscriber.connect(&endpoint).unwrap();
            let joined = joined.clone();
            thread::spawn(move || {
                let mut msg = zmq::Message::new();
                let mut got = 0;
                let mut cpu = 0;
                let mut probed = false;
                while got < n {
                    subscriber.recv(&mut msg, 0).unwrap();
                    if msg.first() == Some(&b'P') {
                        if !probed {
                            probed = true;
                            joined.join();
                        }
                        continue;
                    }
                    if got == 0 {
                        cpu = thread_cpu_ns();
                    }
                    got += 1;
                }
                (got, Instant::now(), thread_cpu_ns() - cpu)
            })
        })
        .collect();
    while joined.count() < subscribers {
        publisher.send(&b"P"[..], 0).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        publisher.send(frame, 0).unwrap();
    }
    let pub_cpu = thread_cpu_ns() - cpu;
    receivers
        .into_iter()
        .map(|r| {
            let (got, end, sub_cpu) = r.join().unwrap();
            Throughput {
                rate: got as f64 / (end - start).as_secs_f64(),
                received: got,
                lost: n - got,
                out_of_order: 0,
                pub_cpu_us: per_message_us(pub_cpu, n),
                sub_cpu_us: per_message_us(sub_cpu, got),
            }
        })
        .collect()
}

fn print_run(who: &str, run: u64, t: &Throughput, n: u64) {
    println!(
        "   {who} run {run}: {:.0} msgs/s, received {}/{n}, lost {}, out of order {}; \
         CPU per message: sender {:.2} us, receiver {:.2} us",
        t.rate, t.received, t.lost, t.out_of_order, t.pub_cpu_us, t.sub_cpu_us
    );
}

/// Part 1: `runs` runs of ours and of raw, alternating (so that both see
/// the same load); returns whether its targets are met (panics when a
/// message is lost).
pub fn throughput(n: u64, runs: u64, frame: &[u8], codec: CodecCost) -> bool {
    println!("\n1. PUB->SUB throughput: {n} messages, {runs} run(s) each, alternating");
    let mut ours_runs = Vec::new();
    let mut raw_runs = Vec::new();
    for run in 1..=runs {
        let t = ours(n, 1)[0];
        print_run("ours", run, &t, n);
        assert!(
            t.received == n && t.lost == 0 && t.out_of_order == 0,
            "messages were lost or reordered"
        );
        ours_runs.push(t);
        if !skip_raw() {
            let t = raw(n, 1, frame)[0];
            print_run("raw ", run, &t, n);
            raw_runs.push(t);
        }
    }
    let rates = |runs: &[Throughput]| runs.iter().map(|t| t.rate).collect::<Vec<_>>();
    let cpu = |runs: &[Throughput], f: fn(&Throughput) -> f64| {
        median(&runs.iter().map(f).collect::<Vec<_>>())
    };
    let ours_rate = median(&rates(&ours_runs));
    let (lo, hi) = range(&rates(&ours_runs));
    println!("RESULT e2e_pubsub={ours_rate:.0} msgs/s (median; range {lo:.0}..{hi:.0})");
    println!("RESULT e2e_pubsub_nothing_lost=true");
    let (ours_pub, ours_sub) = (
        cpu(&ours_runs, |t| t.pub_cpu_us),
        cpu(&ours_runs, |t| t.sub_cpu_us),
    );
    println!(
        "   CPU per message, median: sender {ours_pub:.2} us (of which building + encoding \
         {:.2}), receiver {ours_sub:.2} us (of which decoding {:.2}); without the codec: \
         sender {:.2} us, receiver {:.2} us",
        codec.build_encode_us,
        codec.decode_us,
        ours_pub - codec.build_encode_us,
        ours_sub - codec.decode_us
    );
    if raw_runs.is_empty() {
        return true;
    }
    let raw_rate = median(&rates(&raw_runs));
    let (lo, hi) = range(&rates(&raw_runs));
    let (raw_pub, raw_sub) = (
        cpu(&raw_runs, |t| t.pub_cpu_us),
        cpu(&raw_runs, |t| t.sub_cpu_us),
    );
    println!("RESULT raw_zmq_pubsub={raw_rate:.0} msgs/s (median; range {lo:.0}..{hi:.0})");
    println!(
        "   raw CPU per message, median: sender {raw_pub:.2} us, receiver {raw_sub:.2} us \
         (plus libzmq's I/O thread)"
    );
    let ratio = ours_rate / raw_rate;
    println!("RESULT e2e_vs_raw={ratio:.3} ratio");
    let (goal, met) = if pure_rust() {
        (
            ">= 1.0x raw and >= 1M msg/s",
            ratio >= 1.0 && ours_rate >= 1e6,
        )
    } else {
        (">= 0.75x raw", ratio >= 0.75)
    };
    Target::new("e2e", "pub->sub, nothing lost", &engine())
        .ours(format!("{ours_rate:.0} msg/s"))
        .baseline(format!("{raw_rate:.0} msg/s raw libzmq"))
        .ratio(ratio)
        .goal(goal)
        .print(met)
}

/// Part 4: one publisher → `subscribers` subscribers, `runs` runs of ours
/// and of raw, alternating; the slowest of our subscribers against raw's
/// median subscriber. Returns whether the target is met.
pub fn fanout(n: u64, subscribers: usize, runs: u64, frame: &[u8], codec: CodecCost) -> bool {
    println!(
        "\n4. fan-out: 1 publisher -> {subscribers} subscribers (one thread each), {n} messages, \
         {runs} run(s) each, alternating"
    );
    let mut ours_slowest = Vec::new();
    let mut raw_median = Vec::new();
    for run in 1..=runs {
        let t = ours(n, subscribers);
        assert!(
            t.iter()
                .all(|t| t.received == n && t.lost == 0 && t.out_of_order == 0),
            "messages were lost or reordered"
        );
        let rates: Vec<f64> = t.iter().map(|t| t.rate).collect();
        let (lo, hi) = range(&rates);
        let sub_cpu = median(&t.iter().map(|t| t.sub_cpu_us).collect::<Vec<_>>());
        println!(
            "   ours run {run}: per subscriber {lo:.0}..{hi:.0} msgs/s, nothing lost; CPU per \
             message: sender {:.2} us, each receiver {sub_cpu:.2} us (median)",
            t[0].pub_cpu_us
        );
        ours_slowest.push(lo);
        if !skip_raw() {
            let t = raw(n, subscribers, frame);
            let rates: Vec<f64> = t.iter().map(|t| t.rate).collect();
            let (lo, hi) = range(&rates);
            println!(
                "   raw  run {run}: per subscriber {lo:.0}..{hi:.0} msgs/s; CPU per message: \
                 sender {:.2} us, each receiver {:.2} us (median)",
                t[0].pub_cpu_us,
                median(&t.iter().map(|t| t.sub_cpu_us).collect::<Vec<_>>())
            );
            raw_median.push(median(&rates));
        }
    }
    let ours = median(&ours_slowest);
    println!("RESULT fanout_slowest_subscriber={ours:.0} msgs/s (median of runs)");
    println!(
        "   the {subscribers} subscribers decode every message: {:.2} us of CPU each, \
         {:.1} us per message in all on this machine's cores",
        codec.decode_us,
        codec.decode_us * subscribers as f64 + codec.build_encode_us
    );
    if raw_median.is_empty() {
        return true;
    }
    let raw = median(&raw_median);
    println!("RESULT raw_zmq_fanout_subscriber={raw:.0} msgs/s (median of runs)");
    let ratio = ours / raw;
    println!("RESULT fanout_vs_raw={ratio:.3} ratio");
    Target::new(
        "fanout",
        &format!("1 pub -> {subscribers} subs, slowest subscriber"),
        &engine(),
    )
    .ours(format!("{ours:.0} msg/s"))
    .baseline(format!("{raw:.0} msg/s raw libzmq subscriber"))
    .ratio(ratio)
    .goal(">= 0.8x raw")
    .print(ratio >= 0.8)
}

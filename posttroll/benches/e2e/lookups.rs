//! Parts 3 (nameserver lookups: one client, concurrent clients, raw
//! REQ/REP baselines) and 5 (discovery delay).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use posttroll::nameserver::get_pub_address;
use posttroll::publisher::NoisyPublisher;
use posttroll::{Config, Message, Value};
use posttroll_nameserver::NameServer;
use posttroll_testkit::bench::Target;

use crate::common::{
    config, context_with, engine, free_port, median, per_message_us, percentile, runtime, skip_raw,
    thread_cpu_ns,
};

/// Lookup round trips in µs (sorted) and the rate.
struct Lookups {
    rate: f64,
    sorted_us: Vec<f64>,
}

impl Lookups {
    fn p(&self, p: f64) -> f64 {
        percentile(&self.sorted_us, p)
    }
}

/// Untimed lookups before the timed ones.
const WARM_UP: usize = 200;

/// How long a lookup may take before the benchmark fails.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Times lookups back to back for at most `seconds` or `max` calls.
struct Timer {
    begin: Instant,
    stop: Instant,
    latencies: Vec<f64>,
}

impl Timer {
    fn new(seconds: f64) -> Timer {
        let begin = Instant::now();
        Timer {
            begin,
            stop: begin + Duration::from_secs_f64(seconds),
            latencies: Vec::new(),
        }
    }

    fn more(&self, max: u64) -> bool {
        (self.latencies.len() as u64) < max && Instant::now() < self.stop
    }

    fn record(&mut self, started: Instant) {
        self.latencies.push(started.elapsed().as_secs_f64() * 1e6);
    }

    fn finish(mut self) -> Lookups {
        let rate = self.latencies.len() as f64 / self.begin.elapsed().as_secs_f64();
        self.latencies.sort_by(f64::total_cmp);
        Lookups {
            rate,
            sorted_us: self.latencies,
        }
    }
}

/// Times `lookup` back to back, after [`WARM_UP`] untimed ones.
fn time_lookups(seconds: f64, max: u64, mut lookup: impl FnMut()) -> Lookups {
    for _ in 0..WARM_UP {
        lookup();
    }
    let mut timer = Timer::new(seconds);
    while timer.more(max) {
        let t = Instant::now();
        lookup();
        timer.record(t);
    }
    timer.finish()
}

/// The five addresses registered in the nameserver; lookups ask for `svc`
/// (one address).
fn announcements() -> Vec<Message> {
    ["svc", "viirs", "avhrr", "modis", "olci"]
        .iter()
        .enumerate()
        .map(|(i, service)| {
            Message::new(
                format!("/address/{service}"),
                "info",
                Value::object([
                    ("URI", Value::from(format!("tcp://127.0.0.1:{}", 40000 + i))),
                    ("service", Value::from(vec![*service, "bench"])),
                ]),
            )
            .unwrap()
        })
        .collect()
}

/// The library's nameserver on its own thread (current-thread runtime, no
/// multicast, free ports, the five addresses of [`announcements`]).
struct RunningNameServer {
    /// Its lookup endpoint.
    lookup: String,
    /// The configuration of its clients and publishers (its ports).
    config: Config,
    /// Its thread's `schedstat` (CPU time), as seen from other threads.
    schedstat: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl RunningNameServer {
    fn start() -> RunningNameServer {
        let config = Config {
            nameserver_port: free_port(),
            address_publish_port: free_port(),
            broadcast_port: free_port(),
            ..config()
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let ctx = context_with(config.clone());
        let thread = thread::spawn(move || {
            runtime().block_on(async move {
                let ns = NameServer::builder()
                    .multicast(false)
                    .address("127.0.0.1")
                    .context(ctx)
                    .start()
                    .await
                    .unwrap();
                {
                    let table = ns.address_table();
                    let mut table = table.lock().unwrap();
                    for msg in announcements() {
                        table.announce_message(msg, Utc::now()).unwrap();
                    }
                }
                // `/proc/thread-self` links to `<pid>/task/<tid>`.
                let thread = std::fs::read_link("/proc/thread-self").unwrap_or_default();
                let schedstat = std::path::Path::new("/proc")
                    .join(thread)
                    .join("schedstat")
                    .to_string_lossy()
                    .into_owned();
                ready_tx
                    .send((ns.lookup_endpoint().to_string(), schedstat))
                    .unwrap();
                let _ = stop_rx.await;
                ns.stop().await;
            })
        });
        let (lookup, schedstat) = ready_rx.recv().unwrap();
        RunningNameServer {
            lookup,
            schedstat,
            config,
            stop,
            thread,
        }
    }

    /// The CPU time its thread used so far, in ns (0 where unknown).
    fn cpu_ns(&self) -> u64 {
        std::fs::read_to_string(&self.schedstat)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().unwrap();
    }
}

/// Ours, one client: [`get_pub_address`] back to back from this thread.
fn ours_one_client(ns: &RunningNameServer, seconds: f64, max: u64) -> Lookups {
    let ctx = context_with(ns.config.clone());
    runtime().block_on(async {
        let lookup = || async {
            let found = get_pub_address(&ctx, "svc", LOOKUP_TIMEOUT, &ns.lookup)
                .await
                .unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].uri(), "tcp://127.0.0.1:40000");
        };
        for _ in 0..WARM_UP {
            lookup().await;
        }
        let mut timer = Timer::new(seconds);
        while timer.more(max) {
            let t = Instant::now();
            lookup().await;
            timer.record(t);
        }
        timer.finish()
    })
}

/// Ours, `clients` clients at once, each on its own thread (a program of
/// its own) with one context for all, each calling [`get_pub_address`]
/// back to back for `seconds`: the lookups answered per second in all.
fn ours_concurrent(ns: &RunningNameServer, clients: usize, seconds: f64) -> (f64, Vec<usize>) {
    let ctx = context_with(ns.config.clone());
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (ctx, start, endpoint) = (ctx.clone(), start.clone(), ns.lookup.clone());
            thread::spawn(move || {
                runtime().block_on(async move {
                    let lookup = || async {
                        let found = get_pub_address(&ctx, "svc", LOOKUP_TIMEOUT, &endpoint)
                            .await
                            .unwrap();
                        assert_eq!(found.len(), 1);
                    };
                    for _ in 0..WARM_UP / 4 {
                        lookup().await;
                    }
                    start.wait();
                    let stop = Instant::now() + Duration::from_secs_f64(seconds);
                    let mut done = 0;
                    while Instant::now() < stop {
                        lookup().await;
                        done += 1;
                    }
                    (done, Instant::now())
                })
            })
        })
        .collect();
    start.wait();
    let begin = Instant::now();
    let results: Vec<(usize, Instant)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let end = results.iter().map(|r| r.1).max().unwrap_or(begin);
    let counts: Vec<usize> = results.iter().map(|r| r.0).collect();
    let total: usize = counts.iter().sum();
    (total as f64 / (end - begin).as_secs_f64(), counts)
}

/// The exact request and reply frames of a lookup of `svc`, for the raw
/// baselines.
fn lookup_frames(ns: &RunningNameServer) -> (Vec<u8>, Vec<u8>) {
    let request = Message::new(
        "/oper/ns",
        "request",
        Value::object([("service", Value::from("svc"))]),
    )
    .unwrap()
    .encode();
    let zctx = zmq::Context::new();
    let req = zctx.socket(zmq::REQ).unwrap();
    req.set_linger(0).unwrap();
    req.connect(&ns.lookup).unwrap();
    req.send(&request[..], 0).unwrap();
    let reply = req.recv_bytes(0).unwrap();
    (request, reply)
}

/// A raw REP server answering `reply` to everything until `stop`.
fn raw_rep_server(reply: Vec<u8>) -> (String, Arc<AtomicBool>, thread::JoinHandle<()>) {
    let context = zmq::Context::new();
    let rep = context.socket(zmq::REP).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = rep.get_last_endpoint().unwrap().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        thread::spawn(move || {
            let _context = context;
            let mut msg = zmq::Message::new();
            while !stop.load(Ordering::Acquire) {
                if rep.poll(zmq::POLLIN, 50).unwrap() == 0 {
                    continue;
                }
                rep.recv(&mut msg, 0).unwrap();
                rep.send(&reply[..], 0).unwrap();
            }
        })
    };
    (endpoint, stop, handle)
}

/// Raw libzmq REQ/REP with the nameserver's frames: a fresh REQ socket per
/// lookup when `fresh`, else one kept socket.
fn raw_lookups(seconds: f64, max: u64, request: &[u8], reply: &[u8], fresh: bool) -> Lookups {
    let (endpoint, stop, server) = raw_rep_server(reply.to_vec());
    let context = zmq::Context::new();
    let open = || {
        let req = context.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.connect(&endpoint).unwrap();
        req
    };
    let mut kept = if fresh { None } else { Some(open()) };
    let mut msg = zmq::Message::new();
    let figures = time_lookups(seconds, max, || {
        let fresh_socket;
        let req = match &kept {
            Some(req) => req,
            None => {
                fresh_socket = open();
                &fresh_socket
            }
        };
        req.send(request, 0).unwrap();
        req.recv(&mut msg, 0).unwrap();
        assert_eq!(msg.len(), reply.len());
    });
    kept.take();
    stop.store(true, Ordering::Release);
    server.join().unwrap();
    figures
}

fn print_lookups(name: &str, l: &Lookups) {
    println!(
        "   {name}: {} lookups, {:.0}/s, p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        l.sorted_us.len(),
        l.rate,
        l.p(50.0),
        l.p(99.0),
        l.p(100.0)
    );
}

/// Part 3; returns whether its targets are met.
pub fn lookups(seconds: f64, max: u64, clients: usize) -> bool {
    println!("\n3. nameserver lookups: one client ({seconds} s or {max} lookups), then {clients} at once");
    let ns = RunningNameServer::start();
    let (ns_cpu, client_cpu) = (ns.cpu_ns(), thread_cpu_ns());
    let ours = ours_one_client(&ns, seconds, max);
    let n = (ours.sorted_us.len() + WARM_UP) as u64;
    let (ns_cpu, client_cpu) = (ns.cpu_ns() - ns_cpu, thread_cpu_ns() - client_cpu);
    print_lookups("ours, one client (get_pub_address)", &ours);
    println!(
        "   CPU per lookup: nameserver {:.1} us, client {:.1} us (the round trip: {:.1} us)",
        per_message_us(ns_cpu, n),
        per_message_us(client_cpu, n),
        1e6 / ours.rate
    );
    let ns_cpu = ns.cpu_ns();
    let (concurrent, counts) = ours_concurrent(&ns, clients, seconds);
    let ns_cpu = ns.cpu_ns() - ns_cpu;
    let total: usize = counts.iter().sum();
    println!(
        "   ours, {clients} clients at once: {concurrent:.0} lookups/s in all (per client: {counts:?}); \
         nameserver CPU per lookup {:.1} us",
        per_message_us(ns_cpu, total as u64)
    );
    let (request, reply) = lookup_frames(&ns);
    ns.stop();
    println!("RESULT ns_lookup_rate={:.0} lookups/s", ours.rate);
    println!("RESULT ns_lookup_p50={:.1} us", ours.p(50.0));
    println!("RESULT ns_lookup_p99={:.1} us", ours.p(99.0));
    println!("RESULT ns_lookup_{clients}_clients_rate={concurrent:.0} lookups/s");
    let scaling = concurrent / ours.rate;
    let mut met = Target::new(
        "lookups_concurrent",
        &format!("{clients} concurrent lookup clients"),
        &engine(),
    )
    .ours(format!("{concurrent:.0} lookups/s"))
    .baseline(format!("{:.0} lookups/s, one client", ours.rate))
    .ratio(scaling)
    .goal(">= 2x one client")
    .print(scaling >= 2.0);
    if skip_raw() {
        return met;
    }
    println!(
        "   request {} bytes, reply {} bytes",
        request.len(),
        reply.len()
    );
    let raw_fresh = raw_lookups(seconds, max, &request, &reply, true);
    let raw_kept = raw_lookups(seconds, max, &request, &reply, false);
    print_lookups(
        "raw REQ/REP, fresh REQ per lookup (as the reference)",
        &raw_fresh,
    );
    print_lookups("raw REQ/REP, one kept REQ", &raw_kept);
    println!(
        "RESULT raw_zmq_reqrep_fresh_rate={:.0} lookups/s",
        raw_fresh.rate
    );
    println!(
        "RESULT raw_zmq_reqrep_kept_rate={:.0} lookups/s",
        raw_kept.rate
    );
    println!("RESULT raw_zmq_reqrep_kept_p99={:.1} us", raw_kept.p(99.0));
    let ratio = ours.rate / raw_kept.rate;
    println!(
        "RESULT ns_lookup_vs_raw_fresh={:.3} ratio",
        ours.rate / raw_fresh.rate
    );
    println!("RESULT ns_lookup_vs_raw_kept={ratio:.3} ratio");
    met &= Target::new("lookups", "lookups, one client", &engine())
        .ours(format!("{:.0} lookups/s", ours.rate))
        .baseline(format!("{:.0} lookups/s raw kept REQ", raw_kept.rate))
        .ratio(ratio)
        .goal(">= 15k/s and >= 1.3x raw")
        .print(ours.rate >= 15_000.0 && ratio >= 1.3);
    met
}

/// Part 5: `runs` times, a fresh program (context) starts a
/// [`NoisyPublisher`] announcing to the nameserver (designated, no
/// multicast) and asks the nameserver for it back to back until a lookup
/// lists it: the time from the start of the publisher to that lookup's
/// answer (the reference's `bench_ns_lookup.py`). Returns whether the
/// target is met.
pub fn discovery(runs: u64) -> bool {
    println!("\n5. discovery delay: publisher start -> first lookup listing it, {runs} run(s)");
    let ns = RunningNameServer::start();
    let mut delays = Vec::new();
    let mut steps = Vec::new();
    // One program (context) starting a publisher each run, each on a
    // runtime of its own: nothing of one run's sockets is reused by the next
    // (kept request sockets belong to their runtime).
    let ctx = context_with(ns.config.clone());
    for run in 0..runs {
        let name = format!("discovered{run}");
        let (delay, step) = runtime().block_on(async {
            let start = Instant::now();
            let publisher = NoisyPublisher::builder(name.as_str())
                .nameservers(["127.0.0.1"])
                .context(ctx.clone())
                .start()
                .await
                .unwrap();
            // When the publisher started, and each lookup ended, in ms.
            let ms = |t: Instant| format!("{:.2}", (t - start).as_secs_f64() * 1e3);
            let mut step = vec![ms(Instant::now())];
            loop {
                let found = get_pub_address(&ctx, &name, LOOKUP_TIMEOUT, &ns.lookup)
                    .await
                    .unwrap();
                step.push(ms(Instant::now()));
                if !found.is_empty() {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "never discovered"
                );
            }
            let delay = start.elapsed();
            publisher.stop().await.unwrap();
            (delay, step.join(" "))
        });
        delays.push(delay.as_secs_f64() * 1e3);
        steps.push(step);
    }
    ns.stop();
    let delay = median(&delays);
    let shown: Vec<String> = delays.iter().map(|d| format!("{d:.2}")).collect();
    println!("   delays (ms): {}", shown.join(", "));
    println!(
        "   per run, ms from the start: publisher started, then each lookup answered: {}",
        steps.join("; ")
    );
    println!("RESULT ns_discovery_delay={delay:.2} ms (median)");
    Target::new(
        "discovery",
        "discovery delay (designated nameserver)",
        &engine(),
    )
    .ours(format!("{delay:.2} ms"))
    .baseline("4.5 ms Python reference")
    .goal("<= 2 ms")
    .print(delay <= 2.0)
}

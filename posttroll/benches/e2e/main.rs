//! End-to-end figures of the facade over `tcp://127.0.0.1` on one ZMTP
//! engine (`backend: unsecure_zmq`), each beside raw libzmq (the `zmq`
//! crate) doing the same transport work in the same run, with the
//! targets of the performance issue (14, points 3 to 5). Needs the `zmq`
//! feature (for the libzmq engine and the raw baselines).
//!
//! ```text
//! cargo bench -p posttroll --features zmq --bench e2e
//! E2E_ENGINE=purerust cargo bench -p posttroll --features zmq --bench e2e
//! E2E_MESSAGES=200000 E2E_RUNS=1 E2E_PARTS=12 cargo bench -p posttroll --features zmq --bench e2e
//! ```
//!
//! `E2E_ENGINE` (default `libzmq`) picks the engine of the facade's
//! sockets; the raw baselines are always libzmq. The machine's load
//! changes absolute figures a lot: compare the ratios, whose two sides run
//! alternately in the same run, and the CPU time per message printed
//! beside them (which hardly depends on what else runs).
//!
//! 0. **Codec**: building + encoding, and decoding, the 10-key metadata
//!    message (the one of `posttroll-core/benches/codec.rs`, about 430
//!    bytes) on one thread, in wall and CPU time: the ceiling of each side
//!    of parts 1 and 4, and the codec's share of their CPU time. Then the
//!    same message as a `#[derive(Serialize, Deserialize)]` struct
//!    (`Message::new_typed`, `encode_typed`, `decode_typed`; its data is
//!    checked equal). Targets (points 1 and 2), in CPU time: through
//!    `Value` at most 0.5 µs to build + encode and 0.45 µs to decode;
//!    through the struct 0.3 and 0.35 µs (`E2E_CODEC_TARGETS=0` leaves these
//!    rows out, for a second engine's run). `cargo bench -p posttroll-core
//!    --bench codec` measures the same with criterion, in wall time.
//! 1. **Throughput**: a [`Publisher`](posttroll::publisher::Publisher)
//!    (`no_drop`, default high-water marks) builds, encodes and sends
//!    `E2E_MESSAGES` (default 1 000 000) metadata messages, their
//!    `orbit_number` a sequence number; a
//!    [`Subscriber`](posttroll::subscriber::Subscriber) on another thread
//!    receives and decodes them and checks that every sequence number
//!    arrives, once and in order (the run fails otherwise). Timed from the
//!    first send to the last receive. Raw libzmq PUB→SUB of the same frames
//!    (encoded once; `SNDHWM` = `RCVHWM` = 0, so nothing can drop) is the
//!    baseline; both use one libzmq context for the two sides. `E2E_RUNS`
//!    (default 3) runs of each, alternating; medians. Target: at least
//!    1.0x raw and 1M msg/s on the pure-Rust engine, 0.75x raw on libzmq.
//! 2. **Latency** at 1k msg/s: `E2E_LATENCY_MESSAGES` (default 5000)
//!    messages paced at 1 ms, from just before building to just after
//!    decoding (the send time goes by a side channel indexed by the
//!    sequence number, so the message is the same as in part 1); the
//!    transport alone (encoded frames through its `PubSocket`/`SubSocket`);
//!    raw libzmq with encoded frames and a blocking receive; in `E2E_RUNS`
//!    rounds of the three in turn, pooled. The paced publisher sleeps its
//!    thread between sends and yields to its runtime after each
//!    (`E2E_PACING=worker`: a one-worker runtime drives the engine
//!    instead). Target: p50 at most 1.25x raw's, p99 at most 1.5x.
//! 3. **Nameserver lookups**: the library's nameserver on its own thread
//!    (no multicast, free ports, five registered addresses); one client
//!    calling [`get_pub_address`](posttroll::nameserver::get_pub_address)
//!    back to back for `E2E_LOOKUP_SECONDS` (default 3) or at most
//!    `E2E_LOOKUPS` (default 30 000) lookups, after 200 untimed ones; then
//!    `E2E_LOOKUP_CLIENTS` (default 8) clients at once, each on its own
//!    thread, for as long. Raw libzmq REQ/REP baselines with the same
//!    request and reply bytes: a fresh REQ socket per lookup (what the
//!    Python reference does) and one kept REQ socket. Targets: one client
//!    at least 15k lookups/s and 1.3x the raw kept REQ; the concurrent
//!    clients at least twice the one client's rate.
//! 4. **Fan-out**: one publisher as in part 1 to `E2E_FANOUT_SUBSCRIBERS`
//!    (default 8) subscribers, each on its own thread, `E2E_FANOUT_MESSAGES`
//!    (default 200 000) messages, `E2E_RUNS` runs alternating with raw
//!    libzmq (one PUB, as many SUBs on their threads, one context). Target:
//!    our slowest subscriber at least 0.8x raw's median subscriber.
//! 5. **Discovery delay**: `E2E_DISCOVERY_RUNS` (default 5) times, a fresh
//!    context starts a [`NoisyPublisher`](posttroll::publisher::NoisyPublisher)
//!    announcing to the nameserver (designated, no multicast) and looks it
//!    up back to back until a lookup lists it; from the start of the
//!    publisher to that answer. Target: at most 2 ms (median; the Python
//!    reference: 4.5 ms).
//!
//! `E2E_PARTS` (default `012345`) picks the parts; `E2E_SKIP_RAW=1` leaves
//! the raw baselines out (to profile ours). Every publisher, subscriber,
//! nameserver and client runs on its own thread with a current-thread
//! tokio runtime. Prints `RESULT name=value unit` lines and, per target, a
//! `TARGET|...` line (`posttroll_testkit::bench`) that `scripts/bench.sh`
//! gathers into a table. Without `--bench` (which `cargo bench` passes) it
//! runs only a small smoke round.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod latency;
mod lookups;
// Raw libzmq PUB→SUB, shared with the libzmq engine's benchmarks.
#[path = "../../../posttroll-backend-zmq/benches/common/raw.rs"]
mod raw;
mod throughput;

use std::time::Instant;

use posttroll::Message;

use common::{
    env_or, metadata_message, per_message_us, sequence, thread_cpu_ns, typed_metadata_message,
    CodecCost, FileMetadata,
};
use posttroll_testkit::bench::Target;

fn main() {
    // `cargo bench` passes `--bench`; anything else gets a smoke round.
    let quick = !std::env::args().any(|a| a == "--bench");
    let settings = |name: &str, smoke: u64, default: u64| {
        if quick {
            smoke
        } else {
            env_or(name, default)
        }
    };
    let n = settings("E2E_MESSAGES", 10_000, 1_000_000);
    let runs = settings("E2E_RUNS", 1, 3).max(1);
    let latency_n = settings("E2E_LATENCY_MESSAGES", 200, 5_000);
    let lookup_seconds = if quick {
        0.2
    } else {
        env_or("E2E_LOOKUP_SECONDS", 3) as f64
    };
    let lookups_max = settings("E2E_LOOKUPS", 1_000, 30_000);
    let clients = settings("E2E_LOOKUP_CLIENTS", 8, 8).max(1) as usize;
    let fanout_n = settings("E2E_FANOUT_MESSAGES", 2_000, 200_000);
    let fanout_subscribers = settings("E2E_FANOUT_SUBSCRIBERS", 8, 8).max(1) as usize;
    let discovery_runs = settings("E2E_DISCOVERY_RUNS", 1, 5).max(1);

    let frame = metadata_message(0).encode();
    println!(
        "posttroll e2e on unsecure_zmq, engine {} (raw baselines: libzmq {}) over \
         tcp://127.0.0.1; metadata message {} bytes",
        common::engine(),
        {
            let (a, b, c) = zmq::version();
            format!("{a}.{b}.{c}")
        },
        frame.len()
    );

    let parts = std::env::var("E2E_PARTS").unwrap_or_else(|_| "012345".into());
    let mut met = true;
    // 0. What the codec alone costs per message, on one thread.
    let codec = if parts.contains('0') || parts.contains('1') || parts.contains('4') {
        codec_costs(if quick { 10_000 } else { 300_000 })
    } else {
        CodecCost::default()
    };
    // The codec's targets (points 1 and 2), once per table: `scripts/bench.sh`
    // sets E2E_CODEC_TARGETS=0 for the second engine's run.
    if parts.contains('0') && std::env::var("E2E_CODEC_TARGETS").map_or(true, |v| v != "0") {
        met &= codec_targets(
            codec,
            typed_codec_costs(if quick { 10_000 } else { 300_000 }),
        );
    }
    if parts.contains('1') {
        met &= throughput::throughput(n, runs, &frame, codec);
    }
    if parts.contains('2') {
        met &= latency::latency(latency_n, runs, &frame);
    }
    if parts.contains('3') {
        met &= lookups::lookups(lookup_seconds, lookups_max, clients);
    }
    if parts.contains('4') {
        met &= throughput::fanout(fanout_n, fanout_subscribers, runs, &frame, codec);
    }
    if parts.contains('5') {
        met &= lookups::discovery(discovery_runs);
    }
    posttroll_testkit::bench::print_summary(met);
}

/// Part 0: the cost of building + encoding and of decoding one metadata
/// message, in one thread: the ceiling of each side of part 1.
fn codec_costs(n: u64) -> CodecCost {
    let mut bytes = 0;
    let (build_encode, build_encode_cpu) = per_call(n, |seq| {
        bytes += std::hint::black_box(metadata_message(seq).encode()).len();
    });
    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|seq| metadata_message(seq).encode())
        .collect();
    let (decode, decode_cpu) = per_call(n, |seq| {
        let msg = Message::decode(&frames[seq as usize % frames.len()]).unwrap();
        std::hint::black_box(sequence(&msg));
    });
    println!(
        "\n0. codec on one thread: build+encode {build_encode:.2} us ({build_encode_cpu:.2} us CPU), \
         decode {decode:.2} us ({decode_cpu:.2} us CPU) per message ({} bytes each)",
        bytes / n as usize
    );
    println!(
        "RESULT codec_build_encode={build_encode_cpu:.2} us CPU (ceiling {:.0} msgs/s)",
        1.0 / (build_encode_cpu * 1e-6)
    );
    println!(
        "RESULT codec_decode={decode_cpu:.2} us CPU (ceiling {:.0} msgs/s)",
        1.0 / (decode_cpu * 1e-6)
    );
    CodecCost {
        build_encode_us: build_encode_cpu,
        decode_us: decode_cpu,
    }
}

/// Part 0, the typed path: building + encoding [`FileMetadata`] through
/// `Message::new_typed`, and decoding the frames into it, in CPU µs per
/// message on one thread.
fn typed_codec_costs(n: u64) -> CodecCost {
    let frame = typed_metadata_message(0).encode_typed().unwrap();
    // The same message but for the header's time.
    assert_eq!(
        Message::decode(&frame).unwrap().data,
        metadata_message(0).data,
        "typed and dynamic data differ"
    );
    let (_, build_encode_us) = per_call(n, |seq| {
        std::hint::black_box(typed_metadata_message(seq).encode_typed().unwrap());
    });
    let frames: Vec<Vec<u8>> = (0..1000)
        .map(|seq| typed_metadata_message(seq).encode_typed().unwrap())
        .collect();
    let (_, decode_us) = per_call(n, |seq| {
        let frame = &frames[seq as usize % frames.len()];
        let msg = Message::decode_typed::<FileMetadata>(frame).unwrap();
        std::hint::black_box(msg.data.orbit_number);
    });
    println!(
        "   typed (a struct, no Value tree): build+encode {build_encode_us:.2} us CPU, \
         decode {decode_us:.2} us CPU per message"
    );
    println!("RESULT codec_typed_build_encode={build_encode_us:.2} us CPU");
    println!("RESULT codec_typed_decode={decode_us:.2} us CPU");
    CodecCost {
        build_encode_us,
        decode_us,
    }
}

/// Calls `f(seq)` for each `seq` in `0..n` on this thread: the wall and the
/// CPU time of one call, in µs.
fn per_call(n: u64, mut f: impl FnMut(u64)) -> (f64, f64) {
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for seq in 0..n {
        f(seq);
    }
    let wall = start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    (wall, per_message_us(thread_cpu_ns() - cpu, n))
}

/// The codec's targets (issue 14, points 1 and 2) as table rows: CPU time
/// per message on one thread; the baseline is the dynamic path's.
fn codec_targets(dynamic: CodecCost, typed: CodecCost) -> bool {
    let through_value = format!("{:.2} us through Value", dynamic.build_encode_us);
    let into_value = format!("{:.2} us into Value", dynamic.decode_us);
    // key, what, ours (µs CPU), baseline, goal (µs)
    #[rustfmt::skip]
    let rows = [
        ("codec_encode", "build + encode, metadata message (Value)", dynamic.build_encode_us, "-", 0.5),
        ("codec_decode", "decode, metadata message (Value)", dynamic.decode_us, "-", 0.45),
        ("codec_typed_encode", "build + encode, metadata message (struct)", typed.build_encode_us, through_value.as_str(), 0.3),
        ("codec_typed_decode", "decode, metadata message (struct)", typed.decode_us, into_value.as_str(), 0.35),
    ];
    rows.into_iter()
        .fold(true, |met, (key, what, ours, baseline, goal)| {
            let row = Target::new(key, what, "either")
                .ours(format!("{ours:.2} us CPU"))
                .baseline(baseline)
                .goal(format!("<= {goal} us"))
                .print(ours <= goal);
            met & row
        })
}

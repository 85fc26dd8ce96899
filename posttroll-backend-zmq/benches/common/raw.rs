//! Raw libzmq PUB→SUB (the `zmq` crate), the baseline of the benchmarks
//! that put ours beside it: this crate's `pubsub`, the CURVE one of
//! `posttroll-backend-securezmq` and the end-to-end one of `posttroll`
//! (which include this file by path).

#![allow(dead_code)]

use std::time::Instant;

/// The CPU time of the calling thread in ns (`/proc/thread-self/schedstat`;
/// 0 where there is none).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A publisher of `kind` (`PUB` or `XPUB`) bound on `tcp://127.0.0.1:*`
/// and a SUB subscribed to everything and connected to it, in `context`,
/// with `SNDHWM` = `RCVHWM` = 0 (nothing can drop) when `unbounded`;
/// `configure(publisher, subscriber)` runs before they connect (CURVE keys).
/// Returns once a probe (`P`) went through (the slow joiner), with the
/// probes drained.
pub fn pair(
    context: &zmq::Context,
    kind: zmq::SocketType,
    unbounded: bool,
    configure: impl FnOnce(&zmq::Socket, &zmq::Socket),
) -> (zmq::Socket, zmq::Socket) {
    let publisher = context.socket(kind).unwrap();
    let subscriber = context.socket(zmq::SUB).unwrap();
    configure(&publisher, &subscriber);
    if unbounded {
        publisher.set_sndhwm(0).unwrap();
        subscriber.set_rcvhwm(0).unwrap();
    }
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publisher.get_last_endpoint().unwrap().unwrap();
    subscriber.set_subscribe(b"").unwrap();
    subscriber.connect(&endpoint).unwrap();
    loop {
        publisher.send(&b"P"[..], 0).unwrap();
        if subscriber.poll(zmq::POLLIN, 10).unwrap() > 0 {
            break;
        }
    }
    while subscriber.recv_bytes(zmq::DONTWAIT).is_ok() {}
    (publisher, subscriber)
}

/// One raw run: its rate and each side's CPU time per frame.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Frames received per second, from the first sent to the last
    /// received.
    pub rate: f64,
    /// CPU time of the sending thread per frame, in µs.
    pub pub_cpu_us: f64,
    /// CPU time of the receiving thread per frame, in µs.
    pub sub_cpu_us: f64,
}

/// Sends `n` copies of `frame` on `publisher` from this thread while
/// another receives them on `subscriber` (counting every frame but the
/// probes, `P`).
pub fn run(publisher: zmq::Socket, subscriber: zmq::Socket, n: u64, frame: &[u8]) -> Run {
    let receiver = std::thread::spawn(move || {
        let mut msg = zmq::Message::new();
        let mut got = 0;
        let mut cpu = 0;
        while got < n {
            subscriber.recv(&mut msg, 0).unwrap();
            if msg.first() != Some(&b'P') {
                if got == 0 {
                    cpu = thread_cpu_ns();
                }
                got += 1;
            }
        }
        (Instant::now(), thread_cpu_ns() - cpu)
    });
    let start = Instant::now();
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        publisher.send(frame, 0).unwrap();
    }
    let pub_cpu = thread_cpu_ns() - cpu;
    let (end, sub_cpu) = receiver.join().unwrap();
    let per_frame = |ns: u64| ns as f64 / 1000.0 / n.max(1) as f64;
    Run {
        rate: n as f64 / (end - start).as_secs_f64(),
        pub_cpu_us: per_frame(pub_cpu),
        sub_cpu_us: per_frame(sub_cpu),
    }
}

//! Memory of a subscriber whose consumer has stalled, fed 1 MB messages.
//!
//! ```sh
//! cargo bench -p posttroll --bench stalled_subscriber
//! POSTTROLL_ENGINE=libzmq cargo bench -p posttroll --features zmq --bench stalled_subscriber
//! ```
//!
//! A publisher in a child process (this same binary, `--publisher`) sends
//! 1 MB messages as fast as it can for `BENCH_SECONDS` (default 15) to a
//! subscriber in this process that never takes a message. Every second
//! this process's resident memory (`VmRSS`) and the subscriber's queued
//! bytes are printed; at the end, the peak beside the bound: the
//! subscriber's `subscriber_queue_bytes` plus the engine's receive queue
//! (`Config::subscriber_receive_hwm` frames). `PUBLISHER_NO_DROP=1` makes
//! the publisher wait instead of dropping (it then stalls too).

use std::time::{Duration, Instant};

use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, Context, Message, Value};

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15)
}

async fn publisher(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let ctx = Context::new(Config::load()?)?;
    let no_drop = std::env::var("PUBLISHER_NO_DROP").is_ok_and(|v| v == "1");
    let publisher = Publisher::builder(format!("tcp://127.0.0.1:{port}"))
        .context(ctx)
        .no_drop(no_drop)
        .start()
        .await?;
    let body = "x".repeat(1_000_000);
    let frame = Message::new("/stalled", "file", Value::from(body))?.encode();
    let end = Instant::now() + Duration::from_secs(seconds() + 2);
    let mut sent = 0u64;
    while Instant::now() < end {
        // A no-drop publisher waits for the stalled subscriber: try again.
        if let Ok(result) =
            tokio::time::timeout(Duration::from_secs(1), publisher.send_raw(frame.clone())).await
        {
            result?;
            sent += 1;
        }
    }
    eprintln!("publisher: {sent} messages of 1 MB sent");
    publisher.stop().await?;
    Ok(())
}

async fn subscriber() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load()?;
    let ctx = Context::new(config.clone())?;
    let port = posttroll_testkit::free_tcp_port();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["--publisher", &port.to_string()])
        .spawn()?;
    let subscriber = Subscriber::builder()
        .addresses([format!("tcp://127.0.0.1:{port}")])
        .topics([""])
        .context(ctx.clone())
        .start()
        .await?;
    let before = vm_rss_kib() * 1024;
    // The libzmq engine keeps more frames (its throughput needs them).
    let engine_frames = match ctx.transport().engine() {
        #[cfg(feature = "zmq")]
        "libzmq" => config
            .subscriber_receive_hwm()
            .max(posttroll_backend_zmq::MIN_SUBSCRIBER_RCVHWM),
        _ => config.subscriber_receive_hwm(),
    };
    let bound = config.subscriber_queue_bytes + u64::from(engine_frames) * config.max_message_size;
    println!(
        "engine {}, subscriber_queue_bytes {:.0} MiB, engine queue {} frames of at most {:.0} MiB, RSS at start {:.1} MiB",
        ctx.transport().engine(),
        mib(config.subscriber_queue_bytes),
        engine_frames,
        mib(config.max_message_size),
        mib(before)
    );
    let mut peak = before;
    for second in 1..=seconds() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = vm_rss_kib() * 1024;
        peak = peak.max(rss);
        println!(
            "{second:>3} s: RSS {:>7.1} MiB, queued {:>6.1} MiB",
            mib(rss),
            mib(subscriber.queued_bytes())
        );
    }
    println!(
        "peak RSS {:.1} MiB = start {:.1} + {:.1} MiB; bound (queue + engine queue) {:.1} MiB",
        mib(peak),
        mib(before),
        mib(peak.saturating_sub(before)),
        mib(bound)
    );
    subscriber.stop().await?;
    let mut child = child;
    let _ = child.wait();
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--publisher") {
        Some(i) => {
            let port = args
                .get(i + 1)
                .and_then(|p| p.parse().ok())
                .ok_or("--publisher PORT")?;
            publisher(port).await
        }
        None => subscriber().await,
    }
}

//! A subscriber whose consumer stalls holds at most `subscriber_queue_bytes`
//! of received frames, then stops reading its sockets, so that a no-drop
//! publisher waits instead of the subscriber's memory growing; once the
//! consumer reads again, everything arrives, in order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use posttroll::listener::ListenerContainer;
use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, Context, Message};
use posttroll_backend_inproc::InprocNetwork;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

/// The subscribers' byte budget in the in-process tests.
const BUDGET: usize = 1024 * 1024;

/// The size of the data of one message in the in-process tests (its frame
/// is a little larger).
const DATA: usize = 64 * 1024;

/// How many messages the in-process publisher tries to send: many times
/// what the budget holds.
const TOTAL: usize = 200;

/// The publisher's send high-water mark: small, so that what the engine
/// holds besides the subscriber is small too.
const SEND_HWM: u32 = 2;

/// How long a publisher that should be blocked is watched for progress.
const STALLED: Duration = Duration::from_millis(300);

fn inproc(budget: usize) -> (Context, InprocNetwork) {
    let config = Config {
        backend: "inproc".into(),
        own_ip: Some("127.0.0.1".into()),
        subscriber_queue_bytes: budget as u64,
        ..Config::default()
    };
    let net = InprocNetwork::new();
    let backend = net.backend(&config);
    (Context::with_backend(config, backend), net)
}

/// Message `i` of a run: its number is in its subject.
fn big(i: usize, data: usize) -> Message {
    Message::new(&format!("/big/{i}"), "info", "x".repeat(data)).unwrap()
}

async fn no_drop_publisher(ctx: &Context, bind: &str) -> Publisher {
    Publisher::builder(bind)
        .no_drop(true)
        .send_high_water_mark(SEND_HWM)
        .context(ctx.clone())
        .start()
        .await
        .unwrap()
}

fn uri_of(publisher: &Publisher) -> String {
    format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap())
}

/// Sends messages `0..total` in a task, counting the sends that completed.
fn send_all(
    publisher: Publisher,
    total: usize,
    data: usize,
) -> (Arc<AtomicUsize>, JoinHandle<Publisher>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let task = tokio::spawn(async move {
        for i in 0..total {
            publisher.send(&big(i, data)).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
        publisher
    });
    (sent, task)
}

/// Waits (polling, with a deadline) until `sent` reaches `at_least`.
async fn wait_for_sends(sent: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + WAIT;
    while sent.load(Ordering::SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "only {} sends completed, expected {at_least}",
            sent.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The most sends that may complete while the consumer stalls: what the
/// budget holds, the frame a reader holds while it waits for room, the
/// engine's queue, and one frame of slack for rounding.
fn max_sends_while_stalled(frame: usize) -> usize {
    BUDGET / frame + 1 + SEND_HWM as usize + 1
}

fn frame_len(data: usize) -> usize {
    big(0, data).encode_with(None).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_stops_reading_at_its_byte_budget() {
    let (ctx, _net) = inproc(BUDGET);
    let publisher = no_drop_publisher(&ctx, "tcp://*:0").await;
    let sub = Subscriber::builder()
        .addresses([uri_of(&publisher)])
        .topics(["/big"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let frame = frame_len(DATA);
    let (sent, mut sender) = send_all(publisher, TOTAL, DATA);

    // Nobody reads: the subscriber fills its budget, then stops reading,
    // and the no-drop publisher waits.
    wait_for_sends(&sent, BUDGET / frame).await;
    assert!(
        tokio::time::timeout(STALLED, &mut sender).await.is_err(),
        "the publisher sent all {TOTAL} messages to a subscriber nobody reads"
    );
    let held = sent.load(Ordering::SeqCst);
    assert!(
        held <= max_sends_while_stalled(frame),
        "{held} sends completed with nobody reading"
    );

    // Reading resumes the flow: every message arrives, in order.
    for i in 0..TOTAL {
        let msg = sub.recv(Some(WAIT)).await.unwrap().expect("a message");
        assert_eq!(msg.subject(), format!("/big/{i}"));
    }
    let publisher = sender.await.unwrap();
    sub.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_listener_container_stops_reading_at_its_byte_budget() {
    let (ctx, _net) = inproc(BUDGET);
    let publisher = no_drop_publisher(&ctx, "tcp://*:0").await;
    let mut listener = ListenerContainer::builder(vec!["/big".into()])
        .addresses([uri_of(&publisher)])
        .without_nameserver()
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let frame = frame_len(DATA);
    let (sent, mut sender) = send_all(publisher, TOTAL, DATA);

    wait_for_sends(&sent, BUDGET / frame).await;
    assert!(
        tokio::time::timeout(STALLED, &mut sender).await.is_err(),
        "the publisher sent all {TOTAL} messages to a listener nobody reads"
    );
    let held = sent.load(Ordering::SeqCst);
    assert!(
        held <= max_sends_while_stalled(frame),
        "{held} sends completed with nobody reading"
    );

    for i in 0..TOTAL {
        let msg = listener.recv(Some(WAIT)).await.expect("a message");
        assert_eq!(msg.subject(), format!("/big/{i}"));
    }
    let publisher = sender.await.unwrap();
    listener.stop().await;
    publisher.stop().await.unwrap();
}

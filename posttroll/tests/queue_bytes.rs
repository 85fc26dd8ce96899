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
    Message::new(format!("/big/{i}"), "info", "x".repeat(data)).unwrap()
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
    assert_eq!(sub.queue_bytes(), BUDGET as u64);
    let queued = sub.queued_bytes();
    assert!(
        queued + frame as u64 > BUDGET as u64 && queued <= (BUDGET + frame) as u64,
        "{queued} bytes queued, the budget is {BUDGET}, a frame {frame}"
    );

    // Reading resumes the flow: every message arrives, in order.
    for i in 0..TOTAL {
        let msg = sub.recv(Some(WAIT)).await.unwrap().expect("a message");
        assert_eq!(msg.subject(), format!("/big/{i}"));
    }
    let publisher = sender.await.unwrap();
    assert_eq!(sub.queued_bytes(), 0);
    sub.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_listener_container_stops_reading_at_its_byte_budget() {
    let (ctx, _net) = inproc(BUDGET);
    let publisher = no_drop_publisher(&ctx, "tcp://*:0").await;
    let mut listener = ListenerContainer::builder(["/big"])
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
    assert_eq!(listener.queue_bytes(), BUDGET as u64);
    let queued = listener.queued_bytes();
    assert!(
        queued + frame as u64 > BUDGET as u64 && queued <= (BUDGET + frame) as u64,
        "{queued} bytes queued, the budget is {BUDGET}, a frame {frame}"
    );
    // The output queue took its share of the budget.
    assert!(!listener.is_empty());

    for i in 0..TOTAL {
        let msg = listener.recv(Some(WAIT)).await.expect("a message");
        assert_eq!(msg.subject(), format!("/big/{i}"));
    }
    let publisher = sender.await.unwrap();
    assert_eq!(listener.queued_bytes(), 0);
    listener.stop().await;
    publisher.stop().await.unwrap();
}

/// Over a real engine on loopback: a consumer that stalls while a no-drop
/// publisher sends 1 MB messages for 3 s. The subscriber's own queue stays
/// within its budget (plus the one frame its reader holds), and the
/// publisher's `send` blocks instead of the subscriber's memory growing;
/// once the consumer reads, every message arrives, in order.
///
/// The engine's queues are pinned small (send high-water mark 2, the
/// subscriber socket's receive high-water mark 2), so that what the
/// engines and the kernel hold besides the subscriber's queue is a few
/// frames whatever their defaults.
#[cfg(feature = "purerust")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_an_engine_a_stalled_subscriber_blocks_a_no_drop_publisher() {
    use std::sync::atomic::AtomicBool;

    const ENGINE_BUDGET: usize = 4 * 1024 * 1024;
    const ENGINE_DATA: usize = 1_000_000;
    const FLOOD: Duration = Duration::from_secs(3);
    /// The last part of the flood in which the publisher must make no
    /// progress.
    const QUIET: Duration = Duration::from_secs(1);
    /// What the kernel's socket buffers on loopback and the engines hold
    /// besides the subscriber's queue, in frames, at most.
    const ENGINE_SLACK: usize = 64;

    let ctx = engine_context(Config {
        backend: "unsecure_zmq".into(),
        subscriber_queue_bytes: ENGINE_BUDGET as u64,
        ..Config::default()
    });
    let publisher = no_drop_publisher(&ctx, "tcp://127.0.0.1:0").await;
    let sub = Subscriber::builder()
        .addresses([uri_of(&publisher)])
        .topics(["/big", "/probe"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(sub.queue_bytes(), ENGINE_BUDGET as u64);

    // The subscription takes a moment to reach the publisher: probe until
    // one arrives.
    let probe = Message::new("/probe", "info", "").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.send(&probe).await.unwrap();
        if sub
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the subscription never came");
    }

    // Flood with 1 MB messages until told to stop; the consumer stalls.
    let frame = frame_len(ENGINE_DATA);
    let start = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let last_sent_ms = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (sent, last_sent_ms, done) = (sent.clone(), last_sent_ms.clone(), done.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                publisher.send(&big(i, ENGINE_DATA)).await.unwrap();
                i += 1;
                sent.store(i, Ordering::SeqCst);
                let ms = usize::try_from(start.elapsed().as_millis()).unwrap();
                last_sent_ms.store(ms, Ordering::SeqCst);
            }
            publisher
        })
    };
    let mut most = 0;
    while start.elapsed() < FLOOD {
        let queued = sub.queued_bytes();
        most = most.max(queued);
        assert!(
            queued <= (ENGINE_BUDGET + frame) as u64,
            "{queued} bytes queued, the budget is {ENGINE_BUDGET}, a frame {frame}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held = sent.load(Ordering::SeqCst);
    let last = Duration::from_millis(last_sent_ms.load(Ordering::SeqCst) as u64);
    assert!(
        most + frame as u64 > ENGINE_BUDGET as u64,
        "the subscriber never filled its budget ({most} bytes at most)"
    );
    assert!(
        held <= ENGINE_BUDGET / frame + 1 + ENGINE_SLACK,
        "{held} sends of {frame} bytes completed with nobody reading"
    );
    assert!(
        last + QUIET <= FLOOD,
        "the publisher was still sending {last:?} into the flood ({held} sends)"
    );

    // Reading resumes the flow: everything sent arrives, in order.
    done.store(true, Ordering::SeqCst);
    let mut next = 0;
    let deadline = Instant::now() + WAIT;
    while !(sender.is_finished() && next == sent.load(Ordering::SeqCst)) {
        assert!(Instant::now() < deadline, "only {next} messages came");
        let Some(msg) = sub.recv(Some(Duration::from_millis(50))).await.unwrap() else {
            continue;
        };
        if msg.subject() == "/probe" {
            continue;
        }
        assert_eq!(msg.subject(), format!("/big/{next}"));
        next += 1;
    }
    assert!(next >= held);
    let publisher = sender.await.unwrap();
    sub.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

/// A context on the engine of this test run (`POSTTROLL_ENGINE`) whose
/// subscriber sockets have a receive high-water mark of 2 frames.
#[cfg(feature = "purerust")]
fn engine_context(config: Config) -> Context {
    use posttroll::backend::{Backend, Transport};

    const RECEIVE_HWM: u32 = 2;

    let config = posttroll_testkit::engine::with_test_engine(config);
    let base = Context::new(config.clone()).unwrap();
    let engine = posttroll_testkit::engine::assert_test_engine(&base);
    let transport: Arc<dyn Transport> = match engine.as_str() {
        "purerust" => Arc::new(
            posttroll_backend_purerust::PureRustTransport::builder(&config)
                .subscriber_receive_high_water_mark(Some(RECEIVE_HWM))
                .build()
                .unwrap(),
        ),
        #[cfg(feature = "zmq")]
        "libzmq" => Arc::new(
            posttroll_backend_zmq::ZmqTransport::builder(&config)
                .subscriber_receive_high_water_mark(Some(RECEIVE_HWM as i32))
                .build()
                .unwrap(),
        ),
        other => panic!("no engine {other} in this build"),
    };
    let backend = Backend {
        name: base.backend_name().to_owned(),
        transport,
        discovery: base.discovery().clone(),
    };
    Context::with_backend(config, backend)
}

/// The blocking listener's output queue is the same bounded queue: a
/// thread that does not `get` makes a no-drop publisher's thread wait.
#[test]
fn a_stalled_blocking_output_queue_stops_reading_at_its_byte_budget() {
    let (ctx, _net) = inproc(BUDGET);
    let publisher = Publisher::builder("tcp://*:0")
        .no_drop(true)
        .send_high_water_mark(SEND_HWM)
        .context(ctx.clone())
        .start_blocking()
        .unwrap();
    let uri = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
    let listener = ListenerContainer::builder(["/big"])
        .addresses([uri])
        .without_nameserver()
        .context(ctx)
        .start_blocking()
        .unwrap();
    let frame = frame_len(DATA);
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            for i in 0..TOTAL {
                publisher.send(&big(i, DATA)).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
            publisher
        })
    };

    let queue = listener.output_queue();
    let deadline = std::time::Instant::now() + WAIT;
    while queue.queued_bytes() + (frame as u64) <= BUDGET as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never filled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(STALLED);
    assert!(!sender.is_finished(), "the publisher sent everything");
    let held = sent.load(Ordering::SeqCst);
    assert!(
        held <= max_sends_while_stalled(frame),
        "{held} sends completed with nobody reading"
    );
    let queued = queue.queued_bytes();
    assert!(queued <= (BUDGET + frame) as u64, "{queued} bytes queued");

    for i in 0..TOTAL {
        let msg = queue.get(Some(WAIT)).expect("a message");
        assert_eq!(msg.subject(), format!("/big/{i}"));
    }
    let publisher = sender.join().unwrap();
    assert_eq!(queue.queued_bytes(), 0);
    listener.stop().unwrap();
    publisher.stop().unwrap();
}

/// Frames larger than the whole budget (even a budget of 0, which counts
/// as 1 byte) still come through, one at a time.
#[tokio::test]
async fn frames_larger_than_the_budget_come_through_one_at_a_time() {
    let (ctx, _net) = inproc(BUDGET);
    let publisher = no_drop_publisher(&ctx, "tcp://*:0").await;
    for budget in [0, 1024] {
        let sub = Subscriber::builder()
            .addresses([uri_of(&publisher)])
            .topics(["/big"])
            .queue_bytes(budget)
            .context(ctx.clone())
            .start()
            .await
            .unwrap();
        assert_eq!(sub.queue_bytes(), budget.max(1));
        // One frame in the queue, one in the reader's hand, the publisher's
        // high-water mark (2) in the engine: 4 frames go out without
        // waiting.
        let (frames, data) = (4, 4 * 1024);
        for i in 0..frames {
            publisher.send(&big(i, data)).await.unwrap();
        }
        let deadline = Instant::now() + WAIT;
        while sub.queued_bytes() < 2 * frame_len(data) as u64 {
            assert!(Instant::now() < deadline, "the frames never came");
            tokio::task::yield_now().await;
        }
        assert!(sub.queued_bytes() <= 2 * frame_len(data) as u64);
        for i in 0..frames {
            let msg = sub.recv(Some(WAIT)).await.unwrap().expect("a message");
            assert_eq!(msg.subject(), format!("/big/{i}"));
        }
        sub.stop().await.unwrap();
    }
    publisher.stop().await.unwrap();
}

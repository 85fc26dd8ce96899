//! Liveness, through the public API, on the engine of the test run
//! (`POSTTROLL_ENGINE`; CI runs both) over loopback TCP:
//!
//! - slow joiners: a publisher that waits for one subscriber and then
//!   sends once reaches it, 100 times in a row, for a Rust subscriber and
//!   for the Python reference's;
//! - connection events: `Connected` and `Disconnected` as a publisher
//!   comes and goes, `wait_connected`;
//! - the heartbeat alarm: a publisher whose beats stop is reported
//!   `Silent`; with `reconnect_when_silent`, a connection that a broken
//!   path left open (a black-holing proxy, ZMTP heartbeats off) is made
//!   again and messages flow once the path heals.
#![cfg(any(feature = "zmq", feature = "purerust"))]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use posttroll::publisher::Publisher;
use posttroll::subscriber::{Events, Subscriber};
use posttroll::{Config, ConnectionEvent, Context, ErrorKind, Message};
use posttroll_testkit::proxy::BlackHoleProxy;
use posttroll_testkit::python::{self, config_env, PythonProcess};
use posttroll_testkit::{assert_test_engine, with_test_engine};
use tokio::time::Instant;

/// The bound of every wait.
const WAIT: Duration = Duration::from_secs(10);

fn context(config: Config) -> Context {
    let ctx = Context::new(with_test_engine(config)).unwrap();
    assert_test_engine(&ctx);
    ctx
}

async fn publisher(ctx: &Context) -> Publisher {
    Publisher::builder("tcp://127.0.0.1:0")
        .name("liveness")
        .context(ctx.clone())
        .start()
        .await
        .unwrap()
}

fn address(publisher: &Publisher) -> String {
    format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap())
}

/// The next event within [`WAIT`] that `want` accepts (others skipped).
async fn next_event(
    events: &mut Events,
    want: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if want(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the event stream ended"),
            Err(_) => panic!("no such event within {WAIT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_waits_for_its_subscriber_never_loses_the_first_message() {
    let ctx = context(Config::default());
    let mut waits = Vec::with_capacity(100);
    for round in 0..100 {
        let publisher = publisher(&ctx).await;
        let subscriber = Subscriber::builder()
            .addresses([address(&publisher)])
            .topics(["/liveness"])
            .context(ctx.clone())
            .start()
            .await
            .unwrap();
        let started = Instant::now();
        let count = publisher
            .wait_for_subscribers(1, WAIT)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        waits.push(started.elapsed());
        assert_eq!(count, 1, "round {round}");
        // Sent once, never again.
        publisher
            .send(&Message::new("/liveness", "info", format!("{round}")).unwrap())
            .await
            .unwrap();
        let msg = subscriber
            .recv(Some(Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: the only message sent was lost"));
        assert_eq!(msg.data.as_text(), Some(format!("{round}").as_str()));
        subscriber.stop().await.unwrap();
        publisher.stop().await.unwrap();
    }
    waits.sort();
    eprintln!(
        "wait_for_subscribers on {}: median {:?}, max {:?} (100 rounds)",
        ctx.transport().engine(),
        waits[50],
        waits[99]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_subscribers_times_out_when_none_comes() {
    let ctx = context(Config::default());
    let publisher = publisher(&ctx).await;
    let started = Instant::now();
    let err = publisher
        .wait_for_subscribers(1, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        publisher
            .wait_for_subscribers(0, Duration::ZERO)
            .await
            .unwrap(),
        0
    );
    publisher.stop().await.unwrap();
    let err = publisher
        .wait_for_subscribers(1, Duration::from_millis(10))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

/// The Python side of the slow-joiner test: for each port read from stdin,
/// a reference `Subscriber` that prints the first message it gets (or
/// NONE after 5 s), then closes.
const PY_SUBSCRIBER: &str = r#"
import sys
from posttroll.subscriber import Subscriber
print("READY", flush=True)
for line in sys.stdin:
    port = line.strip()
    if port == "done":
        break
    sub = Subscriber(["tcp://127.0.0.1:" + port], topics="/liveness")
    got = None
    for msg in sub.recv(timeout=5):
        got = msg
        break
    sub.close()
    print("GOT " + (got.data if got is not None else "NONE"), flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_subscriber_gets_the_first_message_of_a_waiting_publisher() {
    if python::require().is_none() {
        return;
    }
    let ctx = context(Config::default());
    let mut peer = PythonProcess::spawn(PY_SUBSCRIBER, &[], &config_env(ctx.config())).unwrap();
    assert!(
        peer.wait_for_line_async(|l| l == "READY", WAIT)
            .await
            .is_some(),
        "{}",
        peer.describe()
    );
    for round in 0..100 {
        let publisher = publisher(&ctx).await;
        peer.write_line(&publisher.port_number().unwrap().to_string())
            .unwrap();
        publisher
            .wait_for_subscribers(1, WAIT)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", peer.describe()));
        publisher
            .send(&Message::new("/liveness", "info", format!("{round}")).unwrap())
            .await
            .unwrap();
        let line = peer
            .wait_for_line_async(|l| l.starts_with("GOT "), WAIT)
            .await
            .unwrap_or_else(|| panic!("round {round}: no answer\n{}", peer.describe()));
        assert_eq!(line, format!("GOT {round}"), "round {round}");
        publisher.stop().await.unwrap();
    }
    peer.write_line("done").unwrap();
    assert!(
        peer.wait(WAIT).is_some_and(|s| s.success()),
        "{}",
        peer.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_a_publisher_that_comes_and_goes() {
    let ctx = context(Config::default());
    // A port nobody listens on (not one of a publisher just stopped: libzmq
    // closes a listener in the background, after `stop` returns).
    let port = posttroll_testkit::free_tcp_port();
    let uri = format!("tcp://127.0.0.1:{port}");

    let subscriber = Subscriber::builder()
        .addresses([uri.as_str()])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let mut events = subscriber.events();
    let err = subscriber
        .wait_connected(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains(&uri), "{err}");

    let second = Publisher::builder(format!("tcp://127.0.0.1:{port}"))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    subscriber.wait_connected(WAIT).await.unwrap();
    let event = next_event(&mut events, |_| true).await;
    assert_eq!(
        event,
        ConnectionEvent::Connected {
            address: uri.clone()
        }
    );
    // A stream asked for now starts with the connection.
    let mut late = subscriber.events();
    assert_eq!(
        late.try_next(),
        Some(ConnectionEvent::Connected {
            address: uri.clone()
        })
    );

    second.stop().await.unwrap();
    let event = next_event(&mut events, |_| true).await;
    match event {
        ConnectionEvent::Disconnected { address, reason } => {
            assert_eq!(address, uri);
            assert!(!reason.is_empty());
        }
        other => panic!("expected a disconnection, got {other:?}"),
    }
    subscriber.stop().await.unwrap();
    assert!(
        events.next().await.is_none(),
        "the stream ends with the subscriber"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_whose_beats_stop_is_reported_silent() {
    let ctx = context(Config::default());
    let publisher = publisher(&ctx).await;
    let subscriber = Subscriber::builder()
        .addresses([address(&publisher)])
        .topics(["/liveness"])
        .heartbeat_alarm_scale(3.0)
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    subscriber.wait_connected(WAIT).await.unwrap();
    publisher.wait_for_subscribers(1, WAIT).await.unwrap();
    let mut events = subscriber.events();
    assert!(matches!(
        events.try_next(),
        Some(ConnectionEvent::Connected { .. })
    ));
    let beat = Duration::from_millis(100);
    // Beats for a while: no alarm, and the beats (not asked for by the
    // topics) do not reach the consumer.
    let beating = Instant::now();
    let mut last = Instant::now();
    while beating.elapsed() < Duration::from_millis(800) {
        if publisher.heartbeat(beat).await.unwrap() {
            last = Instant::now();
        }
        assert!(subscriber.recv(Some(beat / 4)).await.unwrap().is_none());
        assert_eq!(events.try_next(), None, "an alarm while the beats flow");
    }
    let event = next_event(&mut events, |e| matches!(e, ConnectionEvent::Silent { .. })).await;
    let noticed = last.elapsed();
    eprintln!("silent publisher noticed after {noticed:?} (alarm 3 x 0.1 s)");
    assert!(noticed >= Duration::from_millis(250), "{noticed:?}");
    assert!(noticed < Duration::from_secs(2), "{noticed:?}");
    assert_eq!(event.address(), address(&publisher));
    // It stays silent: no second alarm without reconnecting.
    publisher
        .send(&Message::new("/liveness", "info", "still here").unwrap())
        .await
        .unwrap();
    assert!(subscriber.recv(Some(WAIT)).await.unwrap().is_some());
    assert_eq!(events.try_next(), None);
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_path_is_left_and_joined_again_through_the_heartbeat_alarm() {
    // ZMTP heartbeats off: only the alarm can notice the dead path.
    let ctx = context(Config {
        zmtp_heartbeat_interval: 0.0,
        ..Config::default()
    });
    let publisher = publisher(&ctx).await;
    let target = format!("127.0.0.1:{}", publisher.port_number().unwrap())
        .parse()
        .unwrap();
    let proxy = BlackHoleProxy::start(target).await.unwrap();
    let via = format!("tcp://127.0.0.1:{}", proxy.port());
    let subscriber = Subscriber::builder()
        .addresses([via.as_str()])
        .topics(["/liveness"])
        .heartbeat_alarm_scale(3.0)
        .reconnect_when_silent(true)
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let mut events = subscriber.events();
    let beat = Duration::from_millis(100);
    // Beats flow until the subscriber has seen some (the alarm is armed).
    publisher.wait_for_subscribers(1, WAIT).await.unwrap();
    let msg = Message::new("/liveness", "info", "probe").unwrap();
    publisher.send(&msg).await.unwrap();
    assert!(subscriber.recv(Some(WAIT)).await.unwrap().is_some());
    let beating = Instant::now();
    while beating.elapsed() < Duration::from_millis(400) {
        let _ = publisher.heartbeat(beat).await.unwrap();
        tokio::time::sleep(beat / 4).await;
    }

    proxy.black_hole();
    let holed = Instant::now();
    let beats = async {
        loop {
            let _ = publisher.heartbeat(beat).await;
            tokio::time::sleep(beat / 4).await;
        }
    };
    let silent = tokio::select! {
        event = next_event(&mut events, |e| matches!(e, ConnectionEvent::Silent { .. })) => event,
        () = beats => unreachable!(),
    };
    let detection = holed.elapsed();
    assert_eq!(silent.address(), via);
    assert!(
        proxy.wait_for(WAIT, |accepted, _| accepted >= 2).await,
        "no new connection after the alarm"
    );

    proxy.heal();
    let healed = Instant::now();
    loop {
        publisher.heartbeat(beat).await.unwrap_or_default();
        publisher.send(&msg).await.unwrap();
        if subscriber
            .recv(Some(Duration::from_millis(50)))
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(5),
            "nothing received 5 s after the path healed"
        );
    }
    let recovery = healed.elapsed();
    eprintln!(
        "heartbeat alarm (3 x 0.1 s) on {}: silent path noticed after {detection:?}, messages \
         again {recovery:?} after it healed",
        ctx.transport().engine()
    );
    assert!(detection < Duration::from_secs(2), "{detection:?}");
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

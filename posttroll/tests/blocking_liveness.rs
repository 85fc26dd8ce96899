//! The liveness calls of the blocking API (events, wait_connected,
//! wait_for_subscribers), on the in-process backend: the adapter over the
//! async calls, which `tests/liveness.rs` (top level) runs on real engines.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, ConnectionEvent, Context, ErrorKind, Message};

#[test]
fn blocking_handles_wait_for_each_other_and_report_events() {
    let ctx = Context::new(Config {
        backend: "inproc".into(),
        ..Config::default()
    })
    .unwrap();
    let subscriber = Subscriber::builder()
        .addresses(["inproc://blocking-liveness"])
        .context(ctx.clone())
        .start_blocking()
        .unwrap();
    let mut events = subscriber.events();
    let err = subscriber
        .wait_connected(Duration::from_millis(50))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(
        events.next_timeout(Duration::from_millis(10)).unwrap(),
        None
    );

    let publisher = Publisher::builder("inproc://blocking-liveness")
        .context(ctx)
        .start_blocking()
        .unwrap();
    assert_eq!(
        publisher
            .wait_for_subscribers(1, Duration::from_secs(5))
            .unwrap(),
        1
    );
    subscriber.wait_connected(Duration::from_secs(5)).unwrap();
    assert_eq!(
        events.next(),
        Some(ConnectionEvent::Connected {
            address: "inproc://blocking-liveness".into()
        })
    );
    publisher
        .send(&Message::new("/once", "info", "1").unwrap())
        .unwrap();
    assert!(subscriber
        .recv_one(Some(Duration::from_secs(5)))
        .unwrap()
        .is_some());

    publisher.stop().unwrap();
    assert!(matches!(
        events.next(),
        Some(ConnectionEvent::Disconnected { .. })
    ));
    subscriber.stop().unwrap();
    assert_eq!(events.next(), None, "the events end with the subscriber");
}

//! With the `metrics` feature, publishers and subscribers count what they
//! send, receive, cannot decode and refuse by size, into the recorder the
//! application installs (here `posttroll::metrics::CountingRecorder`).

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use posttroll::metrics::CountingRecorder;
use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, Context, Message};
use posttroll_testkit::{assert_test_engine, with_test_engine};
use tokio::time::Instant;

/// Waits (5 s at most) until `series` is at least `min`.
async fn reaches(counters: &CountingRecorder, series: &str, min: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while counters.get(series) < min {
        assert!(
            Instant::now() < deadline,
            "{series} stayed at {} (< {min})",
            counters.get(series)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const SENT: &str = "posttroll_messages_sent_total{}";
const RECEIVED: &str = "posttroll_messages_received_total{}";
const UNDECODABLE: &str = "posttroll_messages_undecodable_total{}";
const REFUSED_SIZE: &str = "posttroll_refusals_total{reason=size}";

/// The only test of this binary: the recorder is the process's.
#[tokio::test]
async fn publishers_and_subscribers_count_into_the_installed_recorder() {
    let counters = CountingRecorder::default();
    metrics::set_global_recorder(counters.clone()).unwrap();

    // A real engine on loopback, frames up to 1 KiB.
    let config = with_test_engine(Config {
        backend: "unsecure_zmq".into(),
        max_message_size: 1024,
        ..Config::default()
    });
    let ctx = Context::new(config).unwrap();
    assert_test_engine(&ctx);
    let publisher = Publisher::builder("tcp://127.0.0.1:0")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let address = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
    let subscriber = Subscriber::builder()
        .addresses([address.as_str()])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    publisher
        .wait_for_subscribers(1, Duration::from_secs(5))
        .await
        .unwrap();

    let msg = Message::new("/counted", "info", "one").unwrap();
    for _ in 0..3 {
        publisher.send(&msg).await.unwrap();
    }
    // Frames start with the magic topic, else the subscription (made at
    // the publisher) filters them out before they are sent.
    publisher
        .send_raw(Bytes::from_static(b"pytroll://undecodable"))
        .await
        .unwrap();
    assert_eq!(counters.get(SENT), 4);

    for _ in 0..3 {
        let got = subscriber.recv(Some(Duration::from_secs(5))).await.unwrap();
        assert_eq!(got.unwrap().subject(), "/counted");
    }
    // The undecodable frame is dropped by the next receive.
    assert!(subscriber
        .recv(Some(Duration::from_millis(200)))
        .await
        .unwrap()
        .is_none());
    reaches(&counters, UNDECODABLE, 1).await;
    reaches(&counters, RECEIVED, 4).await;
    // Over the subscriber's 1 KiB: refused by its engine (sent after the
    // others: the pure-Rust engine drops the connection, and with it what
    // it had not delivered yet).
    publisher
        .send_raw(Bytes::from(format!(
            "pytroll://big info a@b 2020-01-01T00:00:00 v1.01 text/ascii {}",
            "x".repeat(4096)
        )))
        .await
        .unwrap();
    assert_eq!(counters.get(SENT), 5);
    reaches(&counters, REFUSED_SIZE, 1).await;
    assert_eq!(
        counters.get(RECEIVED),
        4,
        "the oversized frame is not received"
    );

    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
    // Sending after stop fails and is not counted.
    assert!(publisher.send(&msg).await.is_err());
    assert_eq!(counters.get(SENT), 5);
}

//! IPv6 loopback on the engine of the test run (`POSTTROLL_ENGINE`): a
//! publisher bound on `tcp://[::1]:0` reaches a subscriber. The reference
//! is IPv4-only; this is the first step of IPv6 support (the nameserver
//! still listens on IPv4 only: `tcp://*:PORT` binds 0.0.0.0).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, Context, Message};
use posttroll_testkit::{assert_test_engine, with_test_engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_subscribe_over_ipv6_loopback() {
    let ctx = Context::new(with_test_engine(Config::default())).unwrap();
    assert_test_engine(&ctx);
    let publisher = Publisher::builder("tcp://[::1]:0")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(publisher.endpoint().host(), Some("::1"));
    let uri = format!("tcp://[::1]:{}", publisher.port_number().unwrap());
    let subscriber = Subscriber::builder()
        .addresses([uri.as_str()])
        .context(ctx)
        .start()
        .await
        .unwrap();
    publisher
        .wait_for_subscribers(1, Duration::from_secs(10))
        .await
        .unwrap();
    publisher
        .send(&Message::new("/v6", "info", "over ::1").unwrap())
        .await
        .unwrap();
    let msg = subscriber
        .recv(Some(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the message over ::1");
    assert_eq!(msg.data.as_text(), Some("over ::1"));
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
}

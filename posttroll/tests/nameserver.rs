//! The facade's nameserver clients on isolated in-process networks:
//! lookups that time out or retry until a publisher appears, subscribers
//! and the listener container finding publishers through a nameserver
//! (`posttroll-nameserver`, whose own tests are about the server).
#![cfg(feature = "inproc")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use bytes::Bytes;
use posttroll::backend::Discovery;
use posttroll::listener::ListenerContainer;
use posttroll::nameserver::{get_pub_address, get_pub_addresses};
use posttroll::publisher::NoisyPublisher;
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{Address, ErrorKind, Message, Value};
use posttroll_testkit::isolated::{default_ctx, noisy, start_ns};
use tokio::time::Instant;

/// Sends `/counter` probes until `subscriber` receives one (subscriptions
/// join asynchronously), then drains nothing more.
async fn await_connected(publisher: &NoisyPublisher, subscriber: &Subscriber) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        publisher
            .send(&Message::new("/counter", "info", "probe").unwrap())
            .await
            .unwrap();
        if subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the subscriber never connected");
    }
    // Drop probes still in flight.
    while subscriber
        .recv(Some(Duration::from_millis(20)))
        .await
        .unwrap()
        .is_some()
    {}
}

// --- publish and subscribe through the nameserver ---------------------------

async fn pub_sub_through_the_nameserver(multicast: bool) {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, multicast, Duration::from_secs(3)).await;
    let publisher = noisy(
        &ctx,
        "data_provider",
        &["this_data"],
        multicast,
        Duration::from_millis(100),
    )
    .await;
    let subscriber = NSSubscriber::builder()
        .services(["this_data"])
        .topics(["/counter"])
        .timeout(Duration::from_secs(2))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(
        subscriber
            .addresses()
            .iter()
            .map(Address::uri)
            .collect::<Vec<_>>(),
        [publisher.announced_uri()]
    );
    await_connected(&publisher, &subscriber).await;
    for counter in 0..5 {
        let sent = Message::new("/counter", "info", counter.to_string()).unwrap();
        publisher.send(&sent).await.unwrap();
        let received = subscriber
            .recv(Some(Duration::from_secs(2)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(received.encode(), sent.encode());
    }
    subscriber.stop().await.unwrap();

    // The publisher's heartbeat reaches a subscriber found through the
    // nameserver (the reference's test_noisypublisher_heartbeat).
    let beats = NSSubscriber::builder()
        .services(["data_provider"])
        .topics(["/heartbeat/data_provider"])
        .timeout(Duration::from_secs(2))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let beat = loop {
        publisher.heartbeat(Duration::ZERO).await.unwrap();
        if let Some(beat) = beats.recv(Some(Duration::from_millis(20))).await.unwrap() {
            break beat;
        }
    };
    assert_eq!(beat.msg_type(), "beat");
    beats.stop().await.unwrap();

    publisher.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test]
async fn pub_sub_through_the_nameserver_multicast() {
    pub_sub_through_the_nameserver(true).await;
}

#[tokio::test]
async fn pub_sub_through_the_nameserver_no_multicast() {
    pub_sub_through_the_nameserver(false).await;
}

// --- the listener container --------------------------------------------------

#[tokio::test]
async fn listener_container_receives_five_messages() {
    let (ctx, _net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(3)).await;
    let publisher = noisy(&ctx, "test", &[], true, Duration::from_millis(100)).await;
    // The nameserver must know the publisher before the listener asks.
    get_pub_addresses(
        &ctx,
        &["test".to_owned()],
        Duration::from_secs(2),
        "localhost",
    )
    .await
    .unwrap();
    let mut listener = ListenerContainer::builder(["/counter"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert!(listener.is_running());
    // Subscriptions join asynchronously: probe until one arrives.
    loop {
        publisher
            .send(&Message::new("/counter", "info", "probe").unwrap())
            .await
            .unwrap();
        if listener
            .recv(Some(Duration::from_millis(20)))
            .await
            .is_some()
        {
            break;
        }
    }
    while listener
        .recv(Some(Duration::from_millis(20)))
        .await
        .is_some()
    {}
    for counter in 0..5 {
        let sent = Message::new("/counter", "info", counter.to_string()).unwrap();
        publisher.send(&sent).await.unwrap();
        let received = listener.recv(Some(Duration::from_secs(1))).await.unwrap();
        assert_eq!(received.encode(), sent.encode());
    }

    // Restarted on other topics, the same queue goes on.
    listener.restart_listener(["/other"]).await.unwrap();
    assert_eq!(listener.topics(), ["/other"]);
    loop {
        publisher
            .send(&Message::new("/counter", "info", "ignored").unwrap())
            .await
            .unwrap();
        publisher
            .send(&Message::new("/other", "info", "x").unwrap())
            .await
            .unwrap();
        if let Some(msg) = listener.recv(Some(Duration::from_millis(20))).await {
            assert_eq!(msg.subject(), "/other");
            break;
        }
    }

    let started = std::time::Instant::now();
    listener.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!listener.is_running());
    assert!(listener.subscriber().is_none());
    publisher.stop().await.unwrap();
    ns.stop().await;
}

// --- timeouts and retries -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn get_pub_address_times_out_against_nothing() {
    let (ctx, _net) = default_ctx();
    let started = Instant::now();
    let err = get_pub_address(&ctx, "x", Duration::from_secs(3), "localhost")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.to_string()
            .contains("didn't get an address after 3 seconds"),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(3));
    let err = get_pub_addresses(
        &ctx,
        &["x".to_owned()],
        Duration::from_secs(1),
        "tcp://localhost:6000",
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn get_pub_addresses_retries_until_the_publisher_appears() {
    let (ctx, net) = default_ctx();
    let ns = start_ns(&ctx, true, Duration::from_secs(60)).await;
    let asking = tokio::spawn({
        let ctx = ctx.clone();
        async move {
            get_pub_addresses(
                &ctx,
                &["late".to_owned()],
                Duration::from_secs(10),
                "localhost",
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let announcement = Message::new(
        "/address/late",
        "info",
        Value::object([
            ("URI", Value::from("tcp://10.0.0.2:40000")),
            ("service", Value::from(vec!["late"])),
        ]),
    )
    .unwrap();
    net.discovery()
        .sender()
        .await
        .unwrap()
        .send(Bytes::from(announcement.encode()))
        .await
        .unwrap();
    let found = asking.await.unwrap().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].uri(), "tcp://10.0.0.2:40000");
    ns.stop().await;
}

// --- the blocking API ------------------------------------------------------------

#[test]
fn blocking_listener_container() {
    use posttroll::publisher::Publisher;
    let (ctx, _net) = default_ctx();
    let publisher = Publisher::builder("tcp://*:40020")
        .context(ctx.clone())
        .start_blocking()
        .unwrap();
    let listener = ListenerContainer::builder(["/counter"])
        .addresses(["tcp://127.0.0.1:40020"])
        .without_nameserver()
        .context(ctx)
        .start_blocking()
        .unwrap();
    loop {
        publisher
            .send(&Message::new("/counter", "info", "probe").unwrap())
            .unwrap();
        if listener
            .output_queue()
            .get(Some(Duration::from_millis(20)))
            .is_some()
        {
            break;
        }
    }
    while listener
        .output_queue()
        .get(Some(Duration::from_millis(20)))
        .is_some()
    {}
    for counter in 0..5 {
        let sent = Message::new("/counter", "info", counter.to_string()).unwrap();
        publisher.send(&sent).unwrap();
        let received = listener
            .output_queue()
            .get(Some(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(received.encode(), sent.encode());
    }
    assert!(listener.output_queue().get_nowait().is_none());
    let started = std::time::Instant::now();
    listener.stop().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!listener.is_running());
    publisher.stop().unwrap();
}

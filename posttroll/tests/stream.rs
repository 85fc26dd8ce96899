//! `Subscriber` as a `futures::Stream`, on the in-process backend.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Config, Context, Message};

async fn next(subscriber: &mut Subscriber) -> Option<posttroll::Result<Message>> {
    tokio::time::timeout(
        Duration::from_secs(5),
        poll_fn(|cx| Pin::new(&mut *subscriber).poll_next(cx)),
    )
    .await
    .expect("the stream yields within 5 s")
}

#[tokio::test]
async fn a_subscriber_streams_its_messages_in_order_and_ends_when_stopped() {
    let ctx = Context::new(Config {
        backend: "inproc".into(),
        ..Config::default()
    })
    .unwrap();
    let publisher = Publisher::builder("inproc://stream-test")
        .context(ctx.clone())
        .no_drop(true)
        .start()
        .await
        .unwrap();
    let mut subscriber = Subscriber::builder()
        .addresses(["inproc://stream-test"])
        .topics(["/n"])
        .context(ctx)
        .start()
        .await
        .unwrap();
    publisher
        .wait_for_subscribers(1, Duration::from_secs(5))
        .await
        .unwrap();
    // Some queued before the stream is polled, some sent while it waits.
    for i in 0..3 {
        publisher
            .send(&Message::new("/n", "info", i.to_string()).unwrap())
            .await
            .unwrap();
    }
    let sender = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for i in 3..6 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                publisher
                    .send(&Message::new("/n", "info", i.to_string()).unwrap())
                    .await
                    .unwrap();
            }
        })
    };
    for i in 0..6 {
        let msg = next(&mut subscriber).await.unwrap().unwrap();
        assert_eq!(msg.data.as_text(), Some(i.to_string().as_str()));
    }
    sender.await.unwrap();
    // A clone streams too, and `recv` still works beside the stream.
    let mut clone = subscriber.clone();
    publisher
        .send(&Message::new("/n", "info", "6").unwrap())
        .await
        .unwrap();
    assert_eq!(
        next(&mut clone).await.unwrap().unwrap().data.as_text(),
        Some("6")
    );
    publisher
        .send(&Message::new("/n", "info", "7").unwrap())
        .await
        .unwrap();
    let msg = subscriber.recv(Some(Duration::from_secs(5))).await.unwrap();
    assert_eq!(msg.unwrap().data.as_text(), Some("7"));

    subscriber.stop().await.unwrap();
    assert!(next(&mut subscriber).await.is_none());
    assert!(next(&mut clone).await.is_none());
    publisher.stop().await.unwrap();
}

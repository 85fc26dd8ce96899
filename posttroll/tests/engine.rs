//! The `engine` config key: which ZMTP engine serves `unsecure_zmq` and
//! `secure_zmq` (runs with `--features purerust`, the default), and, with
//! both engines compiled in (`--all-features`), the engines talking to each
//! other through the high-level API: plain and CURVE, a publisher on each
//! engine and a subscriber on the other, and a CURVE nameserver on each
//! engine serving announcements and lookups from the other.
//!
//! These tests pin their engines: they run the same whatever
//! `POSTTROLL_ENGINE` says.

#![cfg(feature = "purerust")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "zmq")]
use std::time::{Duration, Instant};

#[cfg(feature = "zmq")]
use posttroll::publisher::Publisher;
#[cfg(feature = "zmq")]
use posttroll::subscriber::Subscriber;
#[cfg(feature = "zmq")]
use posttroll::Message;
use posttroll::{Config, Context};

fn with_engine(backend: &str, engine: Option<&str>) -> Config {
    Config {
        backend: backend.into(),
        engine: engine.map(str::to_owned),
        ..Config::default()
    }
}

#[tokio::test]
async fn unset_engine_picks_purerust_and_the_wire_name_stays() {
    let ctx = Context::new(with_engine("unsecure_zmq", None)).unwrap();
    assert_eq!(ctx.transport().engine(), "purerust");
    assert_eq!(ctx.backend_name(), "unsecure_zmq");
    assert_eq!(ctx.announced_backend(), "unsecure_zmq");
    let ctx = Context::new(with_engine("unsecure_zmq", Some("purerust"))).unwrap();
    assert_eq!(ctx.transport().engine(), "purerust");
}

#[tokio::test]
async fn secure_zmq_on_purerust() {
    let ctx = Context::new(with_engine("secure_zmq", Some("purerust"))).unwrap();
    assert_eq!(ctx.transport().engine(), "purerust");
    assert_eq!(ctx.backend_name(), "secure_zmq");
    assert_eq!(ctx.announced_backend(), "secure_zmq");
}

#[test]
fn an_unknown_engine_is_an_error_naming_the_known_ones() {
    let err = Context::new(with_engine("unsecure_zmq", Some("carrier_pigeon"))).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("carrier_pigeon"), "{text}");
    assert!(
        text.contains("purerust") && text.contains("libzmq"),
        "{text}"
    );
}

#[cfg(not(feature = "zmq"))]
#[test]
fn libzmq_not_compiled_in_names_the_feature() {
    let err = Context::new(with_engine("unsecure_zmq", Some("libzmq"))).unwrap_err();
    assert!(err.to_string().contains("`zmq`"), "{err}");
}

/// A publisher on one engine, a subscriber on the other, through the
/// high-level API, both ways.
#[cfg(feature = "zmq")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_publisher_and_subscriber_across_engines() {
    for (pub_engine, sub_engine) in [("purerust", "libzmq"), ("libzmq", "purerust")] {
        let pub_ctx = Context::new(with_engine("unsecure_zmq", Some(pub_engine))).unwrap();
        let sub_ctx = Context::new(with_engine("unsecure_zmq", Some(sub_engine))).unwrap();
        assert_eq!(pub_ctx.transport().engine(), pub_engine);
        assert_eq!(sub_ctx.transport().engine(), sub_engine);
        let publisher = Publisher::builder("tcp://127.0.0.1:0")
            .context(pub_ctx)
            .start()
            .await
            .unwrap();
        let uri = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
        let subscriber = Subscriber::builder()
            .addresses(vec![uri])
            .topics(vec!["/engine"])
            .context(sub_ctx)
            .start()
            .await
            .unwrap();
        let sent = Message::new("/engine/test", "info", format!("from {pub_engine}")).unwrap();
        let start = Instant::now();
        let got = loop {
            publisher.send(&sent).await.unwrap();
            if let Some(got) = subscriber
                .recv(Some(Duration::from_millis(20)))
                .await
                .unwrap()
            {
                break got;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "nothing came");
        };
        assert_eq!(got.encode_with(None), sent.encode_with(None));
        subscriber.stop().await.unwrap();
        publisher.stop().await.unwrap();
    }
}

/// `secure_zmq` on `engine` with the four key settings of `keys`.
#[cfg(feature = "secure-zmq")]
fn curve_config(keys: &posttroll_testkit::CurveKeys, engine: &str) -> Config {
    keys.apply(Config {
        own_ip: Some("127.0.0.1".into()),
        ..with_engine("secure_zmq", Some(engine))
    })
}

/// A CURVE publisher on one engine, a CURVE subscriber on the other,
/// through the high-level API, both ways.
#[cfg(feature = "secure-zmq")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_curve_publisher_and_subscriber_across_engines() {
    let keys = posttroll_testkit::CurveKeys::new().unwrap();
    for (pub_engine, sub_engine) in [("purerust", "libzmq"), ("libzmq", "purerust")] {
        let pub_ctx = Context::new(curve_config(&keys, pub_engine)).unwrap();
        let sub_ctx = Context::new(curve_config(&keys, sub_engine)).unwrap();
        assert_eq!(pub_ctx.transport().engine(), pub_engine);
        assert_eq!(sub_ctx.transport().engine(), sub_engine);
        assert_eq!(pub_ctx.backend_name(), "secure_zmq");
        assert_eq!(sub_ctx.backend_name(), "secure_zmq");
        let publisher = Publisher::builder("tcp://127.0.0.1:0")
            .context(pub_ctx)
            .start()
            .await
            .unwrap();
        let uri = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
        let subscriber = Subscriber::builder()
            .addresses(vec![uri])
            .topics(vec!["/curve"])
            .context(sub_ctx)
            .start()
            .await
            .unwrap();
        let sent = Message::new("/curve/test", "info", format!("from {pub_engine}")).unwrap();
        let start = Instant::now();
        let got = loop {
            publisher.send(&sent).await.unwrap();
            if let Some(got) = subscriber
                .recv(Some(Duration::from_millis(20)))
                .await
                .unwrap()
            {
                break got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nothing came over CURVE from {pub_engine} to {sub_engine}"
            );
        };
        assert_eq!(got.encode_with(None), sent.encode_with(None));
        subscriber.stop().await.unwrap();
        publisher.stop().await.unwrap();
    }
}

/// A CURVE nameserver on one engine; a secure `NoisyPublisher` on the other
/// announces to it (a CURVE request) and a secure lookup from the other
/// engine finds it (on `secure_zmq_nameserver_port`), both ways.
#[cfg(feature = "secure-zmq")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_curve_nameserver_across_engines() {
    use posttroll::nameserver::get_pub_address;
    use posttroll::publisher::NoisyPublisher;
    use posttroll_testkit::{FixtureBackend, FixtureOptions, NameServerFixture};

    let keys = posttroll_testkit::CurveKeys::new().unwrap();
    for (ns_engine, client_engine) in [("purerust", "libzmq"), ("libzmq", "purerust")] {
        let ns = NameServerFixture::start(FixtureOptions {
            multicast: false,
            backend: FixtureBackend::Configured(curve_config(&keys, ns_engine)),
            ..FixtureOptions::default()
        })
        .await
        .unwrap();
        assert_eq!(ns.context().transport().engine(), ns_engine);
        assert!(ns.handle().secure_lookup_endpoint().is_some());
        let client = Context::new(Config {
            engine: Some(client_engine.into()),
            ..ns.config().clone()
        })
        .unwrap();
        assert_eq!(client.transport().engine(), client_engine);
        let name = format!("curve_from_{client_engine}");
        let publisher = NoisyPublisher::builder(&name)
            .context(client.clone())
            .nameservers(ns.announce_to())
            .broadcast_interval(Duration::from_millis(200))
            .start()
            .await
            .unwrap();
        let start = Instant::now();
        let found = loop {
            let found = get_pub_address(&client, &name, Duration::from_secs(1), ns.nameserver())
                .await
                .unwrap_or_default();
            if !found.is_empty() {
                break found;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the {ns_engine} nameserver never answered the {client_engine} lookup of {name}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(found[0].uri(), publisher.announced_uri());
        publisher.stop().await.unwrap();
        ns.stop().await;
    }
}

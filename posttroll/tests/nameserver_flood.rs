//! Hardening of the nameserver's reply ports on a real engine (the one
//! `POSTTROLL_ENGINE` names): a client that sends requests and never reads
//! the replies (a raw DEALER) on the plain lookup port, the CURVE lookup
//! port and the designated-announcement port makes the nameserver drop its
//! own replies (counted), and every other client is answered while it
//! floods and after it has gone. A REP socket would wedge for good.

#![cfg(feature = "purerust")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll::discovery::address_message;
use posttroll::nameserver::get_pub_address;
use posttroll::{Config, Endpoint, Message, Security, Value};
use posttroll_testkit::peers::Dealer;
use posttroll_testkit::{
    assert_test_engine, with_test_engine, FixtureBackend, FixtureOptions, NameServerFixture,
};

/// How long the whole flood of one port may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The most requests one flood sends.
const FLOOD: usize = 100_000;

struct Keys {
    root: PathBuf,
}

impl Keys {
    fn new() -> Keys {
        let root = std::env::temp_dir().join(format!("ptrs-ns-flood-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for sub in ["server", "client", "admitted"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        posttroll::keystore::zpl::create_certificates(&root.join("server"), "server").unwrap();
        posttroll::keystore::zpl::create_certificates(&root.join("client"), "client").unwrap();
        std::fs::copy(
            root.join("client/client.key"),
            root.join("admitted/client.key"),
        )
        .unwrap();
        Keys { root }
    }

    /// `unsecure_zmq` with a server key: the nameserver serves both the
    /// plain and the CURVE lookup ports.
    fn config(&self) -> Config {
        with_test_engine(Config {
            server_secret_key_file: Some(self.root.join("server/server.key_secret")),
            server_public_key_file: Some(self.root.join("server/server.key")),
            client_secret_key_file: Some(self.root.join("client/client.key_secret")),
            clients_public_keys_directory: Some(self.root.join("admitted")),
            own_ip: Some("127.0.0.1".into()),
            ..Config::default()
        })
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn lookup_request(service: &str) -> Bytes {
    let message = Message::new(
        "/oper/ns",
        "request",
        Value::object([("service", Value::from(service))]),
    )
    .unwrap();
    Bytes::from(message.encode())
}

fn announcement(name: &str, port: u16) -> Bytes {
    let uri = format!("tcp://127.0.0.1:{port}");
    let message = address_message(name, &uri, &[name.to_owned()], "unsecure_zmq").unwrap();
    Bytes::from(message.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_can_wedge_a_reply_port() {
    let keys = Keys::new();
    let ns = NameServerFixture::start(FixtureOptions {
        multicast: false,
        backend: FixtureBackend::Configured(keys.config()),
        ..FixtureOptions::default()
    })
    .await
    .unwrap();
    let engine = assert_test_engine(ns.context());
    let ctx = ns.context().clone();
    let config = ns.config().clone();
    let secure = ns
        .handle()
        .secure_lookup_endpoint()
        .cloned()
        .expect("a secure lookup port");
    let announce = Endpoint::tcp("127.0.0.1", config.broadcast_port);
    let plain = Endpoint::tcp("127.0.0.1", config.nameserver_port);
    let secure = Endpoint::tcp("127.0.0.1", secure.port().unwrap());

    // Forty services make every lookup("") reply a few KiB.
    for i in 0..40u16 {
        let reply = ctx
            .transport()
            .request(
                &announce,
                Security::Plain,
                announcement(&format!("service{i}"), 40000 + i),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(reply, "ok");
    }
    ns.wait_for_service("service39", Duration::from_secs(5))
        .await
        .unwrap();

    let handle = ns.handle();
    let secure_ctx = posttroll::Context::new(Config {
        backend: "secure_zmq".into(),
        ..config.clone()
    })
    .unwrap();
    let ports = [
        ("plain lookups", plain, false, lookup_request("")),
        ("secure lookups", secure, true, lookup_request("")),
        (
            "announcements",
            announce.clone(),
            false,
            announcement("flooder", 41000),
        ),
    ];
    for (what, endpoint, curve, request) in ports {
        let dropped = || {
            if what == "announcements" {
                handle.announcement_replies_dropped()
            } else {
                handle.lookup_replies_dropped()
            }
        };
        let before = dropped();
        let dealer = if curve {
            Dealer::connect_curve(&endpoint, &config).await.unwrap()
        } else {
            Dealer::connect(&endpoint).await.unwrap()
        };
        let start = Instant::now();
        let mut sent = 0;
        while dropped() == before && sent < FLOOD && start.elapsed() < DEADLINE {
            dealer.send_request(request.clone()).await.unwrap();
            sent += 1;
            if sent % 2000 == 0 {
                assert_answered(
                    &ctx,
                    ns.nameserver(),
                    &format!("{what}, during ({sent} sent)"),
                )
                .await;
            }
        }
        // A lookup reply is a few KiB: the client's queues fill within a few
        // thousand requests on both engines. An announcement reply is 2
        // bytes: libzmq's queues and the kernel's buffers then hold several
        // hundred thousand, more than this flood sends, so only the
        // pure-Rust engine is required to have dropped some there.
        if what != "announcements" || engine == "purerust" {
            assert!(
                dropped() > before,
                "{engine}: {what}: {sent} requests from a client that never reads made no reply \
                 drop in {:?}",
                start.elapsed()
            );
        }
        eprintln!(
            "{engine}: {what}: {sent} requests, {} replies dropped, in {:?}",
            dropped() - before,
            start.elapsed()
        );
        // More of the same, past the point where a REP would be wedged.
        for _ in 0..2000 {
            dealer.send_request(request.clone()).await.unwrap();
        }
        assert_answered(&ctx, ns.nameserver(), &format!("{what}, after the flood")).await;
        if what == "announcements" {
            // Announcements are still taken and answered.
            let reply = ctx
                .transport()
                .request(
                    &announce,
                    Security::Plain,
                    announcement("late", 42000),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            assert_eq!(reply, "ok");
        }
        dealer.close().await;
        assert_answered(
            &ctx,
            ns.nameserver(),
            &format!("{what}, after the client left"),
        )
        .await;
        // Secure lookups too, from a well-behaved CURVE client.
        let reply = secure_ctx
            .transport()
            .request(
                &secure_endpoint(&config),
                Security::Curve,
                lookup_request("service1"),
                Duration::from_secs(5),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: a secure lookup was not answered: {e}"));
        assert_eq!(Message::decode(&reply).unwrap().msg_type(), "info");
    }
    ns.stop().await;
}

fn secure_endpoint(config: &Config) -> Endpoint {
    Endpoint::tcp("127.0.0.1", config.secure_zmq_nameserver_port)
}

/// A lookup of `service1` from a well-behaved client is answered in time.
async fn assert_answered(ctx: &posttroll::Context, nameserver: &str, when: &str) {
    let found = get_pub_address(ctx, "service1", Duration::from_secs(3), nameserver)
        .await
        .unwrap_or_else(|e| panic!("{when}: a lookup was not answered: {e}"));
    assert_eq!(found.len(), 1, "{when}: {found:?}");
}

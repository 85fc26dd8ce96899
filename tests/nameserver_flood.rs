//! Hardening of the nameserver's reply ports on a real engine (the one
//! `POSTTROLL_ENGINE` names): a client that sends requests and never reads
//! the replies (a raw DEALER) on the plain lookup port, the CURVE lookup
//! port and the designated-announcement port makes the nameserver drop its
//! own replies (counted), and every other client is answered while it
//! floods and after it has gone. A REP socket would wedge for good.

#![cfg(feature = "purerust")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use posttroll::discovery::address_message;
use posttroll::{Config, Endpoint, Message, Security, Value};
use posttroll_testkit::peers::{Dealer, RawDealer};
use posttroll_testkit::{
    assert_test_engine, with_test_engine, CurveKeys, FixtureBackend, FixtureOptions,
    NameServerFixture,
};

/// How long the whole flood of one port may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// The most requests one flood sends.
const FLOOD: usize = 100_000;

/// `unsecure_zmq` with a server key: the nameserver serves both the plain
/// and the CURVE lookup ports.
fn config(keys: &CurveKeys) -> Config {
    with_test_engine(keys.apply(Config {
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    }))
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
    let keys = CurveKeys::new().unwrap();
    let ns = NameServerFixture::start(FixtureOptions {
        multicast: false,
        backend: FixtureBackend::Configured(config(&keys)),
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
    let clients = Clients {
        plain_ctx: ctx.clone(),
        secure_ctx,
        plain: plain.clone(),
        secure: secure.clone(),
        announce: announce.clone(),
    };
    let ports = [
        (Port::Plain, plain, lookup_request("")),
        (Port::Secure, secure, lookup_request("")),
        (Port::Announce, announce, announcement("flooder", 41000)),
    ];
    for (port, endpoint, request) in ports {
        let what = port.name();
        let dropped = || match port {
            Port::Announce => handle.announcement_replies_dropped(),
            _ => handle.lookup_replies_dropped(),
        };
        // Replies to the previous port's last requests may still be being
        // dropped: start counting once the counter is still.
        let before = settled(&dropped).await;
        // A hand-written plain client never reads its connection at all;
        // the CURVE one is an engine's DEALER with the smallest queues.
        let mut dealer = match port {
            Port::Secure => {
                Flooder::Curve(Dealer::connect_curve(&endpoint, &config).await.unwrap())
            }
            _ => Flooder::Raw(RawDealer::connect(&endpoint).await.unwrap()),
        };
        // Flood until the nameserver drops replies the client does not
        // take, or until the flooder itself is held back (the nameserver
        // stops reading that one connection: TCP backpressure), whichever
        // comes first; others are served meanwhile, on every port.
        let start = Instant::now();
        let mut sent = 0;
        let mut held_back = false;
        while dropped() == before && sent < FLOOD && start.elapsed() < DEADLINE {
            match send(&mut dealer, &request).await {
                Sent::Yes => {}
                Sent::HeldBack => {
                    held_back = true;
                    break;
                }
                // Being cut off proves nothing about the flood: the
                // requests were not taken (a client that broke the
                // protocol is cut off before its first one).
                Sent::CutOff(e) => panic!(
                    "{engine}: {what}: the nameserver cut the flooder off after {sent} requests: {e}"
                ),
            }
            sent += 1;
            if sent % 5000 == 0 {
                clients
                    .assert_served(&format!("{what}, during ({sent} sent)"))
                    .await;
            }
        }
        let drops = dropped() - before;
        eprintln!(
            "{engine}: {what}: {sent} requests, {drops} replies dropped, flooder held back: \
             {held_back}, in {:?}",
            start.elapsed()
        );
        // A lookup reply is a few KiB: the flooder's buffers fill within a
        // few thousand requests and replies are dropped (or, first, TCP
        // holds the flooder back). An announcement reply is 2 bytes: the
        // kernel's buffers take far more than a bounded flood sends, and
        // either outcome, or none, may come first; what must hold there is
        // that everybody else is served (checked during and after).
        assert!(
            drops > 0 || held_back || port == Port::Announce,
            "{engine}: {what}: {sent} requests from a client that never reads neither made a \
             reply drop nor held the client back in {:?}",
            start.elapsed()
        );
        // While the flooder is still connected, and after it has gone, every
        // port serves everybody else.
        clients
            .assert_served(&format!("{what}, after the flood"))
            .await;
        drop(dealer);
        clients
            .assert_served(&format!("{what}, after the client left"))
            .await;
    }
    ns.stop().await;
}

/// What became of one request of the flood.
enum Sent {
    /// It was sent.
    Yes,
    /// The flooder could not send for 2 s: the peer no longer reads its
    /// connection (TCP backpressure).
    HeldBack,
    /// The peer cut the connection.
    CutOff(posttroll::Error),
}

/// Sends one request of the flood.
async fn send(dealer: &mut Flooder, request: &Bytes) -> Sent {
    let sent = async {
        match dealer {
            Flooder::Raw(raw) => raw.send_request(request).await,
            Flooder::Curve(curve) => curve.send_request(request.clone()).await,
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), sent).await {
        Ok(Ok(())) => Sent::Yes,
        Ok(Err(e)) => Sent::CutOff(e),
        Err(_) => Sent::HeldBack,
    }
}

/// A client that sends requests and never reads the replies.
enum Flooder {
    Raw(RawDealer),
    Curve(Dealer),
}

/// The port under attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Plain,
    Secure,
    Announce,
}

impl Port {
    fn name(self) -> &'static str {
        match self {
            Port::Plain => "plain lookups",
            Port::Secure => "secure lookups",
            Port::Announce => "announcements",
        }
    }
}

/// Well-behaved clients of every port.
struct Clients {
    plain_ctx: posttroll::Context,
    secure_ctx: posttroll::Context,
    plain: Endpoint,
    secure: Endpoint,
    announce: Endpoint,
}

impl Clients {
    /// A plain lookup, a CURVE lookup and an announcement are each
    /// answered within 3 s.
    async fn assert_served(&self, when: &str) {
        let timeout = Duration::from_secs(3);
        for (ctx, endpoint, security) in [
            (&self.plain_ctx, &self.plain, Security::Plain),
            (&self.secure_ctx, &self.secure, Security::Curve),
        ] {
            let reply = ctx
                .transport()
                .request(endpoint, security, lookup_request("service1"), timeout)
                .await
                .unwrap_or_else(|e| panic!("{when}: a {security:?} lookup was not answered: {e}"));
            let reply = Message::decode(&reply).unwrap();
            assert_eq!(reply.msg_type(), "info", "{when}: {reply:?}");
        }
        let reply = self
            .plain_ctx
            .transport()
            .request(
                &self.announce,
                Security::Plain,
                announcement("late", 42000),
                timeout,
            )
            .await
            .unwrap_or_else(|e| panic!("{when}: an announcement was not answered: {e}"));
        assert_eq!(reply, "ok", "{when}");
    }
}

/// The counter's value once it has not moved for 200 ms (at most 10 s).
async fn settled(counter: &impl Fn() -> u64) -> u64 {
    let start = Instant::now();
    let mut last = counter();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = counter();
        if now == last || start.elapsed() > Duration::from_secs(10) {
            return now;
        }
        last = now;
    }
}

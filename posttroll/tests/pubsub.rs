//! Publishing, subscribing and announcing on isolated in-process networks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use posttroll::backend::BindSpec;
use posttroll::discovery::Announcer;
use posttroll::publisher::{
    create_publisher_from_dict_config, AnyPublisher, NameserversSetting, NoisyPublisher, Publisher,
    PublisherKind, PublisherSettings,
};
use posttroll::subscriber::{
    create_subscriber_from_dict_config, NSSubscriber, NameserverSetting, Subscriber,
    SubscriberKind, SubscriberSettings,
};
use posttroll::{Address, Config, Context, Data, Endpoint, ErrorKind, Message, Value};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_nameserver::NameServer;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config {
        backend: "inproc".into(),
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    }
}

fn setup() -> (Context, InprocNetwork) {
    setup_with(config())
}

fn setup_with(config: Config) -> (Context, InprocNetwork) {
    let net = InprocNetwork::new();
    let backend = net.backend(&config);
    (Context::with_backend(config, backend), net)
}

async fn publisher(ctx: &Context) -> Publisher {
    Publisher::builder("tcp://*:0")
        .name("test_pub")
        .context(ctx.clone())
        .start()
        .await
        .unwrap()
}

fn uri_of(publisher: &Publisher) -> String {
    format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap())
}

async fn subscriber(
    ctx: &Context,
    addresses: Vec<String>,
    topics: Option<Vec<&str>>,
) -> Subscriber {
    let mut builder = Subscriber::builder()
        .addresses(addresses)
        .context(ctx.clone());
    if let Some(topics) = topics {
        builder = builder.topics(topics);
    }
    builder.start().await.unwrap()
}

fn msg(subject: &str, msg_type: &str, data: impl Into<Data>) -> Message {
    Message::new(subject, msg_type, data).unwrap()
}

async fn next(sub: &Subscriber) -> Message {
    sub.recv(Some(WAIT))
        .await
        .unwrap()
        .expect("a message within the wait")
}

#[tokio::test]
async fn round_trip() {
    let (ctx, net) = setup();
    let publisher = publisher(&ctx).await;
    let sub = subscriber(&ctx, vec![uri_of(&publisher)], None).await;
    assert_eq!(sub.topics(), ["pytroll://"]);
    let sent = msg(
        "/sat/polar/level1",
        "file",
        Value::object([
            ("orbit", Value::from(1222)),
            ("uri", Value::from("/data/x.h5")),
        ]),
    )
    .with_sender("user@elsewhere")
    .unwrap();
    publisher.send(&sent).await.unwrap();
    let got = next(&sub).await;
    assert_eq!(got.subject(), sent.subject());
    assert_eq!(got.msg_type(), "file");
    assert_eq!(got.sender(), "user@elsewhere");
    assert_eq!(got.data, sent.data);
    assert_eq!(got.encode_with(None), sent.encode_with(None));

    // Nothing more: a timeout is Ok(None).
    assert!(sub
        .recv(Some(Duration::from_millis(10)))
        .await
        .unwrap()
        .is_none());
    // The backend field defaults to the config's.
    assert_eq!(sub.addresses()[0].backend(), Some("inproc"));

    sub.stop().await.unwrap();
    publisher.stop().await.unwrap();
    assert_eq!(
        sub.recv(Some(WAIT)).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        publisher.send(&sent).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(net.is_idle());
}

#[tokio::test]
async fn topics_are_prefixed_with_the_magic_word() {
    let (ctx, _net) = setup();
    let publisher = publisher(&ctx).await;
    let uri = uri_of(&publisher);
    let slash = subscriber(&ctx, vec![uri.clone()], Some(vec!["/counter"])).await;
    let bare = subscriber(&ctx, vec![uri.clone()], Some(vec!["counter"])).await;
    let magic = subscriber(&ctx, vec![uri.clone()], Some(vec!["pytroll:/x"])).await;
    assert_eq!(slash.topics(), ["pytroll://counter"]);
    assert_eq!(bare.topics(), ["pytroll://counter"]);
    assert_eq!(magic.topics(), ["pytroll:/x"]);

    // Sent in this order; each subscriber's first message shows what it
    // skipped.
    for subject in ["/other", "/x/1", "/counter/1", "xyz", "/counter"] {
        publisher.send(&msg(subject, "info", "1")).await.unwrap();
    }
    assert_eq!(next(&slash).await.subject(), "/counter/1");
    assert_eq!(next(&slash).await.subject(), "/counter");
    assert_eq!(next(&bare).await.subject(), "/counter/1");
    assert_eq!(next(&bare).await.subject(), "/counter");
    // `pytroll:/x` matches the subject `xyz`, not `/x/1` (`pytroll://x/1`).
    assert_eq!(next(&magic).await.subject(), "xyz");
    assert!(magic
        .recv(Some(Duration::from_millis(10)))
        .await
        .unwrap()
        .is_none());

    // An empty topic list subscribes to nothing.
    let none = Subscriber::builder()
        .addresses([uri.as_str()])
        .topics(Vec::<String>::new())
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    publisher.send(&msg("/counter", "info", "1")).await.unwrap();
    assert!(none
        .recv(Some(Duration::from_millis(10)))
        .await
        .unwrap()
        .is_none());
    for sub in [slash, bare, magic, none] {
        sub.stop().await.unwrap();
    }
}

#[tokio::test]
async fn message_filter_drops_rejected_messages() {
    let (ctx, _net) = setup();
    let publisher = publisher(&ctx).await;
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let sub = Subscriber::builder()
        .addresses([uri_of(&publisher)])
        .message_filter(move |m: &Message| {
            counter.fetch_add(1, Ordering::SeqCst);
            m.msg_type() == "file"
        })
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    publisher.send(&msg("/a", "info", "1")).await.unwrap();
    publisher.send(&msg("/b", "file", "2")).await.unwrap();
    let got = next(&sub).await;
    assert_eq!((got.subject(), got.msg_type()), ("/b", "file"));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    sub.stop().await.unwrap();
}

#[tokio::test]
async fn translate_replaces_the_sender_host() {
    let (ctx, _net) = setup();
    let publisher = publisher(&ctx).await;
    let uri = format!("tcp://10.20.30.40:{}", publisher.port_number().unwrap());
    let translating = Subscriber::builder()
        .addresses([uri.as_str()])
        .translate(true)
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let plain = subscriber(&ctx, vec![uri.clone()], None).await;
    let sent = msg("/a", "info", "1")
        .with_sender("alice@far.away")
        .unwrap();
    publisher.send(&sent).await.unwrap();
    assert_eq!(next(&translating).await.sender(), "alice@10.20.30.40");
    assert_eq!(next(&plain).await.sender(), "alice@far.away");
    translating.stop().await.unwrap();
    plain.stop().await.unwrap();
}

#[tokio::test]
async fn add_remove_update() {
    let (ctx, net) = setup();
    let p1 = publisher(&ctx).await;
    let p2 = publisher(&ctx).await;
    let (u1, u2) = (uri_of(&p1), uri_of(&p2));
    let sub = subscriber(&ctx, vec![], None).await;
    assert!(sub.addresses().is_empty());

    sub.add(u1.as_str(), None).await.unwrap();
    sub.add(u1.as_str(), None).await.unwrap(); // known: no-op
    assert_eq!(sub.addresses().len(), 1);
    assert_eq!(net.connections().len(), 1);
    p1.send(&msg("/from/1", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/from/1");

    // Per-address topics.
    sub.add(u2.as_str(), Some(vec!["/only".into()]))
        .await
        .unwrap();
    p2.send(&msg("/not", "info", "1")).await.unwrap();
    p2.send(&msg("/only/this", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/only/this");

    sub.remove(&u1).await.unwrap();
    sub.remove("tcp://127.0.0.1:1").await.unwrap(); // unknown: nothing
    assert_eq!(
        sub.addresses()
            .iter()
            .map(|a| a.uri().to_owned())
            .collect::<Vec<_>>(),
        [u2.as_str()]
    );
    p1.send(&msg("/from/1", "info", "1")).await.unwrap();
    p2.send(&msg("/only/2", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/only/2");

    // update: u2 out, u1 in.
    assert!(sub.update([u1.as_str()]).await.unwrap());
    assert!(!sub.update([u1.as_str()]).await.unwrap());
    assert_eq!(sub.addresses()[0].uri(), u1);
    assert_eq!(net.connections().len(), 1);
    p2.send(&msg("/only/2", "info", "1")).await.unwrap();
    p1.send(&msg("/from/1/again", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/from/1/again");

    // Bad URIs are errors.
    assert_eq!(
        sub.add("nonsense", None).await.unwrap_err().kind(),
        ErrorKind::InvalidAddress
    );
    sub.stop().await.unwrap();
    assert_eq!(
        sub.add(u2.as_str(), None).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[tokio::test]
async fn newer_message_versions_are_not_connected() {
    let (ctx, net) = setup();
    let sub = subscriber(&ctx, vec![], None).await;
    let meta = |uri: &str, version: &str| {
        Address::try_from(Value::object([
            ("URI", Value::from(uri)),
            ("supported_message_version", Value::from(version)),
        ]))
        .unwrap()
    };
    sub.add(meta("tcp://127.0.0.1:40001", "v1.3"), None)
        .await
        .unwrap();
    assert!(sub.addresses().is_empty());
    assert!(net.connections().is_empty());
    sub.add(meta("tcp://127.0.0.1:40002", "v1.2"), None)
        .await
        .unwrap();
    sub.add(meta("tcp://127.0.0.1:40003", "v1.01"), None)
        .await
        .unwrap();
    assert_eq!(sub.addresses().len(), 2);
    assert_eq!(net.connections().len(), 2);
    sub.stop().await.unwrap();
}

#[tokio::test]
async fn the_address_backend_chooses_the_security() {
    let (ctx, net) = setup();
    let sub = subscriber(&ctx, vec![], None).await;
    let secure = Address::try_from(Value::object([
        ("URI", Value::from("tcp://127.0.0.1:40001")),
        ("backend", Value::from("secure_zmq")),
    ]))
    .unwrap();
    sub.add(secure, None).await.unwrap();
    sub.add("tcp://127.0.0.1:40002", None).await.unwrap();
    let mut connections = net.connections();
    connections.sort_by_key(|(e, _)| e.port());
    assert_eq!(connections[0].1, posttroll::Security::Curve);
    assert_eq!(connections[1].1, posttroll::Security::Plain);
    sub.stop().await.unwrap();
}

#[tokio::test]
async fn undecodable_frames_are_skipped() {
    let (ctx, _net) = setup();
    let publisher = publisher(&ctx).await;
    let sub = subscriber(&ctx, vec![uri_of(&publisher)], Some(vec![""])).await;
    // The topic `""` is `pytroll://`: bad frames that start like that pass
    // it and must be dropped by the decoder.
    publisher
        .send_raw(Bytes::from_static(b"pytroll://bad"))
        .await
        .unwrap();
    publisher
        .send_raw(Bytes::from_static(
            b"pytroll://bad info \xff\xfe 2020 v1.2 x",
        ))
        .await
        .unwrap();
    publisher.send(&msg("/good", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/good");
    sub.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn heartbeats_respect_min_interval() {
    let (ctx, _net) = setup();
    let publisher = publisher(&ctx).await;
    let sub = subscriber(&ctx, vec![uri_of(&publisher)], Some(vec!["/heartbeat"])).await;

    assert!(publisher.heartbeat(Duration::from_secs(60)).await.unwrap());
    let beat = next(&sub).await;
    assert_eq!(beat.subject(), "/heartbeat/test_pub");
    assert_eq!(beat.msg_type(), "beat");
    assert_eq!(
        beat.data,
        Data::Json(Value::object([("min_interval", Value::from(60))]))
    );

    assert!(!publisher.heartbeat(Duration::from_secs(60)).await.unwrap());
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(!publisher.heartbeat(Duration::from_secs(60)).await.unwrap());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(publisher.heartbeat(Duration::from_secs(60)).await.unwrap());
    assert_eq!(next(&sub).await.subject(), "/heartbeat/test_pub");

    // Zero: always; fractions stay floats.
    assert!(publisher.heartbeat(Duration::ZERO).await.unwrap());
    assert_eq!(
        next(&sub).await.data,
        Data::Json(Value::object([("min_interval", Value::from(0))]))
    );
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(publisher
        .heartbeat(Duration::from_millis(1500))
        .await
        .unwrap());
    assert_eq!(
        next(&sub).await.data,
        Data::Json(Value::object([("min_interval", Value::Float(1.5))]))
    );
    assert!(sub
        .recv(Some(Duration::from_secs(1)))
        .await
        .unwrap()
        .is_none());
    sub.stop().await.unwrap();
}

/// The data of an announcement, keys in the reference's order.
fn expected_announcement(uri: &str, services: &[&str]) -> Data {
    Data::Json(Value::object([
        ("URI", Value::from(uri)),
        ("service", Value::from(services.to_vec())),
        ("supported_message_version", Value::from("v1.2")),
        ("backend", Value::from("inproc")),
    ]))
}

#[tokio::test(start_paused = true)]
async fn noisy_publisher_announces_by_multicast() {
    let (ctx, net) = setup();
    let mut receiver = ctx.discovery().receiver().await.unwrap();
    let publisher = NoisyPublisher::builder("noisy")
        .aliases(["alias1", "alias2"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let uri = format!("tcp://127.0.0.1:{}", publisher.port_number().unwrap());
    assert_eq!(publisher.announced_uri(), uri);
    assert_eq!(publisher.services(), ["noisy", "alias1", "alias2"]);

    let started = Instant::now();
    let (datagram, _) = tokio::time::timeout(WAIT, receiver.recv())
        .await
        .unwrap()
        .unwrap();
    let announced = Message::decode(&datagram).unwrap();
    assert_eq!(announced.subject(), "/address/noisy");
    assert_eq!(announced.msg_type(), "info");
    assert_eq!(
        announced.data,
        expected_announcement(&uri, &["noisy", "alias1", "alias2"])
    );

    // Again after the default interval of 2 s.
    let (again, _) = tokio::time::timeout(WAIT, receiver.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Message::decode(&again).unwrap().data, announced.data);
    assert!(started.elapsed() >= Duration::from_secs(2));

    assert_eq!(publisher.live_tasks(), 1);
    publisher.stop().await.unwrap();
    assert_eq!(publisher.live_tasks(), 0);
    drop(receiver);
    assert!(net.is_idle());
}

#[tokio::test]
async fn a_zero_interval_never_announces() {
    let (ctx, _net) = setup();
    let mut receiver = ctx.discovery().receiver().await.unwrap();
    let publisher = NoisyPublisher::builder("quiet")
        .broadcast_interval(Duration::ZERO)
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(publisher.live_tasks(), 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), receiver.recv())
            .await
            .is_err()
    );
    publisher.stop().await.unwrap();
}

#[tokio::test]
async fn noisy_publisher_announces_to_designated_nameservers() {
    let config = Config {
        broadcast_port: 21300,
        ..config()
    };
    let (ctx, _net) = setup_with(config);
    let mut default_port = ctx
        .transport()
        .bind_reply(BindSpec::new(Endpoint::parse("tcp://*:21300").unwrap()))
        .await
        .unwrap();
    let mut explicit_port = ctx
        .transport()
        .bind_reply(BindSpec::new(Endpoint::parse("tcp://*:21301").unwrap()))
        .await
        .unwrap();
    let mut url = ctx
        .transport()
        .bind_reply(BindSpec::new(Endpoint::parse("tcp://*:21302").unwrap()))
        .await
        .unwrap();
    let publisher = NoisyPublisher::builder("designated")
        .aliases(["x"])
        .nameservers(["localhost", "localhost:21301", "tcp://127.0.0.1:21302"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let uri = publisher.announced_uri().to_owned();
    for socket in [&mut default_port, &mut explicit_port, &mut url] {
        let request = tokio::time::timeout(WAIT, socket.recv())
            .await
            .unwrap()
            .unwrap();
        let announced = Message::decode(&request.body).unwrap();
        assert_eq!(announced.subject(), "/address/designated");
        assert_eq!(
            announced.data,
            expected_announcement(&uri, &["designated", "x"])
        );
        socket
            .reply(&request.reply_to, Bytes::from_static(b"ok"))
            .unwrap();
    }
    let started = std::time::Instant::now();
    publisher.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(publisher.live_tasks(), 0);
}

#[tokio::test]
async fn a_dead_designated_nameserver_blocks_nothing() {
    let (ctx, net) = setup();
    let started = std::time::Instant::now();
    let publisher = NoisyPublisher::builder("lonely")
        .nameservers(["localhost:29999", "tcp://dead.example:29998"])
        .broadcast_interval(Duration::from_millis(100))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    publisher
        .send(&msg("/still", "info", "works"))
        .await
        .unwrap();
    assert_eq!(publisher.live_tasks(), 2);
    let stopping = std::time::Instant::now();
    publisher.stop().await.unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
    assert_eq!(publisher.live_tasks(), 0);
    assert!(net.is_idle());

    // Unparseable nameservers are errors at start, and release the socket.
    let err = NoisyPublisher::builder("bad")
        .nameservers(["host:notaport"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAddress);
    assert!(net.is_idle());
}

#[tokio::test]
async fn an_announcer_stops_fast_and_leaves_no_task() {
    let (ctx, _net) = setup();
    let announcer = Announcer::start(
        &ctx,
        Bytes::from_static(b"x"),
        Duration::from_secs(3600),
        vec![],
    )
    .await
    .unwrap();
    assert!(announcer.is_running());
    assert_eq!(announcer.live_tasks(), 1);
    let started = std::time::Instant::now();
    announcer.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn publisher_settings_pick_the_reference_kind() {
    let (ctx, _net) = setup();
    let named = |port: Option<u16>, nameservers: NameserversSetting| PublisherSettings {
        port,
        nameservers,
        broadcast_interval: Some(Duration::ZERO),
        ..PublisherSettings::named("svc")
    };
    // port non-zero and nameservers False: plain, on that port.
    let s = named(Some(40500), NameserversSetting::Disabled);
    assert_eq!(s.kind(), PublisherKind::Plain);
    let p = create_publisher_from_dict_config(&ctx, &s).await.unwrap();
    assert_eq!(p.kind(), PublisherKind::Plain);
    assert_eq!(p.port_number(), Some(40500));
    assert_eq!(p.name(), "svc");
    p.stop().await.unwrap();
    // An address and nameservers False: plain, on the address.
    let s = PublisherSettings {
        address: Some("inproc://settings".into()),
        nameservers: NameserversSetting::Disabled,
        ..PublisherSettings::default()
    };
    let p = create_publisher_from_dict_config(&ctx, &s).await.unwrap();
    assert_eq!(p.kind(), PublisherKind::Plain);
    assert_eq!(p.endpoint().to_string(), "inproc://settings");
    p.stop().await.unwrap();
    // A list of nameservers: noisy, on a random port.
    let s = named(None, NameserversSetting::List(vec!["localhost".into()]));
    assert_eq!(s.kind(), PublisherKind::Noisy);
    // A port with nameservers None: noisy on that port.
    let s = named(Some(40501), NameserversSetting::Default);
    assert_eq!(s.kind(), PublisherKind::Noisy);
    let p = create_publisher_from_dict_config(&ctx, &s).await.unwrap();
    assert_eq!(p.kind(), PublisherKind::Noisy);
    assert_eq!(p.port_number(), Some(40501));
    p.stop().await.unwrap();
    // `stop` is AnyPublisher's own, which ends the announcements too, not
    // the Publisher's the dereference reaches.
    let s = PublisherSettings {
        broadcast_interval: Some(Duration::from_secs(2)),
        ..named(None, NameserversSetting::Default)
    };
    let p = create_publisher_from_dict_config(&ctx, &s).await.unwrap();
    let live_tasks = |p: &AnyPublisher| match p {
        AnyPublisher::Noisy(noisy) => noisy.live_tasks(),
        AnyPublisher::Plain(_) => panic!("not noisy"),
    };
    assert_eq!(live_tasks(&p), 1);
    p.stop().await.unwrap();
    assert_eq!(live_tasks(&p), 0);
    assert!(p.is_stopped());
    // Port 0 and nameservers None: noisy on a random port.
    let s = named(Some(0), NameserversSetting::Default);
    assert_eq!(s.kind(), PublisherKind::Noisy);
    // Port 0 (falsy) with nameservers False is still noisy.
    let s = named(Some(0), NameserversSetting::Disabled);
    assert_eq!(s.kind(), PublisherKind::Noisy);
    let p = create_publisher_from_dict_config(&ctx, &s).await.unwrap();
    assert_eq!(p.kind(), PublisherKind::Noisy);
    p.stop().await.unwrap();
    // A noisy publisher needs a name.
    let s = PublisherSettings {
        port: Some(40502),
        ..PublisherSettings::default()
    };
    let err = create_publisher_from_dict_config(&ctx, &s)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("`name`"), "{err}");
    assert!(
        err.to_string().contains("NoisyPublisher requires a name"),
        "{err}"
    );
}

#[tokio::test]
async fn subscriber_settings_pick_the_reference_kind() {
    let (ctx, net) = setup();
    let addresses: Vec<Address> = vec!["tcp://127.0.0.1:40600".into()];
    // Addresses and nameserver False: plain.
    let s = SubscriberSettings {
        addresses: addresses.clone(),
        nameserver: NameserverSetting::Disabled,
        ..SubscriberSettings::default()
    };
    assert_eq!(s.kind(), SubscriberKind::Plain);
    let sub = create_subscriber_from_dict_config(&ctx, s).await.unwrap();
    assert_eq!(sub.topics(), ["pytroll://"]);
    assert_eq!(sub.addresses().len(), 1);
    sub.stop().await.unwrap();
    // A nameserver host, or none: through the nameserver.
    for nameserver in [
        NameserverSetting::Host("nshost".into()),
        NameserverSetting::Default,
        NameserverSetting::Host(String::new()),
    ] {
        let s = SubscriberSettings {
            addresses: addresses.clone(),
            nameserver,
            ..SubscriberSettings::default()
        };
        assert_eq!(s.kind(), SubscriberKind::NameServer);
    }
    // nameserver False without addresses: the nameserver on localhost.
    let s = SubscriberSettings {
        nameserver: NameserverSetting::Disabled,
        services: vec![],
        ..SubscriberSettings::default()
    };
    assert_eq!(s.kind(), SubscriberKind::NameServer);
    assert_eq!(s.nameserver_host(), "localhost");
    let sub = create_subscriber_from_dict_config(&ctx, s).await.unwrap();
    assert_eq!(sub.topics(), ["pytroll:/"]);
    sub.stop().await.unwrap();
    assert!(net.is_idle());
}

#[tokio::test]
async fn ns_subscriber_finds_publishers_and_follows_address_events() {
    let config = Config {
        nameserver_port: 25600,
        address_publish_port: 26600,
        ..config()
    };
    let (ctx, net) = setup_with(config);
    let ns = NameServer::builder()
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let early = NoisyPublisher::builder("early")
        .broadcast_interval(Duration::from_millis(50))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    // Wait until the nameserver knows it.
    let deadline = Instant::now() + WAIT;
    while posttroll::nameserver::get_pub_address(&ctx, "early", WAIT, "localhost")
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sub = NSSubscriber::builder()
        .services(["early", "late"])
        .addr_listener(true)
        .timeout(Duration::from_millis(200))
        .message_filter(|m: &Message| m.subject() != "/filtered")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(sub.addresses().len(), 1);
    assert_eq!(sub.addresses()[0].uri(), early.announced_uri());
    early.send(&msg("/filtered", "info", "1")).await.unwrap();
    early.send(&msg("/from/early", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/from/early");

    // A publisher appearing later is added by the address listener.
    let late = NoisyPublisher::builder("late_pub")
        .aliases(["late"])
        .broadcast_interval(Duration::from_millis(50))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while sub.addresses().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the late publisher was not added"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    late.send(&msg("/from/late", "info", "1")).await.unwrap();
    assert_eq!(next(&sub).await.subject(), "/from/late");
    // One unwanted service is not added.
    let other = NoisyPublisher::builder("other")
        .broadcast_interval(Duration::from_millis(50))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert!(sub.live_tasks() >= 3);
    let started = std::time::Instant::now();
    sub.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(sub.live_tasks(), 0);
    for p in [early, late, other] {
        p.stop().await.unwrap();
    }
    ns.stop().await;
    assert!(net.is_idle());
}

#[tokio::test]
async fn address_listener_adds_wanted_services_and_removes_expired() {
    let net = InprocNetwork::new();
    let on_net = |config: Config| {
        let backend = net.backend(&config);
        Context::with_backend(config, backend)
    };
    // A nameserver that answers lookups (with nothing), and a stand-in for
    // its address publisher on the port the subscriber listens to.
    let ctx = on_net(Config {
        nameserver_port: 25800,
        address_publish_port: 26800,
        ..config()
    });
    let ns_ctx = on_net(Config {
        nameserver_port: 25800,
        address_publish_port: 26801,
        ..config()
    });
    let ns = NameServer::builder()
        .multicast(false)
        .context(ns_ctx)
        .start()
        .await
        .unwrap();
    let events = Publisher::builder("tcp://*:26800")
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let wanted = publisher(&ctx).await;
    let unwanted = publisher(&ctx).await;

    let sub = NSSubscriber::builder()
        .services(["x"])
        .addr_listener(true)
        .timeout(Duration::from_millis(50))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    assert!(sub.addresses().is_empty());
    assert_eq!(sub.live_tasks(), 1);
    let event = |uri: &str, service: &str, status: bool| {
        msg(
            "/address/x",
            "info",
            Value::object([
                ("URI", Value::from(uri)),
                ("service", Value::from(vec![service])),
                ("status", Value::from(status)),
            ]),
        )
    };
    // Events are handled in order: once the wanted one is in, the other
    // was skipped.
    events
        .send(&event(&uri_of(&unwanted), "y", true))
        .await
        .unwrap();
    events
        .send(&event(&uri_of(&wanted), "x", true))
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while sub.addresses().is_empty() {
        assert!(Instant::now() < deadline, "the address was not added");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let added = sub.addresses();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].uri(), uri_of(&wanted));
    assert_eq!(added[0].services(), ["x"]);
    wanted
        .send(&msg("/from/wanted", "info", "1"))
        .await
        .unwrap();
    assert_eq!(next(&sub).await.subject(), "/from/wanted");

    events
        .send(&event(&uri_of(&wanted), "x", false))
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while !sub.addresses().is_empty() {
        assert!(Instant::now() < deadline, "the address was not removed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sub.stop().await.unwrap();
    assert_eq!(sub.live_tasks(), 0);
    for p in [events, wanted, unwanted] {
        p.stop().await.unwrap();
    }
    ns.stop().await;
    assert!(net.is_idle());
}

#[tokio::test]
async fn ns_subscriber_without_a_nameserver_fails_as_the_reference() {
    let (ctx, net) = setup();
    // The lookup times out, which the reference raises; nothing is left.
    let err = NSSubscriber::builder()
        .addresses(["tcp://127.0.0.1:41100"])
        .addr_listener(true)
        .timeout(Duration::from_millis(20))
        .context(ctx.clone())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(net.is_idle());
    // No services: no lookup.
    let sub = NSSubscriber::builder()
        .services(Vec::<String>::new())
        .context(ctx)
        .start()
        .await
        .unwrap();
    sub.stop().await.unwrap();
}

#[tokio::test]
async fn stop_is_fast_with_a_peer_gone_and_leaves_no_task() {
    let (ctx, net) = setup();
    let publisher = publisher(&ctx).await;
    let sub = subscriber(
        &ctx,
        vec![uri_of(&publisher), "tcp://127.0.0.1:40900".into()],
        None,
    )
    .await;
    assert_eq!(sub.live_tasks(), 2);
    publisher.send(&msg("/a", "info", "1")).await.unwrap();
    next(&sub).await;
    publisher.stop().await.unwrap(); // the peer is gone

    // A recv waiting when stop comes returns at once.
    let waiting = {
        let sub = sub.clone();
        tokio::spawn(async move { sub.recv(None).await })
    };
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    sub.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(sub.live_tasks(), 0);
    assert_eq!(
        waiting.await.unwrap().unwrap_err().kind(),
        ErrorKind::Closed
    );
    sub.stop().await.unwrap(); // again: nothing
    assert!(net.is_idle());
}

#[tokio::test]
async fn dropping_a_subscriber_ends_its_tasks() {
    let (ctx, net) = setup();
    let sub = subscriber(&ctx, vec!["tcp://127.0.0.1:41000".into()], None).await;
    assert_eq!(net.connections().len(), 1);
    drop(sub);
    let deadline = Instant::now() + WAIT;
    while !net.is_idle() {
        assert!(Instant::now() < deadline, "the socket was not released");
        tokio::task::yield_now().await;
    }
}

mod blocking {
    use super::*;
    use posttroll::blocking::publish::Publish;
    use posttroll::blocking::subscribe::Subscribe;

    #[test]
    fn publish_and_subscribe_guards_round_trip_across_threads() {
        let (ctx, net) = setup();
        let settings = PublisherSettings {
            port: Some(41200),
            nameservers: NameserversSetting::Disabled,
            ..PublisherSettings::named("guarded")
        };
        let publish = Publish::from_settings(&settings, Some(ctx.clone())).unwrap();
        assert_eq!(publish.kind(), PublisherKind::Plain);
        assert_eq!(publish.port_number(), Some(41200));
        let settings = SubscriberSettings {
            addresses: vec!["tcp://127.0.0.1:41200".into()],
            nameserver: NameserverSetting::Disabled,
            topics: Some(vec!["/counter".into()]),
            ..SubscriberSettings::default()
        };
        let sub = Subscribe::from_settings(settings, Some(ctx.clone())).unwrap();
        let reader = posttroll::blocking::subscribe::Subscriber::clone(&sub);
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = std::thread::spawn(move || {
            for msg in reader.recv(Some(Duration::from_millis(20))) {
                if let Some(msg) = msg.unwrap() {
                    tx.send(msg.subject().to_owned()).unwrap();
                }
            }
            // The iterator ended: the subscriber was stopped.
        });
        let publishing = std::thread::spawn(move || {
            publish.send(&msg("/other", "info", "0")).unwrap();
            for i in 1..=3 {
                publish
                    .send(&msg(&format!("/counter/{i}"), "info", i.to_string()))
                    .unwrap();
            }
            publish
        });
        let publish = publishing.join().unwrap();
        let subjects: Vec<String> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
        assert_eq!(subjects, ["/counter/1", "/counter/2", "/counter/3"]);
        drop(sub); // stops: the reading thread's iterator ends
        reading.join().unwrap();
        drop(publish);
        assert!(net.is_idle());
    }

    #[test]
    fn publish_guard_is_noisy_by_default_and_found_through_the_nameserver() {
        let config = Config {
            nameserver_port: 25900,
            address_publish_port: 26900,
            ..config()
        };
        let (ctx, net) = setup_with(config);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let ns = rt
            .block_on(NameServer::builder().context(ctx.clone()).start())
            .unwrap();
        let settings = PublisherSettings {
            aliases: vec!["alias".into()],
            broadcast_interval: Some(Duration::from_millis(50)),
            ..PublisherSettings::named("found")
        };
        let publish = Publish::from_settings(&settings, Some(ctx.clone())).unwrap();
        assert_eq!(publish.kind(), PublisherKind::Noisy);
        let settings = SubscriberSettings {
            services: vec!["alias".into()],
            timeout: WAIT,
            ..SubscriberSettings::default()
        };
        let sub = Subscribe::from_settings(settings, Some(ctx.clone())).unwrap();
        assert_eq!(sub.addresses().len(), 1);
        let got = loop {
            publish.send(&msg("/hello", "info", "1")).unwrap();
            if let Some(m) = sub.recv_one(Some(Duration::from_millis(20))).unwrap() {
                break m;
            }
        };
        assert_eq!(got.subject(), "/hello");
        drop(sub);
        publish.stop().unwrap();
        rt.block_on(ns.stop());
        assert!(net.is_idle());
    }

    /// `stop` on a blocking noisy publisher (and on the guard) is its own,
    /// which ends the announcements, not the `Publisher::stop` the
    /// dereference reaches.
    #[test]
    fn stopping_a_blocking_noisy_publisher_ends_its_announcements() {
        let (ctx, net) = setup();
        let publisher = NoisyPublisher::builder("noisy_blocking")
            .aliases(["alias"])
            .context(ctx.clone())
            .start_blocking()
            .unwrap();
        assert_eq!(publisher.services(), ["noisy_blocking", "alias"]);
        assert_eq!(publisher.as_async().live_tasks(), 1);
        publisher.send(&msg("/counter", "info", "1")).unwrap();
        publisher.stop().unwrap();
        assert_eq!(publisher.as_async().live_tasks(), 0);
        assert!(publisher.as_async().is_stopped());
        drop(publisher);

        let publish =
            Publish::from_settings(&PublisherSettings::named("guard"), Some(ctx)).unwrap();
        let AnyPublisher::Noisy(noisy) = publish.as_async() else {
            panic!("not noisy")
        };
        assert_eq!(noisy.live_tasks(), 1);
        drop(publish);
        assert!(net.is_idle());
    }

    #[tokio::test]
    async fn blocking_calls_inside_a_runtime_are_errors_not_panics() {
        let (ctx, _net) = setup();
        let err =
            Publish::from_settings(&PublisherSettings::named("x"), Some(ctx.clone())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let err = Publisher::builder("tcp://*:0")
            .context(ctx)
            .start_blocking()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }
}

//! Tests of the in-process backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use posttroll_backend_inproc::InprocNetwork;
use posttroll_core::{
    BindSpec, Config, Delivery, Discovery, Endpoint, ErrorKind, PubOptions, PubSocket, ReplyTo,
    Security, SubSocket, Transport,
};

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn topics(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| (*s).to_owned()).collect()
}

fn net() -> (InprocNetwork, Arc<dyn Transport>) {
    let network = InprocNetwork::new();
    let transport = network.backend(&Config::default()).transport;
    (network, transport)
}

async fn sub(t: &Arc<dyn Transport>, e: &str, tp: &[&str]) -> Box<dyn SubSocket> {
    t.connect_subscriber(&ep(e), &topics(tp), Security::Plain)
        .await
        .unwrap()
}

async fn publ(t: &Arc<dyn Transport>, e: &str) -> Box<dyn PubSocket> {
    t.bind_publisher(BindSpec::new(ep(e))).await.unwrap()
}

/// Asserts nothing is waiting in `s` right now.
async fn assert_empty(s: &mut Box<dyn SubSocket>) {
    let r = tokio::time::timeout(Duration::from_millis(0), s.recv()).await;
    assert!(r.is_err(), "unexpected frame {r:?}");
}

#[tokio::test]
async fn pubsub_round_trip_inproc_ipc_tcp() {
    let (_n, t) = net();
    for e in ["inproc://ns", "ipc:///tmp/x.sock", "tcp://*:5557"] {
        let p = publ(&t, e).await;
        let connect = if e.starts_with("tcp") {
            "tcp://127.0.0.1:5557"
        } else {
            e
        };
        let mut s = sub(&t, connect, &[""]).await;
        p.send(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(s.recv().await.unwrap(), "hello");
        assert_eq!(s.endpoint(), &ep(connect));
        assert_eq!(p.endpoint(), &ep(e));
    }
}

#[tokio::test]
async fn tcp_matching_ignores_host() {
    let (_n, t) = net();
    let p = publ(&t, "tcp://*:5557").await;
    let mut subs = Vec::new();
    for h in ["127.0.0.1", "localhost", "10.1.2.3"] {
        subs.push(sub(&t, &format!("tcp://{h}:5557"), &[""]).await);
    }
    let mut other = sub(&t, "tcp://127.0.0.1:5558", &[""]).await;
    p.send("x".into()).await.unwrap();
    for s in &mut subs {
        assert_eq!(s.recv().await.unwrap(), "x");
    }
    assert_empty(&mut other).await;
    // Binding the same port with another host is "address in use".
    let err = t
        .bind_publisher(BindSpec::new(ep("tcp://127.0.0.1:5557")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Bind);
}

#[tokio::test]
async fn topic_filters() {
    let (_n, t) = net();
    let p = publ(&t, "inproc://p").await;
    let mut all = sub(&t, "inproc://p", &[""]).await;
    let mut none = sub(&t, "inproc://p", &[]).await;
    let mut some = sub(&t, "inproc://p", &["pytroll://a", "pytroll://c"]).await;
    for f in [
        "pytroll://a/1 x",
        "pytroll://b x",
        "pytroll://c x",
        "pytroll:/",
    ] {
        p.send(Bytes::from(f)).await.unwrap();
    }
    for f in [
        "pytroll://a/1 x",
        "pytroll://b x",
        "pytroll://c x",
        "pytroll:/",
    ] {
        assert_eq!(all.recv().await.unwrap(), f);
    }
    assert_eq!(some.recv().await.unwrap(), "pytroll://a/1 x");
    assert_eq!(some.recv().await.unwrap(), "pytroll://c x");
    assert_empty(&mut some).await;
    assert_empty(&mut none).await;
}

#[tokio::test]
async fn connect_before_bind_and_drop_without_subscribers() {
    let (_n, t) = net();
    let mut s = sub(&t, "tcp://localhost:6000", &[""]).await;
    let p = publ(&t, "tcp://*:6000").await;
    p.send("first".into()).await.unwrap();
    assert_eq!(s.recv().await.unwrap(), "first");

    let p2 = publ(&t, "inproc://lonely").await;
    p2.send("lost".into()).await.unwrap();
    let mut late = sub(&t, "inproc://lonely", &[""]).await;
    assert_empty(&mut late).await;
}

#[tokio::test]
async fn port_zero_picks_in_range() {
    let (n, t) = net();
    let mut spec = BindSpec::new(ep("tcp://*:0"));
    spec.port_range = (40000, 40003);
    let a = t.bind_publisher(spec.clone()).await.unwrap();
    let b = t.bind_reply(spec.clone()).await.unwrap();
    assert_eq!(a.endpoint(), &ep("tcp://*:40000"));
    assert_eq!(b.endpoint(), &ep("tcp://*:40001"));
    let mut s = sub(&t, "tcp://127.0.0.1:40000", &[""]).await;
    a.send("p".into()).await.unwrap();
    assert_eq!(s.recv().await.unwrap(), "p");
    let c = t.bind_publisher(spec.clone()).await.unwrap();
    assert_eq!(c.endpoint().port(), Some(40002));
    // The default range.
    let d = publ(&t, "tcp://*:0").await;
    let port = d.endpoint().port().unwrap();
    assert!((49152..=65535).contains(&port));
    assert_eq!(n.bound_endpoints().len(), 4);
}

#[tokio::test]
async fn address_in_use() {
    let (_n, t) = net();
    let _p = publ(&t, "inproc://x").await;
    let e = t
        .bind_publisher(BindSpec::new(ep("inproc://x")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Bind);
    assert!(e.to_string().contains("address in use"), "{e}");
    let e = t
        .bind_reply(BindSpec::new(ep("inproc://x")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("address in use"), "{e}");
}

#[tokio::test]
async fn port_range_exhausted() {
    let (_n, t) = net();
    let mut spec = BindSpec::new(ep("tcp://*:0"));
    spec.port_range = (50000, 50002);
    let _a = t.bind_publisher(spec.clone()).await.unwrap();
    let _b = t.bind_publisher(spec.clone()).await.unwrap();
    let e = t.bind_publisher(spec.clone()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Bind);
    assert!(e.to_string().contains("[50000, 50002)"), "{e}");
    spec.port_range = (50000, 50000);
    assert_eq!(
        t.bind_publisher(spec).await.unwrap_err().kind(),
        ErrorKind::Bind
    );
}

#[tokio::test]
async fn high_water_mark_drops() {
    let (_n, t) = net();
    let mut spec = BindSpec::new(ep("inproc://hwm"));
    spec.options.send_high_water_mark = Some(3);
    let p = t.bind_publisher(spec).await.unwrap();
    let mut s = sub(&t, "inproc://hwm", &[""]).await;
    for i in 0..10 {
        p.send(Bytes::from(i.to_string())).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(s.recv().await.unwrap(), i.to_string());
    }
    assert_empty(&mut s).await;
}

#[tokio::test]
async fn default_and_unbounded_high_water_mark() {
    let (_n, t) = net();
    let p = publ(&t, "inproc://d").await;
    let mut s = sub(&t, "inproc://d", &[""]).await;
    for _ in 0..1500 {
        p.send("f".into()).await.unwrap();
    }
    for _ in 0..1000 {
        s.recv().await.unwrap();
    }
    assert_empty(&mut s).await;

    let mut spec = BindSpec::new(ep("inproc://u"));
    spec.options.send_high_water_mark = Some(0);
    let p = t.bind_publisher(spec).await.unwrap();
    let mut s = sub(&t, "inproc://u", &[""]).await;
    for _ in 0..5000 {
        p.send("f".into()).await.unwrap();
    }
    for _ in 0..5000 {
        s.recv().await.unwrap();
    }
    assert_empty(&mut s).await;
}

async fn no_drop_backpressure() {
    let (_n, t) = net();
    let mut spec = BindSpec::new(ep("inproc://nd"));
    spec.options = PubOptions {
        send_high_water_mark: Some(10),
        no_drop: true,
    };
    let p = t.bind_publisher(spec).await.unwrap();
    let mut s = sub(&t, "inproc://nd", &[""]).await;

    // The sender blocks once the queue holds 10 frames.
    for i in 0..10 {
        p.send(Bytes::from(i.to_string())).await.unwrap();
    }
    let blocked = tokio::time::timeout(Duration::from_millis(0), p.send("10".into())).await;
    assert!(blocked.is_err(), "send should wait for room");

    const N: usize = 10_000;
    let sender = tokio::spawn(async move {
        for i in 10..N {
            p.send(Bytes::from(i.to_string())).await.unwrap();
        }
        p
    });
    for i in 0..N {
        assert_eq!(s.recv().await.unwrap(), i.to_string());
    }
    let _p = sender.await.unwrap();
    assert_empty(&mut s).await;
}

#[tokio::test]
async fn no_drop_backpressure_current_thread() {
    no_drop_backpressure().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_drop_backpressure_multi_thread() {
    no_drop_backpressure().await;
}

#[tokio::test]
async fn no_drop_sender_unblocks_when_subscriber_goes() {
    let (_n, t) = net();
    let mut spec = BindSpec::new(ep("inproc://nd2"));
    spec.options = PubOptions {
        send_high_water_mark: Some(1),
        no_drop: true,
    };
    let p = Arc::new(t.bind_publisher(spec).await.unwrap());
    let s = sub(&t, "inproc://nd2", &[""]).await;
    p.send("a".into()).await.unwrap();
    let p2 = p.clone();
    let blocked = tokio::spawn(async move { p2.send("b".into()).await });
    tokio::task::yield_now().await;
    assert!(!blocked.is_finished());
    drop(s);
    blocked.await.unwrap().unwrap();
}

#[tokio::test]
async fn rebind_reaches_old_subscribers() {
    let (_n, t) = net();
    let mut s = sub(&t, "tcp://127.0.0.1:7000", &[""]).await;
    let p = publ(&t, "tcp://*:7000").await;
    p.send("one".into()).await.unwrap();
    p.close().await.unwrap();
    let p = publ(&t, "tcp://0.0.0.0:7000").await;
    p.send("two".into()).await.unwrap();
    drop(p);
    let p = publ(&t, "tcp://*:7000").await;
    p.send("three".into()).await.unwrap();
    for f in ["one", "two", "three"] {
        assert_eq!(s.recv().await.unwrap(), f);
    }
}

#[tokio::test]
async fn close_semantics() {
    let (n, t) = net();
    let p = publ(&t, "inproc://c").await;
    let mut s = sub(&t, "inproc://c", &[""]).await;
    let mut s2 = sub(&t, "inproc://c", &[""]).await;
    s.close().await.unwrap();
    s.close().await.unwrap();
    assert_eq!(s.recv().await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(n.connections().len(), 1);
    p.send("x".into()).await.unwrap();
    assert_eq!(s2.recv().await.unwrap(), "x");
    p.close().await.unwrap();
    assert_eq!(
        p.send("y".into()).await.unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert!(n.bound_endpoints().is_empty());
    // The endpoint is free again.
    let _p = publ(&t, "inproc://c").await;
    // A subscriber whose publisher closed waits rather than failing.
    assert_empty(&mut s2).await;
}

#[tokio::test]
async fn sub_recv_is_cancel_safe() {
    let (_n, t) = net();
    let p = publ(&t, "inproc://cs").await;
    let mut s = sub(&t, "inproc://cs", &[""]).await;
    for i in 0..100 {
        tokio::select! {
            biased;
            r = s.recv() => panic!("nothing was sent: {r:?}"),
            () = tokio::task::yield_now() => {}
        }
        p.send(Bytes::from(i.to_string())).await.unwrap();
        assert_eq!(s.recv().await.unwrap(), i.to_string());
    }
}

#[tokio::test]
async fn req_rep_round_trip_in_order() {
    let (_n, t) = net();
    let mut rep = t
        .bind_reply(BindSpec::new(ep("tcp://*:5557")))
        .await
        .unwrap();
    let t2 = t.clone();
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            let req = rep.recv().await.unwrap();
            let mut answer = b"re:".to_vec();
            answer.extend_from_slice(&req.body);
            assert_eq!(
                rep.reply(&req.reply_to, Bytes::from(answer)).unwrap(),
                Delivery::Sent
            );
        }
        rep
    });
    let timeout = Duration::from_secs(5);
    let e = ep("tcp://localhost:5557");
    let (a, b) = tokio::join!(
        t2.request(&e, Security::Plain, "a".into(), timeout),
        t2.request(&e, Security::Curve, "b".into(), timeout),
    );
    assert_eq!(a.unwrap(), "re:a");
    assert_eq!(b.unwrap(), "re:b");
    let c = t.request(&e, Security::Plain, "c".into(), timeout).await;
    assert_eq!(c.unwrap(), "re:c");
    let mut rep = server.await.unwrap();
    assert_eq!(
        rep.reply(&ReplyTo::default(), "nobody asked".into())
            .unwrap_err()
            .kind(),
        ErrorKind::Protocol
    );
    rep.close().await.unwrap();
    assert_eq!(rep.recv().await.unwrap_err().kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn requests_may_be_answered_in_any_order() {
    let (_n, t) = net();
    let mut rep = t.bind_reply(BindSpec::new(ep("inproc://r"))).await.unwrap();
    let t2 = t.clone();
    let client = tokio::spawn(async move {
        t2.request(
            &ep("inproc://r"),
            Security::Plain,
            "q".into(),
            Duration::from_secs(5),
        )
        .await
    });
    let t3 = t.clone();
    let second = tokio::spawn(async move {
        t3.request(
            &ep("inproc://r"),
            Security::Plain,
            "q2".into(),
            Duration::from_secs(5),
        )
        .await
    });
    let first_request = rep.recv().await.unwrap();
    let second_request = rep.recv().await.unwrap();
    let mut bodies = [first_request.body.clone(), second_request.body.clone()];
    bodies.sort();
    assert_eq!(bodies, [Bytes::from("q"), Bytes::from("q2")]);
    for request in [second_request, first_request] {
        let mut answer = b"a:".to_vec();
        answer.extend_from_slice(&request.body);
        assert_eq!(
            rep.reply(&request.reply_to, answer.into()).unwrap(),
            Delivery::Sent
        );
    }
    assert_eq!(client.await.unwrap().unwrap(), "a:q");
    assert_eq!(second.await.unwrap().unwrap(), "a:q2");
}

#[tokio::test]
async fn request_times_out_with_nothing_bound() {
    tokio::time::pause();
    let (_n, t) = net();
    let start = tokio::time::Instant::now();
    let e = t
        .request(
            &ep("tcp://127.0.0.1:5557"),
            Security::Plain,
            "q".into(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
}

#[tokio::test]
async fn request_waits_for_a_late_bind() {
    tokio::time::pause();
    let (_n, t) = net();
    let t2 = t.clone();
    let client = tokio::spawn(async move {
        t2.request(
            &ep("inproc://late"),
            Security::Plain,
            "q".into(),
            Duration::from_secs(10),
        )
        .await
    });
    tokio::task::yield_now().await;
    let mut rep = t
        .bind_reply(BindSpec::new(ep("inproc://late")))
        .await
        .unwrap();
    let request = rep.recv().await.unwrap();
    assert_eq!(request.body, "q");
    rep.reply(&request.reply_to, "ok".into()).unwrap();
    assert_eq!(client.await.unwrap().unwrap(), "ok");
}

#[tokio::test]
async fn request_to_a_closing_reply_socket_times_out() {
    tokio::time::pause();
    let (_n, t) = net();
    let mut rep = t
        .bind_reply(BindSpec::new(ep("inproc://gone")))
        .await
        .unwrap();
    let t2 = t.clone();
    let client = tokio::spawn(async move {
        t2.request(
            &ep("inproc://gone"),
            Security::Plain,
            "q".into(),
            Duration::from_secs(3),
        )
        .await
    });
    assert_eq!(rep.recv().await.unwrap().body, "q");
    drop(rep);
    assert_eq!(
        client.await.unwrap().unwrap_err().kind(),
        ErrorKind::Timeout
    );
}

#[tokio::test]
async fn request_to_a_publisher_endpoint_times_out() {
    tokio::time::pause();
    let (_n, t) = net();
    let _p = publ(&t, "inproc://pub").await;
    let e = t
        .request(
            &ep("inproc://pub"),
            Security::Plain,
            "q".into(),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn security_is_recorded() {
    let (n, t) = net();
    let mut spec = BindSpec::new(ep("tcp://*:9000"));
    spec.security = Security::Curve;
    let p = t.bind_publisher(spec).await.unwrap();
    let mut s = t
        .connect_subscriber(&ep("tcp://127.0.0.1:9000"), &topics(&[""]), Security::Curve)
        .await
        .unwrap();
    p.send("secret".into()).await.unwrap();
    assert_eq!(s.recv().await.unwrap(), "secret");
    assert_eq!(
        n.connections(),
        vec![(ep("tcp://127.0.0.1:9000"), Security::Curve)]
    );
    assert_eq!(
        n.bound_endpoints(),
        vec![(ep("tcp://*:9000"), Security::Curve)]
    );
}

#[tokio::test]
async fn discovery_broadcast_and_truncation() {
    let n = InprocNetwork::new();
    let d = n.backend(&Config::default()).discovery;
    let tx = d.sender().await.unwrap();
    tx.send("lost".into()).await.unwrap();
    let mut r1 = d.receiver().await.unwrap();
    let mut r2 = d.receiver().await.unwrap();
    assert_eq!(n.receiver_count(), 2);
    tx.send("hello".into()).await.unwrap();
    let big = Bytes::from(vec![b'x'; 3000]);
    tx.send(big.clone()).await.unwrap();
    let exact = Bytes::from(vec![b'y'; 1024]);
    tx.send(exact.clone()).await.unwrap();
    for r in [&mut r1, &mut r2] {
        let (dg, ip) = r.recv().await.unwrap();
        assert_eq!(dg, "hello");
        assert_eq!(ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(r.recv().await.unwrap().0, big.slice(..1024));
        assert_eq!(r.recv().await.unwrap().0, exact);
    }
    drop(r1);
    assert_eq!(n.receiver_count(), 1);
    let r = tokio::time::timeout(Duration::from_millis(0), r2.recv()).await;
    assert!(r.is_err());
}

#[tokio::test]
async fn networks_are_isolated() {
    let (n1, t1) = net();
    let (n2, t2) = net();
    assert!(!n1.same_network(&n2));
    assert!(n1.same_network(&n1.clone()));
    let p1 = publ(&t1, "tcp://*:5557").await;
    let p2 = publ(&t2, "tcp://*:5557").await; // no conflict
    let mut s1 = sub(&t1, "tcp://127.0.0.1:5557", &[""]).await;
    let mut s2 = sub(&t2, "tcp://127.0.0.1:5557", &[""]).await;
    p1.send("one".into()).await.unwrap();
    p2.send("two".into()).await.unwrap();
    assert_eq!(s1.recv().await.unwrap(), "one");
    assert_eq!(s2.recv().await.unwrap(), "two");
    assert_empty(&mut s1).await;
    assert_empty(&mut s2).await;

    let d1 = n1.discovery();
    let d2 = n2.backend(&Config::default()).discovery;
    let mut r2 = d2.receiver().await.unwrap();
    let tx1 = d1.sender().await.unwrap();
    tx1.send("x".into()).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(0), r2.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn drop_cleans_up() {
    let (n, t) = net();
    {
        let _p = publ(&t, "tcp://*:0").await;
        let _s = sub(&t, "tcp://127.0.0.1:49152", &[""]).await;
        let _s2 = sub(&t, "inproc://nothing", &["a"]).await;
        let _r = t
            .bind_reply(BindSpec::new(ep("inproc://rep")))
            .await
            .unwrap();
        let _dr = n.discovery();
        let _rx = n.discovery().receiver().await.unwrap();
        assert!(!n.is_idle());
        assert_eq!(n.connections().len(), 2);
        assert_eq!(n.bound_endpoints().len(), 2);
    }
    assert!(n.is_idle(), "{n:?}");
    // Closed then dropped also leaves nothing, and the endpoints bind again.
    let p = publ(&t, "tcp://*:49152").await;
    let mut s = sub(&t, "tcp://127.0.0.1:49152", &[""]).await;
    p.close().await.unwrap();
    s.close().await.unwrap();
    assert!(n.is_idle());
    drop((p, s));
    assert!(n.is_idle());
}

#[tokio::test]
async fn the_global_network_is_shared() {
    let t: Arc<dyn Transport> = Arc::new(InprocNetwork::global().transport());
    assert_eq!(t.engine(), "inproc");
    let global = InprocNetwork::global();
    let p = publ(&t, "inproc://factory-test-unique").await;
    assert!(global
        .bound_endpoints()
        .contains(&(ep("inproc://factory-test-unique"), Security::Plain)));
    let mut s = global
        .transport()
        .connect_subscriber(
            &ep("inproc://factory-test-unique"),
            &topics(&[""]),
            Security::Plain,
        )
        .await
        .unwrap();
    p.send("g".into()).await.unwrap();
    assert_eq!(s.recv().await.unwrap(), "g");
}

// ---------------------------------------------------------------------------
// Taps.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tap_sees_every_publisher_frame_in_order_with_or_without_subscribers() {
    let (network, t) = net();
    let mut tap = network.tap();
    assert_eq!(network.tap_count(), 1);
    let a = publ(&t, "inproc://a").await;
    let b = publ(&t, "tcp://*:0").await;
    let b_endpoint = b.endpoint().clone();
    let mut s = sub(&t, "inproc://a", &["pytroll://x"]).await;

    a.send("pytroll://x 1".into()).await.unwrap();
    b.send("pytroll://y 2".into()).await.unwrap(); // nobody listens
    a.send("pytroll://z 3".into()).await.unwrap(); // topic does not match
    let seen = tap.drain();
    let got: Vec<(Endpoint, Bytes)> = seen.into_iter().map(|f| (f.endpoint, f.frame)).collect();
    assert_eq!(
        got,
        vec![
            (ep("inproc://a"), Bytes::from("pytroll://x 1")),
            (b_endpoint, Bytes::from("pytroll://y 2")),
            (ep("inproc://a"), Bytes::from("pytroll://z 3")),
        ]
    );
    // Delivery is unchanged by the tap.
    assert_eq!(s.recv().await.unwrap(), "pytroll://x 1");
    assert_empty(&mut s).await;
}

#[tokio::test]
async fn tap_recv_waits_and_closed_publishers_are_not_seen() {
    let (network, t) = net();
    let mut tap = network.tap();
    let a = publ(&t, "inproc://a").await;
    let waiting = tokio::spawn(async move {
        let frame = tap.recv().await;
        (frame, tap)
    });
    tokio::task::yield_now().await;
    a.send("pytroll://x 1".into()).await.unwrap();
    let (frame, mut tap) = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.frame, "pytroll://x 1");

    a.close().await.unwrap();
    assert!(a.send("pytroll://x 2".into()).await.is_err());
    assert!(tap.try_recv().is_none());
}

#[tokio::test]
async fn taps_are_per_network_start_now_and_end_on_drop() {
    let (network, t) = net();
    let other = InprocNetwork::new();
    let mut other_tap = other.tap();
    let a = publ(&t, "inproc://a").await;
    a.send("pytroll://x before".into()).await.unwrap();
    let mut tap = network.tap();
    let mut second = network.tap();
    a.send("pytroll://x after".into()).await.unwrap();
    assert_eq!(tap.drain().len(), 1);
    assert_eq!(second.drain().len(), 1);
    assert!(other_tap.try_recv().is_none());

    drop(tap);
    drop(second);
    assert_eq!(network.tap_count(), 0);
    a.send("pytroll://x unseen".into()).await.unwrap();
    drop(a);
    // Taps do not keep a network busy.
    let _tap = network.tap();
    assert!(network.is_idle());
}

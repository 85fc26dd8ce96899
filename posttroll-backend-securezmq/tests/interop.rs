//! `secure_zmq` interop with the Python reference (posttroll 1.16.0 on
//! pyzmq): certificate files both ways, CURVE publishers and subscribers
//! both ways, and each side's nameserver answering the other's lookups on
//! the secure port. Real processes, real libzmq, loopback only, no
//! multicast (announcements go to designated nameservers over CURVE);
//! every wait has a deadline.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use posttroll::nameserver::get_pub_address;
use posttroll::publisher::NoisyPublisher;
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{Address, Config, Context, Message};
use posttroll_backend_securezmq::SecureZmqTransport;
use posttroll_core::keystore::{public_key_of, zpl, KeyPair};
use posttroll_core::{BindSpec, Endpoint, Security, Transport};
use posttroll_nameserver::NameServer;
use posttroll_testkit::python::{self, config_env, PythonProcess};
use posttroll_testkit::{free_tcp_ports, free_udp_port, loopback_multicast};
use tokio::time::Instant;

use common::Keys;

const PEER: &str = include_str!("python/secure_peer.py");
const WAIT: Duration = Duration::from_secs(15);

/// The Python peer in `args` with `config`'s ports and `keys`' settings.
fn spawn(args: &[&str], config: &Config, keys: &Keys) -> PythonProcess {
    let mut env = config_env(config);
    env.extend(keys.env());
    PythonProcess::spawn(PEER, args, &env).unwrap()
}

/// A facade context on this crate's libzmq engine (whatever engine the
/// facade would pick by default).
fn secure_context(config: &Config) -> Context {
    let config = Config {
        engine: Some("libzmq".into()),
        ..config.clone()
    };
    let ctx = Context::new(config).unwrap();
    assert_eq!(ctx.backend_name(), "secure_zmq");
    assert_eq!(ctx.transport().engine(), "libzmq");
    ctx
}

async fn expect_line(peer: &PythonProcess, prefix: &str) -> String {
    match peer
        .wait_for_line_async(|l| l.starts_with(prefix), WAIT)
        .await
    {
        Some(line) => line[prefix.len()..].trim().to_owned(),
        None => panic!("no {prefix} line from the peer:\n{}", peer.describe()),
    }
}

/// A secure config on free ports, announcing 127.0.0.1.
fn config(keys: &Keys) -> Config {
    let ports = free_tcp_ports(4);
    Config {
        nameserver_port: ports[0],
        secure_zmq_nameserver_port: ports[1],
        address_publish_port: ports[2],
        broadcast_port: ports[3],
        own_ip: Some("127.0.0.1".into()),
        ..keys.config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_round_trip_with_pyzmq() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    let config = config(&keys);
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();

    // pyzmq writes, Rust reads.
    let peer = spawn(&["create", &dir_arg, "py"], &config, &keys);
    let files = expect_line(&peer, "READY").await;
    let (public, secret) = files.split_once(' ').unwrap();
    let pair = zpl::load_key_pair(secret.as_ref()).unwrap();
    assert_eq!(zpl::load_public_key(public.as_ref()).unwrap(), pair.public);
    assert_eq!(public_key_of(&pair.secret), pair.public);
    // Rust writes byte for byte what pyzmq writes, but for the time stamp.
    let ours = zpl::secret_certificate_text(&pair);
    let theirs = std::fs::read_to_string(secret).unwrap();
    assert_eq!(
        ours.lines().skip(1).collect::<Vec<_>>(),
        theirs.lines().skip(1).collect::<Vec<_>>()
    );
    let theirs = std::fs::read_to_string(public).unwrap();
    let ours = zpl::public_certificate_text(&pair.public);
    assert_eq!(
        ours.lines().skip(1).collect::<Vec<_>>(),
        theirs.lines().skip(1).collect::<Vec<_>>()
    );

    // Rust writes, pyzmq reads.
    let pair = KeyPair::generate().unwrap();
    let (public, secret) = zpl::write_certificates(dir.path(), "rs", &pair).unwrap();
    for (file, secret_expected) in [(&secret, pair.secret.to_z85()), (&public, "-".to_owned())] {
        let peer = spawn(&["load", &file.display().to_string()], &config, &keys);
        let line = expect_line(&peer, "KEYS").await;
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], pair.public.to_z85());
        assert_eq!(fields[1], secret_expected);
        let matches = if secret_expected == "-" {
            "False"
        } else {
            "True"
        };
        assert_eq!(fields[2], matches, "pyzmq's curve_public disagrees");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_secure_publisher_reaches_python_secure_subscriber() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    let config = config(&keys);
    let secure = SecureZmqTransport::new(&config).unwrap();
    let mut spec = BindSpec::new(Endpoint::tcp("127.0.0.1", 0));
    spec.security = Security::Curve;
    let publisher = secure.transport().bind_publisher(spec).await.unwrap();
    let uri = format!("tcp://127.0.0.1:{}", publisher.endpoint().port().unwrap());
    let peer = spawn(&["subscribe", &uri, "/secure"], &config, &keys);
    expect_line(&peer, "READY").await;
    let frame =
        "pytroll://secure/rs info rs@localhost 2024-05-06T07:08:09 v1.01 text/ascii from rust";
    let deadline = Instant::now() + WAIT;
    let got = loop {
        assert!(
            Instant::now() < deadline,
            "nothing reached Python:\n{}",
            peer.describe()
        );
        publisher
            .send(Bytes::from_static(frame.as_bytes()))
            .await
            .unwrap();
        if let Some(line) = peer.read_line_async(Duration::from_millis(50)).await {
            if let Some(msg) = line.strip_prefix("MSG ") {
                break msg.to_owned();
            }
        }
    };
    assert_eq!(got, frame);
    let counts = secure.admissions();
    assert!(counts.admitted >= 1 && counts.refused == 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_secure_publisher_reaches_rust_secure_subscriber() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    let config = config(&keys);
    let mut peer = spawn(&["publish"], &config, &keys);
    let port: u16 = expect_line(&peer, "READY").await.parse().unwrap();
    let secure = SecureZmqTransport::new(&config).unwrap();
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let mut sub = secure
        .transport()
        .connect_subscriber(&endpoint, &["pytroll://secure".into()], Security::Curve)
        .await
        .unwrap();
    let frame = tokio::time::timeout(WAIT, sub.recv())
        .await
        .unwrap()
        .unwrap();
    let msg = Message::decode(&frame).unwrap();
    assert_eq!(msg.subject(), "/secure/py");
    assert_eq!(msg.data.as_text(), Some("from python"));
    // A plain subscriber gets nothing from the CURVE publisher.
    let plain = secure
        .transport()
        .connect_subscriber(&endpoint, &["pytroll://secure".into()], Security::Plain)
        .await;
    let mut plain = plain.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), plain.recv())
            .await
            .is_err()
    );
    peer.write_line("stop").unwrap();
    expect_line(&peer, "STOPPED").await;
}

/// Announces `name` from a Rust secure NoisyPublisher to the nameserver on
/// 127.0.0.1 (a CURVE request to its `broadcast_port`).
async fn secure_noisy_publisher(ctx: &Context, name: &str) -> NoisyPublisher {
    NoisyPublisher::builder(name)
        .context(ctx.clone())
        .nameservers(["127.0.0.1"])
        .broadcast_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

async fn lookup_until_found(ctx: &Context, name: &str) -> Vec<Address> {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no address for {name}");
        match get_pub_address(ctx, name, Duration::from_secs(1), "127.0.0.1").await {
            Ok(found) if !found.is_empty() => return found,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nameserver_answers_rust_secure_lookups() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    // The reference's nameserver cannot run without multicast under
    // secure_zmq (its address receiver announces itself to a designated
    // nameserver, which raises NotImplementedError with secure_zmq): it
    // gets the Rust announcement by multicast on loopback (TTL 0).
    let config = loopback_multicast(Config {
        broadcast_port: free_udp_port(),
        ..config(&keys)
    });
    let nameserver = spawn(&["nameserver"], &config, &keys);
    expect_line(&nameserver, "READY").await;
    let ctx = secure_context(&config);
    assert_eq!(ctx.transport().engine(), "libzmq");
    let publisher = NoisyPublisher::builder("rs_secure_1")
        .context(ctx.clone())
        .broadcast_interval(Duration::from_millis(200))
        .start()
        .await
        .unwrap();

    // The lookup goes to the secure port (CURVE).
    let found = lookup_until_found(&ctx, "rs_secure_1").await;
    assert_eq!(found.len(), 1, "{found:?}\n{}", nameserver.describe());
    assert_eq!(found[0].uri(), publisher.announced_uri());
    assert_eq!(found[0].backend(), Some("secure_zmq"));

    // The subscriber connects with the security the address announces.
    let subscriber = Subscriber::builder()
        .addresses(found)
        .topics(["/secure"])
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let sample = Message::new("/secure/ns", "info", "hello").unwrap();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        assert!(Instant::now() < deadline, "nothing arrived");
        publisher.send(&sample).await.unwrap();
        if let Some(msg) = subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
        {
            break msg;
        }
    };
    assert_eq!(got.subject(), "/secure/ns");
    subscriber.stop().await.unwrap();
    publisher.stop().await.unwrap();
    assert!(nameserver.try_wait().is_none(), "{}", nameserver.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_nameserver_answers_python_secure_lookups() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    let config = config(&keys);
    let ctx = secure_context(&config);
    let ns = NameServer::builder()
        .context(ctx.clone())
        .multicast(false)
        .start()
        .await
        .unwrap();
    assert_eq!(
        ns.secure_lookup_endpoint().and_then(Endpoint::port),
        Some(config.secure_zmq_nameserver_port)
    );
    let publisher = secure_noisy_publisher(&ctx, "rs_secure_2").await;
    // Python's secure lookup goes to secure_zmq_nameserver_port.
    let peer = spawn(&["lookup", "rs_secure_2", "127.0.0.1"], &config, &keys);
    let found = expect_line(&peer, "FOUND").await;
    assert!(found.contains(publisher.announced_uri()), "{found}");
    assert!(found.contains("\"backend\": \"secure_zmq\""), "{found}");

    // With unsecure_zmq, the plain port answers Python's plain lookup.
    let mut plain = config.clone();
    plain.backend = "unsecure_zmq".into();
    let mut env = config_env(&plain);
    env.extend(
        keys.env()
            .into_iter()
            .filter(|(k, _)| k != "POSTTROLL_BACKEND"),
    );
    let peer = PythonProcess::spawn(PEER, &["lookup", "rs_secure_2", "127.0.0.1"], &env).unwrap();
    let found = expect_line(&peer, "FOUND").await;
    assert!(found.contains(publisher.announced_uri()), "{found}");
    publisher.stop().await.unwrap();
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsecure_nameserver_serves_the_secure_port_when_keys_are_configured() {
    let keys = Keys::new();
    // The libzmq engine for both backends (the facade may default to
    // another where it is compiled in).
    let config = Config {
        backend: "unsecure_zmq".into(),
        engine: Some("libzmq".into()),
        ..config(&keys)
    };
    let ctx = Context::new(config.clone()).unwrap();
    let ns = NameServer::builder()
        .context(ctx.clone())
        .multicast(false)
        .start()
        .await
        .unwrap();
    assert_eq!(
        ns.secure_lookup_endpoint().and_then(Endpoint::port),
        Some(config.secure_zmq_nameserver_port)
    );
    // A secure client finds nothing registered, but gets an answer.
    let secure_ctx = secure_context(&Config {
        backend: "secure_zmq".into(),
        ..config.clone()
    });
    let found = get_pub_address(&secure_ctx, "nobody", WAIT, "127.0.0.1")
        .await
        .unwrap();
    assert!(found.is_empty());
    ns.stop().await;

    // Without the server key: plain only. On fresh ports: libzmq may still
    // be releasing the old ones in its background thread.
    let fresh = self::config(&keys);
    let config = Config {
        server_secret_key_file: None,
        nameserver_port: fresh.nameserver_port,
        secure_zmq_nameserver_port: fresh.secure_zmq_nameserver_port,
        address_publish_port: fresh.address_publish_port,
        broadcast_port: fresh.broadcast_port,
        ..config
    };
    let ns = NameServer::builder()
        .context(Context::new(config).unwrap())
        .multicast(false)
        .start()
        .await
        .unwrap();
    assert!(ns.secure_lookup_endpoint().is_none());
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_noisy_publisher_reaches_rust_address_listener_over_curve() {
    let Some(_) = python::require() else { return };
    let keys = Keys::new();
    let config = loopback_multicast(Config {
        broadcast_port: free_udp_port(),
        ..config(&keys)
    });
    let ctx = secure_context(&config);
    let ns = NameServer::builder()
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    // The address listener subscribes to the nameserver's CURVE address
    // publisher; the Python publisher is not there yet.
    let subscriber = NSSubscriber::builder()
        .services(["py_noisy"])
        .topics(["/secure"])
        .addr_listener(true)
        .nameserver("127.0.0.1")
        .timeout(Duration::from_millis(200))
        .context(ctx.clone())
        .start()
        .await
        .unwrap();
    let mut peer = spawn(&["noisy", "py_noisy"], &config, &keys);
    expect_line(&peer, "READY").await;
    let deadline = Instant::now() + WAIT;
    let msg = loop {
        assert!(
            Instant::now() < deadline,
            "nothing arrived:\n{}",
            peer.describe()
        );
        if let Some(msg) = subscriber
            .recv(Some(Duration::from_millis(50)))
            .await
            .unwrap()
        {
            break msg;
        }
    };
    assert_eq!(msg.subject(), "/secure/py");
    let addresses = subscriber.addresses();
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    assert_eq!(addresses[0].backend(), Some("secure_zmq"));
    peer.write_line("stop").unwrap();
    expect_line(&peer, "STOPPED").await;
    subscriber.stop().await.unwrap();
    ns.stop().await;
}

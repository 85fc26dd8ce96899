//! `nameserver --metrics-address`: the counters move on a live nameserver
//! scraped over real HTTP, `/readyz` goes 200, and malformed, oversized or
//! slow HTTP requests get a clear 4xx (or a close) without holding up
//! anybody else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{poll_until, Guard, Net, NAMESERVER};
use posttroll::Endpoint;
use posttroll_cli::http_endpoint::{HttpEndpoint, Limits, Readiness};
use posttroll_testkit::peers::Dealer;
use posttroll_testkit::{engine_from_env, free_tcp_ports};

const DEADLINE: Duration = Duration::from_secs(15);

/// Sends `request` as is on a new connection and reads the reply to its
/// end (the server closes): the status code and the whole reply.
fn exchange(address: SocketAddr, request: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    Ok((status, reply))
}

fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    exchange(
        address,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// The value of one series (`name{labels}`) in a scrape.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// A scrape, printed as is when a wait fails.
struct Scrape(String);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\n{}", self.0)
    }
}

/// A nameserver (no multicast, max age 1 s) with its metrics endpoint, on
/// free loopback ports.
struct Served {
    net: Net,
    metrics: SocketAddr,
    ns: Guard,
}

fn nameserver_with_metrics() -> Served {
    let ports = free_tcp_ports(4);
    let net = Net {
        nameserver_port: ports[0],
        broadcast_port: ports[1],
        address_publish_port: ports[2],
    };
    let metrics = SocketAddr::from(([127, 0, 0, 1], ports[3]));
    let ns = Guard(
        net.command(NAMESERVER)
            .args(["--no-multicast", "--max-age", "1", "--metrics-address"])
            .arg(metrics.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    Served { net, metrics, ns }
}

impl Served {
    /// Scrapes `/metrics` until `done` holds for the scrape (a deadline,
    /// no sleep as synchronisation: each try is a real scrape).
    fn scrape_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let scrape = || {
            let (status, reply) = get(self.metrics, "/metrics").unwrap();
            assert_eq!(status, 200, "{reply}");
            Scrape(reply)
        };
        poll_until(what, DEADLINE, scrape, |s| done(&s.0)).0
    }

    /// Waits until the series is at least `min`.
    fn at_least(&self, series: &str, min: f64) -> String {
        self.scrape_until(&format!("{series} >= {min}"), |scrape| {
            value(scrape, series).is_some_and(|v| v >= min)
        })
    }
}

impl Served {
    /// Sends `body` as a request to the nameserver's `port` from a ZMTP
    /// DEALER (as a REQ would; the reply is never read) and, while it stays
    /// connected, waits until each of `series` is at least 1.
    fn request_until(&self, port: u16, body: Vec<u8>, series: &[&str]) {
        let rt = posttroll_cli::runtime().unwrap();
        rt.block_on(async {
            let endpoint: Endpoint = format!("tcp://127.0.0.1:{port}").parse().unwrap();
            let dealer = Dealer::connect(&endpoint).await.unwrap();
            dealer.send_request(Bytes::from(body)).await.unwrap();
            let deadline = Instant::now() + DEADLINE;
            for series in series {
                // Each scrape is short; between them the dealer's tasks run.
                loop {
                    let (_, scrape) = get(self.metrics, "/metrics").unwrap();
                    if value(&scrape, series).is_some_and(|v| v >= 1.0) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{series} stayed at 0:\n{scrape}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            dealer.close().await;
        });
    }
}

#[test]
fn counters_move_on_a_live_nameserver_and_readyz_goes_200() {
    let mut served = nameserver_with_metrics();
    // Ready once its ports are bound and its loops run.
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok((200, reply)) = get(served.metrics, "/readyz") {
            assert!(reply.ends_with("\r\n\r\nready\n"), "{reply}");
            break;
        }
        if let Some(status) = served.ns.0.try_wait().unwrap() {
            panic!("the nameserver ended: {status}");
        }
        assert!(Instant::now() < deadline, "/readyz never said 200");
        std::thread::sleep(Duration::from_millis(20));
    }
    served.ns.assert_test_engine();
    let (status, reply) = get(served.metrics, "/healthz").unwrap();
    assert_eq!(status, 200, "{reply}");
    let (_, reply) = get(served.metrics, "/metrics").unwrap();
    assert!(
        reply.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{reply}"
    );
    // Every series is there from the start, with help and type.
    for line in [
        "# TYPE posttroll_nameserver_lookups_total counter",
        "# TYPE posttroll_nameserver_addresses gauge",
        "# HELP posttroll_refusals_total ",
        "posttroll_refusals_total{reason=\"not_authorised\"} 0",
        "posttroll_log_lines_suppressed_total{event=\"table_full\"} 0",
        "posttroll_nameserver_replies_dropped_total{port=\"lookup\"} 0",
    ] {
        assert!(reply.contains(line), "{line} missing from:\n{reply}");
    }

    // A lookup of nothing.
    let net = &served.net;
    assert!(net.lookup("nobody").is_empty());
    served.at_least(
        "posttroll_nameserver_lookups_total{result=\"not_found\"}",
        1.0,
    );

    // A publisher announced once (the next would be in 60 s): accepted,
    // found, then expired (max age 1 s).
    let _publisher = net.silent_publisher("metered");
    net.lookup_until("metered", DEADLINE, |found| !found.is_empty());
    let scrape = served.at_least("posttroll_nameserver_lookups_total{result=\"found\"}", 1.0);
    assert!(
        value(
            &scrape,
            "posttroll_nameserver_announcements_total{source=\"designated\",result=\"accepted\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{scrape}"
    );
    assert!(
        value(&scrape, "posttroll_messages_sent_total").is_some_and(|v| v >= 1.0),
        "the address events count as sent: {scrape}"
    );
    net.lookup_until("metered", DEADLINE, <[_]>::is_empty);
    served.at_least("posttroll_nameserver_addresses_expired_total", 1.0);

    // A malformed lookup (answered with an error), then an oversized one
    // (over the 64 KiB of the lookup port: the engine hangs up).
    served.request_until(
        net.nameserver_port,
        b"hello".to_vec(),
        &[
            "posttroll_nameserver_lookups_total{result=\"refused\"}",
            "posttroll_refusals_total{reason=\"malformed\"}",
        ],
    );
    // The libzmq engine drops an oversized frame on a reply socket without
    // telling (no monitor there); the pure-Rust engine reports it.
    let pure_rust = engine_from_env().as_deref() != Some("libzmq");
    served.request_until(
        net.nameserver_port,
        vec![b'x'; 70 * 1024],
        if pure_rust {
            &[
                "posttroll_refusals_total{reason=\"size\"}",
                "posttroll_connections_opened_total",
                "posttroll_connections_closed_total",
            ]
        } else {
            &[]
        },
    );

    // A malformed announcement on the broadcast port.
    served.request_until(
        net.broadcast_port,
        b"not an announcement".to_vec(),
        &["posttroll_nameserver_announcements_total{source=\"designated\",result=\"refused\"}"],
    );

    // Still serving, still ready.
    assert_eq!(get(served.metrics, "/readyz").unwrap().0, 200);
    assert!(net.lookup("nobody").is_empty());
}

#[test]
fn bad_http_requests_get_4xx_and_stall_nobody() {
    let mut served = nameserver_with_metrics();
    let deadline = Instant::now() + DEADLINE;
    while !matches!(get(served.metrics, "/healthz"), Ok((200, _))) {
        if let Some(status) = served.ns.0.try_wait().unwrap() {
            panic!("the nameserver ended: {status}");
        }
        assert!(Instant::now() < deadline, "/healthz never said 200");
        std::thread::sleep(Duration::from_millis(20));
    }
    let address = served.metrics;

    // A slow client: half a request line, then nothing.
    let mut slow = TcpStream::connect(address).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    let slow_since = Instant::now();

    let cases: [(&[u8], u16); 7] = [
        (b"hello\r\n\r\n", 400),
        (b"\xff\xfe\xfd /metrics HTTP/1.1\r\n\r\n", 400),
        (b"GET /metrics SPDY/3\r\n\r\n", 400),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            405,
        ),
        (b"DELETE /readyz HTTP/1.1\r\n\r\n", 405),
        (b"GET /admin HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics HTTP/1.0\r\n\r\n", 200),
    ];
    for (request, expected) in cases {
        let (status, reply) = exchange(address, request).unwrap();
        assert_eq!(
            status,
            expected,
            "{:?}: {reply}",
            String::from_utf8_lossy(request)
        );
        assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    }
    // A head over 8 KiB: 431, whether the headers end or not.
    let mut long = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while long.len() <= 8 * 1024 {
        long.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let (status, reply) = exchange(address, &long).unwrap();
    assert_eq!(status, 431, "{reply}");
    // Everyone above was served while the slow client held its connection.
    assert!(
        slow_since.elapsed() < Duration::from_secs(4),
        "the others took {:?}",
        slow_since.elapsed()
    );

    // The slow client gets 408 once its 5 s are up, and the connection
    // closes.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    slow.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    let waited = slow_since.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(9),
        "{waited:?}"
    );
    assert_eq!(get(address, "/readyz").unwrap().0, 200);
}

/// The endpoint's connection cap, with short limits: a connection beyond
/// it is turned away at once (503), the ones within it are served.
#[test]
fn connections_beyond_the_cap_are_turned_away() {
    let rt = posttroll_cli::runtime().unwrap();
    let readiness = Readiness::new();
    let limits = Limits {
        read_timeout: Duration::from_secs(2),
        max_connections: 2,
        ..Limits::default()
    };
    let endpoint = rt
        .block_on(HttpEndpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            || "m 1\n".to_owned(),
            readiness.clone(),
            limits,
        ))
        .unwrap();
    let address = endpoint.local_addr();
    // The endpoint runs on a thread of its own; the test talks to it with
    // blocking sockets.
    let server = std::thread::spawn(move || {
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), endpoint.serve()).await })
    });
    // Two idle connections take both places (the first connections the
    // endpoint sees)...
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    // ...so a third is turned away at once: a 503, or a close (the server
    // accepts in order, so the idle ones hold their places by then).
    let started = Instant::now();
    match get(address, "/metrics") {
        Ok((status, reply)) => assert!(
            status == 503 && reply.ends_with("too many connections\n") || reply.is_empty(),
            "{reply}"
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        ),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The idle ones time out (408)...
    for mut stream in idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    }
    // ...and there is room again (once their tasks have ended): not ready
    // yet, then ready.
    let answer = |path: &str| {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok((status, reply)) = get(address, path) {
                if !reply.ends_with("too many connections\n") && status != 0 {
                    return (status, reply);
                }
            }
            assert!(Instant::now() < deadline, "no room again");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let (status, reply) = answer("/readyz");
    assert_eq!(status, 503, "{reply}");
    assert!(reply.ends_with("\r\n\r\nnot ready\n"), "{reply}");
    readiness.set_ready(true);
    assert_eq!(answer("/readyz").0, 200);
    let (status, reply) = answer("/metrics");
    assert_eq!(status, 200, "{reply}");
    assert!(reply.ends_with("\r\n\r\nm 1\n"), "{reply}");
    drop(server);
}

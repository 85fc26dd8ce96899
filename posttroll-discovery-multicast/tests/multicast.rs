//! Multicast discovery on loopback only: every socket uses the interface
//! `127.0.0.1` and a TTL of 0, each test its own group (`239.255.<pid>.<n>`)
//! and a free UDP port. Nothing is ever sent by broadcast, with a TTL above
//! 0, or to any other interface.
//!
//! The Python interop tests run `tests/python/mcast_peer.py` with the
//! reference's `posttroll.bbmcast`. The interpreter: `PTRS_PYTHON` if set
//! (then only it), else `<workspace>/.venv/bin/python`, if it can import
//! `posttroll.bbmcast`. None
//! usable: the tests fail when `CI` is set and print a loud skip message
//! otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{Config, DatagramReceiver, DatagramSender, Discovery, ErrorKind};
use posttroll_discovery_multicast::{local_ips, Group, MulticastDiscovery, MAX_DATAGRAM};
use posttroll_testkit::ipv6::{ipv6_multicast_here_or_rerun, loopback_multicast_v6};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);
const PYTHON_WAIT: Duration = Duration::from_secs(30);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// A multicast group no other test (nor another test process) uses:
/// `239.255.<pid-derived>.<n>`.
fn unique_group() -> String {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let byte = ((pid ^ (pid >> 8) ^ (pid >> 16)) & 0xff) as u8;
    format!("239.255.{byte}.{n}")
}

/// A UDP port free right now.
fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    socket.local_addr().unwrap().port()
}

/// A loopback-only configuration: interface 127.0.0.1, TTL 0, a unique
/// group and a free port.
fn loopback_config() -> Config {
    Config {
        mc_group: unique_group(),
        broadcast_port: free_port(),
        mc_ttl: 0,
        multicast_interface: Some("127.0.0.1".to_string()),
        ..Config::default()
    }
}

async fn recv_within(receiver: &mut dyn DatagramReceiver) -> (Bytes, Option<IpAddr>) {
    timeout(WAIT, receiver.recv())
        .await
        .expect("no datagram within 5 s")
        .expect("receive failed")
}

// ---------------------------------------------------------------------------
// Rust <-> Rust on loopback.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn round_trip_on_loopback_comes_from_127_0_0_1() {
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut receiver = discovery.receiver().await.unwrap();
    let sender = discovery.open_sender().unwrap();
    let group: Ipv4Addr = config.mc_group.parse().unwrap();
    assert_eq!(
        sender.target(),
        SocketAddrV4::new(group, config.broadcast_port).into()
    );

    let payload = Bytes::from_static(b"pytroll://address/test info user@host hello");
    sender.send(payload.clone()).await.unwrap();
    let (datagram, from) = recv_within(receiver.as_mut()).await;
    assert_eq!(datagram, payload);
    assert_eq!(from, Some(LOOPBACK));
}

#[tokio::test]
async fn two_receivers_both_get_each_datagram() {
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut first = discovery.receiver().await.unwrap();
    let mut second = discovery.receiver().await.unwrap();
    let sender = discovery.sender().await.unwrap();
    each_gets_both(sender.as_ref(), [&mut first, &mut second], LOOPBACK).await;
}

/// Sends two datagrams; each receiver gets each, from `source`.
async fn each_gets_both(
    sender: &dyn DatagramSender,
    mut receivers: [&mut Box<dyn DatagramReceiver>; 2],
    source: IpAddr,
) {
    for text in ["one", "two"] {
        sender.send(Bytes::from(text)).await.unwrap();
        for receiver in receivers.iter_mut() {
            let (datagram, from) = recv_within(receiver.as_mut()).await;
            assert_eq!(datagram, text.as_bytes());
            assert_eq!(from, Some(source));
        }
    }
}

#[tokio::test]
async fn datagrams_longer_than_1024_bytes_are_cut() {
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut receiver = discovery.receiver().await.unwrap();
    let sender = discovery.sender().await.unwrap();

    let long: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
    sender.send(Bytes::from(long.clone())).await.unwrap();
    let (datagram, _) = recv_within(receiver.as_mut()).await;
    assert_eq!(datagram.len(), MAX_DATAGRAM);
    assert_eq!(&datagram[..], &long[..MAX_DATAGRAM]);

    // Exactly 1024 bytes arrive whole, and the cut did not spill over.
    let exact = vec![b'x'; MAX_DATAGRAM];
    sender.send(Bytes::from(exact.clone())).await.unwrap();
    let (datagram, _) = recv_within(receiver.as_mut()).await;
    assert_eq!(datagram, exact);
}

#[tokio::test]
async fn recv_is_cancel_safe() {
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut receiver = discovery.receiver().await.unwrap();
    let sender = discovery.sender().await.unwrap();

    // A receive cancelled while waiting loses nothing.
    for _ in 0..3 {
        let cancelled = timeout(Duration::from_millis(20), receiver.recv()).await;
        assert!(cancelled.is_err(), "nothing was sent yet");
    }
    sender.send(Bytes::from_static(b"after")).await.unwrap();
    let (datagram, _) = recv_within(receiver.as_mut()).await;
    assert_eq!(datagram, &b"after"[..]);
}

#[tokio::test]
async fn invalid_group_is_refused_naming_it() {
    for group in ["10.0.0.1", "240.0.0.1", "223.255.255.255", "not-a-group"] {
        let config = Config {
            mc_group: group.to_string(),
            ..loopback_config()
        };
        let invalid = format!("invalid multicast group {group}");
        let needles = [
            invalid.as_str(),
            "224.x.x.x–239.x.x.x",
            "0.0.0.0/255.255.255.255",
        ];
        assert_refused(&config, &needles).await;
    }
}

#[tokio::test]
async fn broadcast_groups_are_accepted_without_sending() {
    // Only constructed: these tests never send a broadcast.
    for group in ["0.0.0.0", "255.255.255.255", "<broadcast>", ""] {
        let config = Config {
            mc_group: group.to_string(),
            ..loopback_config()
        };
        let discovery = MulticastDiscovery::new(&config).unwrap();
        assert_eq!(discovery.group().unwrap(), Group::Broadcast);
        let sender = discovery.open_sender().unwrap();
        assert_eq!(
            sender.target(),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, config.broadcast_port).into()
        );
        let receiver = discovery.open_receiver().unwrap();
        assert_eq!(receiver.group(), Group::Broadcast);
        assert_eq!(
            receiver.local_addr().unwrap(),
            (Ipv4Addr::UNSPECIFIED, config.broadcast_port).into()
        );
    }
}

#[tokio::test]
async fn invalid_interface_is_refused_naming_it() {
    // Not an address at all, and an address of no interface of this host
    // (TEST-NET-1): the system refuses the latter.
    for interface in ["eth0", "127.0.0.1.5", "192.0.2.1"] {
        let config = Config {
            multicast_interface: Some(interface.to_string()),
            ..loopback_config()
        };
        assert_refused(&config, &[interface, "multicast_interface"]).await;
    }
}

/// Both the sender and the receiver of `config` are refused as invalid
/// addresses, with errors saying each of `needles`.
async fn assert_refused(config: &Config, needles: &[&str]) {
    let discovery = MulticastDiscovery::new(config).unwrap();
    for error in [
        discovery.sender().await.unwrap_err(),
        discovery.receiver().await.unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::InvalidAddress, "{error}");
        let text = error.to_string();
        for needle in needles {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }
}

#[tokio::test]
async fn receiver_binds_the_wildcard_address_and_shares_the_port() {
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let first = discovery.open_receiver().unwrap();
    let second = discovery.open_receiver().unwrap();
    for receiver in [&first, &second] {
        assert_eq!(
            receiver.local_addr().unwrap(),
            (Ipv4Addr::UNSPECIFIED, config.broadcast_port).into()
        );
    }
}

#[test]
fn local_ips_include_loopback() {
    let ips = local_ips();
    assert_eq!(ips.first(), Some(&LOOPBACK));
    let mut unique = ips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ips.len(), "duplicates in {ips:?}");
}

// ---------------------------------------------------------------------------
// IPv6 groups, on loopback only: interface-local groups (ff01::), hop limit
// 0, the interface of ::1. Where Linux's lo carries no IPv6 multicast, the
// round trips run in a network namespace of their own, or say why not
// (posttroll_testkit::ipv6).
// ---------------------------------------------------------------------------

const LOOPBACK_V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// The index of the interface holding `::1`.
fn loopback_index() -> u32 {
    if_addrs::get_if_addrs()
        .unwrap()
        .into_iter()
        .find(|i| i.ip() == LOOPBACK_V6)
        .and_then(|i| i.index)
        .unwrap()
}

#[test]
fn ipv6_groups_are_multicast_groups() {
    for (group, ip) in [
        ("ff02::5eed:1", "ff02::5eed:1"),
        (" ff05::1:3 ", "ff05::1:3"),
        ("[ff01::7]", "ff01::7"),
    ] {
        let ip: Ipv6Addr = ip.parse().unwrap();
        assert_eq!(Group::parse(group).unwrap(), Group::MulticastV6(ip));
        assert_eq!(Group::MulticastV6(ip).destination(), IpAddr::V6(ip));
    }
    for group in ["::1", "fe80::1", "2001:db8::1", "::", "ff02::1%lo"] {
        let text = Group::parse(group).unwrap_err().to_string();
        assert!(
            text.contains(&format!("invalid multicast group {group}")),
            "{text}"
        );
        assert!(text.contains("ff00::/8"), "{text}");
    }
}

#[tokio::test]
async fn ipv6_interface_is_a_name_an_index_or_an_address() {
    let lo = loopback_index();
    let name = if_addrs::get_if_addrs()
        .unwrap()
        .into_iter()
        .find(|i| i.ip() == LOOPBACK_V6)
        .unwrap()
        .name;
    let index = lo.to_string();
    for interface in [name.as_str(), index.as_str(), "::1", "[::1]", "127.0.0.1"] {
        let config = Config {
            multicast_interface: Some(interface.to_owned()),
            ..loopback_multicast_v6(Config::default())
        };
        let discovery = MulticastDiscovery::new(&config).unwrap();
        assert_eq!(discovery.interface_index().unwrap(), lo, "{interface}");
    }
    let unset = Config {
        multicast_interface: None,
        ..loopback_multicast_v6(Config::default())
    };
    assert_eq!(
        MulticastDiscovery::new(&unset)
            .unwrap()
            .interface_index()
            .unwrap(),
        0
    );
    // No such interface, and an address of no interface (TEST-NET-1).
    for interface in ["no-such-if0", "192.0.2.1", "2001:db8::7"] {
        let config = Config {
            multicast_interface: Some(interface.to_owned()),
            ..loopback_multicast_v6(Config::default())
        };
        assert_refused(&config, &[interface, "multicast_interface"]).await;
    }
}

#[tokio::test]
async fn ipv6_receivers_bind_the_ipv6_wildcard_beside_ipv4_ones() {
    let v6 = loopback_multicast_v6(Config::default());
    let v4 = Config {
        broadcast_port: v6.broadcast_port,
        ..loopback_config()
    };
    let v6_receiver = MulticastDiscovery::new(&v6)
        .unwrap()
        .open_receiver()
        .unwrap();
    let v4_receiver = MulticastDiscovery::new(&v4)
        .unwrap()
        .open_receiver()
        .unwrap();
    assert_eq!(
        v6_receiver.local_addr().unwrap(),
        (Ipv6Addr::UNSPECIFIED, v6.broadcast_port).into()
    );
    assert_eq!(
        v4_receiver.local_addr().unwrap(),
        (Ipv4Addr::UNSPECIFIED, v6.broadcast_port).into()
    );
    let group: Ipv6Addr = v6.mc_group.parse().unwrap();
    assert_eq!(v6_receiver.group(), Group::MulticastV6(group));
}

#[tokio::test]
async fn ipv6_round_trip_on_loopback_comes_from_ipv6_loopback() {
    if !ipv6_multicast_here_or_rerun("ipv6_round_trip_on_loopback_comes_from_ipv6_loopback") {
        return;
    }
    let config = loopback_multicast_v6(Config::default());
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut first = discovery.receiver().await.unwrap();
    let mut second = discovery.receiver().await.unwrap();
    let sender = discovery.open_sender().unwrap();
    let group: Ipv6Addr = config.mc_group.parse().unwrap();
    assert_eq!(
        sender.target(),
        SocketAddrV6::new(group, config.broadcast_port, 0, loopback_index()).into()
    );
    each_gets_both(&sender, [&mut first, &mut second], LOOPBACK_V6).await;
}

// ---------------------------------------------------------------------------
// Interop with the Python reference (posttroll.bbmcast).
// ---------------------------------------------------------------------------

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcast_peer.py")
}

/// The Python peer with a loopback-only environment for `config`.
fn python_command(python: &Path, config: &Config, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command
        .arg(script())
        .args(args)
        .env("PYTROLL_MC_TTL", "0")
        .env("POSTTROLL_MULTICAST_INTERFACE", "127.0.0.1")
        .env("POSTTROLL_MC_GROUP", &config.mc_group)
        .env(
            "POSTTROLL_BROADCAST_PORT",
            config.broadcast_port.to_string(),
        )
        .env_remove("PYTROLL_MC_GROUP")
        .env_remove("POSTTROLL_CONFIG")
        .env("PYTHONWARNINGS", "ignore")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The interpreter to use, or why there is none.
fn find_python() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("PTRS_PYTHON") {
        Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")],
    };
    let mut reasons = Vec::new();
    for python in &candidates {
        if !python.exists() {
            reasons.push(format!("{}: does not exist", python.display()));
            continue;
        }
        let output = std::process::Command::new(python)
            .arg(script())
            .arg("check")
            .env("PYTROLL_MC_TTL", "0")
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(out) if out.status.success() => return Ok(python.clone()),
            Ok(out) => reasons.push(format!(
                "{}: cannot import posttroll.bbmcast ({}): {}",
                python.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Err(e) => reasons.push(format!("{}: cannot run: {e}", python.display())),
        }
    }
    Err(reasons.join("\n  "))
}

/// The interpreter, or `None` after a loud skip message; panics under CI.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(p) => Some(p),
        Err(why) => {
            let msg = format!(
                "no Python with posttroll 1.16 for the multicast interop tests (set \
                 PTRS_PYTHON, or run scripts/setup-python.sh):\n  {why}"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("\n{}\nSKIPPED: {msg}\n{}\n", "!".repeat(72), "!".repeat(72));
            None
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A real announcement, with non-ASCII text (Python sends `str.encode()`).
fn announcement() -> Vec<u8> {
    "pytroll://address/rs-test info user@host 2026-01-01T00:00:00.000000 v1.01 \
     application/json {\"URI\": \"tcp://127.0.0.1:40000\", \"service\": [\"rs-test\", \
     \"ünïcødé\"], \"supported_message_version\": \"v1.2\", \"backend\": \"unsecure_zmq\"}"
        .as_bytes()
        .to_vec()
}

#[tokio::test]
async fn python_sends_rust_receives_the_same_bytes() {
    let Some(python) = python() else { return };
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let mut receiver = discovery.receiver().await.unwrap();

    let payload = announcement();
    let child = python_command(python, &config, &["send", &hex(&payload), "5"])
        .spawn()
        .unwrap();
    let received = timeout(PYTHON_WAIT, receiver.recv()).await;
    let output = timeout(PYTHON_WAIT, child.wait_with_output())
        .await
        .expect("the Python sender hung")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Python sender failed: {stderr}");
    let (datagram, from) = received
        .unwrap_or_else(|_| panic!("nothing from the Python sender; its stderr: {stderr}"))
        .unwrap();
    assert_eq!(datagram, payload);
    assert_eq!(from, Some(LOOPBACK));
}

/// Starts the Python receiver, sends `payload` from Rust until it answers,
/// and returns what it got: (hex of the bytes, sender IP).
async fn rust_to_python(payload: Vec<u8>) -> Option<(String, String)> {
    let python = python()?;
    let config = loopback_config();
    let discovery = MulticastDiscovery::new(&config).unwrap();
    let sender = discovery.sender().await.unwrap();

    let mut child = python_command(python, &config, &["recv", "20"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = timeout(PYTHON_WAIT, lines.next_line())
        .await
        .expect("the Python receiver did not start")
        .unwrap();
    let Some(ready) = ready else {
        let output = child.wait_with_output().await.unwrap();
        panic!(
            "the Python receiver exited: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert_eq!(ready, format!("READY {}", config.mc_group));

    // It joined the group before saying READY; resend in case one is lost.
    let answer = timeout(PYTHON_WAIT, async {
        let mut next = Box::pin(lines.next_line());
        loop {
            sender.send(Bytes::from(payload.clone())).await.unwrap();
            tokio::select! {
                line = &mut next => break line,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .expect("the Python receiver got nothing")
    .unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Python receiver failed: {stderr}");
    let answer = answer.unwrap_or_else(|| panic!("no answer from Python: {stderr}"));
    Some(parse_answer(&answer))
}

/// Reads `{"hex": "...", "ip": "..."}` (what the peer prints).
fn parse_answer(line: &str) -> (String, String) {
    let field = |name: &str| {
        let key = format!("\"{name}\": \"");
        let start = line.find(&key).unwrap_or_else(|| panic!("{line}")) + key.len();
        let end = line[start..].find('"').unwrap_or_else(|| panic!("{line}")) + start;
        line[start..end].to_string()
    };
    (field("hex"), field("ip"))
}

#[tokio::test]
async fn rust_sends_python_receives_the_same_bytes() {
    let payload = announcement();
    let Some((got, ip)) = rust_to_python(payload.clone()).await else {
        return;
    };
    assert_eq!(got, hex(&payload));
    assert_eq!(ip, "127.0.0.1");
}

#[tokio::test]
async fn python_receiver_cuts_rust_datagrams_at_1024_bytes_too() {
    let payload: Vec<u8> = (0..1500u32).map(|i| b'a' + (i % 26) as u8).collect();
    let Some((got, _)) = rust_to_python(payload.clone()).await else {
        return;
    };
    assert_eq!(got, hex(&payload[..MAX_DATAGRAM]));
}

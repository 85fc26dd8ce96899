//! The binaries with the Python reference (posttroll 1.16.0): the Rust
//! `nameserver` serves Python publishers and Python lookups; `posttroll`
//! finds and receives a Python publisher, and is found by Python.
//!
//! Skipped (loudly) without a Python that has the reference, except under
//! CI; see `posttroll_testkit::python::require`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{stderr, stdout, Guard, Net, POSTTROLL};
use posttroll::{Config, Message};
use posttroll_testkit::python::{self, config_env, patch_own_ip_snippet, PythonProcess};

/// A Python NoisyPublisher "pysvc" announcing to the Rust nameserver and
/// sending `/py` messages, which also looks "rssvc" up there and prints
/// `found <URI>` once it has it.
const PEER: &str = r#"
import time
from posttroll.message import Message
from posttroll.ns import get_pub_address
from posttroll.publisher import NoisyPublisher

pub = NoisyPublisher("pysvc", aliases=["pyalias"], nameservers=["127.0.0.1"], broadcast_interval=1)
pub.start()
print("started", flush=True)
found = None
deadline = time.time() + 30
try:
    while time.time() < deadline:
        pub.send(str(Message("/py", "info", {"n": 7})))
        if found is None:
            addresses = get_pub_address("rssvc", timeout=1, nameserver="127.0.0.1")
            if addresses:
                found = addresses[0]
                print("found", found["URI"], ",".join(found["service"]), flush=True)
        time.sleep(0.05)
finally:
    pub.stop()
"#;

#[test]
fn the_binaries_work_with_python_publishers_and_lookups() {
    let Some(_) = python::require() else { return };
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let config = Config {
        nameserver_port: net.nameserver_port,
        broadcast_port: net.broadcast_port,
        address_publish_port: net.address_publish_port,
        ..Config::default()
    };
    let script = format!("{}\n{PEER}", patch_own_ip_snippet());
    let peer = PythonProcess::spawn(&script, &[], &config_env(&config)).unwrap();
    assert!(
        peer.wait_for_line(|l| l == "started", Duration::from_secs(30))
            .is_some(),
        "{}",
        peer.describe()
    );

    // The Python publisher, announced to the Rust nameserver, is found by
    // its alias ...
    let found = net.lookup_until("pyalias", Duration::from_secs(10), |l| !l.is_empty());
    assert_eq!(found[0]["service"], serde_json::json!(["pysvc", "pyalias"]));
    assert!(found[0]["URI"]
        .as_str()
        .unwrap()
        .starts_with("tcp://127.0.0.1:"));
    // ... and heard through it.
    let output = net.posttroll(&[
        "subscribe",
        "pysvc",
        "--nameserver",
        "127.0.0.1",
        "--count",
        "1",
        "--timeout",
        "10",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let msg = Message::decode(stdout(&output).trim_end()).unwrap();
    assert_eq!(msg.subject(), "/py");
    assert_eq!(msg.data.get("n").and_then(|v| v.as_i64()), Some(7));

    // A Rust publisher announced to the Rust nameserver is found by the
    // Python client.
    let _publisher = Guard(
        net.command(POSTTROLL)
            .args(["publish", "rssvc", "--alias", "rsalias"])
            .args(["--nameserver", "127.0.0.1", "-s", "/rs", "-n", "0"])
            .spawn()
            .unwrap(),
    );
    let line = peer
        .wait_for_line(|l| l.starts_with("found "), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("Python never found rssvc: {}", peer.describe()));
    let parts: Vec<&str> = line.split(' ').collect();
    assert!(parts[1].starts_with("tcp://127.0.0.1:"), "{line}");
    assert_eq!(parts[2], "rssvc,rsalias");
}

/// The reference's `PytrollHandler` (with its `PytrollFormatter`) logs from
/// Python; `posttroll logger` prints its records. The handler's publisher
/// announces to the Rust nameserver (the test swaps `NoisyPublisher` in
/// the reference's logger module for one with `nameservers`, as the
/// handler itself only multicasts).
const PY_LOGGING: &str = r#"
import functools, logging, time
import posttroll.logger as pl
from posttroll.publisher import NoisyPublisher
pl.NoisyPublisher = functools.partial(NoisyPublisher, nameservers=["127.0.0.1"], broadcast_interval=1)
handler = pl.PytrollHandler("pyapp")
handler.setFormatter(pl.PytrollFormatter(None, None))
log = logging.getLogger("pyapp.io")
log.addHandler(handler)
log.setLevel(logging.INFO)
print("started", flush=True)
deadline = time.time() + 30
try:
    while time.time() < deadline:
        log.warning("disk almost full")
        time.sleep(0.1)
finally:
    handler.close()
"#;

#[test]
fn posttroll_logger_prints_the_records_of_the_reference_handler() {
    let Some(_) = python::require() else { return };
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let mut logger = Guard(
        net.command(POSTTROLL)
            .args(["logger", "-s", "127.0.0.1", "-p"])
            .arg(net.address_publish_port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = stderr_lines(&mut logger);
    let config = Config {
        nameserver_port: net.nameserver_port,
        broadcast_port: net.broadcast_port,
        address_publish_port: net.address_publish_port,
        ..Config::default()
    };
    let script = format!("{}\n{PY_LOGGING}", patch_own_ip_snippet());
    let peer = PythonProcess::spawn(&script, &[], &config_env(&config)).unwrap();
    let line = lines
        .find(|l| l.contains("log/WARNING/pyapp.io"))
        .unwrap_or_else(|| panic!("posttroll logger printed nothing\n{}", peer.describe()));
    assert!(line.contains(" WARNING "), "{line}");
    assert!(line.contains("disk almost full"), "{line}");
    peer.kill();
}

/// A Rust program logs through `posttroll::log_publisher`; the reference's
/// `Logger` (what `pytroll-logger` runs) prints its records.
const PY_LOGGER: &str = r#"
import logging, sys, time
import posttroll.logger as pl
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
pl.LOGGER.addHandler(handler)
pl.LOGGER.setLevel(logging.DEBUG)
logger = pl.Logger()
logger.start()
print("started", flush=True)
time.sleep(30)
logger.stop()
"#;

#[test]
fn the_reference_logger_prints_the_records_of_the_log_publisher() {
    let Some(_) = python::require() else { return };
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let config = net.config();
    let peer = PythonProcess::spawn(PY_LOGGER, &[], &config_env(&config)).unwrap();
    assert!(
        peer.wait_for_line(|l| l == "started", Duration::from_secs(30))
            .is_some(),
        "{}",
        peer.describe()
    );
    let seen = common::log_until(
        config,
        Duration::from_secs(20),
        || tracing::error!(target: "rustapp::io", file = "a.nc", "cannot read"),
        || {
            peer.read_line(Duration::from_millis(100))
                .filter(|line| line.contains("log/ERROR/rustapp.io"))
        },
        &format!(
            "the reference's Logger printed nothing of ours\n{}",
            peer.describe()
        ),
    );
    // The reference logs it at the record's level: `log.error` -> error.
    assert!(seen.starts_with("ERROR log/ERROR/rustapp.io "), "{seen}");
    assert!(seen.contains("cannot read file=\"a.nc\""), "{seen}");
    peer.kill();
}

/// The lines of the child's stderr within 20 s, as they come.
fn stderr_lines(guard: &mut Guard) -> impl Iterator<Item = String> {
    let rx = guard.stderr_lines();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    std::iter::from_fn(move || {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        rx.recv_timeout(left).ok()
    })
}

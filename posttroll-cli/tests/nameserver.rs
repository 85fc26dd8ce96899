//! The `nameserver` binary: signals, the daemon mode, `--max-age`, errors,
//! `--help`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{stderr, stdout, temp_dir, Guard, Net, NAMESERVER};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use posttroll_cli::daemon::{is_running, PidFile};

fn signal_stops_within_1s(signal: Signal) {
    let net = Net::new();
    let mut ns = net.nameserver(&[]);
    let pid = Pid::from_raw(i32::try_from(ns.0.id()).unwrap());
    let sent = Instant::now();
    kill(pid, signal).unwrap();
    let status = ns.wait_timeout(Duration::from_secs(1));
    let elapsed = sent.elapsed();
    let status = status.unwrap_or_else(|| panic!("still running 1 s after {signal}"));
    assert!(status.success(), "{signal}: {status}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(ns.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("Thanks for using pytroll/nameserver"),
        "{out:?}"
    );
    // The ports are free again.
    std::net::TcpListener::bind(("0.0.0.0", net.nameserver_port)).unwrap();
}

#[test]
fn sigterm_stops_it_cleanly_within_1s() {
    signal_stops_within_1s(Signal::SIGTERM);
}

#[test]
fn sigint_stops_it_cleanly_within_1s() {
    signal_stops_within_1s(Signal::SIGINT);
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let net = Net::new();
    let _taken = std::net::TcpListener::bind(("0.0.0.0", net.nameserver_port)).unwrap();
    let output = net
        .command(NAMESERVER)
        .arg("--no-multicast")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&net.nameserver_port.to_string()) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn bad_max_age_is_a_usage_error() {
    let output = Net::new()
        .command(NAMESERVER)
        .args(["--max-age", "soon"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("'soon' is not a number of seconds"));
    let output = Net::new()
        .command(NAMESERVER)
        .args(["--max-age", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("more than 0"));
}

/// Stops the daemon of a pid file when dropped, so a failing test leaves
/// no daemon behind.
struct DaemonGuard(PidFile);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Ok(Some(pid)) = self.0.read() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[test]
fn daemon_start_status_stop() {
    let net = Net::new();
    let dir = temp_dir("daemon");
    let pid_path = dir.join("ns.pid");
    let log_path = dir.join("ns.log");
    let pid_arg = pid_path.to_str().unwrap();
    let daemon = |action: &str| {
        net.command(NAMESERVER)
            .args(["--no-multicast", "-d", action, "--pid-file", pid_arg])
            .args(["-l", log_path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let guard = DaemonGuard(PidFile::new(&pid_path, "nameserver"));

    let status = daemon("status");
    assert_eq!(status.status.code(), Some(3), "{}", stdout(&status));
    assert!(stdout(&status).contains("not running"));

    let started = daemon("start");
    assert!(started.status.success(), "{}", stderr(&started));
    assert!(stdout(&started).contains("started"), "{}", stdout(&started));
    let pid = guard.0.read().unwrap().expect("a pid file");
    assert!(is_running(pid, "nameserver"));

    // It serves.
    assert!(!net.lookup("").is_empty());
    let status = daemon("status");
    assert_eq!(status.status.code(), Some(0));
    assert!(stdout(&status).contains(&format!("running (pid {pid})")));

    // The current log is FILE itself (tail -f works); SIGHUP reopens it
    // after it was moved away, as logrotate does.
    let log_file = dir.join("ns.log");
    assert!(std::fs::read_to_string(&log_file)
        .unwrap()
        .contains("nameserver listening"));
    let moved = dir.join("ns.log.moved");
    std::fs::rename(&log_file, &moved).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log_file).is_ok_and(|l| l.contains("log file reopened")) {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reopen the log"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(is_running(pid, "nameserver"), "SIGHUP must not stop it");

    // Starting it again does nothing.
    let again = daemon("start");
    assert!(again.status.success());
    assert!(stdout(&again).contains("already running"));
    assert_eq!(guard.0.read().unwrap(), Some(pid));

    let stopped = daemon("stop");
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    assert!(!is_running(pid, "nameserver"));
    assert_eq!(guard.0.read().unwrap(), None, "the pid file is removed");
    assert_eq!(daemon("status").status.code(), Some(3));
    // Stopping a stopped daemon is fine.
    assert!(daemon("stop").status.success());

    // It logged to the moved file, then to the reopened one.
    let before = std::fs::read_to_string(&moved).unwrap();
    assert!(before.contains("nameserver listening"), "{before}");
    let after = std::fs::read_to_string(&log_file).unwrap();
    assert!(after.contains("SIGTERM received"), "{after}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn daemon_status_of_a_stale_pid_file() {
    let net = Net::new();
    let dir = temp_dir("stale");
    let pid_path = dir.join("ns.pid");
    // A process that has ended.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    std::fs::write(&pid_path, format!("{}\n", gone.id())).unwrap();
    let daemon = |action: &str| {
        net.command(NAMESERVER)
            .args(["-d", action, "--pid-file", pid_path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let status = daemon("status");
    assert_eq!(status.status.code(), Some(1), "{}", stdout(&status));
    // `stop` cleans it up.
    assert!(daemon("stop").status.success());
    assert!(!pid_path.exists());
    assert_eq!(daemon("status").status.code(), Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn daemon_start_failure_is_reported() {
    let net = Net::new();
    let dir = temp_dir("fail");
    let pid_path = dir.join("ns.pid");
    let _taken = std::net::TcpListener::bind(("0.0.0.0", net.nameserver_port)).unwrap();
    let output = net
        .command(NAMESERVER)
        .args(["--no-multicast", "-d", "start", "--pid-file"])
        .arg(&pid_path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("in use"), "{}", stderr(&output));
    assert!(!pid_path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn max_age_expires_silent_publishers() {
    let net = Net::new();
    let _ns = net.nameserver(&["--max-age", "1"]);
    // Address events, printed as they come.
    let mut events = Guard(
        net.command(common::POSTTROLL)
            .args(["subscribe", "--topic", "/address", "--timeout", "20"])
            .arg("--address")
            .arg(format!("tcp://127.0.0.1:{}", net.address_publish_port))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = events.stdout_lines();
    // Announced once (the next announcement would be in 60 s), then alive
    // and silent.
    let mut publisher = net.silent_publisher("expiring");
    let found = net.lookup_until("expiring", Duration::from_secs(10), |l| !l.is_empty());
    let uri = found[0]["URI"].as_str().unwrap().to_owned();
    let seen = Instant::now();
    net.lookup_until("expiring", Duration::from_secs(10), <[_]>::is_empty);
    assert!(
        seen.elapsed() < Duration::from_secs(5),
        "expired after {:?}",
        seen.elapsed()
    );
    assert!(
        publisher.0.try_wait().unwrap().is_none(),
        "the publisher still runs: its address expired"
    );
    // The address listener's feed tells the removal.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("no removal event on the address feed");
        let msg = posttroll::Message::decode(&line).unwrap();
        let data = msg.data.as_json().unwrap();
        if data["URI"].as_str() == Some(uri.as_str()) && data["status"].as_bool() == Some(false) {
            break;
        }
    }
}

#[test]
fn help_lists_every_flag() {
    let output = std::process::Command::new(NAMESERVER)
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    for flag in [
        "-l, --log <FILE>",
        "-v, --verbose",
        "--no-multicast",
        "-L, --local-only",
        "-d, --daemon <ACTION>",
        "--pid-file <PATH>",
        "--max-age <SECONDS>",
        "--log-format <FORMAT>",
        "-c, --config <FILE>",
        "--metrics-address <HOST:PORT>",
        "POSTTROLL_NAMESERVER_PORT",
        "start",
        "status",
        "restart",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(!help.contains("daemon-child"));
}

#[test]
fn json_log_lines_at_the_level_rust_log_asks_for() {
    let net = Net::new();
    let mut ns = Guard(
        net.command(NAMESERVER)
            .args(["--no-multicast", "--log-format", "json"])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    net.wait_until_serving(&mut ns);
    let pid = Pid::from_raw(i32::try_from(ns.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    assert!(ns.wait_timeout(Duration::from_secs(5)).is_some());
    let mut err = String::new();
    std::io::Read::read_to_string(ns.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "{err}");
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["fields"].is_object()));
    // RUST_LOG=debug wins over the default level (info).
    assert!(lines.iter().any(|l| l["level"] == "DEBUG"), "{err}");
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGTERM"))),
        "{err}"
    );
}

/// systemd's side of `Type=notify`, played by a unix datagram socket the
/// test binds: the nameserver says READY=1 once it serves, pings the
/// watchdog every half WATCHDOG_USEC, and says STOPPING=1 on SIGTERM.
#[test]
fn systemd_readiness_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let net = Net::new();
    let dir = temp_dir("notify");
    let socket_path = dir.join("notify.sock");
    let systemd = UnixDatagram::bind(&socket_path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut ns = Guard(
        net.command(NAMESERVER)
            .arg("--no-multicast")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "200000")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let next = || {
        let mut buf = [0u8; 512];
        let n = systemd.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    // Ready means serving: a lookup is answered at once.
    assert!(!net.lookup("").is_empty());
    let started = Instant::now();
    let pings = (0..3).map(|_| next()).collect::<Vec<_>>();
    assert!(pings.iter().all(|p| p == "WATCHDOG=1\n"), "{pings:?}");
    // Three pings at 0.1 s (half of 0.2 s), the first at once.
    assert!(started.elapsed() < Duration::from_secs(2));
    let pid = Pid::from_raw(i32::try_from(ns.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let stopping = loop {
        let note = next();
        if note != "WATCHDOG=1\n" {
            break note;
        }
    };
    assert_eq!(stopping, "STOPPING=1\n");
    assert!(ns
        .wait_timeout(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    std::fs::remove_dir_all(&dir).unwrap();
}

//! The `posttroll` binary: publish, subscribe, lookup.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::{stderr, stdout, Guard, Net, POSTTROLL};
use posttroll::Message;

#[test]
fn an_announced_publisher_is_found_and_received_through_the_nameserver() {
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let _publisher = Guard(
        net.command(POSTTROLL)
            .args([
                "publish", "counter", "--alias", "numbers", "--alias", "ticks",
            ])
            .args(["--nameserver", "127.0.0.1", "--subject", "/counter"])
            .args([
                "--data",
                r#"{"n": 1}"#,
                "--count",
                "0",
                "--interval",
                "0.05",
            ])
            .spawn()
            .unwrap(),
    );
    let found = net.lookup_until("ticks", Duration::from_secs(10), |l| !l.is_empty());
    assert_eq!(found.len(), 1, "{found:?}");
    let address = &found[0];
    assert!(
        address["URI"]
            .as_str()
            .unwrap()
            .starts_with("tcp://127.0.0.1:"),
        "{address}"
    );
    assert_eq!(
        address["service"],
        serde_json::json!(["counter", "numbers", "ticks"])
    );
    assert_eq!(address["status"], serde_json::json!(true));
    assert!(net.lookup("nobody").is_empty());
    // Every publisher: the one above and the nameserver's own.
    assert!(net.lookup("").len() >= 2);

    // Subscribing by service, through the nameserver.
    let output = net.posttroll(&[
        "subscribe",
        "numbers",
        "--nameserver",
        "127.0.0.1",
        "--count",
        "2",
        "--timeout",
        "10",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        let msg = Message::decode(line).unwrap();
        assert_eq!(msg.subject(), "/counter");
        assert_eq!(msg.msg_type(), "info");
        assert_eq!(msg.data.get("n").and_then(|v| v.as_i64()), Some(1));
    }
}

#[test]
fn the_address_listener_connects_to_publishers_that_appear_later() {
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    // Nothing offers "late" yet: the subscriber gives up asking after
    // 0.2 s and then follows the address events.
    let subscriber = net
        .command(POSTTROLL)
        .args([
            "subscribe",
            "late",
            "--addr-listener",
            "--nameserver",
            "127.0.0.1",
        ])
        .args(["--lookup-timeout", "0.2", "--count", "1", "--timeout", "15"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _publisher = Guard(
        net.command(POSTTROLL)
            .args([
                "publish",
                "late",
                "--nameserver",
                "127.0.0.1",
                "--delay",
                "0.5",
            ])
            .args(["-s", "/late", "-d", "hello there", "-n", "0", "-i", "0.05"])
            .spawn()
            .unwrap(),
    );
    let output = subscriber.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let msg = Message::decode(stdout(&output).trim_end()).unwrap();
    assert_eq!(msg.subject(), "/late");
    assert_eq!(msg.data.as_text(), Some("hello there"));
}

#[test]
fn subscribe_by_address_prints_the_raw_lines_of_publish_stdin() {
    let net = Net::new();
    let port = posttroll_testkit::free_tcp_port();
    let address = format!("tcp://127.0.0.1:{port}");
    let subscriber = net
        .command(POSTTROLL)
        .args(["subscribe", "--address", &address, "--topic", "/relay"])
        .args(["--count", "3", "--timeout", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lines exactly as another implementation may have written them
    // (a version, a Latin-1-free UTF-8 text, JSON with a datetime).
    let lines: Vec<String> = (0..100)
        .map(|i| match i % 3 {
            0 => format!("pytroll://relay/a info someone@host 2024-01-02T03:04:05.000006 v1.01 text/ascii line {i} é"),
            1 => format!("pytroll://relay/b file u@h 2024-01-02T03:04:05.123000 v1.2 application/json {{\"i\": {i}, \"t\": \"2024-01-02T03:04:05.000001+00:00\"}}"),
            _ => format!("pytroll://relay/c/{i} beat u@h 2024-01-02T03:04:05 v1.01"),
        })
        .collect();
    let mut publisher = Guard(
        net.command(POSTTROLL)
            .args([
                "publish",
                "--bind",
                &address,
                "--stdin",
                "--interval",
                "0.03",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = publisher.0.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\nnot a message\n", lines.join("\n")).as_bytes())
        .unwrap();
    drop(stdin);
    let output = subscriber.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = String::from_utf8(output.stdout).unwrap();
    let received: Vec<&str> = out.lines().collect();
    assert_eq!(received.len(), 3, "{out}");
    for line in &received {
        assert!(lines.iter().any(|l| l == line), "not sent as is: {line}");
    }
    // The line that is not a message is reported, and makes the exit
    // status 1 (all 100 lines were sent before it, 3 s at most).
    let status = publisher
        .wait_timeout(Duration::from_secs(20))
        .expect("the publisher ends at the end of its input");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(publisher.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("line 101") && err.contains("not a message"),
        "{err}"
    );
}

#[test]
fn a_publisher_waiting_for_its_subscriber_sends_once_and_it_arrives() {
    let net = Net::new();
    let port = posttroll_testkit::free_tcp_port();
    let address = format!("tcp://127.0.0.1:{port}");
    // The publisher starts first and sends one message, once, as soon as
    // one subscriber has subscribed.
    let mut publisher = Guard(
        net.command(POSTTROLL)
            .args(["publish", "--bind", &address, "--subject", "/once"])
            .args(["--data", "only", "--wait-subscribers", "1"])
            .args(["--wait-timeout", "20"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let output = net.posttroll(&[
        "-v",
        "subscribe",
        "--address",
        &address,
        "--count",
        "1",
        "--timeout",
        "20",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let msg = Message::decode(stdout(&output).trim_end()).unwrap();
    assert_eq!(msg.subject(), "/once");
    assert_eq!(msg.data.as_text(), Some("only"));
    // -v prints the connection events.
    assert!(
        stderr(&output).contains(&format!("posttroll: connected to {address}")),
        "{}",
        stderr(&output)
    );
    let status = publisher
        .wait_timeout(Duration::from_secs(20))
        .expect("the publisher ends after its message");
    assert!(status.success());

    // Nobody subscribes: a clear failure after --wait-timeout.
    let output = net.posttroll(&[
        "publish",
        "--bind",
        &address,
        "--subject",
        "/once",
        "--wait-subscribers",
        "1",
        "--wait-timeout",
        "0.2",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("waiting for subscribers"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unpaced_publish_and_subscribe_stats() {
    let net = Net::new();
    let port = posttroll_testkit::free_tcp_port();
    let address = format!("tcp://127.0.0.1:{port}");
    let subscriber = net
        .command(POSTTROLL)
        .args(["subscribe", "--address", &address, "--topic", "/fast"])
        .args(["--count", "20000", "--timeout", "4"])
        .args(["--stats", "--stats-interval", "0.05"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Unpaced (-i 0), once the subscriber is there; 20,000 messages at the
    // old pace of one timer tick each would take 18 s and more.
    let started = std::time::Instant::now();
    let output = net.posttroll(&[
        "publish",
        "--bind",
        &address,
        "--subject",
        "/fast",
        "-n",
        "20000",
        "-i",
        "0",
        "--wait-subscribers",
        "1",
    ]);
    let took = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        took < Duration::from_secs(4),
        "20,000 unpaced messages took {took:?}"
    );
    eprintln!("20,000 unpaced messages published in {took:?}");
    let output = subscriber.wait_with_output().unwrap();
    let err = stderr(&output);
    // A plain publisher may drop under a flood: the subscriber's timeout
    // then ends it; what came is counted.
    let received = String::from_utf8_lossy(&output.stdout).lines().count();
    assert!(received > 0, "{err}");
    assert!(err.contains("posttroll: stats: "), "{err}");
    assert!(
        err.contains(&format!("posttroll: stats: received {received} messages")),
        "{err}"
    );
}

#[test]
fn lookup_table_lists_services_addresses_and_ages() {
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let _publisher = Guard(
        net.command(POSTTROLL)
            .args(["publish", "tabled", "--alias", "rows"])
            .args(["--nameserver", "127.0.0.1", "--subject", "/t"])
            .args(["--count", "0", "--interval", "0.2"])
            .spawn()
            .unwrap(),
    );
    net.lookup_until("rows", Duration::from_secs(10), |l| !l.is_empty());
    let output = net.posttroll(&["lookup", "rows", "--nameserver", "127.0.0.1", "--table"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("SERVICES") && lines[0].contains("ADDRESS"),
        "{out}"
    );
    assert!(lines[1].starts_with("tabled,rows "), "{out}");
    assert!(lines[1].contains("tcp://127.0.0.1:"), "{out}");
    assert!(
        lines[1].contains(" s ") && lines[1].ends_with("up"),
        "{out}"
    );
}

#[test]
fn subscribe_times_out_with_status_1_when_count_is_not_reached() {
    let net = Net::new();
    let port = posttroll_testkit::free_tcp_port();
    let output = net.posttroll(&[
        "subscribe",
        "--address",
        &format!("tcp://127.0.0.1:{port}"),
        "--count",
        "1",
        "--timeout",
        "0.3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("timed out after 0 of 1 messages"));
    // Without --count the timeout is the planned end.
    let output = net.posttroll(&[
        "subscribe",
        "--address",
        &format!("tcp://127.0.0.1:{port}"),
        "--timeout",
        "0.3",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn lookup_without_a_nameserver_fails_clearly() {
    let net = Net::new();
    let output = net.posttroll(&[
        "lookup",
        "x",
        "--nameserver",
        "127.0.0.1",
        "--timeout",
        "0.3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("lookup of \"x\" failed"), "{err}");
    assert!(err.contains(&net.nameserver_port.to_string()), "{err}");
}

#[test]
fn bad_publish_arguments_are_clear_errors() {
    let net = Net::new();
    // Neither --subject nor --stdin.
    let output = net.posttroll(&["publish", "name"]);
    assert_eq!(output.status.code(), Some(2));
    // A subject with a space.
    let output = net.posttroll(&["publish", "--port", "0", "--subject", "/a b"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("bad message"),
        "{}",
        stderr(&output)
    );
    // JSON-looking data that is not JSON.
    let output = net.posttroll(&["publish", "-p", "0", "-s", "/a", "-d", "{oops"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--data looks like JSON"));
    // An alias without a name to announce.
    let output = net.posttroll(&["publish", "-s", "/a", "--alias", "x"]);
    assert_eq!(output.status.code(), Some(2));
    // A bad config value.
    let output = net
        .command(POSTTROLL)
        .args(["lookup"])
        .env("POSTTROLL_NAMESERVER_PORT", "high")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("POSTTROLL_NAMESERVER_PORT"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_documents_every_flag() {
    let help = |args: &[&str]| {
        let output = std::process::Command::new(POSTTROLL)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success());
        stdout(&output)
    };
    let main = help(&["--help"]);
    for item in [
        "publish",
        "subscribe",
        "lookup",
        "logger",
        "--config <FILE>",
        "--verbose",
    ] {
        assert!(main.contains(item), "{item} missing from:\n{main}");
    }
    let publish = help(&["publish", "--help"]);
    for item in [
        "[NAME]",
        "--alias <ALIAS>",
        "--nameserver <HOST>",
        "--broadcast-interval <SECONDS>",
        "--port <PORT>",
        "--bind <ADDRESS>",
        "--subject <SUBJECT>",
        "--type <TYPE>",
        "--data <DATA>",
        "--stdin",
        "--count <N>",
        "--interval <SECONDS>",
        "--delay <SECONDS>",
        "--wait-subscribers <N>",
        "--wait-timeout <SECONDS>",
    ] {
        assert!(publish.contains(item), "{item} missing from:\n{publish}");
    }
    let subscribe = help(&["subscribe", "--help"]);
    for item in [
        "[SERVICE]...",
        "--address <URI>",
        "--topic <TOPIC>",
        "--addr-listener",
        "--nameserver <HOST>",
        "--lookup-timeout <SECONDS>",
        "--count <N>",
        "--timeout <SECONDS>",
        "--translate",
        "--heartbeat-alarm-scale <SCALE>",
        "--reconnect-when-silent",
        "--stats",
    ] {
        assert!(
            subscribe.contains(item),
            "{item} missing from:\n{subscribe}"
        );
    }
    let lookup = help(&["lookup", "--help"]);
    for item in [
        "[SERVICE]",
        "--nameserver <HOST>",
        "--timeout <SECONDS>",
        "--wait",
        "--table",
    ] {
        assert!(lookup.contains(item), "{item} missing from:\n{lookup}");
    }
}

/// A Rust program logs through `posttroll::log_publisher`, announced to the
/// nameserver; `posttroll logger` finds it through the nameserver's address
/// events and prints its records as the reference's `pytroll-logger` does.
#[test]
fn logger_prints_what_a_program_logs_through_the_log_publisher() {
    let net = Net::new();
    let _ns = net.nameserver(&[]);
    let mut logger = Guard(
        net.command(POSTTROLL)
            .args(["logger", "-s", "127.0.0.1", "-p"])
            .arg(net.address_publish_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = logger.stderr_lines();
    let seen = common::log_until(
        net.config(),
        Duration::from_secs(15),
        || {
            tracing::warn!(target: "rustapp::io", file = "a.nc", "disk almost full");
            tracing::debug!(target: "rustapp::io", "not shown without -v");
        },
        || {
            let found = lines
                .try_iter()
                .find(|l| l.contains("log/WARNING/rustapp.io"));
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            found
        },
        "posttroll logger printed nothing of the program's log",
    );
    assert!(seen.starts_with('['), "{seen}");
    assert!(seen.contains(" WARNING "), "{seen}");
    assert!(seen.contains("disk almost full file=\"a.nc\""), "{seen}");
    assert!(lines.try_iter().all(|l| !l.contains("not shown")));
}

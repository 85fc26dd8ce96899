//! The examples run end to end on the in-process backend (the
//! listener-container example's logic called directly on an isolated
//! network, and the built example binaries run as child processes with
//! `POSTTROLL_BACKEND=inproc`), and as child processes on the real engine
//! (`unsecure_zmq` on the engine of the test run, `POSTTROLL_ENGINE`), over
//! loopback with free ports and loopback multicast.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use posttroll::{Config, Context};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_testkit::python::config_env;
use posttroll_testkit::{
    blocking, engine_from_env, free_tcp_ports, loopback_multicast, FixtureBackend, FixtureOptions,
};

#[allow(dead_code)] // its `main` and command-line parsing are not used here
#[path = "../posttroll/examples/listener_container.rs"]
mod listener_container;

fn isolated_context() -> Context {
    let config = Config {
        backend: "inproc".into(),
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    };
    Context::with_backend(config.clone(), InprocNetwork::new().backend(&config))
}

#[test]
fn listener_container_example_sends_and_receives_five_messages() {
    let options = listener_container::Options {
        wait: Duration::from_millis(100),
        with_nameserver: true,
        ..listener_container::Options::default()
    };
    assert_eq!(options.count, 5);
    let received = listener_container::run(Some(isolated_context()), &options).unwrap();
    let data: Vec<&str> = received
        .iter()
        .map(|m| {
            assert_eq!(m.subject(), "/counter");
            assert_eq!(m.msg_type(), "info");
            m.data.as_text().unwrap()
        })
        .collect();
    assert_eq!(data, ["0", "1", "2", "3", "4"]);
}

/// The built example, or `None` when it was not built: `cargo test -p
/// posttroll-tests` builds no examples of the facade, `cargo test -p
/// posttroll -p posttroll-tests` (or `--workspace`) does. Under `CI` a
/// missing example fails the test instead of skipping it.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let path = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.exists() {
        Some(path)
    } else {
        let msg = format!(
            "{} is not built (run `cargo build -p posttroll --examples`, or test with `-p posttroll`)",
            path.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        None
    }
}

/// Runs an example with a clean posttroll environment on the inproc
/// backend.
fn run_inproc(path: &PathBuf, args: &[&str]) -> Output {
    let mut command = Command::new(path);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("POSTTROLL_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .env("POSTTROLL_BACKEND", "inproc")
        .env("POSTTROLL_OWN_IP", "127.0.0.1")
        .output()
        .unwrap()
}

fn lines_starting(output: &Output, prefix: &str) -> usize {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

#[test]
fn listener_container_binary_receives_five_messages() {
    let Some(path) = example("listener_container") else {
        return;
    };
    let output = run_inproc(&path, &["--with-nameserver", "--wait-ms", "100"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        lines_starting(&output, "published pytroll://counter info "),
        5
    );
    assert_eq!(
        lines_starting(&output, "received pytroll://counter info "),
        5,
        "{output:?}"
    );
}

#[test]
fn counter_publisher_binary_publishes_count_messages() {
    let Some(path) = example("counter_publisher") else {
        return;
    };
    let output = run_inproc(
        &path,
        &["--count", "3", "--interval-ms", "10", "--port", "0"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        lines_starting(&output, "publishing pytroll://counter info "),
        3
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().last().unwrap().ends_with("text/ascii 3"),
        "{stdout}"
    );
}

#[test]
fn subscriber_binary_reports_a_missing_nameserver() {
    let Some(path) = example("subscriber") else {
        return;
    };
    let output = run_inproc(&path, &["--lookup-timeout-ms", "100", "--count", "1"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nameserver"),
        "{output:?}"
    );
    // Bad options are refused with the usage.
    let output = run_inproc(&path, &["--bogus"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A command for an example on the real engine, joining `config`'s network
/// (ports, loopback multicast) and nothing else.
fn zmq_command(path: &PathBuf, config: &Config, args: &[&str]) -> Command {
    let mut command = Command::new(path);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("POSTTROLL_") || key_text.starts_with("PYTROLL_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .envs(config_env(config))
        .env("POSTTROLL_BACKEND", "unsecure_zmq")
        .env("POSTTROLL_OWN_IP", "127.0.0.1");
    if let Some(engine) = engine_from_env() {
        command.env("POSTTROLL_ENGINE", engine);
    }
    command
}

fn zmq_config() -> Config {
    let ports = free_tcp_ports(2);
    loopback_multicast(Config {
        backend: "unsecure_zmq".into(),
        nameserver_port: ports[0],
        address_publish_port: ports[1],
        own_ip: Some("127.0.0.1".into()),
        ..Config::default()
    })
}

#[test]
fn listener_container_binary_receives_five_messages_over_zmq() {
    let Some(path) = example("listener_container") else {
        return;
    };
    let config = zmq_config();
    // Its own nameserver, announcements by loopback multicast; the wait is
    // the example's own (the seed's `time.sleep(3)`), shortened.
    let output = zmq_command(&path, &config, &["--with-nameserver", "--wait-ms", "1000"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        lines_starting(&output, "received pytroll://counter info "),
        5,
        "{output:?}"
    );
}

#[test]
fn counter_publisher_and_subscriber_binaries_meet_through_a_nameserver_over_zmq() {
    let (Some(publisher), Some(subscriber)) = (example("counter_publisher"), example("subscriber"))
    else {
        return;
    };
    let ns = blocking::NameServerFixture::start(FixtureOptions {
        multicast: false,
        backend: FixtureBackend::Configured(zmq_config()),
        ..FixtureOptions::default()
    })
    .unwrap();
    let config = ns.config().clone();
    // The seed's `nameservers=['localhost']` variant: announced to ours.
    let mut publisher = zmq_command(
        &publisher,
        &config,
        &[
            "--port",
            "0",
            "--interval-ms",
            "50",
            "--count",
            "400",
            "--nameserver",
            "127.0.0.1",
        ],
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let output = zmq_command(
        &subscriber,
        &config,
        &[
            "--count",
            "3",
            "--timeout-ms",
            "10000",
            "--nameserver",
            "127.0.0.1",
        ],
    )
    .output()
    .unwrap();
    let _ = publisher.kill();
    let _ = publisher.wait();
    ns.stop().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let received: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("pytroll://counter info "))
        .collect();
    assert_eq!(received.len(), 3, "{stdout}");
}

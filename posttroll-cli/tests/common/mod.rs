//! Running the real `nameserver` and `posttroll` binaries on free loopback
//! ports.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use posttroll_testkit::{engine_from_env, free_tcp_ports, unique_multicast_group};

pub const NAMESERVER: &str = env!("CARGO_BIN_EXE_nameserver");
pub const POSTTROLL: &str = env!("CARGO_BIN_EXE_posttroll");

/// A set of posttroll ports for one test, passed to every child through
/// `POSTTROLL_*` variables.
pub struct Net {
    pub nameserver_port: u16,
    pub broadcast_port: u16,
    pub address_publish_port: u16,
}

impl Net {
    pub fn new() -> Net {
        let ports = free_tcp_ports(3);
        Net {
            nameserver_port: ports[0],
            broadcast_port: ports[1],
            address_publish_port: ports[2],
        }
    }

    /// `program` with this test's configuration only: no config file of
    /// the machine or the user is read; multicast, if any, stays on
    /// loopback with a TTL of 0; publishers announce 127.0.0.1. The engine
    /// is the test run's: `POSTTROLL_ENGINE` (checked by the testkit) is
    /// passed on when set, else the binary's default.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        match engine_from_env() {
            Some(engine) => command.env("POSTTROLL_ENGINE", engine),
            None => command.env_remove("POSTTROLL_ENGINE"),
        };
        command
            .env_remove("POSTTROLL_CONFIG")
            .env_remove("NAMESERVER_PORT")
            .env_remove("PYTROLL_MC_GROUP")
            .env_remove("PYTROLL_MC_TTL")
            .env("HOME", "/nonexistent/posttroll-cli-tests")
            .env("POSTTROLL_ROOT_CONFIG", "/nonexistent/posttroll-cli-tests")
            .env("POSTTROLL_BACKEND", "unsecure_zmq")
            .env(
                "POSTTROLL_NAMESERVER_PORT",
                self.nameserver_port.to_string(),
            )
            .env("POSTTROLL_BROADCAST_PORT", self.broadcast_port.to_string())
            .env(
                "POSTTROLL_ADDRESS_PUBLISH_PORT",
                self.address_publish_port.to_string(),
            )
            .env("POSTTROLL_MC_GROUP", unique_multicast_group().to_string())
            .env("POSTTROLL_MULTICAST_INTERFACE", "127.0.0.1")
            .env("POSTTROLL_MC_TTL", "0")
            .env("POSTTROLL_OWN_IP", "127.0.0.1")
            .stdin(Stdio::null());
        command
    }

    /// `posttroll ARGS`, run to its end.
    pub fn posttroll(&self, args: &[&str]) -> Output {
        self.command(POSTTROLL).args(args).output().unwrap()
    }

    /// Starts `nameserver --no-multicast ARGS` (stdout and stderr piped) and
    /// waits until it answers lookups.
    pub fn nameserver(&self, args: &[&str]) -> Guard {
        let child = self
            .command(NAMESERVER)
            .arg("--no-multicast")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut guard = Guard(child);
        self.wait_until_serving(&mut guard);
        guard.assert_test_engine();
        guard
    }

    /// Waits until a lookup gets an answer (10 s at most).
    pub fn wait_until_serving(&self, guard: &mut Guard) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = guard.0.try_wait().unwrap() {
                let mut stderr = String::new();
                if let Some(mut pipe) = guard.0.stderr.take() {
                    pipe.read_to_string(&mut stderr).unwrap();
                }
                panic!("the nameserver ended ({status}): {stderr}");
            }
            let output =
                self.posttroll(&["lookup", "--timeout", "0.5", "--nameserver", "127.0.0.1"]);
            if output.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "the nameserver never answered");
        }
    }

    /// `posttroll lookup SERVICE` as parsed JSON (the list of addresses).
    pub fn lookup(&self, service: &str) -> Vec<serde_json::Value> {
        let output = self.posttroll(&[
            "lookup",
            service,
            "--nameserver",
            "127.0.0.1",
            "--timeout",
            "2",
        ]);
        assert!(
            output.status.success(),
            "lookup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout:?}");
        match serde_json::from_str(&stdout).unwrap() {
            serde_json::Value::Array(list) => list,
            other => panic!("lookup printed no list: {other}"),
        }
    }

    /// `posttroll publish SERVICE` announced once to the nameserver (the
    /// next announcement would be in 60 s), then alive and silent: its
    /// address expires after the nameserver's max age.
    pub fn silent_publisher(&self, service: &str) -> Guard {
        Guard(
            self.command(POSTTROLL)
                .args(["publish", service, "--nameserver", "127.0.0.1"])
                .args([
                    "--broadcast-interval",
                    "60",
                    "-s",
                    "/x",
                    "-n",
                    "0",
                    "-i",
                    "1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    /// Looks `service` up until `done(list)` holds (`timeout` at most).
    pub fn lookup_until(
        &self,
        service: &str,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        poll_until(
            &format!("lookup of {service:?}"),
            timeout,
            || self.lookup(service),
            |found| done(found),
        )
    }
}

/// Takes `sample()` until `done` holds for it, `timeout` at most (each
/// try is a real observation; 20 ms between tries); panics naming `what`
/// and the last sample.
pub fn poll_until<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut sample: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let last = sample();
        if done(&last) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never satisfied the condition; last: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed when dropped (a test that fails leaves nothing
/// running).
pub struct Guard(pub Child);

impl Guard {
    /// Checks that the child (serving by now) runs on the engine of the
    /// test run, when `POSTTROLL_ENGINE` names one: the binaries do not
    /// print their engine, but libzmq names its background threads
    /// `ZMQbg/...` (the reaper at least, from the first socket on), and the
    /// pure-Rust engine starts no such thread. Linux only (`/proc`).
    pub fn assert_test_engine(&self) {
        let Some(expected) = engine_from_env() else {
            return;
        };
        if !cfg!(target_os = "linux") {
            return;
        }
        let threads = thread_names(self.0.id());
        let libzmq = threads.iter().any(|name| name.starts_with("ZMQbg"));
        let actual = if libzmq { "libzmq" } else { "purerust" };
        assert_eq!(
            actual, expected,
            "the child runs on {actual} (its threads: {threads:?}), but POSTTROLL_ENGINE \
             asks for {expected}"
        );
    }

    /// Waits for the end, `timeout` at most; `None` when still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The lines of the child's stdout, as they come, on a channel.
    pub fn stdout_lines(&mut self) -> mpsc::Receiver<String> {
        lines_of(self.0.stdout.take().unwrap())
    }

    /// The lines of the child's stderr, as they come, on a channel.
    pub fn stderr_lines(&mut self) -> mpsc::Receiver<String> {
        lines_of(self.0.stderr.take().unwrap())
    }
}

/// The lines of `pipe`, read on a thread of their own, on a channel.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The names of the threads of process `pid` (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("posttroll-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl Net {
    /// The library configuration of this test's ports, on the engine of
    /// the test run, announcing 127.0.0.1.
    pub fn config(&self) -> posttroll::Config {
        posttroll_testkit::with_test_engine(posttroll::Config {
            backend: "unsecure_zmq".into(),
            nameserver_port: self.nameserver_port,
            broadcast_port: self.broadcast_port,
            address_publish_port: self.address_publish_port,
            own_ip: Some("127.0.0.1".into()),
            ..posttroll::Config::default()
        })
    }
}

/// Logs through `posttroll::log_publisher` (program `rustapp`, announced
/// to the nameserver on 127.0.0.1 with `config`): calls `emit` with the
/// layer in place, then `found` (which may wait up to about 100 ms), again
/// and again until `found` returns a line, which is returned. Fails the
/// test with `nothing` after `timeout`.
pub fn log_until(
    config: posttroll::Config,
    timeout: Duration,
    emit: impl Fn(),
    mut found: impl FnMut() -> Option<String>,
    nothing: &str,
) -> String {
    use tracing_subscriber::layer::SubscriberExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = posttroll::Context::new(config).unwrap();
        let (publisher, layer) = posttroll::log_publisher::LogPublisher::builder("rustapp")
            .nameservers(["127.0.0.1"])
            .context(ctx)
            .start()
            .await
            .unwrap();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let deadline = Instant::now() + timeout;
        let seen = loop {
            tracing::dispatcher::with_default(&dispatch, &emit);
            if let Some(line) = found() {
                break line;
            }
            assert!(Instant::now() < deadline, "{nothing}");
        };
        drop(dispatch);
        publisher.stop().await.unwrap();
        seen
    })
}

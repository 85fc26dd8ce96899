//! `posttroll-generate-keys`: the reference's command line, files pyzmq
//! reads, a secret file readable by its owner only, and keys the Python
//! reference uses for a CURVE publisher and subscriber.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;
use std::time::Duration;

use posttroll_testkit::python::{self, PythonProcess};

const BIN: &str = env!("CARGO_BIN_EXE_posttroll-generate-keys");

/// A fresh folder under the system's temporary folder, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "posttroll-generate-keys-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A Python secure publisher and subscriber in one process, with the
/// keys of argv[1] (server.key_secret, server.key, client.key_secret) and
/// the admitted-keys folder argv[2].
const PY_SECURE_PAIR: &str = r#"
import os, sys, time
keys, clients = sys.argv[1], sys.argv[2]
os.environ.update(
    POSTTROLL_BACKEND="secure_zmq",
    POSTTROLL_SERVER_SECRET_KEY_FILE=os.path.join(keys, "server.key_secret"),
    POSTTROLL_SERVER_PUBLIC_KEY_FILE=os.path.join(keys, "server.key"),
    POSTTROLL_CLIENT_SECRET_KEY_FILE=os.path.join(keys, "client.key_secret"),
    POSTTROLL_CLIENTS_PUBLIC_KEYS_DIRECTORY=clients,
)
import zmq.auth
for name in ("server", "client"):
    pub, sec = zmq.auth.load_certificate(os.path.join(keys, name + ".key_secret"))
    assert zmq.curve_public(sec) == pub, name
    assert zmq.auth.load_certificate(os.path.join(keys, name + ".key"))[0] == pub
from posttroll.message import Message
from posttroll.publisher import Publisher
from posttroll.subscriber import Subscriber
pub = Publisher("tcp://127.0.0.1:0", name="keys").start()
sub = Subscriber(["tcp://127.0.0.1:%d" % pub.port_number], topics=["/keys"])
deadline = time.monotonic() + 20
try:
    for msg in sub.recv(timeout=0.05):
        if msg is not None:
            print("MSG", msg.subject, flush=True)
            break
        if time.monotonic() > deadline:
            sys.exit("nothing received")
        pub.send(Message("/keys/test", "info", "hi").encode())
finally:
    sub.stop()
    pub.stop()
"#;

#[test]
fn generated_keys_work_with_the_python_reference() {
    let keys = TempDir::new("keys");
    for name in ["server", "client"] {
        let out = Command::new(BIN)
            .args([name, "-d"])
            .arg(keys.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["server", "client"] {
            let meta = std::fs::metadata(keys.path().join(format!("{name}.key_secret"))).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }
    let clients = TempDir::new("clients");
    std::fs::copy(
        keys.path().join("client.key"),
        clients.path().join("client.key"),
    )
    .unwrap();

    let Some(_) = python::require() else { return };
    let peer = PythonProcess::spawn(
        PY_SECURE_PAIR,
        &[
            &keys.path().display().to_string(),
            &clients.path().display().to_string(),
        ],
        &[] as &[(&str, &str)],
    )
    .unwrap();
    let line = peer.wait_for_line(|l| l.starts_with("MSG"), Duration::from_secs(30));
    assert_eq!(
        line.as_deref(),
        Some("MSG /keys/test"),
        "{}",
        peer.describe()
    );
}

#[test]
fn default_directory_and_errors() {
    let dir = TempDir::new("default");
    let out = Command::new(BIN)
        .arg("here")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(dir.path().join("here.key").is_file());
    assert!(dir.path().join("here.key_secret").is_file());

    let missing = dir.path().join("no-such-dir");
    let out = Command::new(BIN)
        .args(["x", "-d"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-dir"), "{err}");

    let out = Command::new(BIN).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME"));
}

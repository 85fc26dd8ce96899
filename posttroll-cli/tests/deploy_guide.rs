//! Runs every command of the deployment guide, `docs/deploy.md`: each
//! ```` ```sh ```` block there is a bash script, run here as it is written
//! with the binaries of this package on `PATH`.
//!
//! The guide uses the fixed ports and paths an operator uses (5557,
//! 16543, `/usr/local/bin`, `/etc/systemd/system`), so each block runs in
//! namespaces of its own (`unshare --user --map-root-user --net --mount`):
//! a network namespace with nothing but its own loopback, so the fixed
//! ports are free and nothing leaves the machine, and tmpfs mounts over
//! `/usr/local/bin` and `/etc/systemd/system`, so an install step changes
//! nothing outside the test. Background processes a block starts are
//! killed when it ends; a block gets 60 s.
//!
//! Where the kernel allows no unprivileged namespaces the suite says so
//! and skips, except under `CI`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The ```` ```sh ```` blocks of a markdown text, with the line each one
/// starts on.
fn sh_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.take() {
            None => {
                if trimmed.starts_with("```sh") {
                    current = Some((index + 1, String::new()));
                }
            }
            Some((start, mut text)) => {
                if trimmed.starts_with("```") {
                    blocks.push((start, text));
                } else {
                    text.push_str(line);
                    text.push('\n');
                    current = Some((start, text));
                }
            }
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block in the guide");
    blocks
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Can this process make the namespaces the blocks run in?
fn namespaces_available() -> bool {
    let ok = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let msg = "unprivileged user, network and mount namespaces are not available \
                   (`unshare --user --map-root-user --net --mount true` failed)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// What runs before each block, in its namespaces: loopback up, scratch
/// mounts, the binaries on `PATH`, a scratch home and working folder, and
/// a trap that ends what the block left running.
fn prelude(bin: &Path, work: &Path) -> String {
    format!(
        r#"set -euo pipefail
ip link set lo up
mount -t tmpfs posttroll-guide /usr/local/bin
if [ -d /etc/systemd/system ]; then mount -t tmpfs posttroll-guide /etc/systemd/system; fi
export PATH="{bin}:$PATH"
export HOME="{work}"
cd "{work}"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
"#,
        bin = bin.display(),
        work = work.display(),
    )
}

fn run_block(line: usize, script: &str) {
    let scratch =
        std::env::temp_dir().join(format!("posttroll-guide-{}-{line}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let bin = scratch.join("bin");
    let work = scratch.join("work");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    for (name, exe) in [
        ("nameserver", env!("CARGO_BIN_EXE_nameserver")),
        ("posttroll", env!("CARGO_BIN_EXE_posttroll")),
        (
            "posttroll-generate-keys",
            env!("CARGO_BIN_EXE_posttroll-generate-keys"),
        ),
    ] {
        std::os::unix::fs::symlink(exe, bin.join(name)).unwrap();
    }
    // The repository's files (the systemd unit) are reached from `work`
    // through this link, as from a checkout.
    std::os::unix::fs::symlink(repo_root().join("contrib"), work.join("contrib")).unwrap();

    let full = format!("{}{script}", prelude(&bin, &work));
    let mut child = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "bash",
            "-c",
        ])
        .arg(&full)
        .env_remove("POSTTROLL_CONFIG")
        .env_remove("POSTTROLL_BACKEND")
        .env_remove("POSTTROLL_NAMESERVER_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    match status {
        Some(status) if status.success() => {
            eprintln!("docs/deploy.md block at line {line}: ok\n{out}");
        }
        Some(status) => panic!(
            "docs/deploy.md block at line {line} failed ({status}):\n{script}\n--- stdout\n{out}\n--- stderr\n{err}"
        ),
        None => panic!(
            "docs/deploy.md block at line {line} did not end within {BLOCK_TIMEOUT:?}:\n{script}\n--- stdout\n{out}\n--- stderr\n{err}"
        ),
    }
}

#[test]
fn every_command_of_the_deployment_guide_runs() {
    let guide = std::fs::read_to_string(repo_root().join("docs").join("deploy.md")).unwrap();
    let blocks = sh_blocks(&guide);
    assert!(
        blocks.len() >= 4,
        "the guide has {} sh blocks",
        blocks.len()
    );
    if !namespaces_available() {
        return;
    }
    for (line, script) in blocks {
        run_block(line, &script);
    }
}

#[test]
fn sh_blocks_are_found_with_their_lines() {
    let text = "# t\n```sh\necho a\necho b\n```\ntext\n```text\nno\n```\n```sh\nc\n```\n";
    assert_eq!(
        sh_blocks(text),
        vec![(2, "echo a\necho b\n".to_owned()), (10, "c\n".to_owned())]
    );
}

//! The nameserver's memory: starts the `nameserver` binary (built with the
//! bench profile, i.e. optimised) with `--no-multicast` on free loopback
//! ports, registers one publisher, does 10,000 sequential lookups, and
//! prints VmRSS and VmHWM (peak) from `/proc/<pid>/status` at each stage,
//! with the target of the performance issue (14, point 7): at most 6 MiB
//! resident after the lookups, for the nameserver of the default release
//! build (a `TARGET|...` line, `posttroll_testkit::bench`).
//!
//! ```text
//! cargo bench -p posttroll-cli --bench nameserver_rss
//! ```
//!
//! `NAMESERVER_BIN=/path/to/nameserver` measures another build instead,
//! e.g. the default release build (copied away first: `cargo bench`
//! rebuilds `target/release/nameserver` with the bench profile and the
//! dev-dependencies' features), as `scripts/bench.sh` does:
//!
//! ```text
//! cargo build --release -p posttroll-cli --bin nameserver
//! mkdir -p target/measured/release && cp target/release/nameserver target/measured/release/
//! NAMESERVER_BIN="$PWD/target/measured/release/nameserver" cargo bench -p posttroll-cli --bench nameserver_rss
//! ```
//!
//! Resident memory counts the pages of the program and of the shared
//! libraries it maps (libzmq, libstdc++, libc, ...), not only its own
//! allocations; the figures printed say which build was measured.
//!
//! The Python reference's nameserver, measured the same way
//! (shared/reference/python-bench/bench_ns_memory.py), is about 28 MiB.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use posttroll::nameserver::get_pub_address;
use posttroll::publisher::NoisyPublisher;
use posttroll::{Config, Context};
use posttroll_testkit::bench::Target;
use posttroll_testkit::free_tcp_ports;

const LOOKUPS: usize = 10_000;

/// The memory of `pid` from `/proc/<pid>/status`, in KiB.
struct Memory {
    /// VmRSS: resident now.
    rss: u64,
    /// VmHWM: the peak of VmRSS.
    hwm: u64,
    /// RssAnon: heap and stacks.
    anon: u64,
    /// RssFile: the pages of the program and of the libraries it maps.
    file: u64,
}

fn memory(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
}

fn report(stage: &str, pid: u32) -> Result<(), String> {
    let m = memory(pid)?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "nameserver {stage:<28} VmRSS {:6.2} MiB   VmHWM {:6.2} MiB   (RssAnon {:5.2}, RssFile {:5.2})",
        mib(m.rss),
        mib(m.hwm),
        mib(m.anon),
        mib(m.file)
    );
    Ok(())
}

/// The resident KiB of each file (or `[heap]`, `[anon]`, ...) mapped by
/// `pid`, largest first.
fn breakdown(pid: u32) -> Result<Vec<(u64, String)>, String> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .map_err(|e| format!("cannot read /proc/{pid}/smaps: {e}"))?;
    let mut sizes: Vec<(u64, String)> = Vec::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            current = fields.nth(4).unwrap_or("[anon]").to_owned();
        } else if first == "Rss:" {
            let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match sizes.iter_mut().find(|(_, name)| *name == current) {
                Some((total, _)) => *total += kib,
                None => sizes.push((kib, current.clone())),
            }
        }
    }
    sizes.sort_by(|a, b| b.cmp(a));
    Ok(sizes)
}

/// Kills the nameserver when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> Result<(), String> {
    let ports = free_tcp_ports(3);
    let config = Config {
        nameserver_port: ports[0],
        broadcast_port: ports[1],
        address_publish_port: ports[2],
        own_ip: Some("127.0.0.1".to_owned()),
        ..Config::default()
    };
    let program = std::env::var("NAMESERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_nameserver").to_owned());
    println!("measuring {program}");
    // The cargo profile the binary was built with: the bench profile, or
    // the name of the folder of the one given.
    let profile = match std::env::var("NAMESERVER_BIN") {
        Ok(_) => std::path::Path::new(&program)
            .parent()
            .and_then(|dir| dir.file_name())
            .map_or_else(
                || "?".to_owned(),
                |name| name.to_string_lossy().into_owned(),
            ),
        Err(_) => "bench profile".to_owned(),
    };
    let ns = Guard(
        Command::new(&program)
            .arg("--no-multicast")
            .env_remove("POSTTROLL_CONFIG")
            .env("POSTTROLL_ROOT_CONFIG", "/nonexistent/posttroll-bench")
            .env("HOME", "/nonexistent/posttroll-bench")
            .env("POSTTROLL_NAMESERVER_PORT", ports[0].to_string())
            .env("POSTTROLL_BROADCAST_PORT", ports[1].to_string())
            .env("POSTTROLL_ADDRESS_PUBLISH_PORT", ports[2].to_string())
            .env("POSTTROLL_OWN_IP", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the nameserver: {e}"))?,
    );
    let pid = ns.0.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let ctx = Context::new(config).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while get_pub_address(&ctx, "", Duration::from_millis(500), "127.0.0.1")
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("the nameserver never answered".to_owned());
            }
        }
        report("started", pid)?;
        let publisher = NoisyPublisher::builder("svc")
            .nameservers(vec!["127.0.0.1".to_owned()])
            .context(ctx.clone())
            .start()
            .await
            .map_err(|e| e.to_string())?;
        while get_pub_address(&ctx, "svc", Duration::from_secs(2), "127.0.0.1")
            .await
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            if Instant::now() > deadline {
                return Err("svc never became visible".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        report("with 1 publisher", pid)?;
        let start = Instant::now();
        let mut elapsed = Duration::ZERO;
        let mut after = None;
        for done in 1..=LOOKUPS {
            let found = get_pub_address(&ctx, "svc", Duration::from_secs(2), "127.0.0.1")
                .await
                .map_err(|e| e.to_string())?;
            if found.len() != 1 {
                return Err(format!("a lookup found {} addresses", found.len()));
            }
            if done % (LOOKUPS / 4) == 0 {
                elapsed = start.elapsed();
                report(&format!("after {done} lookups"), pid)?;
                after = Some(memory(pid)?);
            }
        }
        println!(
            "{LOOKUPS} sequential lookups in {:.2} s: {:.0} lookups/s",
            elapsed.as_secs_f64(),
            LOOKUPS as f64 / elapsed.as_secs_f64()
        );
        println!("resident by mapping (KiB, 100 and more):");
        let mapped = breakdown(pid)?;
        for (kib, name) in &mapped {
            if *kib >= 100 {
                println!("  {kib:6} {name}");
            }
        }
        let engine = if mapped.iter().any(|(_, name)| name.contains("libzmq")) {
            "libzmq build"
        } else {
            "purerust build"
        };
        let after = after.ok_or("no lookups")?;
        let (rss, hwm) = (after.rss as f64 / 1024.0, after.hwm as f64 / 1024.0);
        println!("RESULT nameserver_rss_after_{LOOKUPS}_lookups={rss:.2} MiB");
        println!("RESULT nameserver_vmhwm_after_{LOOKUPS}_lookups={hwm:.2} MiB");
        Target::new(
            "memory",
            &format!("nameserver resident after {LOOKUPS} lookups, 1 publisher ({profile})"),
            engine,
        )
        .ours(format!("{rss:.2} MiB (peak {hwm:.2})"))
        .goal("<= 6 MiB")
        .print(rss <= 6.0);
        publisher.stop().await.map_err(|e| e.to_string())
    })?;
    drop(ns);
    Ok(())
}

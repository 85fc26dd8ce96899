//! IPv6 on loopback: whether this host can test it, and loopback-only
//! IPv6 multicast settings.
//!
//! Tests of IPv6 use `::1` and the loopback interface only. A `tcp://*`
//! socket takes IPv6 clients only where the host is dual-stack (see
//! [`wildcard_is_dual_stack`](posttroll_core::engine::wildcard_is_dual_stack));
//! elsewhere (no IPv6, or IPv6 sockets IPv6-only by default) those tests
//! say so on stderr and pass without checking, since such a host is
//! supported IPv4-only.
//!
//! # IPv6 multicast on loopback
//!
//! Linux carries no IPv6 multicast on `lo` as it comes: it turns every
//! route through `lo` into a reject route, so sending to a group on `lo`
//! fails (`Network is unreachable`, or the datagram is dropped for want of
//! a route). With a *local* route, `ip -6 route add local ff00::/8 dev lo
//! table local`, datagrams sent on `lo` reach the sockets that joined the
//! group there, and only those. [`ipv6_multicast_here_or_rerun`] runs a
//! test where that works: here, when [`multicast_on_loopback`] says so;
//! else again in a network namespace of its own (`unshare --net`: root),
//! where it adds that route to the namespace's own `lo`; else it says why
//! on stderr and the test passes without checking. Tests use
//! [`loopback_multicast_v6`]: interface-local groups (`ff01::`, which Linux
//! never sends out of any interface but loopback) and a hop limit of 0.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use posttroll::Config;
use socket2::{Domain, Protocol, Socket, Type};

use crate::engine::with_test_engine;
use crate::ports::free_udp_port;

/// True when `tcp://*` binds dual-stack here; otherwise prints why `test`
/// is skipped and returns false.
///
/// # Examples
///
/// ```
/// if !posttroll_testkit::ipv6::dual_stack_or_skip("my_test") {
///     return;
/// }
/// // ... a client on tcp://[::1]:PORT reaches a socket bound on tcp://*:PORT
/// ```
pub fn dual_stack_or_skip(test: &str) -> bool {
    let dual = posttroll_core::engine::wildcard_is_dual_stack();
    if !dual {
        eprintln!(
            "SKIPPED {test}: tcp://* binds IPv4 only on this host (no IPv6, or IPv6 sockets \
             are IPv6-only by default, e.g. net.ipv6.bindv6only = 1)"
        );
    }
    dual
}

/// An IPv6 multicast group for one test: `ff01::5eed:x:y`, of the
/// interface-local scope (it never leaves the interface, and Linux sends
/// it on no interface but loopback). `x` comes from the process id, `y`
/// counts the calls, so that successive calls differ.
///
/// # Examples
///
/// ```
/// use posttroll_testkit::ipv6::unique_multicast_group_v6;
///
/// let a = unique_multicast_group_v6();
/// assert!(a.is_multicast());
/// assert_eq!(a.segments()[..2], [0xff01, 0]);
/// assert_ne!(a, unique_multicast_group_v6());
/// ```
pub fn unique_multicast_group_v6() -> Ipv6Addr {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let x = u16::try_from((pid ^ (pid >> 16)) & 0xffff).unwrap_or(0);
    Ipv6Addr::new(0xff01, 0, 0, 0, 0, 0x5eed, x, n)
}

/// `config` made loopback-only for IPv6 multicast: a
/// [`unique_multicast_group_v6`], `multicast_interface` `::1` (the
/// loopback interface, named by its address), `mc_ttl` (the hop limit) 0
/// and a free UDP `broadcast_port`; and, when `engine` is unset, the
/// engine of the test run (see [`with_test_engine`]).
///
/// # Examples
///
/// ```
/// use posttroll::Config;
/// use posttroll_testkit::ipv6::loopback_multicast_v6;
///
/// let config = loopback_multicast_v6(Config::default());
/// assert!(config.mc_group.starts_with("ff01::5eed:"));
/// assert_eq!(config.multicast_interface.as_deref(), Some("::1"));
/// assert_eq!(config.mc_ttl, 0);
/// ```
pub fn loopback_multicast_v6(config: Config) -> Config {
    let config = with_test_engine(config);
    Config {
        multicast_interface: Some(Ipv6Addr::LOCALHOST.to_string()),
        mc_ttl: 0,
        mc_group: unique_multicast_group_v6().to_string(),
        broadcast_port: free_udp_port(),
        ..config
    }
}

/// The index of the interface that holds `::1`.
fn loopback_index() -> Result<u32, String> {
    let interfaces =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list the interfaces: {e}"))?;
    interfaces
        .iter()
        .find(|i| i.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST))
        .and_then(|i| i.index)
        .ok_or_else(|| "no interface holds ::1".to_owned())
}

/// Whether IPv6 multicast works on the loopback interface here: a
/// datagram to a [`unique_multicast_group_v6`] group, hop limit 0, sent
/// on the interface of `::1` and received there (within a second) by a
/// socket that joined the group; the reason when it does not.
///
/// # Errors
///
/// What failed, for the skip message.
pub fn multicast_on_loopback() -> Result<(), String> {
    let index = loopback_index()?;
    let group = unique_multicast_group_v6();
    let socket = || {
        Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| format!("no IPv6 UDP socket: {e}"))
    };
    let receiver = socket()?;
    let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
    receiver
        .bind(&any.into())
        .map_err(|e| format!("cannot bind [::]:0: {e}"))?;
    receiver
        .join_multicast_v6(&group, index)
        .map_err(|e| format!("cannot join {group} on the loopback interface: {e}"))?;
    let receiver = UdpSocket::from(receiver);
    let port = receiver
        .local_addr()
        .map_err(|e| format!("the receiver has no address: {e}"))?
        .port();
    receiver
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| format!("cannot set a receive timeout: {e}"))?;
    let sender = socket()?;
    sender
        .set_multicast_if_v6(index)
        .and_then(|()| sender.set_multicast_hops_v6(0))
        .and_then(|()| sender.set_multicast_loop_v6(true))
        .map_err(|e| format!("cannot send multicast on the loopback interface: {e}"))?;
    let to = SocketAddrV6::new(group, port, 0, index);
    sender
        .send_to(b"probe", &to.into())
        .map_err(|e| format!("sending to {to} failed: {e}"))?;
    let mut buf = [0u8; 16];
    match receiver.recv(&mut buf) {
        Ok(5) if &buf[..5] == b"probe" => Ok(()),
        Ok(n) => Err(format!("{to} gave {n} unexpected bytes")),
        Err(e) => Err(format!("nothing sent to {to} arrived within 1 s ({e})")),
    }
}

/// The variable that marks the run of a test in the network namespace
/// [`ipv6_multicast_here_or_rerun`] makes.
pub const IN_NAMESPACE_VAR: &str = "PTRS_IPV6_MULTICAST_NETNS";

/// The exit status of the namespace's shell when setting `lo` up failed.
const SETUP_FAILED: i32 = 97;

/// Where the IPv6 multicast test `test` (its name in this test binary, for
/// `--exact`) runs: returns true when it is to run here, now (IPv6
/// multicast works on loopback: see [`multicast_on_loopback`]). Otherwise
/// it runs `test` again, in a network namespace of its own whose `lo`
/// carries IPv6 multicast (see the [module documentation](self)), checks
/// that it ran and passed there, and returns false; when no such namespace
/// can be made, it says why on stderr and returns false.
///
/// # Panics
///
/// When the test failed in the namespace (with its output), or when IPv6
/// multicast does not work even in the namespace.
pub fn ipv6_multicast_here_or_rerun(test: &str) -> bool {
    let reason = match multicast_on_loopback() {
        Ok(()) => return true,
        Err(reason) => reason,
    };
    if std::env::var_os(IN_NAMESPACE_VAR).is_some() {
        panic!("IPv6 multicast does not work on lo even in the test's network namespace: {reason}");
    }
    let skip = |why: String| {
        eprintln!(
            "SKIPPED {test}: IPv6 multicast does not work on the loopback interface here \
             ({reason}); Linux carries it on lo only with a local route (ip -6 route add local \
             ff00::/8 dev lo table local), which the test adds only in a network namespace of \
             its own, and {why}"
        );
        false
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return skip(format!("the test binary is unknown ({e})")),
    };
    let setup = format!(
        "ip link set lo up && ip -6 route add local ff00::/8 dev lo table local \
         || exit {SETUP_FAILED}; exec \"$0\" \"$@\""
    );
    let output = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &setup])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(IN_NAMESPACE_VAR, "1")
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return skip(format!("unshare cannot run ({e})")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(SETUP_FAILED) => {
            return skip(format!(
                "setting up lo in the namespace failed: {}",
                stderr.trim()
            ))
        }
        Some(1) if stderr.starts_with("unshare") => {
            return skip(format!("no namespace could be made: {}", stderr.trim()))
        }
        _ => {}
    }
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a network namespace of its own: {}\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!(
        "{test}: IPv6 multicast does not work on lo here ({reason}); it ran and passed in a \
         network namespace of its own (unshare --net, lo with a local ff00::/8 route):\n{stderr}"
    );
    false
}

//! Loopback-only multicast settings.
//!
//! Multicast works on loopback only when both sides use the interface
//! `127.0.0.1` and a TTL of 0 (PROTOCOL.md section 8). Tests must never
//! multicast with a TTL above 0, nor on any interface but loopback: build
//! every configuration that may multicast with [`loopback_multicast`].

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};

use posttroll::Config;

use crate::engine::with_test_engine;
use crate::ports::free_udp_port;

/// A multicast group for one test: `239.255.x.y` (the organization-local
/// scope), never the reference's default `225.0.0.212`.
///
/// `x.y` is a 16-bit number: a value derived from the process id plus a
/// per-process counter, so that successive calls in a process differ (for
/// 65536 calls) and concurrent test processes most likely use other groups.
///
/// # Examples
///
/// ```
/// use posttroll_testkit::unique_multicast_group;
///
/// let a = unique_multicast_group();
/// let b = unique_multicast_group();
/// assert_ne!(a, b);
/// assert_eq!(a.octets()[..2], [239, 255]);
/// assert!(a.is_multicast());
/// ```
pub fn unique_multicast_group() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Spread the pids over the 16 bits (Knuth's multiplicative hash).
    let base = std::process::id().wrapping_mul(2_654_435_761) >> 16;
    let [_, _, x, y] = (base.wrapping_add(n) & 0xffff).to_be_bytes();
    Ipv4Addr::new(239, 255, x, y)
}

/// `config` made loopback-only for multicast: `multicast_interface`
/// `127.0.0.1`, `mc_ttl` 0, a [`unique_multicast_group`] and a free UDP
/// `broadcast_port`; and, when `engine` is unset, the engine of the test run
/// (see [`with_test_engine`]). Everything else is kept.
///
/// # Panics
///
/// On a bad `POSTTROLL_ENGINE` (see [`crate::engine_from_env`]).
///
/// # Examples
///
/// ```
/// use posttroll::Config;
/// use posttroll_testkit::loopback_multicast;
///
/// let config = loopback_multicast(Config::default());
/// assert_eq!(config.multicast_interface.as_deref(), Some("127.0.0.1"));
/// assert_eq!(config.mc_ttl, 0);
/// assert!(config.mc_group.starts_with("239.255."));
/// assert_ne!(config.broadcast_port, Config::default().broadcast_port);
/// ```
pub fn loopback_multicast(config: Config) -> Config {
    let config = with_test_engine(config);
    Config {
        multicast_interface: Some("127.0.0.1".to_owned()),
        mc_ttl: 0,
        mc_group: unique_multicast_group().to_string(),
        broadcast_port: free_udp_port(),
        ..config
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn groups_are_unique_and_never_the_default() {
        let groups: HashSet<Ipv4Addr> = (0..1000).map(|_| unique_multicast_group()).collect();
        assert_eq!(groups.len(), 1000);
        let default: Ipv4Addr = Config::default().mc_group.parse().unwrap();
        assert!(!groups.contains(&default));
        assert!(groups.iter().all(|g| g.octets()[..2] == [239, 255]));
    }

    #[test]
    fn loopback_keeps_the_rest() {
        let base = Config {
            nameserver_port: 6001,
            ..Config::default()
        };
        let config = loopback_multicast(base);
        assert_eq!(config.nameserver_port, 6001);
        assert_eq!(config.mc_ttl, 0);
    }
}

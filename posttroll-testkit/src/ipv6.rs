//! IPv6 on loopback: whether this host can test it.
//!
//! Tests of IPv6 use `::1` only. A `tcp://*` socket takes IPv6 clients
//! only where the host is dual-stack (see
//! [`wildcard_is_dual_stack`](posttroll_core::engine::wildcard_is_dual_stack));
//! elsewhere (no IPv6, or IPv6 sockets IPv6-only by default) those tests
//! say so on stderr and pass without checking, since such a host is
//! supported IPv4-only.

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

//! What the ZMTP engines (`posttroll-backend-purerust` on omq,
//! `posttroll-backend-zmq` on libzmq) share and is not about their library:
//! the random-port bind loop (with `tcp://*` bound dual-stack where the
//! host allows), the TCP keepalive keys read as one value, the IP
//! allow-list of server sockets and the canonical name of a peer's
//! address, and a mutex lock that ignores poisoning. Each engine plugs its
//! own socket calls in.

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use crate::address::Endpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use bytes::Bytes;

use crate::transport::{BindSpec, Request};

/// How many random ports a port-0 bind tries (as pyzmq's
/// `bind_to_random_port`).
pub const RANDOM_PORT_TRIES: usize = 100;

/// The send and receive high-water marks, in frames, of reply sockets
/// (the nameserver's ports), per connected requester. A REQ client has
/// one request in flight, so a few frames are plenty; the engines' default
/// of 1000 gives each queue a ring of 1000 slots that a busy client
/// touches whole (about 64 KiB per queue on the pure-Rust engine), and
/// lets a client that does not read hold 1000 replies.
pub const REPLY_HIGH_WATER_MARK: u32 = 100;

/// Locks a mutex, ignoring poisoning: for data that a panic elsewhere
/// leaves consistent (sockets, queues, counters).
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one bind attempt of an engine gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAttempt {
    /// Bound; the TCP port the socket got (ignored for other transports).
    Bound(u16),
    /// The address is taken (a random-port bind tries another port).
    InUse(String),
    /// Any other failure, with the engine's reason.
    Failed(String),
}

/// The host a `tcp://*:PORT` bind uses where the system allows it: the
/// IPv6 wildcard, which also takes IPv4 clients (as `::ffff:a.b.c.d`) on a
/// dual-stack host.
pub const DUAL_STACK_HOST: &str = "::";

/// True when an IPv6 socket bound on `[::]` takes IPv4 clients too on this
/// host (IPv6 is there, and its sockets are not IPv6-only by default: on
/// Linux `net.ipv6.bindv6only = 0`, the default). Probed once, with two
/// throw-away listeners: one on `[::]:0`, then one on `0.0.0.0` at the
/// same port, which a dual-stack listener already holds.
///
/// Both engines bind `tcp://*:PORT` on `[::]` when this is true, and on
/// `0.0.0.0` (IPv4 only, as the reference) when it is not.
pub fn wildcard_is_dual_stack() -> bool {
    static DUAL_STACK: OnceLock<bool> = OnceLock::new();
    *DUAL_STACK.get_or_init(|| match probe_dual_stack() {
        Ok(()) => true,
        Err(reason) => {
            tracing::debug!("tcp://* binds IPv4 only: {reason}");
            false
        }
    })
}

/// Whether a listener on `[::]` holds the IPv4 port too (see
/// [`wildcard_is_dual_stack`]), or why not.
fn probe_dual_stack() -> std::result::Result<(), String> {
    let v6 = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0))
        .map_err(|e| format!("no IPv6 listener can be bound on [::] ({e})"))?;
    let port = v6
        .local_addr()
        .map_err(|e| format!("the IPv6 listener has no address ({e})"))?
        .port();
    match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(()),
        Ok(_) => Err("IPv6 sockets are IPv6-only by default here (net.ipv6.bindv6only = 1)".into()),
        Err(e) => Err(format!("cannot tell whether [::] takes IPv4 clients ({e})")),
    }
}

/// The endpoints a bind tries, and the errors it reports.
struct BindPlan<'a> {
    spec: &'a BindSpec,
    /// The random-port range `[lo, hi)` when the endpoint is TCP port 0.
    random: Option<(u32, u32)>,
    /// True while a `*` endpoint is tried on [`DUAL_STACK_HOST`].
    dual_stack: bool,
    tried: usize,
}

impl<'a> BindPlan<'a> {
    /// The plan for `spec`; `dual_stack`: whether a `*` host is tried on
    /// [`DUAL_STACK_HOST`] first.
    fn new(spec: &'a BindSpec, dual_stack: bool) -> Result<BindPlan<'a>> {
        let random = match &spec.endpoint {
            Endpoint::Tcp { port: 0, .. } => {
                let (min, max) = spec.port_range;
                let lo = u32::from(min).max(1);
                let hi = max.min(65536);
                if lo >= hi {
                    return Err(bind_error(
                        &spec.endpoint.to_string(),
                        format!(
                            "the port range [{min}, {max}) is empty: check \
                             pub_min_port/pub_max_port"
                        ),
                    ));
                }
                Some((lo, hi))
            }
            _ => None,
        };
        Ok(BindPlan {
            spec,
            random,
            dual_stack: dual_stack && spec.endpoint.host() == Some("*"),
            tried: 0,
        })
    }

    /// The next endpoint to try, if any.
    fn next(&mut self) -> Option<Endpoint> {
        let tries = if self.random.is_some() {
            RANDOM_PORT_TRIES
        } else {
            1
        };
        if self.tried >= tries {
            return None;
        }
        self.tried += 1;
        let port = match self.random {
            Some((lo, hi)) => {
                let offset = random_u64() % u64::from(hi - lo);
                u16::try_from(u64::from(lo) + offset).unwrap_or(u16::MAX)
            }
            None => self.spec.endpoint.port().unwrap_or(0),
        };
        Some(match &self.spec.endpoint {
            Endpoint::Tcp { .. } if self.dual_stack => Endpoint::tcp(DUAL_STACK_HOST, port),
            Endpoint::Tcp { .. } => self.spec.endpoint.with_port(port),
            other => other.clone(),
        })
    }

    /// What one attempt on `candidate` means: the endpoint bound (with the
    /// host as given), the error, or `None` to try again: another port,
    /// or the same one on IPv4 only when the dual-stack attempt failed.
    fn outcome(&mut self, candidate: &Endpoint, attempt: BindAttempt) -> Option<Result<Endpoint>> {
        match attempt {
            BindAttempt::Bound(port) => Some(Ok(match candidate {
                Endpoint::Tcp { .. } => self.spec.endpoint.with_port(port),
                other => other.clone(),
            })),
            BindAttempt::InUse(_) if self.random.is_some() => None,
            BindAttempt::InUse(reason) | BindAttempt::Failed(reason) if self.dual_stack => {
                tracing::debug!(
                    "binding {candidate} failed ({reason}): binding {} on IPv4 only",
                    self.spec.endpoint
                );
                self.dual_stack = false;
                // The failed attempt does not count: the same tries on IPv4.
                self.tried -= 1;
                None
            }
            BindAttempt::InUse(reason) | BindAttempt::Failed(reason) => {
                Some(Err(bind_error(&candidate.to_string(), reason)))
            }
        }
    }

    /// The error when every random port was taken.
    fn exhausted(&self) -> Error {
        let (min, max) = self.spec.port_range;
        bind_error(
            &self.spec.endpoint.to_string(),
            format!(
                "no free port in the range [{min}, {max}) after {RANDOM_PORT_TRIES} tries: \
                 widen pub_min_port/pub_max_port"
            ),
        )
    }
}

fn bind_error(endpoint: &str, reason: String) -> Error {
    Error::Bind {
        endpoint: endpoint.to_owned(),
        reason,
    }
}

/// Binds as `spec` says with `attempt` (one bind of the engine's socket on
/// the endpoint given) and returns the endpoint bound: a TCP port 0 is a
/// random port of [`BindSpec::port_range`], tried up to
/// [`RANDOM_PORT_TRIES`] times while the port is taken, and replaced by the
/// port bound; the host is kept as given. An error of `attempt` (e.g. an
/// endpoint the engine cannot parse) stops the loop.
///
/// The host `*` (every interface) is tried as `[::]` ([`DUAL_STACK_HOST`]:
/// IPv6 and IPv4 clients) when [`wildcard_is_dual_stack`]; when that bind
/// fails (no IPv6 after all, or the port taken on IPv6 only), the same
/// bind is made on IPv4 only, as the reference binds, and a debug line
/// says why. The endpoint returned keeps `*`. An explicit `0.0.0.0` or
/// `[::]` is bound as given.
///
/// # Errors
///
/// [`Error::Bind`] naming the endpoint: an empty port range, no free port
/// after [`RANDOM_PORT_TRIES`] tries, or the engine's failure.
///
/// # Examples
///
/// ```
/// use posttroll_core::engine::{bind_endpoint, BindAttempt};
/// use posttroll_core::BindSpec;
///
/// let spec = BindSpec::new("tcp://127.0.0.1:0".parse()?);
/// let mut tries = 0;
/// let bound = bind_endpoint(&spec, |candidate| {
///     tries += 1;
///     Ok(if tries < 3 {
///         BindAttempt::InUse("taken".into())
///     } else {
///         BindAttempt::Bound(candidate.port().unwrap_or(0))
///     })
/// })?;
/// assert_eq!(tries, 3);
/// assert!(bound.port().is_some_and(|p| p >= spec.port_range.0));
/// # Ok::<(), posttroll_core::Error>(())
/// ```
pub fn bind_endpoint(
    spec: &BindSpec,
    attempt: impl FnMut(&Endpoint) -> Result<BindAttempt>,
) -> Result<Endpoint> {
    bind_with(spec, wildcard_is_dual_stack(), attempt)
}

/// [`bind_endpoint`], with dual-stack wildcards or not.
fn bind_with(
    spec: &BindSpec,
    dual_stack: bool,
    mut attempt: impl FnMut(&Endpoint) -> Result<BindAttempt>,
) -> Result<Endpoint> {
    let mut plan = BindPlan::new(spec, dual_stack)?;
    while let Some(candidate) = plan.next() {
        let tried = attempt(&candidate)?;
        if let Some(outcome) = plan.outcome(&candidate, tried) {
            return outcome;
        }
    }
    Err(plan.exhausted())
}

/// [`bind_endpoint`] for an engine whose bind is asynchronous.
///
/// # Errors
///
/// As [`bind_endpoint`].
pub async fn bind_endpoint_async<F, Fut>(spec: &BindSpec, mut attempt: F) -> Result<Endpoint>
where
    F: FnMut(Endpoint) -> Fut,
    Fut: Future<Output = Result<BindAttempt>>,
{
    let mut plan = BindPlan::new(spec, wildcard_is_dual_stack())?;
    while let Some(candidate) = plan.next() {
        let tried = attempt(candidate.clone()).await?;
        if let Some(outcome) = plan.outcome(&candidate, tried) {
            return outcome;
        }
    }
    Err(plan.exhausted())
}

/// A random number for port picking (no RNG crate: std's per-process
/// random hash keys, mixed with the clock).
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(t.as_nanos());
    }
    hasher.finish()
}

/// The TCP keepalive of the config's four keys, as libzmq reads them:
/// `tcp_keepalive` = 1 turns it on with `tcp_keepalive_idle`,
/// `tcp_keepalive_intvl` and `tcp_keepalive_cnt` (each unset or negative
/// one: the system's value); 0 turns it off; unset or -1 leaves the
/// system's setting, and the other three are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TcpKeepalive {
    /// The system's setting (`tcp_keepalive` unset or -1).
    #[default]
    System,
    /// `SO_KEEPALIVE` off (`tcp_keepalive` = 0).
    Off,
    /// `SO_KEEPALIVE` on; `None`: the system's value.
    On {
        /// Idle time before the first probe (`tcp_keepalive_idle`).
        idle: Option<Duration>,
        /// Time between probes (`tcp_keepalive_intvl`).
        interval: Option<Duration>,
        /// Probes before the connection is dropped (`tcp_keepalive_cnt`).
        count: Option<u32>,
    },
}

impl TcpKeepalive {
    /// The keepalive of `config`.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::engine::TcpKeepalive;
    /// use posttroll_core::Config;
    /// use std::time::Duration;
    ///
    /// assert_eq!(TcpKeepalive::from_config(&Config::default()), TcpKeepalive::System);
    /// let config = Config { tcp_keepalive: Some(1), tcp_keepalive_idle: Some(61), ..Config::default() };
    /// assert_eq!(
    ///     TcpKeepalive::from_config(&config),
    ///     TcpKeepalive::On { idle: Some(Duration::from_secs(61)), interval: None, count: None },
    /// );
    /// ```
    pub fn from_config(config: &Config) -> TcpKeepalive {
        let set = |v: Option<i32>| v.filter(|v| *v >= 0).map(i32::unsigned_abs);
        let secs = |v: Option<i32>| set(v).map(|s| Duration::from_secs(u64::from(s)));
        match config.tcp_keepalive {
            Some(0) => TcpKeepalive::Off,
            Some(v) if v > 0 => TcpKeepalive::On {
                idle: secs(config.tcp_keepalive_idle),
                interval: secs(config.tcp_keepalive_intvl),
                count: set(config.tcp_keepalive_cnt),
            },
            _ => TcpKeepalive::System,
        }
    }
}

/// The request in a message a reply (ROUTER) socket on `endpoint` received
/// from `identity`, or `None` after counting it in `malformed` and logging
/// it when it is not a request (no envelope delimiter, or no body): what
/// both engines' reply sockets do with each message.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use posttroll_core::engine::routed_request;
///
/// let endpoint = "tcp://127.0.0.1:5000".parse()?;
/// let mut malformed = 0;
/// let frames = vec![Bytes::new(), Bytes::from_static(b"ping")];
/// let request = routed_request(&endpoint, Bytes::from_static(b"id"), frames, None, &mut malformed);
/// assert_eq!(request.map(|r| r.body), Some(Bytes::from_static(b"ping")));
/// let junk = vec![Bytes::from_static(b"x")];
/// assert!(routed_request(&endpoint, Bytes::new(), junk, None, &mut malformed).is_none());
/// assert_eq!(malformed, 1);
/// # Ok::<(), posttroll_core::Error>(())
/// ```
pub fn routed_request(
    endpoint: &Endpoint,
    identity: Bytes,
    frames: Vec<Bytes>,
    peer: Option<String>,
    malformed: &mut u64,
) -> Option<Request> {
    match Request::routed(identity, frames, peer) {
        Ok(request) => Some(request),
        Err(not) => {
            *malformed += 1;
            crate::metrics::refused(crate::metrics::Refusal::Malformed);
            tracing::debug!(
                endpoint = %endpoint,
                peer = not.peer.as_deref().unwrap_or("?"),
                "dropping a message that is not a request (no envelope delimiter)"
            );
            None
        }
    }
}

/// A peer's address as logs, refusals and the allow-list name it: an IPv4
/// client of a dual-stack socket (`::ffff:a.b.c.d`, with or without a
/// port: `[::ffff:a.b.c.d]:p`) by its IPv4 address (`a.b.c.d`,
/// `a.b.c.d:p`); any other address (IPv4, IPv6, an IPC path) as given.
///
/// # Examples
///
/// ```
/// use posttroll_core::engine::canonical_peer;
///
/// assert_eq!(canonical_peer("::ffff:127.0.0.1"), "127.0.0.1");
/// assert_eq!(canonical_peer("[::ffff:127.0.0.1]:40000"), "127.0.0.1:40000");
/// assert_eq!(canonical_peer("[::1]:40000"), "[::1]:40000");
/// ```
pub fn canonical_peer(address: &str) -> String {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return ip.to_canonical().to_string();
    }
    match address.parse::<SocketAddr>() {
        Ok(peer) => SocketAddr::new(peer.ip().to_canonical(), peer.port()).to_string(),
        Err(_) => address.to_owned(),
    }
}

/// Admits only peers whose IP is in a list (`authorized_client_addresses`),
/// for the plain server sockets of either engine (libzmq's ZAP handler,
/// omq's handshake authenticator). A peer with no IP (an IPC peer) is
/// refused, as the reference's authenticator refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAllowList {
    ips: BTreeSet<IpAddr>,
}

impl IpAllowList {
    /// Resolves host names and IP literals to the list of admitted IPs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming the host that does not resolve.
    pub fn resolve(hosts: &[String]) -> Result<IpAllowList> {
        Ok(IpAllowList {
            ips: crate::keystore::resolve_hosts(hosts)?,
        })
    }

    /// The admitted IPs.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ips.iter().copied()
    }

    /// True when `ip` is admitted (an IPv4 client on a dual-stack socket,
    /// `::ffff:a.b.c.d`, as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ips.contains(&ip.to_canonical())
    }

    /// Whether the peer at `address` (its IP, if it has one) may connect.
    ///
    /// # Errors
    ///
    /// The reason for the refusal, for the log.
    ///
    /// Called once per connection by the engines' admission checks, so a
    /// refusal counts in `posttroll_refusals_total{reason="policy"}`
    /// ([`metrics`](crate::metrics)).
    pub fn check(&self, ip: Option<IpAddr>, address: &str) -> std::result::Result<(), String> {
        let refusal = match ip.map(|ip| ip.to_canonical()) {
            Some(ip) if self.contains(ip) => return Ok(()),
            Some(ip) => format!("{ip} is not in authorized_client_addresses"),
            None => format!(
                "peer '{address}' has no IP address to check against authorized_client_addresses"
            ),
        };
        crate::metrics::refused(crate::metrics::Refusal::Policy);
        Err(refusal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_follows_libzmq() {
        let with = |k, cnt, idle, intvl| Config {
            tcp_keepalive: k,
            tcp_keepalive_cnt: cnt,
            tcp_keepalive_idle: idle,
            tcp_keepalive_intvl: intvl,
            ..Config::default()
        };
        // Without tcp_keepalive = 1 the others are ignored, as by libzmq.
        assert_eq!(
            TcpKeepalive::from_config(&with(Some(-1), Some(3), Some(4), Some(5))),
            TcpKeepalive::System
        );
        assert_eq!(
            TcpKeepalive::from_config(&with(Some(0), Some(3), None, None)),
            TcpKeepalive::Off
        );
        assert_eq!(
            TcpKeepalive::from_config(&with(Some(1), Some(7), Some(61), Some(-1))),
            TcpKeepalive::On {
                idle: Some(Duration::from_secs(61)),
                interval: None,
                count: Some(7)
            }
        );
    }

    #[test]
    fn a_taken_fixed_port_is_an_error_at_once() {
        let spec = BindSpec::new("tcp://127.0.0.1:5555".parse().unwrap());
        let mut tries = 0;
        let err = bind_endpoint(&spec, |_| {
            tries += 1;
            Ok(BindAttempt::InUse("Address already in use".into()))
        })
        .unwrap_err();
        assert_eq!(tries, 1);
        assert!(err.to_string().contains("Address already in use"), "{err}");
    }

    #[test]
    fn random_ports_stop_after_the_tries() {
        let spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
        let mut tries = 0;
        let err = bind_endpoint(&spec, |_| {
            tries += 1;
            Ok(BindAttempt::InUse("taken".into()))
        })
        .unwrap_err();
        assert_eq!(tries, RANDOM_PORT_TRIES);
        assert!(err.to_string().contains("no free port"), "{err}");
    }

    #[test]
    fn an_empty_range_is_refused() {
        let mut spec = BindSpec::new("tcp://127.0.0.1:0".parse().unwrap());
        spec.port_range = (6000, 6000);
        let err = bind_endpoint(&spec, |_| Ok(BindAttempt::Bound(1))).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    /// The endpoints `bind_with` tries on `spec` when each attempt gives
    /// the next of `answers`, and what it returns.
    fn tries(
        spec: &str,
        dual_stack: bool,
        answers: &[BindAttempt],
    ) -> (Vec<String>, Result<Endpoint>) {
        let spec = BindSpec::new(spec.parse().unwrap());
        let mut tried = Vec::new();
        let result = bind_with(&spec, dual_stack, |candidate| {
            tried.push(candidate.to_string());
            Ok(answers
                .get(tried.len() - 1)
                .cloned()
                .unwrap_or(BindAttempt::InUse("taken".into())))
        });
        (tried, result)
    }

    #[test]
    fn a_wildcard_binds_dual_stack_and_keeps_the_wildcard() {
        let (tried, bound) = tries("tcp://*:5557", true, &[BindAttempt::Bound(5557)]);
        assert_eq!(tried, ["tcp://[::]:5557"]);
        assert_eq!(bound.unwrap().to_string(), "tcp://*:5557");
    }

    #[test]
    fn a_wildcard_falls_back_to_ipv4_when_ipv6_fails() {
        let failed = BindAttempt::Failed("Address family not supported".into());
        let (tried, bound) = tries("tcp://*:5557", true, &[failed, BindAttempt::Bound(5557)]);
        assert_eq!(tried, ["tcp://[::]:5557", "tcp://*:5557"]);
        assert_eq!(bound.unwrap().to_string(), "tcp://*:5557");
        // A fixed port taken on IPv6 only (by an IPv6-only socket) is still
        // bound on IPv4, as before dual-stack binds ...
        let taken = BindAttempt::InUse("Address already in use".into());
        let (tried, bound) = tries(
            "tcp://*:5557",
            true,
            &[taken.clone(), BindAttempt::Bound(5557)],
        );
        assert_eq!(tried, ["tcp://[::]:5557", "tcp://*:5557"]);
        assert_eq!(bound.unwrap().to_string(), "tcp://*:5557");
        // ... and one taken on IPv4 too is the error it always was.
        let (tried, bound) = tries("tcp://*:5557", true, &[taken.clone(), taken]);
        assert_eq!(tried, ["tcp://[::]:5557", "tcp://*:5557"]);
        let err = bound.unwrap_err().to_string();
        assert!(
            err.contains("tcp://*:5557") && err.contains("in use"),
            "{err}"
        );
    }

    #[test]
    fn random_ports_stay_dual_stack_until_ipv6_fails() {
        let taken = BindAttempt::InUse("taken".into());
        let failed = BindAttempt::Failed("no IPv6".into());
        let (tried, bound) = tries(
            "tcp://*:0",
            true,
            &[taken, failed, BindAttempt::Bound(50000)],
        );
        assert_eq!(tried.len(), 3, "{tried:?}");
        assert!(tried[0].starts_with("tcp://[::]:"), "{tried:?}");
        assert!(tried[1].starts_with("tcp://[::]:"), "{tried:?}");
        assert!(tried[2].starts_with("tcp://*:"), "{tried:?}");
        assert_eq!(bound.unwrap().to_string(), "tcp://*:50000");
        // The fallback is no extra try: all taken, RANDOM_PORT_TRIES in all.
        let (tried, bound) = tries("tcp://*:0", true, &[]);
        assert_eq!(tried.len(), RANDOM_PORT_TRIES);
        assert!(bound.is_err());
    }

    #[test]
    fn only_the_wildcard_goes_dual_stack() {
        for (spec, dual_stack) in [
            ("tcp://*:5557", false),
            ("tcp://0.0.0.0:5557", true),
            ("tcp://[::]:5557", true),
            ("tcp://127.0.0.1:5557", true),
            ("tcp://[::1]:5557", true),
        ] {
            let (tried, bound) = tries(spec, dual_stack, &[BindAttempt::Bound(5557)]);
            assert_eq!(tried, [spec]);
            assert_eq!(bound.unwrap().to_string(), spec);
        }
    }

    #[test]
    fn this_host_reports_whether_wildcards_are_dual_stack() {
        // Whatever the answer, it is the same each time (it is probed once).
        assert_eq!(wildcard_is_dual_stack(), wildcard_is_dual_stack());
    }

    #[test]
    fn peers_are_named_canonically() {
        for (peer, named) in [
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("[::ffff:10.1.2.3]:5555", "10.1.2.3:5555"),
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.1:80", "127.0.0.1:80"),
            ("::1", "::1"),
            ("[::1]:9", "[::1]:9"),
            ("fe80::1", "fe80::1"),
            ("/tmp/some.sock", "/tmp/some.sock"),
            ("", ""),
        ] {
            assert_eq!(canonical_peer(peer), named, "{peer}");
        }
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        let list = IpAllowList::resolve(&["10.1.2.3".into(), "::1".into()]).unwrap();
        assert!(list.contains(mapped));
        assert!(list.contains("::1".parse().unwrap()));
        assert!(!list.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(
            list.check("::ffff:127.0.0.1".parse().ok(), "::ffff:127.0.0.1"),
            Err("127.0.0.1 is not in authorized_client_addresses".to_owned())
        );
        assert_eq!(
            list.check("::2".parse().ok(), "::2"),
            Err("::2 is not in authorized_client_addresses".to_owned())
        );
    }

    #[test]
    fn non_tcp_endpoints_are_kept() {
        let spec = BindSpec::new("ipc:///tmp/x".parse().unwrap());
        let bound = bind_endpoint(&spec, |_| Ok(BindAttempt::Bound(0))).unwrap();
        assert_eq!(bound, spec.endpoint);
    }
}

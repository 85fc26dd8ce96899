//! What the ZMTP engines (`posttroll-backend-purerust` on omq,
//! `posttroll-backend-zmq` on libzmq) share and is not about their library:
//! the random-port bind loop, the TCP keepalive keys read as one value, the
//! IP allow-list of server sockets, and a mutex lock that ignores
//! poisoning. Each engine plugs its own socket
//! calls in.

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
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

/// The endpoints a bind tries, and the errors it reports.
struct BindPlan<'a> {
    spec: &'a BindSpec,
    /// The random-port range `[lo, hi)` when the endpoint is TCP port 0.
    random: Option<(u32, u32)>,
    tried: usize,
}

impl<'a> BindPlan<'a> {
    fn new(spec: &'a BindSpec) -> Result<BindPlan<'a>> {
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
        Some(match self.random {
            Some((lo, hi)) => {
                let offset = random_u64() % u64::from(hi - lo);
                let port = u16::try_from(u64::from(lo) + offset).unwrap_or(u16::MAX);
                self.spec.endpoint.with_port(port)
            }
            None => self.spec.endpoint.clone(),
        })
    }

    /// What one attempt on `candidate` means: the endpoint bound, the
    /// error, or `None` to try another port.
    fn outcome(&self, candidate: &Endpoint, attempt: BindAttempt) -> Option<Result<Endpoint>> {
        match attempt {
            BindAttempt::Bound(port) => Some(Ok(match candidate {
                Endpoint::Tcp { .. } => candidate.with_port(port),
                other => other.clone(),
            })),
            BindAttempt::InUse(_) if self.random.is_some() => None,
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
    mut attempt: impl FnMut(&Endpoint) -> Result<BindAttempt>,
) -> Result<Endpoint> {
    let mut plan = BindPlan::new(spec)?;
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
    let mut plan = BindPlan::new(spec)?;
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
            tracing::debug!(
                endpoint = %endpoint,
                peer = not.peer.as_deref().unwrap_or("?"),
                "dropping a message that is not a request (no envelope delimiter)"
            );
            None
        }
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
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.ips.contains(&ip)
    }

    /// Whether the peer at `address` (its IP, if it has one) may connect.
    ///
    /// # Errors
    ///
    /// The reason for the refusal, for the log.
    pub fn check(&self, ip: Option<IpAddr>, address: &str) -> std::result::Result<(), String> {
        match ip.map(|ip| ip.to_canonical()) {
            Some(ip) if self.contains(ip) => Ok(()),
            Some(ip) => Err(format!("{ip} is not in authorized_client_addresses")),
            None => Err(format!(
                "peer '{address}' has no IP address to check against authorized_client_addresses"
            )),
        }
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

    #[test]
    fn non_tcp_endpoints_are_kept() {
        let spec = BindSpec::new("ipc:///tmp/x".parse().unwrap());
        let bound = bind_endpoint(&spec, |_| Ok(BindAttempt::Bound(0))).unwrap();
        assert_eq!(bound, spec.endpoint);
    }
}

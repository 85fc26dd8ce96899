//! Kept request sockets, for [`Transport::request`](crate::Transport::request)
//! implementations: the pool of answered REQ sockets and the rule for
//! asking again when a kept one does not answer. Both ZMTP engines use it
//! with their own socket type.

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Endpoint, Error, Result, Security};

/// How many idle REQ sockets a pool keeps per endpoint, security and scope.
pub const KEPT_REQUESTERS: usize = 2;

/// How long an idle REQ socket is kept: one unused for longer is closed
/// instead of reused.
pub const REQUESTER_IDLE: Duration = Duration::from_secs(30);

/// How long a request waits for its reply on a kept REQ socket (at most
/// half its timeout) before it is asked again on a new socket: a kept
/// socket's connection may have died with a restarted server, taking the
/// request with it.
pub const KEPT_REQUESTER_CHANCE: Duration = Duration::from_millis(500);

/// Idle, answered REQ sockets `S` by endpoint, security and a `scope` the
/// engine needs on top (e.g. the async runtime a socket belongs to; `()`
/// when none).
///
/// # Examples
///
/// ```
/// use posttroll_core::requesters::RequesterPool;
/// use posttroll_core::{Endpoint, Security};
///
/// let pool: RequesterPool<&str> = RequesterPool::new();
/// let ns = Endpoint::tcp("127.0.0.1", 5557);
/// pool.keep(&ns, Security::Plain, (), "socket");
/// assert_eq!(pool.take(&ns, Security::Plain, &()), Some("socket"));
/// assert_eq!(pool.take(&ns, Security::Plain, &()), None);
/// ```
pub struct RequesterPool<S, K = ()> {
    kept: Mutex<Vec<Kept<S, K>>>,
}

struct Kept<S, K> {
    endpoint: Endpoint,
    security: Security,
    scope: K,
    socket: S,
    idle_since: Instant,
}

impl<S, K: PartialEq> RequesterPool<S, K> {
    /// An empty pool.
    pub fn new() -> RequesterPool<S, K> {
        RequesterPool {
            kept: Mutex::new(Vec::new()),
        }
    }

    /// The most recently kept idle socket to `endpoint` with `security` in
    /// `scope`, if any; closes (drops) those idle for longer than
    /// [`REQUESTER_IDLE`].
    pub fn take(&self, endpoint: &Endpoint, security: Security, scope: &K) -> Option<S> {
        let mut kept = self.lock();
        kept.retain(|r| r.idle_since.elapsed() < REQUESTER_IDLE);
        let index = kept.iter().rposition(|r| {
            r.security == security && r.scope == *scope && r.endpoint == *endpoint
        })?;
        Some(kept.swap_remove(index).socket)
    }

    /// Keeps an answered `socket` for the next request, or drops it when
    /// [`KEPT_REQUESTERS`] are kept already for the same endpoint,
    /// security and scope.
    pub fn keep(&self, endpoint: &Endpoint, security: Security, scope: K, socket: S) {
        let mut kept = self.lock();
        let same = kept
            .iter()
            .filter(|r| r.security == security && r.scope == scope && r.endpoint == *endpoint)
            .count();
        if same < KEPT_REQUESTERS {
            kept.push(Kept {
                endpoint: endpoint.clone(),
                security,
                scope,
                socket,
                idle_since: Instant::now(),
            });
        }
    }

    /// Locks the list, ignoring poisoning (socket handles stay consistent
    /// whatever panicked elsewhere).
    fn lock(&self) -> MutexGuard<'_, Vec<Kept<S, K>>> {
        crate::engine::lock(&self.kept)
    }
}

impl<S, K: PartialEq> Default for RequesterPool<S, K> {
    fn default() -> RequesterPool<S, K> {
        RequesterPool::new()
    }
}

impl<S, K> fmt::Debug for RequesterPool<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.kept.lock().map_or(0, |k| k.len());
        f.debug_struct("RequesterPool")
            .field("idle", &idle)
            .finish()
    }
}

/// One request within `timeout`, first on the `kept` socket when there is
/// one, then on a new socket from `open`.
///
/// `exchange(socket, fresh, limit)` sends the request on `socket`
/// (connecting it first when `fresh`) and gives the reply, or `None` when
/// none came within `limit`; it keeps or closes the socket itself. A kept
/// socket gets [`KEPT_REQUESTER_CHANCE`] (at most half of `timeout`); with
/// no reply, or an error, the request is asked again on a new socket
/// within the rest of `timeout`. Only for idempotent requests (nameserver
/// lookups, announcements).
///
/// # Errors
///
/// What `open` or the last `exchange` returns; [`Error::Timeout`] naming
/// `endpoint` when no reply came in time.
pub async fn request_with_retry<S, F, Fut>(
    endpoint: &Endpoint,
    kept: Option<S>,
    timeout: Duration,
    open: impl FnOnce() -> Result<S>,
    mut exchange: F,
) -> Result<Bytes>
where
    F: FnMut(S, bool, Duration) -> Fut,
    Fut: Future<Output = Result<Option<Bytes>>>,
{
    let deadline = Instant::now() + timeout;
    if let Some(socket) = kept {
        let first = KEPT_REQUESTER_CHANCE.min(timeout / 2);
        match exchange(socket, false, first).await {
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => tracing::debug!(
                "no reply on a kept REQ socket to {endpoint} within {first:?}: asking again on a new one"
            ),
            Err(e) => tracing::debug!(
                "a kept REQ socket to {endpoint} failed ({e}): asking again on a new one"
            ),
        }
    }
    let socket = open()?;
    let left = deadline.saturating_duration_since(Instant::now());
    match exchange(socket, true, left).await? {
        Some(reply) => Ok(reply),
        None => Err(Error::timeout(format!("a reply from {endpoint}"), timeout)),
    }
}

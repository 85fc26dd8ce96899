//! The nameserver's HTTP endpoint (`--metrics-address`): `GET /metrics`
//! (Prometheus text format), `GET /healthz` (liveness: 200 while the
//! process serves) and `GET /readyz` (200 once [`Readiness`] says ready,
//! 503 before and while stopping).
//!
//! A small HTTP/1.1 responder on tokio, written for untrusted peers: one
//! request per connection (`Connection: close`); the request head (request
//! line and headers) is at most [`Limits::max_head_bytes`] (8 KiB, else 431)
//! and must arrive within [`Limits::read_timeout`] (else 408); the reply
//! must be taken within [`Limits::write_timeout`], after which the
//! connection is closed (what the peer sent beyond the head is dropped, at
//! most 64 KiB or 1 s, so that the close does not reset the reply); at most
//! [`Limits::max_connections`] are served at once (others are closed at
//! once, after a 503 if their socket takes it without waiting; the peer may
//! see a reset instead); each connection is its own
//! task, so a slow one stalls no other. A request line that is not
//! `METHOD TARGET HTTP/1.x` gets 400, a method other than `GET` on a known
//! path 405 (`Allow: GET`), an unknown path 404. Headers and bodies are
//! not read further. Nothing a peer sends can make it panic.
//!
//! # Examples
//!
//! ```
//! use posttroll_cli::http_endpoint::{HttpEndpoint, Limits, Readiness};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # posttroll_cli::runtime()?.block_on(async {
//! let readiness = Readiness::new();
//! let endpoint = HttpEndpoint::bind(
//!     "127.0.0.1:0".parse().unwrap(),
//!     || "up 1\n".to_owned(),
//!     readiness.clone(),
//!     Limits::default(),
//! )
//! .await?;
//! let address = endpoint.local_addr();
//! let server = tokio::spawn(endpoint.serve());
//! readiness.set_ready(true);
//!
//! let mut client = tokio::net::TcpStream::connect(address).await?;
//! client.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply).await?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("\r\n\r\nup 1\n"));
//! server.abort();
//! # Ok::<(), std::io::Error>(())
//! # })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How much a peer may send and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of a request head (request line and headers, up to
    /// the blank line); default 8 KiB.
    pub max_head_bytes: usize,
    /// How long the whole head may take to arrive; default 5 s.
    pub read_timeout: Duration,
    /// How long the reply may take to be written; default 5 s.
    pub write_timeout: Duration,
    /// How many connections are served at once; default 32.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 8 * 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            max_connections: 32,
        }
    }
}

/// Whether the service is ready (`/readyz`): false until
/// [`set_ready`](Readiness::set_ready)`(true)`; cheap to clone, clones
/// share the flag.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Says the service is ready (its ports bound and its loops running),
    /// or no longer (stopping).
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// True when ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What renders `/metrics`.
type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A bound endpoint; [`serve`](HttpEndpoint::serve) answers its requests.
pub struct HttpEndpoint {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("local_addr", &self.local_addr)
            .field("limits", &self.shared.limits)
            .finish()
    }
}

struct Shared {
    render: Render,
    readiness: Readiness,
    limits: Limits,
}

impl HttpEndpoint {
    /// Binds `address` (port 0: a free port); `render` gives the body of
    /// `/metrics`.
    ///
    /// # Errors
    ///
    /// The address cannot be bound (in use, not this host's, ...).
    pub async fn bind(
        address: SocketAddr,
        render: impl Fn() -> String + Send + Sync + 'static,
        readiness: Readiness,
        limits: Limits,
    ) -> io::Result<HttpEndpoint> {
        let listener = TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        Ok(HttpEndpoint {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                render: Arc::new(render),
                readiness,
                limits,
            }),
        })
    }

    /// The address as bound (with the real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Answers requests until dropped (abort the task that runs it), each
    /// connection in a task of its own.
    pub async fn serve(self) {
        let permits = Arc::new(Semaphore::new(self.shared.limits.max_connections.max(1)));
        loop {
            let (stream, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: do not spin.
                    tracing::warn!(error = %e, "metrics endpoint: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        answer(stream, peer, &shared).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    tracing::debug!(%peer, "metrics endpoint busy: closing a connection");
                    // Without waiting for anything: what has arrived is
                    // dropped (so the close is less likely to reset the
                    // reply), the reply is what the socket takes at once.
                    let mut sink = [0u8; 1024];
                    while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
                    let _ = stream.try_write(&Reply::text(503, "too many connections\n").bytes());
                }
            }
        }
    }
}

/// Why no request head was read.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    /// Longer than the limit.
    TooLarge,
    /// The peer closed (or the connection failed) before a whole head.
    Closed,
}

/// Reads up to the blank line that ends a request head, at most `max`
/// bytes.
async fn read_head(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut head = Vec::with_capacity(512.min(max));
    let mut chunk = [0u8; 1024];
    loop {
        let room = max.saturating_sub(head.len()).min(chunk.len());
        if room == 0 {
            return Err(HeadError::TooLarge);
        }
        let n = match stream.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(n) => n,
        };
        let scan_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_blank_line(&head[scan_from..]) {
            head.truncate(scan_from + end);
            return Ok(head);
        }
    }
}

/// Where the first `\r\n\r\n` (or a bare `\n\n`) ends, if any.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, pair)| {
        if pair == b"\n\n" {
            Some(i + 2)
        } else if pair == b"\n\r" && bytes.get(i + 2) == Some(&b'\n') {
            Some(i + 3)
        } else {
            None
        }
    })
}

/// Serves one connection: reads its head, writes the reply, closes.
async fn answer(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let limits = shared.limits;
    let head = tokio::time::timeout(
        limits.read_timeout,
        read_head(&mut stream, limits.max_head_bytes),
    )
    .await;
    let reply = match head {
        Ok(Ok(head)) => route(&head, shared),
        Ok(Err(HeadError::TooLarge)) => {
            tracing::debug!(%peer, "metrics endpoint: request head over {} bytes", limits.max_head_bytes);
            Reply::text(431, "request head too large\n")
        }
        Ok(Err(HeadError::Closed)) => return,
        Err(_) => {
            tracing::debug!(%peer, "metrics endpoint: no request head within {:?}", limits.read_timeout);
            Reply::text(408, "request timeout\n")
        }
    };
    let write = async {
        stream.write_all(&reply.bytes()).await?;
        stream.shutdown().await
    };
    if let Ok(Err(e)) | Err(e) = tokio::time::timeout(limits.write_timeout, write)
        .await
        .map_err(io::Error::from)
    {
        tracing::debug!(%peer, error = %e, "metrics endpoint: the reply was not taken");
        return;
    }
    // What the peer sent beyond the head (a body, the rest of a head too
    // long) is read and dropped until it closes, at most `DRAIN_BYTES` and
    // `DRAIN_TIME`: closing with unread input would reset the connection,
    // and the peer could lose the reply.
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME.min(limits.read_timeout), drain).await;
}

/// The most bytes read and dropped after a reply.
const DRAIN_BYTES: usize = 64 * 1024;

/// How long a peer may take to close after its reply.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The reply to a request head.
fn route(head: &[u8], shared: &Shared) -> Reply {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Reply::text(400, "bad request line\n");
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Reply::text(400, "bad request line\n");
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Reply::text(400, "bad request line\n");
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let known = matches!(path, "/metrics" | "/healthz" | "/readyz");
    if !known {
        return Reply::text(404, "not found: try /metrics, /healthz or /readyz\n");
    }
    if method != "GET" {
        let mut reply = Reply::text(405, "method not allowed: GET only\n");
        reply.allow_get = true;
        return reply;
    }
    match path {
        "/metrics" => Reply {
            status: 200,
            content_type: METRICS_CONTENT_TYPE,
            body: (shared.render)(),
            allow_get: false,
        },
        "/healthz" => Reply::text(200, "ok\n"),
        _ if shared.readiness.is_ready() => Reply::text(200, "ready\n"),
        _ => Reply::text(503, "not ready\n"),
    }
}

/// A reply, written with `Connection: close`.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Adds `Allow: GET` (405).
    allow_get: bool,
}

impl Reply {
    fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            allow_get: false,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "",
        };
        let allow = if self.allow_get { "Allow: GET\r\n" } else { "" };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn shared(ready: bool) -> Shared {
        let readiness = Readiness::new();
        readiness.set_ready(ready);
        Shared {
            render: Arc::new(|| "m 1\n".to_owned()),
            readiness,
            limits: Limits::default(),
        }
    }

    fn status(head: &[u8], ready: bool) -> u16 {
        route(head, &shared(ready)).status
    }

    #[test]
    fn requests_are_routed() {
        assert_eq!(
            status(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", true),
            200
        );
        assert_eq!(status(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", true), 200);
        assert_eq!(status(b"GET /healthz HTTP/1.1\r\n\r\n", false), 200);
        assert_eq!(status(b"GET /readyz HTTP/1.1\r\n\r\n", false), 503);
        assert_eq!(status(b"GET /readyz HTTP/1.1\r\n\r\n", true), 200);
        assert_eq!(status(b"POST /metrics HTTP/1.1\r\n\r\n", true), 405);
        assert_eq!(status(b"HEAD /healthz HTTP/1.1\r\n\r\n", true), 405);
        assert_eq!(status(b"GET /nope HTTP/1.1\r\n\r\n", true), 404);
        assert_eq!(status(b"GET /metrics HTTP/2\r\n\r\n", true), 400);
        assert_eq!(status(b"GET  /metrics HTTP/1.1\r\n\r\n", true), 400);
        assert_eq!(status(b"GET metrics HTTP/1.1\r\n\r\n", true), 400);
        assert_eq!(status(b"GET /metrics\r\n\r\n", true), 400);
        assert_eq!(status(b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", true), 400);
        assert_eq!(status(b"", true), 400);
        let reply = route(b"PUT /readyz HTTP/1.1\r\n\r\n", &shared(true)).bytes();
        assert!(String::from_utf8(reply)
            .unwrap()
            .contains("\r\nAllow: GET\r\n"));
    }

    #[test]
    fn the_head_ends_at_the_blank_line() {
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(find_blank_line(b""), None);
    }

    #[test]
    fn replies_carry_their_length_and_close() {
        let reply = String::from_utf8(Reply::text(503, "not ready\n").bytes()).unwrap();
        assert_eq!(
            reply,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 10\r\nConnection: close\r\n\r\nnot ready\n"
        );
    }
}

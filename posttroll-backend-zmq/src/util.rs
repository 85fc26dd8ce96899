//! The plumbing of every socket: libzmq errors mapped to ours, connecting
//! and binding a libzmq socket to an [`Endpoint`] (binding through
//! posttroll-core's random-port loop), the mutex-guarded libzmq socket
//! registered with tokio, and the non-blocking send/receive loops that
//! wait on the socket's `ZMQ_FD`. The pure-Rust engine has the same module
//! (without the last two: omq sockets are async already).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use posttroll_core::engine::{bind_endpoint, BindAttempt};
use posttroll_core::{BindSpec, Endpoint, Error, Result};
use tokio::io::unix::AsyncFd;

pub(crate) use posttroll_core::engine::lock;

/// Maps a libzmq error to an [`Error::Io`] saying what was being done
/// (for this crate and `posttroll-backend-securezmq`).
pub fn zmq_error(context: &'static str) -> impl Fn(zmq::Error) -> Error {
    move |e| Error::io(context, std::io::Error::other(e))
}

/// A libzmq socket with its `ZMQ_FD`, shareable between threads: every
/// use goes through the mutex, which gives libzmq the full memory barrier
/// it asks for when a socket moves between threads.
pub(crate) struct Guarded {
    fd: RawFd,
    socket: Mutex<zmq::Socket>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl Guarded {
    /// Locks the socket for a few non-blocking calls (never across an
    /// `.await`).
    pub(crate) fn socket(&self) -> MutexGuard<'_, zmq::Socket> {
        lock(&self.socket)
    }
}

impl AsRawFd for Guarded {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

/// A libzmq socket registered with the tokio reactor through its `ZMQ_FD`
/// (readable interest only: that descriptor only ever signals "something
/// happened, look at `ZMQ_EVENTS`").
///
/// Dropping it deregisters the descriptor, then closes the socket, in that
/// order (the descriptor belongs to the socket).
pub(crate) type Registered = AsyncFd<Guarded>;

/// Registers `socket` with the current tokio runtime.
pub(crate) fn register(socket: zmq::Socket) -> Result<Registered> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::io(
            "registering a ZeroMQ socket",
            std::io::Error::other(
                "no tokio runtime: the zmq backend's sockets must be created inside a tokio \
                 runtime with I/O enabled",
            ),
        ));
    }
    let fd = socket
        .get_fd()
        .map_err(zmq_error("reading the socket's ZMQ_FD"))?;
    crate::ffi::register_readable(Guarded {
        fd,
        socket: Mutex::new(socket),
    })
    .map_err(|e| Error::io("registering a ZeroMQ socket with tokio", e))
}

/// Waits until the socket's `ZMQ_FD` signals, then clears the readiness.
///
/// The caller must have seen `EAGAIN` from a non-blocking receive, or have
/// called [`process_commands`] after a failed send, since its last wait:
/// both leave libzmq's mailbox drained, so any later event signals the
/// descriptor again (an edge tokio sees) and no wakeup is lost.
pub(crate) async fn wait(io: &Registered) -> Result<()> {
    let mut guard = io
        .readable()
        .await
        .map_err(|e| Error::io("waiting for a ZeroMQ socket", e))?;
    guard.clear_ready();
    Ok(())
}

/// Makes libzmq process the socket's pending commands (reading
/// `ZMQ_EVENTS` does, unthrottled), re-arming the `ZMQ_FD` edge.
pub(crate) fn process_commands(socket: &zmq::Socket) -> Result<zmq::PollEvents> {
    socket.get_events().map_err(zmq_error("reading ZMQ_EVENTS"))
}

/// Sends one frame, waiting (asynchronously) while libzmq answers `EAGAIN`.
/// Cancel-safe in the sense that a cancelled call sent nothing.
pub(crate) async fn send_frame(io: &Registered, frame: &[u8], what: &'static str) -> Result<()> {
    loop {
        {
            let socket = io.get_ref().socket();
            match socket.send(frame, zmq::DONTWAIT) {
                Ok(()) => return Ok(()),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(zmq_error(what)(e)),
            }
            // A failed send does not process commands fully: do it now, so
            // that an "activate write" already queued is seen, and any
            // later one signals the descriptor.
            process_commands(&socket)?;
            match socket.send(frame, zmq::DONTWAIT) {
                Ok(()) => return Ok(()),
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(zmq_error(what)(e)),
            }
        }
        wait(io).await?;
    }
}

/// Receives one whole message (all its frames), waiting (asynchronously)
/// for it; the first frame is returned and any further ones are dropped.
/// Cancel-safe: a frame taken from libzmq is returned in the same poll.
pub(crate) async fn recv_first_frame(io: &Registered, what: &'static str) -> Result<bytes::Bytes> {
    loop {
        if let Some(frame) = try_recv_message(io.get_ref(), what)? {
            return Ok(frame);
        }
        wait(io).await?;
    }
}

/// One non-blocking receive of a whole message: `Ok(None)` on `EAGAIN`
/// (which leaves libzmq's mailbox drained).
pub(crate) fn try_recv_message(io: &Guarded, what: &'static str) -> Result<Option<bytes::Bytes>> {
    let socket = io.socket();
    let first = match socket.recv_msg(zmq::DONTWAIT) {
        Ok(msg) => msg,
        Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(None),
        Err(e) => return Err(zmq_error(what)(e)),
    };
    let mut more = first.get_more();
    while more {
        match socket.recv_msg(zmq::DONTWAIT) {
            Ok(part) => {
                tracing::debug!("dropping an extra frame of a multipart message");
                more = part.get_more();
            }
            // The parts of a message arrive together: this cannot wait.
            Err(e) => return Err(zmq_error(what)(e)),
        }
    }
    Ok(Some(into_bytes(first)))
}

/// A received libzmq message as [`bytes::Bytes`], without copying.
pub(crate) fn into_bytes(msg: zmq::Message) -> bytes::Bytes {
    bytes::Bytes::from_owner(Frame(msg))
}

/// Owns a libzmq message for [`bytes::Bytes::from_owner`].
struct Frame(zmq::Message);

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// True when an endpoint string can be handed to libzmq (the `zmq` crate
/// panics on an interior NUL).
pub(crate) fn check_endpoint(endpoint: &str) -> Result<()> {
    if endpoint.contains('\0') {
        return Err(Error::InvalidAddress {
            address: endpoint.replace('\0', "\\0"),
            reason: "an endpoint cannot contain a NUL character".to_owned(),
        });
    }
    Ok(())
}

/// Connects `socket` to `endpoint`.
pub(crate) fn connect(socket: &zmq::Socket, endpoint: &Endpoint) -> Result<()> {
    let url = endpoint.to_string();
    check_endpoint(&url)?;
    socket.connect(&url).map_err(|e| Error::Connect {
        endpoint: url.clone(),
        reason: e.to_string(),
    })
}

/// Binds `socket` as `spec` says and returns the endpoint bound (a TCP
/// port 0 replaced by the port picked): core's bind loop with libzmq's
/// bind. `ZMQ_IPV6` is on for an IPv6 host (`tcp://*` is tried as
/// `tcp://[::]`, which libzmq then binds dual-stack, `IPV6_V6ONLY` off)
/// and off otherwise.
pub(crate) fn bind(socket: &zmq::Socket, spec: &BindSpec) -> Result<Endpoint> {
    bind_endpoint(spec, |candidate| {
        let url = candidate.to_string();
        check_endpoint(&url)?;
        socket
            .set_ipv6(candidate.host().is_some_and(|h| h.contains(':')))
            .map_err(zmq_error("setting ZMQ_IPV6"))?;
        Ok(match socket.bind(&url) {
            Ok(()) => BindAttempt::Bound(bound_port(socket, candidate.port().unwrap_or(0))),
            Err(e @ zmq::Error::EADDRINUSE) => BindAttempt::InUse(e.to_string()),
            Err(e) => BindAttempt::Failed(e.to_string()),
        })
    })
}

/// The TCP port `socket` was last bound to (`ZMQ_LAST_ENDPOINT`), or
/// `asked` if libzmq does not say.
fn bound_port(socket: &zmq::Socket, asked: u16) -> u16 {
    match socket.get_last_endpoint() {
        Ok(Ok(last)) => last
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(asked),
        _ => asked,
    }
}

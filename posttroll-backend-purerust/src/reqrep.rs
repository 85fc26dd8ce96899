//! Reply sockets (the REQ side is [`Transport::request`](posttroll_core::Transport::request)).
//!
//! A reply socket is an omq `ROUTER` with `router_mandatory`, not a `REP`:
//! a `REP` must deliver each reply before it may receive the next request,
//! so one requester that never reads its replies (a DEALER that keeps
//! sending) wedges it for everybody. A `ROUTER` keeps each requester's
//! envelope with its request, and a reply that cannot be queued at once
//! (the requester's queue is full, or it is gone) is dropped for that
//! requester only. REQ clients (pyzmq's, libzmq's, ours) see no difference
//! on the wire.

use async_trait::async_trait;
use bytes::Bytes;
use omq_tokio::{IdentitySocket, Message, Socket, TrySendError};
use posttroll_core::engine::{canonical_peer, routed_request};
use posttroll_core::{Delivery, Endpoint, Error, ReplySocket, ReplyTo, Request, Result};

use crate::{omq_error, SocketOptions};

/// The first frame of a message (the rest of a multipart one is dropped).
pub(crate) fn first_frame(mut message: Message) -> Bytes {
    if message.len() > 1 {
        tracing::debug!("dropping the extra frames of a multipart message");
    }
    message.pop_front().unwrap_or_default()
}

/// A bound reply socket of a [`PureRustTransport`](crate::PureRustTransport)
/// (an omq `ROUTER`): requests are received in any number before they are
/// answered, and [`ReplySocket::reply`] never waits: a requester that
/// does not read its replies loses them, nobody else does. A message without the REQ envelope
/// delimiter is not a request and is dropped (as libzmq's `REP` drops it);
/// [`PureReplySocket::malformed`] counts them. Dropping the socket closes
/// it.
pub struct PureReplySocket {
    endpoint: Endpoint,
    options: SocketOptions,
    /// `None` once closed.
    socket: Option<IdentitySocket>,
    /// Messages that were not requests.
    malformed: u64,
    /// Logs failed handshakes and peers disconnected for an error (a frame
    /// over the size cap); aborted on close and drop.
    monitor: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for PureReplySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PureReplySocket")
            .field("endpoint", &self.endpoint)
            .field("malformed", &self.malformed)
            .field("closed", &self.socket.is_none())
            .finish()
    }
}

impl PureReplySocket {
    pub(crate) fn new(
        endpoint: Endpoint,
        socket: Socket,
        options: SocketOptions,
        monitor: Option<tokio::task::JoinHandle<()>>,
    ) -> Result<PureReplySocket> {
        let socket = IdentitySocket::try_from(socket).map_err(omq_error("making a ROUTER"))?;
        Ok(PureReplySocket {
            endpoint,
            options,
            socket: Some(socket),
            malformed: 0,
            monitor,
        })
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the reply socket on {}", self.endpoint))
    }

    /// The omq options the socket was made with (diagnostics and tests).
    pub fn options(&self) -> &SocketOptions {
        &self.options
    }

    /// How many received messages were not requests (no envelope
    /// delimiter, or no body) and were dropped.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

impl Drop for PureReplySocket {
    fn drop(&mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
    }
}

#[async_trait]
impl ReplySocket for PureReplySocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn recv(&mut self) -> Result<Request> {
        loop {
            let socket = self.socket.as_ref().ok_or_else(|| self.closed_error())?;
            let (identity, message) = match socket.recv_from().await {
                Ok(received) => received,
                Err(omq_tokio::Error::Closed) => return Err(self.closed_error()),
                Err(e) => return Err(omq_error("receiving a request (ROUTER)")(e)),
            };
            let peer = identity
                .peer_info()
                .peer_address
                .map(|a| canonical_peer(&a.to_string()));
            let mut message = message;
            let mut frames = Vec::with_capacity(message.len());
            while let Some(part) = message.pop_front() {
                frames.push(part);
            }
            let identity = identity.to_bytes();
            if let Some(request) =
                routed_request(&self.endpoint, identity, frames, peer, &mut self.malformed)
            {
                return Ok(request);
            }
        }
    }

    fn reply(&mut self, to: &ReplyTo, frame: Bytes) -> Result<Delivery> {
        let socket = self.socket.as_ref().ok_or_else(|| self.closed_error())?;
        let Some((identity, envelope)) = to.envelope.split_first() else {
            return Err(Error::Protocol(format!(
                "a reply on {} needs the envelope of its request",
                self.endpoint
            )));
        };
        let message = Message::multipart(envelope.iter().cloned().chain(std::iter::once(frame)));
        match socket.try_send_to(identity, message) {
            Ok(()) => Ok(Delivery::Sent),
            Err(TrySendError::Full(_)) => Ok(Delivery::DroppedPeerBusy),
            Err(TrySendError::Error(omq_tokio::Error::Unroutable)) => Ok(Delivery::DroppedPeerGone),
            Err(TrySendError::Closed) => Err(self.closed_error()),
            Err(TrySendError::Error(e)) => Err(omq_error("replying (ROUTER)")(e)),
        }
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
        if let Some(socket) = self.socket.take() {
            let _ = socket.into_inner().close().await;
        }
        Ok(())
    }
}

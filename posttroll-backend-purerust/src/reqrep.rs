//! REP sockets (the REQ side is [`Transport::request`](posttroll_core::Transport::request)).

use async_trait::async_trait;
use bytes::Bytes;
use omq_tokio::{Message, Socket};
use posttroll_core::{Endpoint, Error, ReplySocket, Result};

use crate::{omq_error, SocketOptions};

/// The first frame of a message (the rest of a multipart one is dropped).
pub(crate) fn first_frame(mut message: Message) -> Bytes {
    if message.len() > 1 {
        tracing::debug!("dropping the extra frames of a multipart message");
    }
    message.pop_front().unwrap_or_default()
}

/// A bound REP socket of a [`PureRustTransport`](crate::PureRustTransport):
/// `recv` a request, then `reply` to it, in turn (receiving twice, or
/// replying with no request, is an [`Error::Protocol`]). A multipart
/// request is read whole and only its first frame returned. Dropping it
/// closes it.
pub struct PureReplySocket {
    endpoint: Endpoint,
    options: SocketOptions,
    /// `None` once closed.
    socket: Option<Socket>,
    /// A request was received and not yet answered.
    pending: bool,
    /// Logs failed handshakes (CURVE servers); aborted on close and drop.
    monitor: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for PureReplySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PureReplySocket")
            .field("endpoint", &self.endpoint)
            .field("pending", &self.pending)
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
    ) -> PureReplySocket {
        PureReplySocket {
            endpoint,
            options,
            socket: Some(socket),
            pending: false,
            monitor,
        }
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the reply socket on {}", self.endpoint))
    }

    fn socket(&self) -> Result<&Socket> {
        self.socket.as_ref().ok_or_else(|| self.closed_error())
    }

    /// The omq options the socket was made with (diagnostics and tests).
    pub fn options(&self) -> &SocketOptions {
        &self.options
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

    async fn recv(&mut self) -> Result<Bytes> {
        let socket = self.socket()?;
        if self.pending {
            return Err(Error::Protocol(format!(
                "the reply socket on {} must reply to its request before receiving another",
                self.endpoint
            )));
        }
        let message = match socket.recv().await {
            Ok(message) => message,
            Err(omq_tokio::Error::Closed) => return Err(self.closed_error()),
            Err(e) => return Err(omq_error("receiving a request (REP)")(e)),
        };
        self.pending = true;
        Ok(first_frame(message))
    }

    async fn reply(&mut self, frame: Bytes) -> Result<()> {
        let socket = self.socket()?;
        if !self.pending {
            return Err(Error::Protocol(format!(
                "the reply socket on {} has no request to reply to",
                self.endpoint
            )));
        }
        socket
            .send(Message::single(frame))
            .await
            .map_err(omq_error("replying (REP)"))?;
        self.pending = false;
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        self.pending = false;
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
        if let Some(socket) = self.socket.take() {
            let _ = socket.close().await;
        }
        Ok(())
    }
}

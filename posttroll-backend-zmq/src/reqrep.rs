//! REP sockets (the REQ side is [`Transport::request`](posttroll_core::Transport::request)).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::{Endpoint, Error, ReplySocket, Result};

use crate::util::{self, Registered};
use crate::zap::ZapHandler;
use crate::SocketOptions;

/// A bound REP socket of a [`ZmqTransport`](crate::ZmqTransport): `recv` a
/// request, then `reply` to it, in turn (receiving twice, or replying with
/// no request, is an [`Error::Protocol`]). A multipart request is read
/// whole and only its first frame returned. Dropping it closes it.
pub struct ZmqReplySocket {
    endpoint: Endpoint,
    /// `None` once closed.
    io: Option<Registered>,
    /// A request was received and not yet answered.
    pending: bool,
    /// Kept alive while the socket may get connections.
    _zap: Option<Arc<ZapHandler>>,
}

impl std::fmt::Debug for ZmqReplySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqReplySocket")
            .field("endpoint", &self.endpoint)
            .field("pending", &self.pending)
            .field("closed", &self.io.is_none())
            .finish()
    }
}

impl ZmqReplySocket {
    pub(crate) fn new(
        endpoint: Endpoint,
        io: Registered,
        zap: Option<Arc<ZapHandler>>,
    ) -> ZmqReplySocket {
        ZmqReplySocket {
            endpoint,
            io: Some(io),
            pending: false,
            _zap: zap,
        }
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("the reply socket on {}", self.endpoint))
    }

    fn io(&self) -> Result<&Registered> {
        self.io.as_ref().ok_or_else(|| self.closed_error())
    }

    /// The socket's ZeroMQ options (diagnostics and tests).
    ///
    /// # Errors
    ///
    /// `Closed` once closed.
    pub fn options(&self) -> Result<SocketOptions> {
        let socket = self.io()?.get_ref().socket();
        SocketOptions::read(&socket)
    }
}

#[async_trait]
impl ReplySocket for ZmqReplySocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn recv(&mut self) -> Result<Bytes> {
        let io = self.io()?;
        if self.pending {
            return Err(Error::Protocol(format!(
                "the reply socket on {} must reply to its request before receiving another",
                self.endpoint
            )));
        }
        let frame = util::recv_first_frame(io, "receiving a request (REP)").await?;
        self.pending = true;
        Ok(frame)
    }

    async fn reply(&mut self, frame: Bytes) -> Result<()> {
        let io = self.io()?;
        if !self.pending {
            return Err(Error::Protocol(format!(
                "the reply socket on {} has no request to reply to",
                self.endpoint
            )));
        }
        util::send_frame(io, &frame, "replying (REP)").await?;
        self.pending = false;
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        self.pending = false;
        // Deregisters, then closes (LINGER SERVER_LINGER).
        self.io = None;
        Ok(())
    }
}

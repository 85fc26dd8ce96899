//! Reply sockets (the REQ side is [`Transport::request`](posttroll_core::Transport::request)).
//!
//! A reply socket is a libzmq `ROUTER` with `ZMQ_ROUTER_MANDATORY`, not a
//! `REP`: a `REP` must deliver each reply before it may receive the next
//! request, so one requester that never reads its replies (a DEALER that
//! keeps sending) wedges it for everybody. A `ROUTER` keeps each
//! requester's envelope with its request, and a reply that cannot be queued
//! at once (`EAGAIN`: the requester's queue is full; `EHOSTUNREACH`: it is
//! gone) is dropped for that requester only. REQ clients (pyzmq's,
//! libzmq's, ours) see no difference on the wire.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use posttroll_core::engine::{canonical_peer, routed_request};
use posttroll_core::{Delivery, Endpoint, Error, ReplySocket, ReplyTo, Request, Result};

use crate::util::{self, into_bytes, zmq_error, Registered};
use crate::zap::ZapHandler;
use crate::SocketOptions;

/// The most frames of one routed message kept (identity, envelope, body);
/// the rest are read and dropped.
const MAX_FRAMES: usize = 16;

/// A bound reply socket of a [`ZmqTransport`](crate::ZmqTransport) (a
/// libzmq `ROUTER`): requests are received in any number before they are
/// answered, and [`ReplySocket::reply`] never waits: a requester that
/// does not read its replies loses them, nobody else does. A message without the REQ envelope
/// delimiter is not a request and is dropped (as libzmq's `REP` drops it);
/// [`ZmqReplySocket::malformed`] counts them. Dropping it closes it.
pub struct ZmqReplySocket {
    endpoint: Endpoint,
    /// `None` once closed.
    io: Option<Registered>,
    /// Messages that were not requests.
    malformed: u64,
    /// Kept alive while the socket may get connections.
    _zap: Option<Arc<ZapHandler>>,
}

impl std::fmt::Debug for ZmqReplySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqReplySocket")
            .field("endpoint", &self.endpoint)
            .field("malformed", &self.malformed)
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
            malformed: 0,
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

    /// How many received messages were not requests (no envelope
    /// delimiter, or no body) and were dropped.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// One non-blocking receive of a whole routed message: its frames and
    /// the sender's address, or `None` on `EAGAIN` (which leaves libzmq's
    /// mailbox drained).
    fn try_recv(&self) -> Result<Option<(Vec<Bytes>, Option<String>)>> {
        let io = self.io()?;
        let socket = io.get_ref().socket();
        let what = "receiving a request (ROUTER)";
        let mut first = match socket.recv_msg(zmq::DONTWAIT) {
            Ok(msg) => msg,
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => return Ok(None),
            Err(e) => return Err(zmq_error(what)(e)),
        };
        let peer = first.gets("Peer-Address").map(canonical_peer);
        let mut more = first.get_more();
        let mut frames = vec![into_bytes(first)];
        while more {
            // The parts of a message arrive together: this cannot wait.
            let part = socket.recv_msg(zmq::DONTWAIT).map_err(zmq_error(what))?;
            more = part.get_more();
            if frames.len() < MAX_FRAMES {
                frames.push(into_bytes(part));
            }
        }
        Ok(Some((frames, peer)))
    }
}

#[async_trait]
impl ReplySocket for ZmqReplySocket {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn recv(&mut self) -> Result<Request> {
        loop {
            let Some((mut frames, peer)) = self.try_recv()? else {
                util::wait(self.io()?).await?;
                continue;
            };
            let identity = frames.remove(0);
            if let Some(request) =
                routed_request(&self.endpoint, identity, frames, peer, &mut self.malformed)
            {
                return Ok(request);
            }
        }
    }

    fn reply(&mut self, to: &ReplyTo, frame: Bytes) -> Result<Delivery> {
        let io = self.io()?;
        if to.envelope.is_empty() {
            return Err(Error::Protocol(format!(
                "a reply on {} needs the envelope of its request",
                self.endpoint
            )));
        }
        let socket = io.get_ref().socket();
        let what = "replying (ROUTER)";
        // With ZMQ_ROUTER_MANDATORY, the first frame (the identity) decides:
        // EAGAIN when the requester's queue is full, EHOSTUNREACH when it is
        // gone; the rest of the message then always goes.
        for (i, part) in to.envelope.iter().enumerate() {
            match socket.send(&part[..], zmq::DONTWAIT | zmq::SNDMORE) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if i == 0 => return Ok(Delivery::DroppedPeerBusy),
                Err(zmq::Error::EHOSTUNREACH) if i == 0 => return Ok(Delivery::DroppedPeerGone),
                Err(e) => return Err(zmq_error(what)(e)),
            }
        }
        socket
            .send(&frame[..], zmq::DONTWAIT)
            .map_err(zmq_error(what))?;
        Ok(Delivery::Sent)
    }

    async fn close(&mut self) -> Result<()> {
        // Deregisters, then closes (LINGER SERVER_LINGER).
        self.io = None;
        Ok(())
    }
}

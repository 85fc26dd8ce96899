//! The [`Discovery`] trait: the announcement channel.
//!
//! Publishers announce their address by sending small datagrams (UDP
//! multicast or broadcast on the network; an in-process bus in tests); the
//! nameserver listens for them. Announcing to *designated* nameservers goes
//! over [`crate::Transport::request`] instead and is not part of this trait.
//! The group, port, TTL and interface come from the [`crate::Config`] the
//! backend was built with.

use std::fmt::Debug;
use std::net::IpAddr;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;

/// Opens the two ends of the announcement channel.
#[async_trait]
pub trait Discovery: Send + Sync + Debug {
    /// A sender of announcement datagrams to the configured group.
    async fn sender(&self) -> Result<Box<dyn DatagramSender>>;

    /// A receiver of announcement datagrams on the configured port.
    async fn receiver(&self) -> Result<Box<dyn DatagramReceiver>>;
}

/// Sends announcement datagrams.
#[async_trait]
pub trait DatagramSender: Send + Sync + Debug {
    /// Sends one datagram (at most 1024 bytes are read by receivers).
    async fn send(&self, datagram: Bytes) -> Result<()>;
}

/// Receives announcement datagrams.
#[async_trait]
pub trait DatagramReceiver: Send + Debug {
    /// The next datagram and the IP it came from, when known (cancel-safe).
    async fn recv(&mut self) -> Result<(Bytes, Option<IpAddr>)>;
}

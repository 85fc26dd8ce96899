//! Who may connect to a server socket: the IP allow-list of
//! `authorized_client_addresses` and, for CURVE servers, a client-key
//! policy. Both run as omq's authenticator callback, once per handshake
//! (on tokio's blocking pool), the pure-Rust counterpart of libzmq's ZAP.
//!
//! Every refusal is logged with `tracing::warn!`, naming the peer.
//!
//! ```
//! use posttroll_backend_purerust::auth::IpAllowList;
//!
//! let list = IpAllowList::resolve(&["127.0.0.1".to_owned()]).unwrap();
//! assert!(list.check(Some("127.0.0.1")).is_ok());
//! assert!(list.check(Some("10.0.0.7")).is_err());
//! assert!(list.check(Some("/tmp/some.sock")).is_err());
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use posttroll_core::keystore::{resolve_hosts, ClientKeyPolicy};
use posttroll_core::{PublicKey, Result};

/// Admits only peers whose IP is in a list (`authorized_client_addresses`).
/// A peer with no IP (an IPC peer) is refused, as the reference's
/// authenticator refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAllowList {
    ips: BTreeSet<IpAddr>,
}

impl IpAllowList {
    /// Resolves host names and IP literals to the list of admitted IPs.
    ///
    /// # Errors
    ///
    /// [`posttroll_core::Error::InvalidAddress`] naming the host that does
    /// not resolve.
    pub fn resolve(hosts: &[String]) -> Result<IpAllowList> {
        Ok(IpAllowList {
            ips: resolve_hosts(hosts)?,
        })
    }

    /// The admitted IPs.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ips.iter().copied()
    }

    /// Whether a peer may connect: `peer` is what omq reports as the peer's
    /// address (its IP for TCP, a path for IPC). `Err` says why not.
    ///
    /// # Errors
    ///
    /// The reason for the refusal, for the log.
    pub fn check(&self, peer: Option<&str>) -> std::result::Result<(), String> {
        let ip = peer
            .and_then(|p| p.parse::<IpAddr>().ok())
            .map(|ip| match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            });
        match ip {
            Some(ip) if self.ips.contains(&ip) => Ok(()),
            Some(ip) => Err(format!("{ip} is not in authorized_client_addresses")),
            None => Err(format!(
                "peer '{}' has no IP address to check against authorized_client_addresses",
                peer.unwrap_or("")
            )),
        }
    }
}

/// The admission check of one server socket.
#[derive(Debug, Clone)]
pub(crate) enum Gate {
    /// A plain server socket: the IP allow-list.
    Ips(Arc<IpAllowList>),
    /// A CURVE server socket: posttroll-core's client-key policy (the key
    /// folder, and the IP allow-list when there is one).
    Keys(Arc<ClientKeyPolicy>),
}

impl Gate {
    /// Runs the check on one handshake, logging a refusal.
    pub(crate) fn admit(&self, peer: &omq_tokio::MechanismPeerInfo) -> bool {
        let address = peer.peer_address.as_deref();
        match self {
            Gate::Ips(ips) => match ips.check(address) {
                Ok(()) => {
                    tracing::debug!("admitted a connection from {}", address.unwrap_or("?"));
                    true
                }
                Err(reason) => {
                    tracing::warn!(
                        peer = address.unwrap_or(""),
                        "refused a connection from {}: {reason}",
                        address.unwrap_or("?")
                    );
                    false
                }
            },
            // The policy logs and counts its decisions.
            Gate::Keys(policy) => policy
                .admit(
                    Some(&PublicKey(peer.public_key)),
                    address.and_then(|a| a.parse().ok()),
                )
                .is_admitted(),
        }
    }
}

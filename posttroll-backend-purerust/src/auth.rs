//! Who may connect to a server socket: the IP allow-list of
//! `authorized_client_addresses` and, for CURVE servers, a client-key
//! policy. Both run as omq's authenticator callback, once per handshake
//! (on tokio's blocking pool), the pure-Rust counterpart of libzmq's ZAP.
//!
//! Every refusal is logged with `tracing::warn!`, naming the peer (an IPv4
//! client of a dual-stack `tcp://*` socket by its IPv4 address, as
//! [`canonical_peer`] names it).
//!
//! ```
//! use posttroll_backend_purerust::auth::IpAllowList;
//!
//! let list = IpAllowList::resolve(&["127.0.0.1".to_owned()]).unwrap();
//! assert!(list.check("127.0.0.1".parse().ok(), "127.0.0.1").is_ok());
//! assert!(list.check("10.0.0.7".parse().ok(), "10.0.0.7").is_err());
//! assert!(list.check(None, "/tmp/some.sock").is_err());
//! ```

use std::sync::Arc;

use posttroll_core::engine::canonical_peer;
pub use posttroll_core::engine::IpAllowList;
use posttroll_core::keystore::ClientKeyPolicy;
use posttroll_core::PublicKey;

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
        // An IPv4 client of a dual-stack socket by its IPv4 address.
        let address = peer.peer_address.as_deref().map(canonical_peer);
        let address = address.as_deref();
        match self {
            Gate::Ips(ips) => {
                match ips.check(address.and_then(|a| a.parse().ok()), address.unwrap_or("")) {
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
                }
            }
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

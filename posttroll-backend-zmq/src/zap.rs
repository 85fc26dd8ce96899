//! ZAP, the ZeroMQ authentication protocol (RFC 27, version 1.0): who may
//! connect to a server socket.
//!
//! libzmq asks a *ZAP handler* — whatever socket is bound to
//! `inproc://zeromq.zap.01` in the socket's context — about every new
//! connection to a server socket that has a `ZMQ_ZAP_DOMAIN` (and, with
//! CURVE, about every connection). [`ZmqTransport`](crate::ZmqTransport)
//! runs one handler thread per transport (per context) when it has a policy:
//! the IP allow-list of `authorized_client_addresses` ([`IpAllowList`]),
//! and/or an extra policy given to
//! [`ZmqTransportBuilder::zap_policy`](crate::ZmqTransportBuilder::zap_policy)
//! (the CURVE backend adds a client-key policy there). Every refusal is
//! logged with `tracing::warn!`, naming the peer's address.
//!
//! A policy sees one [`ZapRequest`] and returns a [`ZapDecision`]:
//!
//! ```
//! use posttroll_backend_zmq::zap::{IpAllowList, ZapDecision, ZapPolicy, ZapRequest};
//!
//! let list = IpAllowList::resolve(&["127.0.0.1".to_owned()]).unwrap();
//! let mut request = ZapRequest::null("global", "127.0.0.1");
//! assert!(matches!(list.authenticate(&request), ZapDecision::Allow { .. }));
//! request.address = "10.0.0.7".to_owned();
//! assert!(matches!(list.authenticate(&request), ZapDecision::Deny { .. }));
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use posttroll_core::engine::canonical_peer;
pub use posttroll_core::engine::IpAllowList;
use posttroll_core::{Error, Result};

use crate::util::{lock, zmq_error};

/// The endpoint libzmq sends ZAP requests to (RFC 27).
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// The ZAP domain set on server sockets, as the Python reference sets it.
pub const ZAP_DOMAIN: &str = "global";

/// One ZAP request: a peer asking to connect to a server socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// The server socket's `ZMQ_ZAP_DOMAIN` ([`ZAP_DOMAIN`] for ours).
    pub domain: String,
    /// The peer's address: its IP for TCP (`127.0.0.1`, `::1`; an IPv4
    /// client of a dual-stack `tcp://*` socket, which libzmq names
    /// `::ffff:127.0.0.1`, by its IPv4 address as
    /// [`canonical_peer`] names it); for IPC, libzmq's description of the
    /// peer process, which is no IP.
    pub address: String,
    /// The peer's routing id (usually empty).
    pub identity: Vec<u8>,
    /// The security mechanism: `NULL` (plain), `PLAIN` or `CURVE`.
    pub mechanism: String,
    /// The mechanism's credentials: none for `NULL`; for `CURVE`, one frame,
    /// the client's 32-byte public key.
    pub credentials: Vec<Vec<u8>>,
}

impl ZapRequest {
    /// A `NULL`-mechanism request from `address` (for tests and examples).
    pub fn null(domain: &str, address: &str) -> ZapRequest {
        ZapRequest {
            domain: domain.to_owned(),
            address: address.to_owned(),
            identity: Vec::new(),
            mechanism: "NULL".to_owned(),
            credentials: Vec::new(),
        }
    }

    /// The peer's IP, when [`ZapRequest::address`] is one (an IPv4-mapped
    /// IPv6 address is returned as IPv4).
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.address
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    }

    /// The CURVE public key of the client, when the mechanism is `CURVE`.
    pub fn curve_public_key(&self) -> Option<&[u8]> {
        match (self.mechanism.as_str(), self.credentials.first()) {
            ("CURVE", Some(key)) if key.len() == 32 => Some(key),
            _ => None,
        }
    }
}

/// What a [`ZapPolicy`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZapDecision {
    /// Admit the peer (ZAP status `200`), with a user id for the
    /// connection's metadata (may be empty).
    Allow {
        /// The user id libzmq attaches to the connection.
        user_id: String,
    },
    /// Refuse the peer (ZAP status `400`).
    Deny {
        /// Why, for the log and the ZAP status text.
        reason: String,
    },
}

/// Decides whether a peer may connect. Called on the ZAP handler thread,
/// one request at a time: keep it quick and non-blocking.
pub trait ZapPolicy: Send + Sync + fmt::Debug + 'static {
    /// The decision for one request.
    fn authenticate(&self, request: &ZapRequest) -> ZapDecision;
}

impl ZapPolicy for IpAllowList {
    fn authenticate(&self, request: &ZapRequest) -> ZapDecision {
        match self.check(request.peer_ip(), &request.address) {
            Ok(()) => ZapDecision::Allow {
                user_id: String::new(),
            },
            Err(reason) => ZapDecision::Deny { reason },
        }
    }
}

/// Admits a peer only when every policy admits it (the first refusal
/// wins; the user id is the last non-empty one).
#[derive(Debug, Clone)]
pub struct AllOf(pub Vec<Arc<dyn ZapPolicy>>);

impl ZapPolicy for AllOf {
    fn authenticate(&self, request: &ZapRequest) -> ZapDecision {
        let mut user = String::new();
        for policy in &self.0 {
            match policy.authenticate(request) {
                ZapDecision::Allow { user_id } => {
                    if !user_id.is_empty() {
                        user = user_id;
                    }
                }
                deny => return deny,
            }
        }
        ZapDecision::Allow { user_id: user }
    }
}

/// Answers one raw ZAP request (its frames) with the reply frames.
fn answer(policy: &dyn ZapPolicy, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let reply = |id: &[u8], code: &str, text: &str, user: &str| {
        vec![
            b"1.0".to_vec(),
            id.to_vec(),
            code.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.as_bytes().to_vec(),
            Vec::new(),
        ]
    };
    let id = frames.get(1).map_or(&[][..], Vec::as_slice);
    if frames.len() < 6 {
        tracing::error!(
            frames = frames.len(),
            "malformed ZAP request: too few frames"
        );
        return reply(id, "400", "Not enough frames", "");
    }
    if frames[0] != b"1.0" {
        tracing::error!(
            "ZAP request of unknown version {:?}",
            String::from_utf8_lossy(&frames[0])
        );
        return reply(id, "400", "Invalid version", "");
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let request = ZapRequest {
        domain: text(&frames[2]),
        address: canonical_peer(&text(&frames[3])),
        identity: frames[4].clone(),
        mechanism: text(&frames[5]),
        credentials: frames[6..].to_vec(),
    };
    match policy.authenticate(&request) {
        ZapDecision::Allow { user_id } => {
            tracing::debug!(
                peer = %request.address,
                mechanism = %request.mechanism,
                "ZAP: admitted a connection from {}",
                request.address
            );
            reply(id, "200", "OK", &user_id)
        }
        ZapDecision::Deny { reason } => {
            tracing::warn!(
                peer = %request.address,
                mechanism = %request.mechanism,
                domain = %request.domain,
                "ZAP: refused a connection from {}: {reason}",
                request.address
            );
            reply(id, "400", &reason, "")
        }
    }
}

/// A running ZAP handler: a thread with a REP socket on [`ZAP_ENDPOINT`]
/// in one context. Stopped and joined when the last handle drops (the
/// transport and every server socket that relies on it hold one).
pub(crate) struct ZapHandler {
    /// Sends the stop signal to the thread.
    control: Mutex<Option<zmq::Socket>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    policy: Arc<dyn ZapPolicy>,
}

impl fmt::Debug for ZapHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZapHandler")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ZapHandler {
    /// Binds [`ZAP_ENDPOINT`] in `context` and starts the thread.
    pub(crate) fn start(context: &zmq::Context, policy: Arc<dyn ZapPolicy>) -> Result<ZapHandler> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let zap = context
            .socket(zmq::REP)
            .map_err(zmq_error("creating the ZAP handler socket"))?;
        zap.set_linger(0)
            .map_err(zmq_error("setting LINGER on the ZAP handler socket"))?;
        zap.bind(ZAP_ENDPOINT).map_err(|e| Error::Bind {
            endpoint: ZAP_ENDPOINT.to_owned(),
            reason: format!("{e} (another ZAP handler in this context?)"),
        })?;
        let control_endpoint = format!(
            "inproc://posttroll-zap-control-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let stop_rx = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the ZAP control socket"))?;
        stop_rx
            .set_linger(0)
            .map_err(zmq_error("setting LINGER on the ZAP control socket"))?;
        stop_rx
            .bind(&control_endpoint)
            .map_err(zmq_error("binding the ZAP control socket"))?;
        let stop_tx = context
            .socket(zmq::PAIR)
            .map_err(zmq_error("creating the ZAP control socket"))?;
        stop_tx
            .set_linger(0)
            .map_err(zmq_error("setting LINGER on the ZAP control socket"))?;
        stop_tx
            .connect(&control_endpoint)
            .map_err(zmq_error("connecting the ZAP control socket"))?;
        let thread_policy = policy.clone();
        let thread = std::thread::Builder::new()
            .name("posttroll-zap".to_owned())
            .spawn(move || run(&zap, &stop_rx, &*thread_policy))
            .map_err(|e| Error::io("starting the ZAP handler thread", e))?;
        Ok(ZapHandler {
            control: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            policy,
        })
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        if let Some(control) = lock(&self.control).take() {
            if let Err(e) = control.send(&b"STOP"[..], zmq::DONTWAIT) {
                tracing::error!("cannot stop the ZAP handler thread: {e}");
                // Without the signal the thread would never end: do not wait.
                return;
            }
        }
        if let Some(thread) = lock(&self.thread).take() {
            if thread.join().is_err() {
                tracing::error!("the ZAP handler thread panicked");
            }
        }
    }
}

/// The handler thread: answers requests until the stop signal.
fn run(zap: &zmq::Socket, stop: &zmq::Socket, policy: &dyn ZapPolicy) {
    loop {
        let mut items = [
            zap.as_poll_item(zmq::POLLIN),
            stop.as_poll_item(zmq::POLLIN),
        ];
        match zmq::poll(&mut items, -1) {
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(e) => {
                tracing::error!("the ZAP handler stops: poll failed: {e}");
                return;
            }
        }
        if items[1].is_readable() {
            tracing::debug!("the ZAP handler stops");
            return;
        }
        if !items[0].is_readable() {
            continue;
        }
        loop {
            let frames = match zap.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    tracing::error!("the ZAP handler stops: receive failed: {e}");
                    return;
                }
            };
            let reply = answer(policy, &frames);
            if let Err(e) = zap.send_multipart(reply, 0) {
                tracing::error!("the ZAP handler stops: reply failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_resolves_and_checks() {
        let list =
            IpAllowList::resolve(&["localhost".into(), "10.1.2.3".into(), "[::1]".into()]).unwrap();
        assert!(list.contains("127.0.0.1".parse().unwrap()));
        assert!(list.contains("10.1.2.3".parse().unwrap()));
        let mapped = ZapRequest::null("global", "::ffff:10.1.2.3");
        assert_eq!(mapped.peer_ip(), Some("10.1.2.3".parse().unwrap()));
        assert!(matches!(
            list.authenticate(&mapped),
            ZapDecision::Allow { .. }
        ));
        let ipc = ZapRequest::null("global", "localhost:0:0:1234");
        assert!(matches!(list.authenticate(&ipc), ZapDecision::Deny { .. }));
        let err = IpAllowList::resolve(&["no-such-host.invalid".into()]).unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    }

    #[test]
    fn answers_follow_rfc27() {
        let list = IpAllowList::resolve(&["127.0.0.2".into()]).unwrap();
        let req = |addr: &str| {
            vec![
                b"1.0".to_vec(),
                b"7".to_vec(),
                b"global".to_vec(),
                addr.as_bytes().to_vec(),
                Vec::new(),
                b"NULL".to_vec(),
            ]
        };
        // An IPv4 client of a dual-stack socket, refused by its IPv4 address.
        let mapped = answer(&list, &req("::ffff:127.0.0.1"));
        assert_eq!(mapped[2], b"400");
        assert_eq!(
            mapped[3],
            b"127.0.0.1 is not in authorized_client_addresses"
        );
        assert_eq!(answer(&list, &req("::ffff:127.0.0.2"))[2], b"200");
        let v6 = answer(&list, &req("::1"));
        assert_eq!(v6[3], b"::1 is not in authorized_client_addresses");
        let ok = answer(&list, &req("127.0.0.2"));
        assert_eq!(ok[0], b"1.0");
        assert_eq!(ok[1], b"7");
        assert_eq!(ok[2], b"200");
        assert_eq!(ok.len(), 6);
        assert_eq!(answer(&list, &req("127.0.0.1"))[2], b"400");
        assert_eq!(answer(&list, &[b"1.0".to_vec(), b"1".to_vec()])[2], b"400");
        let mut bad = req("127.0.0.2");
        bad[0] = b"2.0".to_vec();
        assert_eq!(answer(&list, &bad)[2], b"400");
    }

    #[test]
    fn all_of_needs_every_policy() {
        #[derive(Debug)]
        struct User;
        impl ZapPolicy for User {
            fn authenticate(&self, _: &ZapRequest) -> ZapDecision {
                ZapDecision::Allow {
                    user_id: "alice".into(),
                }
            }
        }
        let list = Arc::new(IpAllowList::resolve(&["127.0.0.1".into()]).unwrap());
        let both = AllOf(vec![list, Arc::new(User)]);
        assert_eq!(
            both.authenticate(&ZapRequest::null("global", "127.0.0.1")),
            ZapDecision::Allow {
                user_id: "alice".into()
            }
        );
        assert!(matches!(
            both.authenticate(&ZapRequest::null("global", "127.0.0.3")),
            ZapDecision::Deny { .. }
        ));
    }
}

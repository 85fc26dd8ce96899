//! The CURVE backend of posttroll (`secure_zmq`) on libzmq, wire-compatible
//! with the Python reference's `secure_zmq` (pyzmq's CURVE and its
//! `ThreadAuthenticator`).
//!
//! It is the libzmq transport of `posttroll-backend-zmq` with two hooks:
//!
//! - [`CurveSockets`] (a [`SocketSecurity`]) makes every
//!   [`Security::Curve`] socket a CURVE socket: server sockets (PUB, REP)
//!   with the key pair of `server_secret_key_file`; client sockets (SUB,
//!   REQ) with the key pair of `client_secret_key_file` and the server key
//!   of `server_public_key_file`. The files are ZPL certificates as pyzmq
//!   writes them ([`posttroll_core::keystore::zpl`]), read when each socket
//!   is made, so replaced keys apply to new sockets. A setting that is not
//!   set gives an error naming it (`secure_zmq needs
//!   `client_secret_key_file``), a bad file one naming the file.
//! - [`KeyFolderZap`] (a [`ZapPolicy`]) answers libzmq's ZAP requests with
//!   the engine-independent [`ClientKeyPolicy`] of posttroll-core: a CURVE
//!   client is admitted when its public key is in a `*.key` file of
//!   `clients_public_keys_directory` and, when `authorized_client_addresses`
//!   is set, its IP is listed; a plain client (to the sockets a secure
//!   process serves plain, e.g. the nameserver's port 5557) passes the IP
//!   check only. The folder is re-read when it changes, so adding or
//!   removing a client's key file takes effect at its next connection.
//!
//! Refusals that never reach ZAP — a plain client, or a client using the
//! wrong server key, against a CURVE server — are handshake failures inside
//! libzmq: every CURVE server socket is monitored
//! (`zmq_socket_monitor`) and each failed handshake is logged with
//! `tracing::warn!` and counted ([`SecureZmqTransport::handshake_failures`]).
//!
//! Which socket is secure is the facade's choice, through
//! [`Security`]: with `backend: secure_zmq` every server socket except the
//! nameserver's plain lookup port, and every client socket whose peer
//! announces `secure_zmq` (PROTOCOL.md section 7). `inproc://` never uses
//! security.
//!
//! # Examples
//!
//! ```no_run
//! use posttroll_backend_securezmq::SecureZmqTransport;
//! use posttroll_core::{BindSpec, Config, Security, Transport};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config {
//!     backend: "secure_zmq".into(),
//!     server_secret_key_file: Some("/etc/posttroll/server.key_secret".into()),
//!     clients_public_keys_directory: Some("/etc/posttroll/clients".into()),
//!     ..Config::default()
//! };
//! let secure = SecureZmqTransport::new(&config)?;
//! let mut spec = BindSpec::new("tcp://*:0".parse()?);
//! spec.security = Security::Curve;
//! let publisher = secure.transport().bind_publisher(spec).await?;
//! # drop(publisher);
//! # Ok::<(), posttroll_core::Error>(())
//! # }).unwrap();
//! ```

mod monitor;

use std::fmt;
use std::sync::Arc;

use posttroll_backend_zmq::zap::{ZapDecision, ZapPolicy, ZapRequest};
use posttroll_backend_zmq::{zmq_error, SocketSecurity, ZmqTransport};
use posttroll_core::keystore::{
    Admission, AdmissionCounts, ClientKeyPolicy, FileKeyStore, KeyStore, PublicKey,
};
#[cfg(doc)]
use posttroll_core::Security;
use posttroll_core::{Config, Result};

pub use monitor::HandshakeMonitor;

/// The name this backend is registered and announced under.
pub const BACKEND_NAME: &str = "secure_zmq";

/// The ZAP side: libzmq's requests answered by a [`ClientKeyPolicy`].
#[derive(Debug, Clone)]
pub struct KeyFolderZap {
    policy: Arc<ClientKeyPolicy>,
}

impl KeyFolderZap {
    /// Answers with `policy`.
    pub fn new(policy: Arc<ClientKeyPolicy>) -> KeyFolderZap {
        KeyFolderZap { policy }
    }
}

impl ZapPolicy for KeyFolderZap {
    fn authenticate(&self, request: &ZapRequest) -> ZapDecision {
        let ip = request.peer_ip();
        let (key, admission) = match request.mechanism.as_str() {
            "NULL" => (None, self.policy.admit(None, ip)),
            "CURVE" => match request.curve_public_key() {
                Some(bytes) => {
                    let mut key = [0u8; 32];
                    key.copy_from_slice(bytes);
                    let key = PublicKey(key);
                    (Some(key), self.policy.admit(Some(&key), ip))
                }
                None => (
                    None,
                    Admission::Refuse {
                        reason: "a CURVE request without a 32-byte public key".to_owned(),
                    },
                ),
            },
            other => (
                None,
                Admission::Refuse {
                    reason: format!("the {other} mechanism is not accepted"),
                },
            ),
        };
        match admission {
            Admission::Admit => ZapDecision::Allow {
                user_id: key.map(|k| k.to_z85()).unwrap_or_default(),
            },
            Admission::Refuse { reason } => ZapDecision::Deny { reason },
        }
    }
}

/// The socket side: CURVE options from the key files, and the handshake
/// monitor on server sockets.
#[derive(Debug)]
pub struct CurveSockets {
    keys: Arc<dyn KeyStore>,
    policy: Arc<ClientKeyPolicy>,
    monitor: Arc<HandshakeMonitor>,
}

impl CurveSockets {
    /// Keys from `keys`; server sockets need `policy` to be usable
    /// ([`ClientKeyPolicy::check`]) and are watched by `monitor`.
    pub fn new(
        keys: Arc<dyn KeyStore>,
        policy: Arc<ClientKeyPolicy>,
        monitor: Arc<HandshakeMonitor>,
    ) -> CurveSockets {
        CurveSockets {
            keys,
            policy,
            monitor,
        }
    }
}

impl SocketSecurity for CurveSockets {
    fn configure_server(&self, socket: &zmq::Socket) -> Result<()> {
        let pair = self.keys.server_key_pair()?;
        self.policy.check()?;
        socket
            .set_curve_server(true)
            .map_err(zmq_error("setting ZMQ_CURVE_SERVER"))?;
        socket
            .set_curve_secretkey(&pair.secret.0)
            .map_err(zmq_error("setting ZMQ_CURVE_SECRETKEY"))?;
        socket
            .set_curve_publickey(&pair.public.0)
            .map_err(zmq_error("setting ZMQ_CURVE_PUBLICKEY"))?;
        self.monitor.watch(socket)
    }

    fn configure_client(&self, socket: &zmq::Socket) -> Result<()> {
        let pair = self.keys.client_key_pair()?;
        let server = self.keys.server_public_key()?;
        socket
            .set_curve_secretkey(&pair.secret.0)
            .map_err(zmq_error("setting ZMQ_CURVE_SECRETKEY"))?;
        socket
            .set_curve_publickey(&pair.public.0)
            .map_err(zmq_error("setting ZMQ_CURVE_PUBLICKEY"))?;
        socket
            .set_curve_serverkey(&server.0)
            .map_err(zmq_error("setting ZMQ_CURVE_SERVERKEY"))
    }
}

/// A `secure_zmq` transport: the libzmq [`ZmqTransport`] with the CURVE
/// hooks, and handles on its admission decisions for tests and operators.
#[derive(Clone)]
pub struct SecureZmqTransport {
    transport: ZmqTransport,
    policy: Arc<ClientKeyPolicy>,
    monitor: Arc<HandshakeMonitor>,
}

impl fmt::Debug for SecureZmqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureZmqTransport")
            .field("transport", &self.transport)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SecureZmqTransport {
    /// A transport with the key files, key folder, allow-list and
    /// keepalive options of `config`. No key file is read yet: server
    /// sockets need the server key pair and the client key folder, client
    /// sockets the client key pair and the server's public key.
    ///
    /// # Errors
    ///
    /// A host of `authorized_client_addresses` that does not resolve
    /// (naming it), or the ZAP handler failing to start.
    pub fn new(config: &Config) -> Result<SecureZmqTransport> {
        SecureZmqTransport::with_key_store(config, Arc::new(FileKeyStore::new(config)))
    }

    /// As [`new`](SecureZmqTransport::new), with the keys of `keys`
    /// instead of the configured files (the client key folder still comes
    /// from `config`).
    ///
    /// # Errors
    ///
    /// As [`new`](SecureZmqTransport::new).
    pub fn with_key_store(config: &Config, keys: Arc<dyn KeyStore>) -> Result<SecureZmqTransport> {
        let policy = Arc::new(ClientKeyPolicy::from_config(config)?);
        let monitor = Arc::new(HandshakeMonitor::new());
        // The IP allow-list is the policy's (one decision, one count), not
        // the plain backend's.
        let mut plain_config = config.clone();
        plain_config.authorized_client_addresses.clear();
        let transport = ZmqTransport::builder(&plain_config)
            .zap_policy(Arc::new(KeyFolderZap::new(policy.clone())))
            .curve(Arc::new(CurveSockets::new(
                keys,
                policy.clone(),
                monitor.clone(),
            )))
            .build()?;
        monitor.set_context(transport.context().clone());
        Ok(SecureZmqTransport {
            transport,
            policy,
            monitor,
        })
    }

    /// The libzmq transport (it makes plain sockets too, for
    /// [`Security::Plain`]).
    pub fn transport(&self) -> &ZmqTransport {
        &self.transport
    }

    /// The admission policy its ZAP handler asks.
    pub fn policy(&self) -> &Arc<ClientKeyPolicy> {
        &self.policy
    }

    /// The ZAP decisions so far.
    pub fn admissions(&self) -> AdmissionCounts {
        self.policy.counts()
    }

    /// How many handshakes with its CURVE server sockets failed before ZAP
    /// (a plain client, a client with the wrong server key, a malformed
    /// handshake) or were refused by ZAP.
    pub fn handshake_failures(&self) -> u64 {
        self.monitor.failures()
    }

    /// The libzmq transport with the CURVE hooks, for the `posttroll`
    /// facade to pair with a discovery (the hooks keep the policy and the
    /// monitor alive).
    pub fn into_transport(self) -> ZmqTransport {
        self.transport
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use posttroll_core::keystore::{zpl, KeyPair};

    fn request(mechanism: &str, address: &str, credentials: Vec<Vec<u8>>) -> ZapRequest {
        ZapRequest {
            domain: "global".into(),
            address: address.into(),
            identity: Vec::new(),
            mechanism: mechanism.into(),
            credentials,
        }
    }

    #[test]
    fn zap_requests_map_to_the_policy() {
        let dir =
            std::env::temp_dir().join(format!("posttroll-securezmq-zap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let admitted = KeyPair::generate().unwrap();
        zpl::write_certificates(&dir, "admitted", &admitted).unwrap();
        let config = Config {
            clients_public_keys_directory: Some(dir.clone()),
            authorized_client_addresses: vec!["127.0.0.1".into()],
            ..Config::default()
        };
        let policy = Arc::new(ClientKeyPolicy::from_config(&config).unwrap());
        let zap = KeyFolderZap::new(policy.clone());
        let key = admitted.public.0.to_vec();
        assert_eq!(
            zap.authenticate(&request("CURVE", "127.0.0.1", vec![key.clone()])),
            ZapDecision::Allow {
                user_id: admitted.public.to_z85()
            }
        );
        assert!(matches!(
            zap.authenticate(&request("CURVE", "127.0.0.2", vec![key])),
            ZapDecision::Deny { .. }
        ));
        let stranger = KeyPair::generate().unwrap().public.0.to_vec();
        assert!(matches!(
            zap.authenticate(&request("CURVE", "127.0.0.1", vec![stranger])),
            ZapDecision::Deny { .. }
        ));
        assert!(matches!(
            zap.authenticate(&request("CURVE", "127.0.0.1", vec![vec![1, 2, 3]])),
            ZapDecision::Deny { .. }
        ));
        assert!(matches!(
            zap.authenticate(&request(
                "PLAIN",
                "127.0.0.1",
                vec![b"u".to_vec(), b"p".to_vec()]
            )),
            ZapDecision::Deny { .. }
        ));
        assert_eq!(
            zap.authenticate(&request("NULL", "127.0.0.1", Vec::new())),
            ZapDecision::Allow {
                user_id: String::new()
            }
        );
        assert!(matches!(
            zap.authenticate(&request("NULL", "10.0.0.1", Vec::new())),
            ZapDecision::Deny { .. }
        ));
        let counts = policy.counts();
        assert_eq!((counts.admitted, counts.refused), (2, 3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

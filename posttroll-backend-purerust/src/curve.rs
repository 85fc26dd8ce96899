//! CURVE (`secure_zmq`) on the pure-Rust engine: which key pair a server or
//! client socket uses, and which clients a server admits.
//!
//! The keys come from a [`KeyStore`] (by default posttroll-core's
//! [`FileKeyStore`]: the ZPL certificates of the four key settings), read
//! when each socket is made, so replaced keys apply to new sockets. Server
//! sockets admit clients through posttroll-core's engine-independent
//! [`ClientKeyPolicy`] (the `*.key` files of
//! `clients_public_keys_directory`, re-read when the folder changes, and
//! `authorized_client_addresses`), called from omq's CURVE authenticator
//! once per handshake.

use std::sync::Arc;

use omq_tokio::{CurveKeypair, CurvePublicKey, CurveSecretKey, CurveServerOptions, MechanismSetup};
use posttroll_core::keystore::{ClientKeyPolicy, FileKeyStore, KeyStore};
use posttroll_core::{Config, KeyPair, Result};

use crate::auth::Gate;

/// The CURVE keys and client policy of a transport.
#[derive(Clone, Debug)]
pub struct CurveConfig {
    keys: Arc<dyn KeyStore>,
    policy: Arc<ClientKeyPolicy>,
}

fn omq_pair(pair: &KeyPair) -> CurveKeypair {
    CurveKeypair {
        public: CurvePublicKey::from_bytes(pair.public.0),
        secret: CurveSecretKey::from_bytes(pair.secret.0),
    }
}

impl CurveConfig {
    /// The key files and client policy of `config`
    /// (`server_secret_key_file`, `clients_public_keys_directory`,
    /// `client_secret_key_file`, `server_public_key_file`,
    /// `authorized_client_addresses`). Nothing is read yet: a missing
    /// setting is an error naming it when a socket needs it.
    ///
    /// # Errors
    ///
    /// A host of `authorized_client_addresses` that does not resolve.
    pub fn from_config(config: &Config) -> Result<CurveConfig> {
        Ok(CurveConfig::new(
            Arc::new(FileKeyStore::new(config)),
            Arc::new(ClientKeyPolicy::from_config(config)?),
        ))
    }

    /// Keys from `keys`, clients admitted by `policy`.
    pub fn new(keys: Arc<dyn KeyStore>, policy: Arc<ClientKeyPolicy>) -> CurveConfig {
        CurveConfig { keys, policy }
    }

    /// The admission policy of server sockets (its counts say how many
    /// clients were admitted and refused).
    pub fn policy(&self) -> &Arc<ClientKeyPolicy> {
        &self.policy
    }

    /// The mechanism of a server socket: CURVE with the server's key pair,
    /// admitting the clients the policy admits.
    pub(crate) fn server_mechanism(&self) -> Result<MechanismSetup> {
        let pair = self.keys.server_key_pair()?;
        self.policy.check()?;
        let gate = Gate::Keys(self.policy.clone());
        Ok(MechanismSetup::CurveServer {
            our_keypair: omq_pair(&pair),
            options: CurveServerOptions::new().authenticator(move |peer| gate.admit(peer)),
        })
    }

    /// The mechanism of a client socket: the client's key pair and the
    /// server's public key.
    /// The omq mechanism of a CURVE client socket with these keys (for
    /// tools and tests that make raw omq sockets).
    ///
    /// # Errors
    ///
    /// A key file that cannot be read.
    pub fn client_mechanism(&self) -> Result<MechanismSetup> {
        let pair = self.keys.client_key_pair()?;
        let server = self.keys.server_public_key()?;
        Ok(MechanismSetup::CurveClient {
            our_keypair: omq_pair(&pair),
            server_public: CurvePublicKey::from_bytes(server.0),
        })
    }
}

//! The [`KeyStore`] trait: CURVE keys for `secure_zmq`.
//!
//! Key pairs and admitted client keys come from ZPL certificate files as
//! pyzmq writes them; the file-backed implementation arrives with the
//! `secure_zmq` backend.

use std::fmt;

use crate::error::Result;

/// A CURVE public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

/// A CURVE secret key (32 bytes). Its `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

/// A CURVE key pair.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyPair {
    /// The public half.
    pub public: PublicKey,
    /// The secret half.
    pub secret: SecretKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<hidden>)")
    }
}

/// Where a secure backend gets its keys.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The server's key pair (`server_secret_key_file`).
    fn server_key_pair(&self) -> Result<KeyPair>;

    /// The client's key pair (`client_secret_key_file`).
    fn client_key_pair(&self) -> Result<KeyPair>;

    /// The server's public key, for clients (`server_public_key_file`).
    fn server_public_key(&self) -> Result<PublicKey>;

    /// The client public keys a server admits
    /// (`clients_public_keys_directory`), read afresh on each call.
    fn admitted_client_keys(&self) -> Result<Vec<PublicKey>>;
}

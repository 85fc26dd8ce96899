//! CURVE keys for `secure_zmq`: the key types, ZPL certificate files as
//! pyzmq reads and writes them ([`zpl`]), key generation, the
//! [`KeyStore`] trait with its file-backed implementation
//! ([`FileKeyStore`]), and the engine-independent decision of which
//! clients a secure server admits ([`ClientKeyPolicy`]).
//!
//! Keys are generated in pure Rust (x25519 on Curve25519, the same
//! function libzmq's `zmq_curve_keypair` uses through libsodium or
//! tweetnacl), so this crate needs no C library.
//!
//! # Examples
//!
//! ```
//! use posttroll_core::keystore::{self, zpl};
//!
//! let dir = std::env::temp_dir().join(format!("posttroll-doc-keys-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let (public_file, secret_file) = zpl::create_certificates(&dir, "server")?;
//! let pair = zpl::load_key_pair(&secret_file)?;
//! assert_eq!(zpl::load_public_key(&public_file)?, pair.public);
//! assert_eq!(keystore::public_key_of(&pair.secret), pair.public);
//! assert_eq!(pair.public.to_z85().len(), 40);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod policy;
pub mod zpl;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

pub use policy::{resolve_hosts, Admission, AdmissionCounts, ClientKeyPolicy};

/// The length of a key in Z85 text (32 bytes → 40 characters).
pub const Z85_KEY_LEN: usize = 40;

/// A CURVE public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl fmt::Display for PublicKey {
    /// The key in Z85, as certificate files hold it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<hidden>)")
    }
}

/// Decodes a 40-character Z85 key; the error says what is wrong (length
/// or alphabet), without the file (the caller adds it).
fn decode_z85_key(text: &str) -> std::result::Result<[u8; 32], String> {
    let len = text.chars().count();
    if len != Z85_KEY_LEN {
        return Err(format!(
            "a key must be {Z85_KEY_LEN} Z85 characters, this one has {len}"
        ));
    }
    let bytes = z85::decode(text).map_err(|e| match e {
        z85::DecodeError::InvalidByte(at, byte) => format!(
            "character {:?} at position {} is not in the Z85 alphabet",
            char::from(byte),
            at
        ),
        other => format!("not a valid Z85 key: {other}"),
    })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "a key must decode to 32 bytes, this one gives {}",
            bytes.len()
        )
    })
}

impl PublicKey {
    /// Parses a 40-character Z85 key.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] saying whether the length or the alphabet is
    /// wrong.
    pub fn from_z85(text: &str) -> Result<PublicKey> {
        decode_z85_key(text)
            .map(PublicKey)
            .map_err(|e| Error::Security(format!("public key: {e}")))
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        z85::encode(self.0)
    }
}

impl SecretKey {
    /// Parses a 40-character Z85 key.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] saying whether the length or the alphabet is
    /// wrong (the key itself is never quoted).
    pub fn from_z85(text: &str) -> Result<SecretKey> {
        decode_z85_key(text)
            .map(SecretKey)
            .map_err(|e| Error::Security(format!("secret key: {e}")))
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        z85::encode(self.0)
    }
}

/// The public key of a secret key (X25519 with the base point, as
/// libzmq's `zmq_curve_public`).
pub fn public_key_of(secret: &SecretKey) -> PublicKey {
    PublicKey(x25519_dalek::x25519(
        secret.0,
        x25519_dalek::X25519_BASEPOINT_BYTES,
    ))
}

impl KeyPair {
    /// A new random key pair, from the operating system's random source
    /// (as libzmq's `zmq_curve_keypair`).
    ///
    /// # Errors
    ///
    /// [`Error::Security`] when the system has no random source.
    pub fn generate() -> Result<KeyPair> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| Error::Security(format!("cannot get random bytes for a key: {e}")))?;
        let secret = SecretKey(secret);
        Ok(KeyPair {
            public: public_key_of(&secret),
            secret,
        })
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

/// The [`KeyStore`] of a [`Config`]'s four key settings, reading the files
/// on each call. A setting that is not set gives an error naming it
/// (`secure_zmq needs `client_secret_key_file``); a file that cannot be
/// used gives an error naming the file.
///
/// # Examples
///
/// ```
/// use posttroll_core::keystore::{FileKeyStore, KeyStore};
/// use posttroll_core::Config;
///
/// let store = FileKeyStore::new(&Config::default());
/// let err = store.client_key_pair().unwrap_err();
/// assert!(err.to_string().contains("secure_zmq needs `client_secret_key_file`"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileKeyStore {
    /// `server_secret_key_file`.
    pub server_secret_key_file: Option<PathBuf>,
    /// `clients_public_keys_directory`.
    pub clients_public_keys_directory: Option<PathBuf>,
    /// `client_secret_key_file`.
    pub client_secret_key_file: Option<PathBuf>,
    /// `server_public_key_file`.
    pub server_public_key_file: Option<PathBuf>,
}

/// The path of an optional setting, or the error naming the setting.
pub fn required_setting<'a>(value: &'a Option<PathBuf>, key: &str) -> Result<&'a Path> {
    value
        .as_deref()
        .ok_or_else(|| Error::Security(format!("secure_zmq needs `{key}` (not set)")))
}

impl FileKeyStore {
    /// The key settings of `config`.
    pub fn new(config: &Config) -> FileKeyStore {
        FileKeyStore {
            server_secret_key_file: config.server_secret_key_file.clone(),
            clients_public_keys_directory: config.clients_public_keys_directory.clone(),
            client_secret_key_file: config.client_secret_key_file.clone(),
            server_public_key_file: config.server_public_key_file.clone(),
        }
    }
}

impl KeyStore for FileKeyStore {
    fn server_key_pair(&self) -> Result<KeyPair> {
        zpl::load_key_pair(required_setting(
            &self.server_secret_key_file,
            "server_secret_key_file",
        )?)
    }

    fn client_key_pair(&self) -> Result<KeyPair> {
        zpl::load_key_pair(required_setting(
            &self.client_secret_key_file,
            "client_secret_key_file",
        )?)
    }

    fn server_public_key(&self) -> Result<PublicKey> {
        zpl::load_public_key(required_setting(
            &self.server_public_key_file,
            "server_public_key_file",
        )?)
    }

    fn admitted_client_keys(&self) -> Result<Vec<PublicKey>> {
        let dir = required_setting(
            &self.clients_public_keys_directory,
            "clients_public_keys_directory",
        )?;
        let (keys, problems) = zpl::load_public_keys_in(dir)?;
        for problem in problems {
            tracing::warn!(error = %problem, "skipping a client certificate");
        }
        Ok(keys)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn z85_round_trip_and_errors() {
        // The test vector of ZeroMQ RFC 32 (Z85).
        let key = PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
        assert_eq!(key.to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
        let short = PublicKey::from_z85("abc").unwrap_err().to_string();
        assert!(
            short.contains("40 Z85 characters") && short.contains("has 3"),
            "{short}"
        );
        let alphabet = PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~")
            .unwrap_err()
            .to_string();
        assert!(
            alphabet.contains("'~'") && alphabet.contains("alphabet"),
            "{alphabet}"
        );
        let secret = SecretKey::from_z85("~~").unwrap_err().to_string();
        assert!(secret.contains("secret key"), "{secret}");
    }

    #[test]
    fn generated_pairs_match_libzmq_curve_public() {
        // libzmq's test vector (tests/test_security_curve.cpp): the public
        // key of this secret key.
        let secret = SecretKey::from_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap();
        assert_eq!(
            public_key_of(&secret).to_z85(),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        let a = KeyPair::generate().unwrap();
        let b = KeyPair::generate().unwrap();
        assert_ne!(a.public, b.public);
        assert_eq!(public_key_of(&a.secret), a.public);
        assert_eq!(format!("{:?}", a.secret), "SecretKey(<hidden>)");
    }
}

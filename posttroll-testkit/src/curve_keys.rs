//! A folder of CURVE certificates for tests, removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use posttroll::{Config, Error, Result};
use posttroll_core::keystore::zpl::create_certificates;

/// A server key pair, a client key pair, and a folder of admitted client
/// public keys that holds the client's, in a new temporary folder.
#[derive(Debug)]
pub struct CurveKeys {
    root: PathBuf,
}

impl CurveKeys {
    /// Writes the certificates (pyzmq's ZPL format) into a new folder.
    ///
    /// # Errors
    ///
    /// The folder or a certificate cannot be written.
    pub fn new() -> Result<CurveKeys> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "ptrs-curve-keys-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let io = |what: &'static str| move |e| Error::io(what, e);
        let _ = std::fs::remove_dir_all(&root);
        for sub in ["server", "client", "admitted"] {
            std::fs::create_dir_all(root.join(sub)).map_err(io("creating a key folder"))?;
        }
        create_certificates(&root.join("server"), "server")?;
        let (client_public, _) = create_certificates(&root.join("client"), "client")?;
        std::fs::copy(client_public, root.join("admitted/client.key"))
            .map_err(io("admitting the client key"))?;
        Ok(CurveKeys { root })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config` with the four key settings: the server's pair, its public
    /// key for clients, the client's pair, and the admitted clients' folder.
    pub fn apply(&self, config: Config) -> Config {
        Config {
            server_secret_key_file: Some(self.root.join("server/server.key_secret")),
            server_public_key_file: Some(self.root.join("server/server.key")),
            client_secret_key_file: Some(self.root.join("client/client.key_secret")),
            clients_public_keys_directory: Some(self.root.join("admitted")),
            ..config
        }
    }
}

impl Drop for CurveKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

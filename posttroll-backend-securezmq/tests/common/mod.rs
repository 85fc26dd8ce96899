//! Shared helpers of the secure_zmq tests: key folders and configs.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use posttroll_core::keystore::{zpl, KeyPair};
use posttroll_core::Config;

/// A server key pair, a client key pair, a folder admitting the client,
/// and an outsider pair whose key is not admitted.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub server: KeyPair,
    pub client: KeyPair,
    pub outsider: KeyPair,
    pub server_public_file: PathBuf,
    pub server_secret_file: PathBuf,
    pub client_public_file: PathBuf,
    pub client_secret_file: PathBuf,
    pub outsider_public_file: PathBuf,
    pub outsider_secret_file: PathBuf,
    pub clients_dir: PathBuf,
}

impl Keys {
    pub fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let server = KeyPair::generate().unwrap();
        let client = KeyPair::generate().unwrap();
        let outsider = KeyPair::generate().unwrap();
        let (server_public_file, server_secret_file) =
            zpl::write_certificates(dir.path(), "server", &server).unwrap();
        let (client_public_file, client_secret_file) =
            zpl::write_certificates(dir.path(), "client", &client).unwrap();
        let (outsider_public_file, outsider_secret_file) =
            zpl::write_certificates(dir.path(), "outsider", &outsider).unwrap();
        let clients_dir = dir.path().join("clients");
        std::fs::create_dir(&clients_dir).unwrap();
        std::fs::copy(&client_public_file, clients_dir.join("client.key")).unwrap();
        Keys {
            dir,
            server,
            client,
            outsider,
            server_public_file,
            server_secret_file,
            client_public_file,
            client_secret_file,
            outsider_public_file,
            outsider_secret_file,
            clients_dir,
        }
    }

    /// A `secure_zmq` config with all four key settings.
    pub fn config(&self) -> Config {
        Config {
            backend: "secure_zmq".into(),
            server_secret_key_file: Some(self.server_secret_file.clone()),
            clients_public_keys_directory: Some(self.clients_dir.clone()),
            client_secret_key_file: Some(self.client_secret_file.clone()),
            server_public_key_file: Some(self.server_public_file.clone()),
            ..Config::default()
        }
    }

    /// The `POSTTROLL_*` variables of the four key settings.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = |p: &Path| p.display().to_string();
        vec![
            ("POSTTROLL_BACKEND".into(), "secure_zmq".into()),
            (
                "POSTTROLL_SERVER_SECRET_KEY_FILE".into(),
                s(&self.server_secret_file),
            ),
            (
                "POSTTROLL_CLIENTS_PUBLIC_KEYS_DIRECTORY".into(),
                s(&self.clients_dir),
            ),
            (
                "POSTTROLL_CLIENT_SECRET_KEY_FILE".into(),
                s(&self.client_secret_file),
            ),
            (
                "POSTTROLL_SERVER_PUBLIC_KEY_FILE".into(),
                s(&self.server_public_file),
            ),
        ]
    }
}

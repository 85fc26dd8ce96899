//! [`ClientKeyPolicy`]: which clients a secure server admits, whatever
//! engine (libzmq's ZAP handler, a pure-Rust CURVE handshake) asks.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::{required_setting, zpl, PublicKey};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Refusal;

/// The decision about one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Let the client in.
    Admit,
    /// Refuse it, and why (for the log and the refusal's status text).
    Refuse {
        /// Why the client was refused.
        reason: String,
    },
}

impl Admission {
    /// True for [`Admission::Admit`].
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Admit)
    }
}

/// How many clients a [`ClientKeyPolicy`] admitted and refused so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionCounts {
    /// Admitted clients.
    pub admitted: u64,
    /// Refused clients.
    pub refused: u64,
    /// Times the key folder was (re)read.
    pub reloads: u64,
}

/// What identifies the key folder's content without reading the files:
/// each `*.key` file's name, length and modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

#[derive(Debug, Default)]
struct Cache {
    fingerprint: Option<Fingerprint>,
    keys: BTreeSet<PublicKey>,
}

/// Decides whether a client may connect to a secure server: its CURVE
/// public key must be in one of the `*.key` certificates of
/// `clients_public_keys_directory` and, when an allow-list is given
/// (`authorized_client_addresses`), its IP must be in it. Plain (`NULL`)
/// connections — to the sockets a secure server deliberately serves plain,
/// such as the nameserver's port 5557 — are subject to the IP allow-list
/// only.
///
/// The folder is re-read when its content changes: each decision lists the
/// folder's `*.key` files (names, sizes, modification times; a few
/// microseconds for a folder of a few files) and reads the certificates
/// again only when that listing differs from the last one. A key file
/// added or removed therefore takes effect at the client's next connection
/// attempt, without a restart. A certificate that cannot be read is logged
/// (naming the file) and skipped; a folder that disappears admits nobody
/// until it is back.
///
/// Engines call [`ClientKeyPolicy::admit`] once per connection; every
/// refusal is logged with `tracing::warn!` and counted
/// ([`ClientKeyPolicy::counts`]).
///
/// # Examples
///
/// ```
/// use posttroll_core::keystore::{zpl, Admission, ClientKeyPolicy};
///
/// let dir = std::env::temp_dir().join(format!("posttroll-doc-policy-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let (public_file, _) = zpl::create_certificates(&dir, "client")?;
/// let key = zpl::load_public_key(&public_file)?;
/// let policy = ClientKeyPolicy::new(&dir)?.with_allowed_ips(["127.0.0.1".parse()?]);
/// let local = Some("127.0.0.1".parse()?);
/// assert_eq!(policy.admit(Some(&key), local), Admission::Admit);
/// assert!(!policy.admit(Some(&key), Some("10.0.0.1".parse()?)).is_admitted());
/// std::fs::remove_file(&public_file)?;
/// assert!(!policy.admit(Some(&key), local).is_admitted());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientKeyPolicy {
    dir: Option<PathBuf>,
    allowed_ips: Option<BTreeSet<IpAddr>>,
    cache: Mutex<Cache>,
    admitted: AtomicU64,
    refused: AtomicU64,
    reloads: AtomicU64,
}

impl fmt::Debug for ClientKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKeyPolicy")
            .field("dir", &self.dir)
            .field("allowed_ips", &self.allowed_ips)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl ClientKeyPolicy {
    /// A policy admitting the keys of the `*.key` files in `dir` (from any
    /// IP until [`with_allowed_ips`](ClientKeyPolicy::with_allowed_ips)).
    /// The folder is read at once.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] naming the folder when it cannot be listed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<ClientKeyPolicy> {
        let policy = ClientKeyPolicy {
            dir: Some(dir.into()),
            allowed_ips: None,
            cache: Mutex::new(Cache::default()),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        };
        policy.refresh(&mut policy.lock())?;
        Ok(policy)
    }

    /// The policy of a configuration: `clients_public_keys_directory`
    /// and, when not empty, `authorized_client_addresses` (host names
    /// resolved now). The folder is not read yet: a process that only
    /// makes client sockets needs none; [`check`](ClientKeyPolicy::check)
    /// says whether a server can use it. Without a folder, every CURVE
    /// client is refused (plain clients still pass the IP check).
    ///
    /// # Errors
    ///
    /// The errors of [`resolve_hosts`].
    pub fn from_config(config: &Config) -> Result<ClientKeyPolicy> {
        let policy = ClientKeyPolicy {
            dir: config.clients_public_keys_directory.clone(),
            allowed_ips: None,
            cache: Mutex::new(Cache::default()),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
        };
        Ok(if config.authorized_client_addresses.is_empty() {
            policy
        } else {
            policy.with_allowed_ips(resolve_hosts(&config.authorized_client_addresses)?)
        })
    }

    /// Checks that a server can use this policy: the folder is set and
    /// can be listed (and reads it if it changed).
    ///
    /// # Errors
    ///
    /// `secure_zmq needs `clients_public_keys_directory`` when it is not
    /// set; [`Error::Security`] naming the folder when it cannot be listed.
    pub fn check(&self) -> Result<()> {
        required_setting(&self.dir, "clients_public_keys_directory")?;
        self.refresh(&mut self.lock())
    }

    /// Admits only clients from these IPs (on top of the key check).
    pub fn with_allowed_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> ClientKeyPolicy {
        self.allowed_ips = Some(ips.into_iter().map(|ip| ip.to_canonical()).collect());
        self
    }

    /// The folder of admitted keys, when set.
    pub fn directory(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The admitted IPs, when there is an allow-list.
    pub fn allowed_ips(&self) -> Option<impl Iterator<Item = IpAddr> + '_> {
        self.allowed_ips.as_ref().map(|ips| ips.iter().copied())
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        crate::engine::lock(&self.cache)
    }

    /// Re-reads the folder if its listing changed since the last read.
    fn refresh(&self, cache: &mut Cache) -> Result<()> {
        let dir = required_setting(&self.dir, "clients_public_keys_directory")?;
        let files = zpl::key_files_in(dir)?;
        let fingerprint: Fingerprint = files
            .into_iter()
            .map(|path| {
                let meta = std::fs::metadata(&path).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                let modified = meta.and_then(|m| m.modified().ok());
                (path, len, modified)
            })
            .collect();
        if cache.fingerprint.as_ref() == Some(&fingerprint) {
            return Ok(());
        }
        let mut keys = BTreeSet::new();
        for (path, _, _) in &fingerprint {
            match zpl::load_public_key(path) {
                Ok(key) => {
                    keys.insert(key);
                }
                Err(e) => tracing::warn!(error = %e, "skipping a client certificate"),
            }
        }
        self.reloads.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            folder = %dir.display(),
            keys = keys.len(),
            "read the admitted client keys"
        );
        cache.keys = keys;
        cache.fingerprint = Some(fingerprint);
        Ok(())
    }

    /// Re-reads the folder now if it changed, and returns the admitted
    /// keys.
    ///
    /// # Errors
    ///
    /// [`Error::Security`] naming the folder when it cannot be listed.
    pub fn reload(&self) -> Result<Vec<PublicKey>> {
        let mut cache = self.lock();
        self.refresh(&mut cache)?;
        Ok(cache.keys.iter().copied().collect())
    }

    /// True when `key` is admitted now (the folder re-read if changed; a
    /// folder that cannot be listed admits nothing).
    pub fn is_key_admitted(&self, key: &PublicKey) -> bool {
        let mut cache = self.lock();
        match self.refresh(&mut cache) {
            Ok(()) => cache.keys.contains(key),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the admitted client keys; admitting no key");
                cache.fingerprint = None;
                cache.keys.clear();
                false
            }
        }
    }

    /// Decides about one connecting client: `key` is its CURVE public key
    /// (`None` for a plain connection), `ip` its address (`None` when it
    /// has none, e.g. over IPC). Logs and counts the decision.
    pub fn admit(&self, key: Option<&PublicKey>, ip: Option<IpAddr>) -> Admission {
        // An IPv4 client of a dual-stack socket by its IPv4 address.
        let ip = ip.map(|ip| ip.to_canonical());
        let peer = ip.map_or_else(|| "a peer with no IP".to_owned(), |ip| ip.to_string());
        match self.decide(key, ip) {
            Ok(()) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, key = ?key.map(PublicKey::to_z85), "admitted a client");
                Admission::Admit
            }
            Err((kind, reason)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                crate::metrics::refused(kind);
                tracing::warn!(%peer, key = ?key.map(PublicKey::to_z85), "refused a client from {peer}: {reason}");
                Admission::Refuse { reason }
            }
        }
    }

    /// The decision, and for a refusal its kind (an IP not admitted is
    /// `Policy`, a key not admitted `NotAuthorised`) and reason.
    fn decide(
        &self,
        key: Option<&PublicKey>,
        ip: Option<IpAddr>,
    ) -> std::result::Result<(), (Refusal, String)> {
        if let Some(allowed) = &self.allowed_ips {
            match ip {
                Some(ip) if allowed.contains(&ip) => {}
                Some(ip) => {
                    return Err((
                        Refusal::Policy,
                        format!("{ip} is not in authorized_client_addresses"),
                    ))
                }
                None => {
                    return Err((
                        Refusal::Policy,
                        "the peer has no IP address to check against authorized_client_addresses"
                            .to_owned(),
                    ))
                }
            }
        }
        match key {
            None => Ok(()),
            Some(key) if self.is_key_admitted(key) => Ok(()),
            Some(key) => Err((
                Refusal::NotAuthorised,
                format!(
                    "its public key {} is in no *.key file of {}",
                    key.to_z85(),
                    self.dir.as_deref().map_or_else(
                        || "clients_public_keys_directory (not set)".to_owned(),
                        |d| d.display().to_string()
                    )
                ),
            )),
        }
    }

    /// The decisions so far.
    pub fn counts(&self) -> AdmissionCounts {
        AdmissionCounts {
            admitted: self.admitted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
        }
    }
}

/// Resolves host names and IP literals (`authorized_client_addresses`) to
/// IPs.
///
/// # Errors
///
/// [`Error::InvalidAddress`] naming the host that does not resolve.
pub fn resolve_hosts(hosts: &[String]) -> Result<BTreeSet<IpAddr>> {
    let mut ips = BTreeSet::new();
    for host in hosts {
        let host = host.trim();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            ips.insert(ip.to_canonical());
            continue;
        }
        let bad = |reason: String| Error::InvalidAddress {
            address: host.to_owned(),
            reason: format!("authorized_client_addresses: {reason}"),
        };
        let resolved = (bare, 0)
            .to_socket_addrs()
            .map_err(|e| bad(format!("cannot resolve the host name: {e}")))?;
        let resolved: Vec<IpAddr> = resolved.map(|a| a.ip().to_canonical()).collect();
        if resolved.is_empty() {
            return Err(bad("the host name resolves to no address".to_owned()));
        }
        ips.extend(resolved);
    }
    Ok(ips)
}

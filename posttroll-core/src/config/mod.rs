//! The posttroll configuration: the reference's keys and defaults, read from
//! YAML/JSON files and `POSTTROLL_*` environment variables.
//!
//! Layers, lowest priority first:
//!
//! 1. the defaults ([`Config::default`]);
//! 2. the legacy environment variables `NAMESERVER_PORT`, `PYTROLL_MC_GROUP`
//!    and `PYTROLL_MC_TTL` (deprecated; like the reference, files and
//!    `POSTTROLL_*` variables override them);
//! 3. config files, found as donfig finds them: every `*.json`, `*.yaml`,
//!    `*.yml` file (sorted by name) in the folder named by
//!    `POSTTROLL_ROOT_CONFIG` (else `/etc/posttroll`), then in
//!    `~/.config/posttroll`, then the folder or file named by
//!    `POSTTROLL_CONFIG`; later files win; missing folders are skipped;
//! 4. the environment: `POSTTROLL_<KEY>` for each key (e.g.
//!    `POSTTROLL_NAMESERVER_PORT=5559`), the value read as a Python literal
//!    where it is one (`1`, `True`, `None`, `'text'`, `['a', 'b']`), else
//!    as the plain string (`secure_zmq`, `/etc/keys/server.key_secret`);
//! 5. explicit overrides ([`ConfigLoader::set`]).
//!
//! A key that wants a number also takes a string of digits (`"5557"`), as
//! the reference calls `int()` on it. A value of the wrong type is an error
//! ([`ConfigError::InvalidValue`]); an unknown `POSTTROLL_*` variable or
//! file key is only a warning ([`ConfigWarning`]).
//!
//! # Examples
//!
//! ```
//! use posttroll_core::config::{Config, ConfigLoader};
//!
//! let loaded = ConfigLoader::new()
//!     .env_vars([("POSTTROLL_NAMESERVER_PORT".to_string(), "5560".to_string())])
//!     .set("backend", "secure_zmq")
//!     .load()?;
//! assert_eq!(loaded.config.nameserver_port, 5560);
//! assert_eq!(loaded.config.backend, "secure_zmq");
//! assert_eq!(loaded.config.broadcast_port, Config::default().broadcast_port);
//! # Ok::<(), posttroll_core::config::ConfigError>(())
//! ```

mod error;
mod literal;
mod loader;

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize};

pub use error::{ConfigError, ConfigWarning};
pub use loader::{ConfigLoader, Loaded};

/// The posttroll configuration: one public field per key, each with the
/// reference's default.
///
/// Each key `k` is read from the environment variable `POSTTROLL_<K>` (the
/// key upper-cased) and from the key `k` in config files; see the
/// [module documentation](self) for the order of the layers.
///
/// # Examples
///
/// ```
/// use posttroll_core::Config;
///
/// let config = Config {
///     nameserver_port: 6000,
///     ..Config::default()
/// };
/// assert_eq!(config.backend, "unsecure_zmq");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The transport: `unsecure_zmq` (default) or `secure_zmq` (CURVE).
    pub backend: String,
    /// The ZMTP engine serving `unsecure_zmq` and `secure_zmq`: `purerust`
    /// (no C library) or `libzmq` (the system libzmq). `None` (default)
    /// picks `purerust` where both are compiled in, else the one that is.
    /// Not a key of the reference: on the wire a publisher announces its
    /// `backend` whatever engine serves it.
    pub engine: Option<String>,
    /// The nameserver's plain lookup port (default 5557; legacy variable
    /// `NAMESERVER_PORT`).
    pub nameserver_port: u16,
    /// The nameserver's CURVE lookup port (default 5558).
    pub secure_zmq_nameserver_port: u16,
    /// The nameserver's port publishing address additions and removals
    /// (default 16543).
    pub address_publish_port: u16,
    /// The UDP port of multicast address announcements, also the port of the
    /// announcement REP socket when multicast is off (default 21200).
    pub broadcast_port: u16,
    /// The multicast group of address announcements (default
    /// `225.0.0.212`; legacy variable `PYTROLL_MC_GROUP`). `0.0.0.0` or
    /// `255.255.255.255` mean UDP broadcast instead. An IPv6 group
    /// (`ff00::/8`, e.g. `ff05::…`) announces over IPv6, between posttroll-rs
    /// peers only: the reference is IPv4-only.
    pub mc_group: String,
    /// The TTL of multicast announcements, the hop limit for an IPv6
    /// group (default 31; legacy variable `PYTROLL_MC_TTL`, the only name
    /// the reference knows).
    pub mc_ttl: u8,
    /// The interface (its IP address) to send and receive multicast on;
    /// `None` (default) lets the system choose. For an IPv6 `mc_group`,
    /// also its name (`eth0`) or index, or one of its IPv6 addresses.
    pub multicast_interface: Option<String>,
    /// The lowest port a publisher created with port 0 binds to (default
    /// 49152).
    pub pub_min_port: u16,
    /// The exclusive upper bound of the ports a publisher created with port
    /// 0 binds to (default 65536).
    pub pub_max_port: u32,
    /// ZeroMQ `TCP_KEEPALIVE` for every socket (`None`, the default, leaves
    /// the system's setting).
    pub tcp_keepalive: Option<i32>,
    /// ZeroMQ `TCP_KEEPALIVE_CNT` (`None` by default).
    pub tcp_keepalive_cnt: Option<i32>,
    /// ZeroMQ `TCP_KEEPALIVE_IDLE` (`None` by default).
    pub tcp_keepalive_idle: Option<i32>,
    /// ZeroMQ `TCP_KEEPALIVE_INTVL` (`None` by default).
    pub tcp_keepalive_intvl: Option<i32>,
    /// The message version to write, e.g. `v1.01`; `None` (default) means
    /// the current one.
    pub message_version: Option<String>,
    /// The hosts (names or IPs) allowed to connect to server sockets, plain
    /// or secure; empty (default, or `null` in a file) means no restriction.
    /// IPv6 addresses (`::1` or `[::1]`) are entries too; an IPv4 client of
    /// a dual-stack socket is checked (and logged) by its IPv4 address.
    #[serde(deserialize_with = "null_as_empty")]
    pub authorized_client_addresses: Vec<String>,
    /// The server's CURVE certificate with its secret key (`secure_zmq`).
    pub server_secret_key_file: Option<PathBuf>,
    /// The folder of the `*.key` public certificates of the clients a
    /// `secure_zmq` server admits.
    pub clients_public_keys_directory: Option<PathBuf>,
    /// The client's CURVE certificate with its secret key (`secure_zmq`).
    pub client_secret_key_file: Option<PathBuf>,
    /// The server's public CURVE certificate, used by `secure_zmq` clients.
    pub server_public_key_file: Option<PathBuf>,
    /// The host or IP a named publisher announces in its address
    /// (`tcp://<own_ip>:<port>`, `tcp://[<own_ip>]:<port>` for an IPv6
    /// address) instead of the auto-detected one; `None` (default)
    /// auto-detects. Not a key of the reference.
    pub own_ip: Option<String>,
    /// The largest message, in bytes, that any socket receiving from the
    /// network accepts (default 4 MiB = 4194304; `POSTTROLL_MAX_MESSAGE_SIZE`).
    /// The engine refuses a larger frame before allocating it and
    /// disconnects the peer that sent it. Real posttroll messages carry file
    /// metadata, never file contents: a metadata message is about 0.5 KiB and
    /// the largest seen (collection messages listing hundreds of granules)
    /// are in the hundreds of KiB, so 4 MiB leaves ten times that headroom
    /// while keeping what a hostile peer can make a process hold small. Not
    /// a key of the reference (which has no limit).
    pub max_message_size: u64,
    /// How many bytes of received messages one subscriber (or listener
    /// container) holds for its consumer before it stops reading its
    /// sockets (default 64 MiB = 67108864; `POSTTROLL_SUBSCRIBER_QUEUE_BYTES`).
    /// When it is full, the engine's high-water mark applies: a plain
    /// publisher drops for this subscriber only, a no-drop publisher waits.
    /// Not a key of the reference (whose queues are unbounded).
    pub subscriber_queue_bytes: u64,
    /// Seconds between ZMTP PING heartbeats on subscriber and request
    /// connections (default 10; `0` disables them). Not the publisher's
    /// `heartbeat()` messages: these are transport-level pings that detect a
    /// peer or path that went silent without closing the connection. Not a
    /// key of the reference.
    pub zmtp_heartbeat_interval: f64,
    /// Seconds without any traffic after which a connection with ZMTP
    /// heartbeats is closed and reconnected (default 30; `0` disables
    /// heartbeats). Not a key of the reference.
    pub zmtp_heartbeat_timeout: f64,
}

/// The default of [`Config::max_message_size`]: 4 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 4 * 1024 * 1024;

/// The default of [`Config::subscriber_queue_bytes`]: 64 MiB.
pub const DEFAULT_SUBSCRIBER_QUEUE_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: "unsecure_zmq".to_string(),
            engine: None,
            nameserver_port: 5557,
            secure_zmq_nameserver_port: 5558,
            address_publish_port: 16543,
            broadcast_port: 21200,
            mc_group: "225.0.0.212".to_string(),
            mc_ttl: 31,
            multicast_interface: None,
            pub_min_port: 49152,
            pub_max_port: 65536,
            tcp_keepalive: None,
            tcp_keepalive_cnt: None,
            tcp_keepalive_idle: None,
            tcp_keepalive_intvl: None,
            message_version: None,
            authorized_client_addresses: Vec::new(),
            server_secret_key_file: None,
            clients_public_keys_directory: None,
            client_secret_key_file: None,
            server_public_key_file: None,
            own_ip: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            subscriber_queue_bytes: DEFAULT_SUBSCRIBER_QUEUE_BYTES,
            zmtp_heartbeat_interval: 10.0,
            zmtp_heartbeat_timeout: 30.0,
        }
    }
}

/// Reads `null` as an empty list (the reference treats both alike).
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

static GLOBAL: OnceLock<Config> = OnceLock::new();

impl Config {
    /// The ZMTP heartbeat of subscriber and request connections: the
    /// interval between PINGs and the silence after which the connection
    /// is closed and made again, from [`Config::zmtp_heartbeat_interval`]
    /// and [`Config::zmtp_heartbeat_timeout`]; `None` when either is 0 (or
    /// not a positive finite number of seconds): no heartbeats.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use posttroll_core::Config;
    ///
    /// let heartbeat = Config::default().zmtp_heartbeat();
    /// assert_eq!(heartbeat, Some((Duration::from_secs(10), Duration::from_secs(30))));
    /// let off = Config { zmtp_heartbeat_interval: 0.0, ..Config::default() };
    /// assert_eq!(off.zmtp_heartbeat(), None);
    /// ```
    pub fn zmtp_heartbeat(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        let seconds = |s: f64| {
            (s.is_finite() && s > 0.0)
                .then(|| std::time::Duration::try_from_secs_f64(s).ok())
                .flatten()
        };
        Some((
            seconds(self.zmtp_heartbeat_interval)?,
            seconds(self.zmtp_heartbeat_timeout)?,
        ))
    }

    /// [`Config::max_message_size`] as a `usize` (saturating), for engines.
    pub fn max_message_size_bytes(&self) -> usize {
        usize::try_from(self.max_message_size).unwrap_or(usize::MAX)
    }

    /// The receive high-water mark, in frames, that the engines give
    /// subscriber sockets: a quarter of [`Config::subscriber_queue_bytes`]
    /// in frames of [`Config::max_message_size`], from 4 to 1000 (libzmq's
    /// default). With the defaults (64 MiB, 4 MiB) it is 4 frames, so the
    /// engine's own queue of a stalled subscriber holds at most 16 MiB
    /// whatever the publisher sends, beside the subscriber's queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Config;
    ///
    /// assert_eq!(Config::default().subscriber_receive_hwm(), 4);
    /// let small = Config { max_message_size: 16 * 1024, ..Config::default() };
    /// assert_eq!(small.subscriber_receive_hwm(), 1000);
    /// ```
    pub fn subscriber_receive_hwm(&self) -> u32 {
        let share = self.subscriber_queue_bytes / 4;
        let frames = share / self.max_message_size.max(1);
        u32::try_from(frames.clamp(4, 1000)).unwrap_or(1000)
    }

    /// Loads the configuration from the process environment and the standard
    /// config files (see the [module documentation](self)), logging each
    /// [`ConfigWarning`] with `tracing::warn!`.
    ///
    /// The same as
    /// `ConfigLoader::new().process_env().standard_files().load()`, keeping
    /// only the config.
    ///
    /// # Errors
    ///
    /// A config file that cannot be read or parsed, or a value that does not
    /// fit its key; see [`ConfigError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Config;
    ///
    /// match Config::load() {
    ///     Ok(config) => println!("nameserver port {}", config.nameserver_port),
    ///     Err(error) => eprintln!("bad posttroll configuration: {error}"),
    /// }
    /// ```
    pub fn load() -> Result<Config, ConfigError> {
        ConfigLoader::new()
            .process_env()
            .standard_files()
            .load()
            .map(|loaded| loaded.config)
    }

    /// The process-wide configuration: [`Config::load`] run once, on the
    /// first call, and kept for the life of the process (later changes to
    /// the environment or files are not seen).
    ///
    /// If loading fails, the error is logged with `tracing::error!` and the
    /// defaults ([`Config::default`]) are used instead, environment and files
    /// ignored. Call [`Config::load`] to handle the error yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Config;
    ///
    /// let config: &'static Config = Config::global();
    /// assert!(std::ptr::eq(config, Config::global()));
    /// ```
    pub fn global() -> &'static Config {
        GLOBAL.get_or_init(|| match Config::load() {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(
                    "cannot load the posttroll configuration, using the defaults: {error}"
                );
                Config::default()
            }
        })
    }
}

//! A running nameserver on free ports: [`NameServerFixture`] (async) and
//! [`crate::blocking::NameServerFixture`] (for plain `#[test]`s).

use std::time::Duration;

use posttroll::nameserver::get_pub_address;
use posttroll::{Address, Config, Context, Error, ErrorKind, Result};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_nameserver::{NameServer, NameServerHandle, DEFAULT_MAX_AGE};
use tokio::time::Instant;

use crate::multicast::loopback_multicast;
use crate::ports::{free_tcp_and_udp_port, free_tcp_ports};

/// The host of the fixture's nameserver, as publishers and subscribers are
/// given it.
pub const NAMESERVER_HOST: &str = "127.0.0.1";

/// How many times a start is tried again with new ports when a port turned
/// out to be taken (see the race in [`crate::ports`]).
const START_ATTEMPTS: usize = 5;

/// What the fixture's nameserver runs on.
#[derive(Debug, Clone)]
// Made once per fixture: the size of a `Config` inline does not matter, and
// `Configured(config)` reads better than `Configured(Box::new(config))`.
#[allow(clippy::large_enum_variant)]
pub enum FixtureBackend {
    /// The in-process backend, on this network: no sockets. Use
    /// [`InprocNetwork::new`] for a network of the test's own.
    Inproc(InprocNetwork),
    /// The backend this configuration names (it must be compiled into
    /// `posttroll`), with the configuration's other settings; the fixture
    /// replaces its ports, multicast settings and `own_ip`, and fills an
    /// unset `engine` with the test run's (`POSTTROLL_ENGINE`, see
    /// [`crate::engine`]).
    Configured(Config),
}

/// How to start a [`NameServerFixture`]. The default: multicast on (on the
/// in-process backend: its discovery bus), the reference's max age (10
/// minutes), a new isolated in-process network.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::Config;
/// use posttroll_testkit::{FixtureBackend, FixtureOptions};
///
/// let options = FixtureOptions {
///     multicast: false,
///     max_age: Duration::from_secs(5),
///     ..FixtureOptions::default()
/// };
/// assert!(matches!(options.backend, FixtureBackend::Inproc(_)));
///
/// // A real transport (when compiled in), announced on loopback only.
/// let zmq = FixtureOptions::configured(Config::default());
/// assert!(zmq.multicast);
/// ```
#[derive(Debug, Clone)]
pub struct FixtureOptions {
    /// Receive announcements by multicast (`true`) or as requests on
    /// `broadcast_port` (`false`, the reference's `--no-multicast`).
    pub multicast: bool,
    /// How long an address is kept without a new announcement.
    pub max_age: Duration,
    /// The backend.
    pub backend: FixtureBackend,
}

impl Default for FixtureOptions {
    fn default() -> FixtureOptions {
        FixtureOptions {
            multicast: true,
            max_age: DEFAULT_MAX_AGE,
            backend: FixtureBackend::Inproc(InprocNetwork::new()),
        }
    }
}

impl FixtureOptions {
    /// The defaults, on the in-process `network`.
    pub fn inproc(network: InprocNetwork) -> FixtureOptions {
        FixtureOptions {
            backend: FixtureBackend::Inproc(network),
            ..FixtureOptions::default()
        }
    }

    /// The defaults, on the backend `config` names.
    pub fn configured(config: Config) -> FixtureOptions {
        FixtureOptions {
            backend: FixtureBackend::Configured(config),
            ..FixtureOptions::default()
        }
    }
}

/// A configuration for the in-process backend: `backend: inproc`, `own_ip`
/// `127.0.0.1` (so that nothing probes the network for the host's
/// address) and loopback-only multicast settings (see
/// [`loopback_multicast`]); the other keys are the defaults.
///
/// # Examples
///
/// ```
/// use posttroll::Context;
/// use posttroll_backend_inproc::InprocNetwork;
/// use posttroll_testkit::inproc_config;
///
/// let config = inproc_config();
/// let ctx = Context::with_backend(config.clone(), InprocNetwork::new().backend(&config));
/// assert_eq!(ctx.backend_name(), "inproc");
/// ```
pub fn inproc_config() -> Config {
    loopback_multicast(Config {
        backend: posttroll_backend_inproc::BACKEND_NAME.to_owned(),
        own_ip: Some(NAMESERVER_HOST.to_owned()),
        ..Config::default()
    })
}

/// `base` with free ports for the nameserver (`nameserver_port`,
/// `secure_zmq_nameserver_port`, `address_publish_port`, and a
/// `broadcast_port` free for both TCP and UDP), loopback-only multicast,
/// `own_ip` `127.0.0.1` and, when `engine` is unset, the engine of the test
/// run ([`crate::with_test_engine`], through [`loopback_multicast`]).
pub(crate) fn fixture_config(base: Config) -> Config {
    let ports = free_tcp_ports(3);
    let broadcast_port = free_tcp_and_udp_port(&ports);
    let config = loopback_multicast(base);
    Config {
        nameserver_port: ports[0],
        secure_zmq_nameserver_port: ports[1],
        address_publish_port: ports[2],
        broadcast_port,
        own_ip: Some(NAMESERVER_HOST.to_owned()),
        ..config
    }
}

/// The configuration and context of a fixture about to start.
pub(crate) fn prepare(backend: &FixtureBackend) -> Result<(Config, Context)> {
    match backend {
        FixtureBackend::Inproc(network) => {
            let config = fixture_config(Config {
                backend: posttroll_backend_inproc::BACKEND_NAME.to_owned(),
                ..Config::default()
            });
            let ctx = Context::with_backend(config.clone(), network.backend(&config));
            Ok((config, ctx))
        }
        FixtureBackend::Configured(base) => {
            let config = fixture_config(base.clone());
            let ctx = Context::new(config.clone())?;
            Ok((config, ctx))
        }
    }
}

/// Whether a failed start is worth trying again with other ports.
pub(crate) fn retryable(err: &Error, attempt: usize) -> bool {
    err.kind() == ErrorKind::Bind && attempt + 1 < START_ATTEMPTS
}

/// A posttroll nameserver running on free ports, for tests (async; see
/// [`crate::blocking::NameServerFixture`] for plain `#[test]`s).
///
/// Its [`config`](Self::config) holds the ports (`nameserver_port`,
/// `address_publish_port`, `broadcast_port`, ...), loopback-only multicast
/// settings (interface `127.0.0.1`, TTL 0, a unique group) and `own_ip`
/// `127.0.0.1`; publishers and subscribers made from its
/// [`context`](Self::context) find it, with [`nameserver`](Self::nameserver)
/// as their nameserver host and [`announce_to`](Self::announce_to) as a
/// `NoisyPublisher`'s nameservers.
///
/// Dropping it stops the nameserver too (its tasks are aborted); prefer
/// [`stop`](Self::stop).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::nameserver::get_pub_address;
/// use posttroll_testkit::{FixtureOptions, NameServerFixture};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ns = NameServerFixture::start(FixtureOptions::default()).await?;
/// let found = get_pub_address(ns.context(), "nobody", Duration::from_secs(1), ns.nameserver()).await?;
/// assert!(found.is_empty());
/// ns.stop().await;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct NameServerFixture {
    config: Config,
    context: Context,
    multicast: bool,
    handle: NameServerHandle,
}

impl NameServerFixture {
    /// Starts a nameserver on free ports (trying again with new ports, a few
    /// times, when one turned out to be taken).
    ///
    /// # Errors
    ///
    /// When the configured backend is not compiled in, or the nameserver
    /// cannot start (its ports stayed taken, multicast cannot be set up).
    pub async fn start(options: FixtureOptions) -> Result<NameServerFixture> {
        let mut attempt = 0;
        loop {
            let (config, context) = prepare(&options.backend)?;
            let started = NameServer::builder()
                .context(context.clone())
                .multicast(options.multicast)
                .max_age(options.max_age)
                .start()
                .await;
            match started {
                Ok(handle) => {
                    return Ok(NameServerFixture {
                        config,
                        context,
                        multicast: options.multicast,
                        handle,
                    })
                }
                Err(err) if retryable(&err, attempt) => attempt += 1,
                Err(err) => return Err(err),
            }
        }
    }

    /// The configuration publishers and subscribers should use to find this
    /// nameserver (ports, loopback multicast, `own_ip` `127.0.0.1`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The context the nameserver runs on: build publishers and subscribers
    /// from it (`.context(ns.context().clone())`).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The host to pass as `nameserver` (to subscribers, `get_pub_address`,
    /// a `ListenerContainer`): `"127.0.0.1"`.
    pub fn nameserver(&self) -> &str {
        NAMESERVER_HOST
    }

    /// What a `NoisyPublisher` passes as its `nameservers` to be found:
    /// empty with multicast (announce on the discovery channel, i.e. by
    /// loopback multicast), `["127.0.0.1"]` without.
    pub fn announce_to(&self) -> Vec<String> {
        if self.multicast {
            Vec::new()
        } else {
            vec![NAMESERVER_HOST.to_owned()]
        }
    }

    /// Whether the nameserver receives announcements by multicast.
    pub fn multicast(&self) -> bool {
        self.multicast
    }

    /// The running nameserver.
    pub fn handle(&self) -> &NameServerHandle {
        &self.handle
    }

    /// Asks the nameserver for `name` until it knows some address for it,
    /// for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when nothing was found in time; the lookup's
    /// other errors.
    pub async fn wait_for_service(&self, name: &str, timeout: Duration) -> Result<Vec<Address>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ask = left.clamp(Duration::from_millis(10), Duration::from_secs(1));
            match get_pub_address(&self.context, name, ask, NAMESERVER_HOST).await {
                Ok(found) if !found.is_empty() => return Ok(found),
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::Timeout => {}
                Err(err) => return Err(err),
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(
                    format!("the nameserver to know {name:?}"),
                    timeout,
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the nameserver: returns within 1 s, every task ended.
    pub async fn stop(&self) {
        self.handle.stop().await;
    }
}

//! The [`Context`]: one configuration and the backend it selects.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use posttroll_core::{Backend, Config, Discovery, Registry, Result, Security, Transport};

/// The backends posttroll knows, with the cargo features of this crate that
/// compile each in (any one of them): the one place that knows them.
const KNOWN_BACKENDS: &[posttroll_core::KnownBackend] = &[
    ("unsecure_zmq", &["purerust", "zmq"]),
    ("secure_zmq", &["purerust", "secure-zmq"]),
    ("inproc", &["inproc"]),
];

/// The backends compiled into this build, by name (the `backend` config key).
///
/// This is where a backend is composed: a transport of an engine crate
/// (chosen by the `engine` config key among the engines compiled in) and a
/// discovery (UDP multicast for the zmq backends, the in-process bus for
/// `inproc`). The engine crates make transports only.
///
/// # Examples
///
/// ```
/// let names = posttroll::registry().names().iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert!(names.contains(&"inproc".to_string()));
/// ```
pub fn registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::knowing(KNOWN_BACKENDS);
    #[cfg(feature = "inproc")]
    registry.register(
        posttroll_backend_inproc::BACKEND_NAME,
        Arc::new(|_config: &Config| {
            let network = posttroll_backend_inproc::InprocNetwork::global();
            Ok(Backend {
                name: posttroll_backend_inproc::BACKEND_NAME.to_owned(),
                transport: Arc::new(network.transport()),
                discovery: Arc::new(network.discovery()),
            })
        }),
    );
    #[cfg(any(feature = "zmq", feature = "purerust"))]
    {
        let plain: Vec<(&'static str, TransportFactory)> = vec![
            #[cfg(feature = "purerust")]
            (
                "purerust",
                Box::new(|config: &Config| {
                    Ok(
                        Arc::new(posttroll_backend_purerust::PureRustTransport::new(config)?)
                            as Arc<dyn Transport>,
                    )
                }),
            ),
            #[cfg(feature = "zmq")]
            (
                "libzmq",
                Box::new(|config: &Config| {
                    Ok(Arc::new(posttroll_backend_zmq::ZmqTransport::new(config)?)
                        as Arc<dyn Transport>)
                }),
            ),
        ];
        registry.register("unsecure_zmq", by_engine("unsecure_zmq", plain));
    }
    #[cfg(any(feature = "secure-zmq", feature = "purerust"))]
    {
        let secure: Vec<(&'static str, TransportFactory)> = vec![
            #[cfg(feature = "purerust")]
            (
                "purerust",
                Box::new(|config: &Config| {
                    Ok(
                        Arc::new(posttroll_backend_purerust::PureRustTransport::secure(
                            config,
                        )?) as Arc<dyn Transport>,
                    )
                }),
            ),
            #[cfg(feature = "secure-zmq")]
            (
                "libzmq",
                Box::new(|config: &Config| {
                    Ok(Arc::new(
                        posttroll_backend_securezmq::SecureZmqTransport::new(config)?
                            .into_transport(),
                    ) as Arc<dyn Transport>)
                }),
            ),
        ];
        registry.register("secure_zmq", by_engine("secure_zmq", secure));
    }
    registry
}

/// Makes the transport of one engine.
#[cfg(any(feature = "zmq", feature = "purerust"))]
type TransportFactory = Box<dyn Fn(&Config) -> Result<Arc<dyn Transport>> + Send + Sync>;

/// The engines posttroll knows for the zmq backends, with the cargo feature
/// of this crate that compiles each in.
#[cfg(any(feature = "zmq", feature = "purerust"))]
const KNOWN_ENGINES: &[(&str, &str)] = &[("purerust", "purerust"), ("libzmq", "zmq")];

/// A factory for `backend`: the transport of the engine the config's
/// `engine` key names (when unset, the first of `engines`: the pure-Rust
/// one where it is compiled in) and the UDP multicast discovery.
#[cfg(any(feature = "zmq", feature = "purerust"))]
fn by_engine(
    backend: &'static str,
    engines: Vec<(&'static str, TransportFactory)>,
) -> posttroll_core::BackendFactory {
    Arc::new(move |config: &Config| {
        let chosen = match config.engine.as_deref() {
            None => engines.first(),
            Some(name) => engines.iter().find(|(engine, _)| *engine == name),
        };
        match chosen {
            Some((_, transport)) => Ok(Backend {
                name: backend.to_owned(),
                transport: transport(config)?,
                discovery: Arc::new(posttroll_discovery_multicast::MulticastDiscovery::new(
                    config,
                )?),
            }),
            None => {
                let name = config.engine.as_deref().unwrap_or_default();
                let hint = match KNOWN_ENGINES.iter().find(|(e, _)| *e == name) {
                    Some((_, feature)) => format!(
                        "; the {name} engine is not compiled in: enable the cargo feature \
                         `{feature}` of the `posttroll` crate, or set engine to one of the \
                         available ones"
                    ),
                    None => format!(
                        "; the config key `engine` (POSTTROLL_ENGINE) names an engine: \
                         posttroll knows {:?}",
                        KNOWN_ENGINES.iter().map(|(e, _)| *e).collect::<Vec<_>>()
                    ),
                };
                Err(posttroll_core::Error::UnknownBackend {
                    name: format!("{backend} on the engine '{name}'"),
                    available: engines
                        .iter()
                        .map(|(engine, _)| format!("{backend} on {engine}"))
                        .collect(),
                    hint,
                })
            }
        }
    })
}

/// A configuration and the backend it selects; cheap to clone and shared by
/// every publisher, subscriber and nameserver made from it.
///
/// # Examples
///
/// ```
/// use posttroll::{Config, Context};
///
/// let config = Config { backend: "inproc".into(), ..Config::default() };
/// let ctx = Context::new(config).unwrap();
/// assert_eq!(ctx.backend_name(), "inproc");
///
/// let err = Context::new(Config { backend: "carrier_pigeon".into(), ..Config::default() }).unwrap_err();
/// assert!(err.to_string().contains("carrier_pigeon"));
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    backend: Backend,
}

impl Context {
    /// Builds the backend the config's `backend` key names.
    pub fn new(config: Config) -> Result<Context> {
        let backend = registry().build(&config)?;
        Ok(Context::with_backend(config, backend))
    }

    /// A context over an already built backend (e.g. an isolated in-process
    /// network in a test).
    pub fn with_backend(config: Config, backend: Backend) -> Context {
        Context {
            inner: Arc::new(Inner { config, backend }),
        }
    }

    /// The process-wide context from [`Config::global`], built once (or
    /// the one a [`GlobalContextGuard`] put in place).
    pub fn global() -> Result<Context> {
        if let Some(ctx) = GLOBAL_OVERRIDE
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(ctx);
        }
        static GLOBAL: OnceLock<Context> = OnceLock::new();
        if let Some(ctx) = GLOBAL.get() {
            return Ok(ctx.clone());
        }
        let ctx = Context::new(Config::global().clone())?;
        Ok(GLOBAL.get_or_init(|| ctx).clone())
    }

    /// Makes [`Context::global`] return `ctx` until the guard is dropped,
    /// so that code which never takes a context (it uses the global one)
    /// runs on `ctx`: for test kits, e.g. to record every publisher an
    /// application makes (the reference's `patched_publisher`; see
    /// `posttroll_testkit::patched`).
    ///
    /// The guard also holds a process-wide lock: while one exists, another
    /// call waits, so tests that replace the global context run one at a
    /// time even when the test harness runs them on parallel threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::{Config, Context};
    ///
    /// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
    /// {
    ///     let _guard = Context::replace_global(ctx);
    ///     assert_eq!(Context::global()?.backend_name(), "inproc");
    /// }
    /// # Ok::<(), posttroll::Error>(())
    /// ```
    pub fn replace_global(ctx: Context) -> GlobalContextGuard {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = GLOBAL_OVERRIDE
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(ctx);
        GlobalContextGuard {
            previous,
            _serial: serial,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The backend's transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.inner.backend.transport
    }

    /// The backend's announcement channel.
    pub fn discovery(&self) -> &Arc<dyn Discovery> {
        &self.inner.backend.discovery
    }

    /// The backend's name (`unsecure_zmq`, `secure_zmq`, `inproc`).
    pub fn backend_name(&self) -> &str {
        &self.inner.backend.name
    }

    /// The security of this context's server sockets and of connections to
    /// bare URIs: CURVE for `secure_zmq`, else plain.
    pub fn security(&self) -> Security {
        Security::from_backend_name(&self.inner.config.backend)
    }

    /// The `backend` value a publisher announces on the wire.
    pub fn announced_backend(&self) -> &str {
        &self.inner.config.backend
    }
}

/// What [`Context::global`] returns instead of the configured context, while
/// a [`GlobalContextGuard`] exists.
static GLOBAL_OVERRIDE: RwLock<Option<Context>> = RwLock::new(None);

/// Puts the global context back when dropped; see
/// [`Context::replace_global`].
#[must_use = "the global context is put back when the guard is dropped"]
pub struct GlobalContextGuard {
    previous: Option<Context>,
    _serial: MutexGuard<'static, ()>,
}

impl std::fmt::Debug for GlobalContextGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalContextGuard").finish_non_exhaustive()
    }
}

impl Drop for GlobalContextGuard {
    fn drop(&mut self) {
        *GLOBAL_OVERRIDE
            .write()
            .unwrap_or_else(PoisonError::into_inner) = self.previous.take();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_not_compiled_in_names_every_feature_that_adds_it() {
        // No backend registered: each known one is "not compiled in".
        let empty = Registry::knowing(KNOWN_BACKENDS);
        let err = |name: &str| {
            empty
                .build_named(name, &Config::default())
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("unsecure_zmq").contains("`purerust` or `zmq`"),
            "{}",
            err("unsecure_zmq")
        );
        assert!(err("secure_zmq").contains("`purerust` or `secure-zmq`"));
        assert!(err("inproc").contains("`inproc`"));
        let unknown = err("carrier_pigeon");
        assert!(unknown.contains("posttroll knows"), "{unknown}");
    }

    #[cfg(any(feature = "zmq", feature = "purerust"))]
    #[test]
    fn the_zmq_backends_pair_an_engine_with_multicast_discovery() {
        let backend = registry()
            .build(&Config {
                backend: "unsecure_zmq".into(),
                ..Config::default()
            })
            .unwrap();
        assert_eq!(backend.name, "unsecure_zmq");
        assert!(format!("{:?}", backend.discovery).contains("Multicast"));
    }
}

//! The backend registry: the `backend` config key → a compiled-in backend.
//!
//! Each backend crate offers a factory; the `posttroll` facade installs the
//! ones its cargo features compiled in (as sqlx's drivers), and
//! [`Registry::build`] picks one by name.

use std::fmt;
use std::sync::Arc;

use crate::config::Config;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::transport::Transport;

/// The backends posttroll knows, with the cargo feature of the `posttroll`
/// facade that compiles each in.
pub const KNOWN_BACKENDS: &[(&str, &str)] = &[
    ("unsecure_zmq", "zmq"),
    ("secure_zmq", "secure-zmq"),
    ("inproc", "inproc"),
];

/// A built backend: its transport and its discovery channel.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The name it was built under (`unsecure_zmq`, `inproc`, ...).
    pub name: String,
    /// Moves frames.
    pub transport: Arc<dyn Transport>,
    /// Carries announcements.
    pub discovery: Arc<dyn Discovery>,
}

/// Builds a backend from a configuration.
pub type BackendFactory = Arc<dyn Fn(&Config) -> Result<Backend> + Send + Sync>;

/// Backend name → factory.
///
/// # Examples
///
/// ```
/// use posttroll_core::{Config, Registry};
///
/// let registry = Registry::new();
/// let err = registry.build(&Config::default()).unwrap_err();
/// assert!(err.to_string().contains("unsecure_zmq"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<(String, BackendFactory)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Installs (or replaces) the factory of backend `name`.
    pub fn register(&mut self, name: impl Into<String>, factory: BackendFactory) {
        let name = name.into();
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, factory));
    }

    /// The names of the installed backends, in installation order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Builds the backend the config's `backend` key names.
    pub fn build(&self, config: &Config) -> Result<Backend> {
        self.build_named(&config.backend, config)
    }

    /// Builds backend `name` with `config`; an unknown or not compiled-in
    /// name is an error listing the available ones and the cargo feature
    /// that adds the missing one.
    pub fn build_named(&self, name: &str, config: &Config) -> Result<Backend> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, factory)) => factory(config),
            None => {
                let hint = match KNOWN_BACKENDS.iter().find(|(n, _)| *n == name) {
                    Some((_, feature)) => format!(
                        "; '{name}' is not compiled in: enable the cargo feature `{feature}` of the `posttroll` crate"
                    ),
                    None => format!(
                        "; posttroll knows {:?}",
                        KNOWN_BACKENDS.iter().map(|(n, _)| *n).collect::<Vec<_>>()
                    ),
                };
                Err(Error::UnknownBackend {
                    name: name.to_owned(),
                    available: self.names().into_iter().map(str::to_owned).collect(),
                    hint,
                })
            }
        }
    }
}

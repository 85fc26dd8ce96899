//! The backend registry: the `backend` config key → a compiled-in backend.
//!
//! A generic table: the `posttroll` facade composes each backend it
//! compiled in (a transport of an engine crate and a discovery), registers
//! it under its name with the backends it knows ([`Registry::knowing`]),
//! and [`Registry::build`] picks one by name. Which backends exist and which
//! cargo features add them is the facade's knowledge, not this crate's.

use std::fmt;
use std::sync::Arc;

use crate::config::Config;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::transport::Transport;

/// A backend name and the cargo features that can compile it in (any one
/// of them), for the error naming a backend that is not compiled in.
pub type KnownBackend = (&'static str, &'static [&'static str]);

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
    known: &'static [KnownBackend],
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

    /// An empty registry whose errors name `known` backends and the cargo
    /// features that add the missing one.
    pub fn knowing(known: &'static [KnownBackend]) -> Registry {
        Registry {
            entries: Vec::new(),
            known,
        }
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
    /// name is an error listing the available ones and (for a name of
    /// [`Registry::knowing`]) the cargo features that add the missing one.
    pub fn build_named(&self, name: &str, config: &Config) -> Result<Backend> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, factory)) => factory(config),
            None => {
                let hint = match self.known.iter().find(|(n, _)| *n == name) {
                    Some((_, features)) => format!(
                        "; '{name}' is not compiled in: enable the cargo feature {} of the \
                         `posttroll` crate",
                        features
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                    None if self.known.is_empty() => String::new(),
                    None => format!(
                        "; posttroll knows {:?}",
                        self.known.iter().map(|(n, _)| *n).collect::<Vec<_>>()
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

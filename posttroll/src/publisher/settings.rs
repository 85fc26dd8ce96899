//! Creating a publisher from settings, as the reference's
//! `create_publisher_from_dict_config`.

use std::ops::Deref;
use std::time::Duration;

use posttroll_core::config::ConfigError;
use posttroll_core::{Error, Result};

use super::{NoisyPublisher, Publisher};
use crate::Context;

/// The `nameservers` setting: the reference's `None`, `False` or a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NameserversSetting {
    /// Not set (`None`): announce by multicast.
    #[default]
    Default,
    /// `False`: no nameservers and no announcements, when a port or an
    /// address is given.
    Disabled,
    /// Announce to these nameservers only (an empty list is the same as
    /// [`NameserversSetting::Default`]).
    List(Vec<String>),
}

/// The settings of [`create_publisher_from_dict_config`]: the keys of the
/// reference's settings dict.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublisherSettings {
    /// `name`: required for a [`NoisyPublisher`]; the heartbeat name of a
    /// plain [`Publisher`].
    pub name: Option<String>,
    /// `port` (`None` or 0: a free port).
    pub port: Option<u16>,
    /// `address`: the address a plain publisher binds (e.g. `tcp://*:9000`,
    /// `ipc:///tmp/x`); wins over `port`.
    pub address: Option<String>,
    /// `aliases`: other names of a [`NoisyPublisher`].
    pub aliases: Vec<String>,
    /// `broadcast_interval` (`None`: 2 s).
    pub broadcast_interval: Option<Duration>,
    /// `nameservers`.
    pub nameservers: NameserversSetting,
    /// `min_port` (`None` or 0: the `pub_min_port` config key).
    pub min_port: Option<u16>,
    /// `max_port` (`None` or 0: the `pub_max_port` config key).
    pub max_port: Option<u32>,
}

/// Which publisher [`create_publisher_from_dict_config`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublisherKind {
    /// A plain [`Publisher`]: no announcements.
    Plain,
    /// A [`NoisyPublisher`].
    Noisy,
}

impl PublisherSettings {
    /// Settings for a publisher named `name`, everything else unset.
    pub fn named(name: impl Into<String>) -> PublisherSettings {
        PublisherSettings {
            name: Some(name.into()),
            ..PublisherSettings::default()
        }
    }

    /// Which publisher these settings make: a plain one when a non-zero
    /// `port` or a non-empty `address` is given and `nameservers` is
    /// [`NameserversSetting::Disabled`], else a noisy one.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::publisher::{NameserversSetting, PublisherKind, PublisherSettings};
    ///
    /// let mut settings = PublisherSettings::named("my_service");
    /// assert_eq!(settings.kind(), PublisherKind::Noisy);
    /// settings.port = Some(9000);
    /// assert_eq!(settings.kind(), PublisherKind::Noisy);
    /// settings.nameservers = NameserversSetting::Disabled;
    /// assert_eq!(settings.kind(), PublisherKind::Plain);
    /// ```
    pub fn kind(&self) -> PublisherKind {
        let port = self.port.is_some_and(|p| p != 0);
        let address = self.address.as_deref().is_some_and(|a| !a.is_empty());
        if (port || address) && self.nameservers == NameserversSetting::Disabled {
            PublisherKind::Plain
        } else {
            PublisherKind::Noisy
        }
    }
}

/// A [`Publisher`] or a [`NoisyPublisher`], as
/// [`create_publisher_from_dict_config`] makes.
#[derive(Debug)]
pub enum AnyPublisher {
    /// A plain publisher.
    Plain(Publisher),
    /// A publisher that announces itself.
    Noisy(NoisyPublisher),
}

impl AnyPublisher {
    /// Which kind this is.
    pub fn kind(&self) -> PublisherKind {
        match self {
            AnyPublisher::Plain(_) => PublisherKind::Plain,
            AnyPublisher::Noisy(_) => PublisherKind::Noisy,
        }
    }

    /// Stops the publisher (and its announcements); returns within 1 s.
    ///
    /// As for [`NoisyPublisher::stop`], this is not the [`Publisher::stop`]
    /// the dereference also reaches.
    pub async fn stop(&self) -> Result<()> {
        match self {
            AnyPublisher::Plain(p) => p.stop().await,
            AnyPublisher::Noisy(p) => p.stop().await,
        }
    }
}

/// Either kind is a publisher: everything but stopping
/// ([`AnyPublisher::stop`]) is the [`Publisher`]'s (`send`, `heartbeat`,
/// `port_number`, ...).
impl Deref for AnyPublisher {
    type Target = Publisher;

    fn deref(&self) -> &Publisher {
        match self {
            AnyPublisher::Plain(p) => p,
            AnyPublisher::Noisy(p) => p,
        }
    }
}

/// Creates and starts a publisher from settings, by the reference's rules:
///
/// - a non-zero `port` or an `address`, with `nameservers` set to
///   [`NameserversSetting::Disabled`]: a plain [`Publisher`] on the address,
///   else on `tcp://*:<port>`, with no announcements;
/// - otherwise a [`NoisyPublisher`] (on `port`, or a free port when it is
///   unset or 0), announcing to the listed nameservers or, with none, by
///   multicast. It requires a `name`: without one this is an error naming
///   the missing key.
///
/// (The reference returns the publisher unstarted; this one starts it.)
///
/// # Examples
///
/// ```
/// use posttroll::publisher::{create_publisher_from_dict_config, NameserversSetting, PublisherKind, PublisherSettings};
/// use posttroll::{Config, Context};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let settings = PublisherSettings {
///     port: Some(40123),
///     nameservers: NameserversSetting::Disabled,
///     ..PublisherSettings::named("my_service")
/// };
/// let publisher = create_publisher_from_dict_config(&ctx, &settings).await?;
/// assert_eq!(publisher.kind(), PublisherKind::Plain);
/// assert_eq!(publisher.port_number(), Some(40123));
/// publisher.stop().await?;
///
/// let err = create_publisher_from_dict_config(&ctx, &PublisherSettings::default()).await.unwrap_err();
/// assert!(err.to_string().contains("name"));
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub async fn create_publisher_from_dict_config(
    ctx: &Context,
    settings: &PublisherSettings,
) -> Result<AnyPublisher> {
    match settings.kind() {
        PublisherKind::Plain => {
            let address = match settings.address.as_deref().filter(|a| !a.is_empty()) {
                Some(address) => address.to_owned(),
                None => format!("tcp://*:{}", settings.port.unwrap_or(0)),
            };
            let mut builder = Publisher::builder(address)
                .context(ctx.clone())
                .name(settings.name.clone().unwrap_or_default());
            if let Some(p) = settings.min_port {
                builder = builder.min_port(p);
            }
            if let Some(p) = settings.max_port {
                builder = builder.max_port(p);
            }
            Ok(AnyPublisher::Plain(builder.start().await?))
        }
        PublisherKind::Noisy => {
            let name = settings.name.clone().ok_or_else(|| {
                Error::Config(ConfigError::InvalidValue {
                    key: "name".to_owned(),
                    origin: "publisher settings".to_owned(),
                    value: "(missing)".to_owned(),
                    reason: "NoisyPublisher requires a name: set the `name` setting, or give a `port` or an `address` with `nameservers` disabled for a plain publisher".to_owned(),
                })
            })?;
            let nameservers = match &settings.nameservers {
                NameserversSetting::List(list) => list.clone(),
                NameserversSetting::Default | NameserversSetting::Disabled => Vec::new(),
            };
            let mut builder = NoisyPublisher::builder(name)
                .context(ctx.clone())
                .port(settings.port.unwrap_or(0))
                .aliases(settings.aliases.iter().map(String::as_str))
                .broadcast_interval(
                    settings
                        .broadcast_interval
                        .unwrap_or(Duration::from_secs(2)),
                )
                .nameservers(nameservers);
            if let Some(p) = settings.min_port {
                builder = builder.min_port(p);
            }
            if let Some(p) = settings.max_port {
                builder = builder.max_port(p);
            }
            Ok(AnyPublisher::Noisy(builder.start().await?))
        }
    }
}

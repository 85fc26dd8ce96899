//! Creating a subscriber from settings, as the reference's
//! `create_subscriber_from_dict_config`.

use std::fmt;
use std::time::Duration;

use posttroll_core::{Address, Result};

use super::{Budget, MessageFilter, NSSubscriber, Subscriber};
use crate::Context;

/// The `nameserver` setting: the reference's `None`, `False` or a host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NameserverSetting {
    /// Not set (`None`): the nameserver on `localhost`.
    #[default]
    Default,
    /// `False`: no nameserver, when `addresses` are given (else the same as
    /// [`NameserverSetting::Default`]).
    Disabled,
    /// The nameserver on this host (an empty host means `localhost`).
    Host(String),
}

/// The settings of [`create_subscriber_from_dict_config`]: the keys of the
/// reference's settings dict.
#[derive(Clone)]
pub struct SubscriberSettings {
    /// `services`: `[""]` (the default) means all, an empty list none.
    pub services: Vec<String>,
    /// `topics` (`None`: every message; `pytroll:/` for a nameserver
    /// subscriber, `""` for a plain one, as the reference).
    pub topics: Option<Vec<String>>,
    /// `addr_listener`: follow the nameserver's address events.
    pub addr_listener: bool,
    /// `addresses`: publishers to connect to.
    pub addresses: Vec<Address>,
    /// `timeout`: how long to ask the nameserver for each service (default
    /// 10 s).
    pub timeout: Duration,
    /// `translate`: see [`super::SubscriberBuilder::translate`].
    pub translate: bool,
    /// `nameserver`.
    pub nameserver: NameserverSetting,
    /// `message_filter`.
    pub message_filter: Option<MessageFilter>,
}

impl Default for SubscriberSettings {
    fn default() -> Self {
        SubscriberSettings {
            services: vec![String::new()],
            topics: None,
            addr_listener: false,
            addresses: Vec::new(),
            timeout: Duration::from_secs(10),
            translate: false,
            nameserver: NameserverSetting::Default,
            message_filter: None,
        }
    }
}

impl fmt::Debug for SubscriberSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberSettings")
            .field("services", &self.services)
            .field("topics", &self.topics)
            .field("addr_listener", &self.addr_listener)
            .field("addresses", &self.addresses)
            .field("timeout", &self.timeout)
            .field("translate", &self.translate)
            .field("nameserver", &self.nameserver)
            .field("message_filter", &self.message_filter.is_some())
            .finish()
    }
}

/// Which subscriber [`create_subscriber_from_dict_config`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberKind {
    /// A plain [`Subscriber`] on the given addresses.
    Plain,
    /// A subscriber fed by a nameserver ([`NSSubscriber`]).
    NameServer,
}

impl SubscriberSettings {
    /// Which subscriber these settings make: a plain one when `addresses`
    /// is non-empty and `nameserver` is [`NameserverSetting::Disabled`],
    /// else one fed by a nameserver.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::subscriber::{NameserverSetting, SubscriberKind, SubscriberSettings};
    ///
    /// let mut settings = SubscriberSettings::default();
    /// assert_eq!(settings.kind(), SubscriberKind::NameServer);
    /// settings.nameserver = NameserverSetting::Disabled;
    /// assert_eq!(settings.kind(), SubscriberKind::NameServer);
    /// settings.addresses = vec!["tcp://127.0.0.1:40000".into()];
    /// assert_eq!(settings.kind(), SubscriberKind::Plain);
    /// ```
    pub fn kind(&self) -> SubscriberKind {
        if !self.addresses.is_empty() && self.nameserver == NameserverSetting::Disabled {
            SubscriberKind::Plain
        } else {
            SubscriberKind::NameServer
        }
    }

    /// The nameserver host these settings use (`localhost` unless a
    /// non-empty host is given).
    pub fn nameserver_host(&self) -> &str {
        match &self.nameserver {
            NameserverSetting::Host(host) if !host.is_empty() => host,
            _ => "localhost",
        }
    }
}

/// Creates and starts a subscriber from settings, by the reference's
/// rules:
///
/// - non-empty `addresses` with `nameserver` set to
///   [`NameserverSetting::Disabled`]: a plain [`Subscriber`] on those
///   addresses, with no nameserver;
/// - otherwise an [`NSSubscriber`] on the nameserver given (`localhost`
///   when unset, disabled or empty), started.
///
/// # Examples
///
/// ```
/// use posttroll::subscriber::{create_subscriber_from_dict_config, NameserverSetting, SubscriberSettings};
/// use posttroll::{Config, Context};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
/// let settings = SubscriberSettings {
///     addresses: vec!["tcp://127.0.0.1:40000".into()],
///     nameserver: NameserverSetting::Disabled,
///     topics: Some(vec!["/counter".into()]),
///     ..SubscriberSettings::default()
/// };
/// let subscriber = create_subscriber_from_dict_config(&ctx, settings).await?;
/// assert_eq!(subscriber.topics(), ["pytroll://counter"]);
/// subscriber.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub async fn create_subscriber_from_dict_config(
    ctx: &Context,
    settings: SubscriberSettings,
) -> Result<Subscriber> {
    create_subscriber(ctx, settings, None).await
}

/// [`create_subscriber_from_dict_config`], taking room from `budget` when
/// given (see [`super::SubscriberBuilder::budget`]).
pub(crate) async fn create_subscriber(
    ctx: &Context,
    settings: SubscriberSettings,
    budget: Option<Budget>,
) -> Result<Subscriber> {
    match settings.kind() {
        SubscriberKind::Plain => {
            let mut builder = Subscriber::builder()
                .addresses(settings.addresses)
                .translate(settings.translate)
                .message_filter_arc(settings.message_filter)
                .budget(budget)
                .context(ctx.clone());
            if let Some(topics) = settings.topics {
                builder = builder.topics(topics);
            }
            builder.start().await
        }
        SubscriberKind::NameServer => {
            let nameserver = settings.nameserver_host().to_owned();
            let mut builder = NSSubscriber::builder()
                .services(settings.services)
                .addr_listener(settings.addr_listener)
                .addresses(settings.addresses)
                .timeout(settings.timeout)
                .translate(settings.translate)
                .nameserver(nameserver)
                .message_filter_arc(settings.message_filter)
                .budget(budget)
                .context(ctx.clone());
            if let Some(topics) = settings.topics {
                builder = builder.topics(topics);
            }
            builder.start().await
        }
    }
}

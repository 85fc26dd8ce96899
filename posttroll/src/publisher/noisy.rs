//! [`NoisyPublisher`]: a publisher that announces itself.

use std::ops::Deref;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{Endpoint, Result};

use super::Publisher;
use crate::discovery::{address_message, own_ip, Announcer};
use crate::Context;

/// A [`Publisher`] that also announces its name and address every
/// broadcast interval, so that nameservers (and subscribers asking them for
/// the name or an alias) find it (the reference's `NoisyPublisher`).
///
/// It binds `tcp://*:<port>` (port 0: a free port in `[min_port,
/// max_port)`; `*` is every interface, IPv6 and IPv4 where the host is
/// dual-stack) and announces `tcp://<own ip>:<bound port>` (see
/// [`own_ip`]; an IPv6 address in brackets, `tcp://[<ip>]:<port>`) with
/// the services `[name] + aliases`, by multicast, or to the designated
/// `nameservers` when some are given. Bound on one address instead
/// ([`NoisyPublisherBuilder::host`]), it announces that address.
///
/// # Examples
///
/// ```
/// use posttroll::{publisher::NoisyPublisher, Message};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
/// let publisher = NoisyPublisher::builder("my_service")
///     .aliases(["counter"])
///     .start()
///     .await?;
/// assert!(publisher.announced_uri().starts_with("tcp://"));
/// publisher.send(&Message::new("/counter", "info", "1")?).await?;
/// publisher.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct NoisyPublisher {
    publisher: Publisher,
    announced_uri: String,
    services: Vec<String>,
    announcer: Mutex<Option<Announcer>>,
}

/// Builds a [`NoisyPublisher`]; see [`NoisyPublisher::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct NoisyPublisherBuilder {
    name: String,
    host: String,
    port: u16,
    aliases: Vec<String>,
    broadcast_interval: Duration,
    nameservers: Vec<String>,
    min_port: Option<u16>,
    max_port: Option<u32>,
    context: Option<Context>,
}

impl NoisyPublisher {
    /// A builder for a publisher announced as `name`; by default on a free
    /// port, no aliases, announced every 2 s by multicast.
    pub fn builder(name: impl Into<String>) -> NoisyPublisherBuilder {
        NoisyPublisherBuilder {
            name: name.into(),
            host: "*".to_owned(),
            port: 0,
            aliases: Vec::new(),
            broadcast_interval: Duration::from_secs(2),
            nameservers: Vec::new(),
            min_port: None,
            max_port: None,
            context: None,
        }
    }

    /// The URI announced, `tcp://<own ip>:<port>` (`tcp://[<ip>]:<port>`
    /// for an IPv6 address).
    pub fn announced_uri(&self) -> &str {
        &self.announced_uri
    }

    /// The services announced: the name, then the aliases.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// Stops publishing and announcing; returns within 1 s. Calling it
    /// again does nothing.
    ///
    /// This is not [`Publisher::stop`], which the dereference also reaches
    /// (`Publisher::stop(&noisy)`): that one would close the socket and
    /// leave the announcements running until the noisy publisher is
    /// dropped.
    pub async fn stop(&self) -> Result<()> {
        let announcer = self
            .announcer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let stop_announcing = async {
            if let Some(announcer) = announcer {
                announcer.stop().await;
            }
        };
        // Both at once, so that the whole stays within the 1 s bound.
        let (result, ()) = tokio::join!(self.publisher.stop(), stop_announcing);
        result
    }

    /// The number of announcing tasks still alive (a test hook).
    #[doc(hidden)]
    pub fn live_tasks(&self) -> usize {
        self.announcer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0, Announcer::live_tasks)
    }
}

/// A noisy publisher is a publisher that announces itself: everything but
/// stopping ([`NoisyPublisher::stop`], which ends the announcements too) is
/// the [`Publisher`]'s (`send`, `heartbeat`, `port_number`, ...).
impl Deref for NoisyPublisher {
    type Target = Publisher;

    fn deref(&self) -> &Publisher {
        &self.publisher
    }
}

impl NoisyPublisherBuilder {
    /// The context (configuration and backend); default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// The interface to bind: `*` (the default: every interface), or one
    /// address, e.g. `::1` or `[::1]`, `192.0.2.7`, a host name. Bound on
    /// one address, the publisher announces that address rather than
    /// [`own_ip`] (`0.0.0.0` and `::` are every interface of one family,
    /// and announce [`own_ip`] as `*` does).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The port to bind (0, the default: a free port in `[min_port,
    /// max_port)`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Other names the publisher is found by.
    pub fn aliases<I, S>(mut self, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.aliases = aliases.into_iter().map(Into::into).collect();
        self
    }

    /// How often to announce (default 2 s; zero: never).
    pub fn broadcast_interval(mut self, interval: Duration) -> Self {
        self.broadcast_interval = interval;
        self
    }

    /// Announce to these nameservers (`host`, `host:port` or
    /// `tcp://host:port`) instead of by multicast; empty (the default):
    /// multicast.
    pub fn nameservers<I, S>(mut self, nameservers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.nameservers = nameservers.into_iter().map(Into::into).collect();
        self
    }

    /// See [`super::PublisherBuilder::min_port`].
    pub fn min_port(mut self, port: u16) -> Self {
        self.min_port = Some(port);
        self
    }

    /// See [`super::PublisherBuilder::max_port`].
    pub fn max_port(mut self, port: u32) -> Self {
        self.max_port = Some(port);
        self
    }

    /// Binds, then starts announcing.
    ///
    /// Errors when binding fails, the name cannot be a subject (it holds
    /// whitespace), a nameserver cannot be understood, or the discovery
    /// channel cannot be opened; the socket is then released.
    pub async fn start(self) -> Result<NoisyPublisher> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let host = self.host.trim();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let mut builder = Publisher::builder(Endpoint::tcp(host, self.port).to_string())
            .name(self.name.clone())
            .context(ctx.clone());
        if let Some(p) = self.min_port {
            builder = builder.min_port(p);
        }
        if let Some(p) = self.max_port {
            builder = builder.max_port(p);
        }
        let publisher = builder.start().await?;
        match announce(
            &ctx,
            &publisher,
            &self.name,
            self.aliases,
            self.broadcast_interval,
            self.nameservers,
        )
        .await
        {
            Ok((announced_uri, services, announcer)) => Ok(NoisyPublisher {
                publisher,
                announced_uri,
                services,
                announcer: Mutex::new(Some(announcer)),
            }),
            Err(err) => {
                if let Err(close_err) = publisher.stop().await {
                    tracing::debug!("closing the publisher after a failed start: {close_err}");
                }
                Err(err)
            }
        }
    }
}

/// True for the hosts that bind every interface: `*`, `0.0.0.0`, `::`.
fn is_every_interface(host: &str) -> bool {
    host == "*"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
}

async fn announce(
    ctx: &Context,
    publisher: &Publisher,
    name: &str,
    aliases: Vec<String>,
    interval: Duration,
    nameservers: Vec<String>,
) -> Result<(String, Vec<String>, Announcer)> {
    let port = publisher.port_number().unwrap_or(0);
    let uri = match publisher.endpoint().host() {
        Some(host) if !is_every_interface(host) => Endpoint::tcp(host, port).to_string(),
        _ => {
            let ip = own_ip(ctx.config()).await;
            let ip = ip
                .strip_prefix('[')
                .and_then(|ip| ip.strip_suffix(']'))
                .unwrap_or(&ip);
            // As the reference for IPv4 (`tcp://<ip>:<port>`), bracketed
            // for IPv6.
            Endpoint::tcp(ip, port).to_string()
        }
    };
    let mut services = Vec::with_capacity(aliases.len() + 1);
    services.push(name.to_owned());
    services.extend(aliases);
    let msg = address_message(name, &uri, &services, ctx.announced_backend())?;
    let frame = Bytes::from(msg.encode_with(ctx.config().message_version.as_deref()));
    tracing::info!("announcing {name:?} at {uri} as {services:?}");
    let announcer = Announcer::start(ctx, frame, interval, nameservers).await?;
    Ok((uri, services, announcer))
}

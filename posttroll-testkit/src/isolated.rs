//! Isolated in-process networks for nameserver scenarios: a context of its
//! own ([`isolated`]), a nameserver on it ([`start_ns`]) and named
//! publishers announcing to it ([`noisy`]), with nothing shared between
//! tests.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::nameserver::get_pub_address;
//! use posttroll_testkit::isolated::{default_ctx, noisy, start_ns};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (ctx, _network) = default_ctx();
//! let ns = start_ns(&ctx, false, Duration::from_secs(10)).await;
//! let publisher = noisy(&ctx, "my_service", &[], false, Duration::from_millis(50)).await;
//! let found = loop {
//!     let found = get_pub_address(&ctx, "my_service", Duration::from_secs(1), "localhost").await?;
//!     if !found.is_empty() {
//!         break found;
//!     }
//! };
//! assert_eq!(found[0].uri(), publisher.announced_uri());
//! publisher.stop().await?;
//! ns.stop().await;
//! # Ok::<(), posttroll::Error>(())
//! # }).unwrap();
//! ```

use std::time::Duration;

use posttroll::publisher::NoisyPublisher;
use posttroll::{Config, Context};
use posttroll_backend_inproc::InprocNetwork;
use posttroll_nameserver::{NameServer, NameServerHandle};

/// A context on a fresh, isolated in-process network (backend `inproc`,
/// publishers announcing 127.0.0.1), and the network, to script or
/// inspect it.
pub fn isolated(config: Config) -> (Context, InprocNetwork) {
    let network = InprocNetwork::new();
    let config = Config {
        backend: "inproc".into(),
        own_ip: Some("127.0.0.1".into()),
        ..config
    };
    let backend = network.backend(&config);
    (Context::with_backend(config, backend), network)
}

/// [`isolated`] with the default configuration.
pub fn default_ctx() -> (Context, InprocNetwork) {
    isolated(Config::default())
}

/// A nameserver on `ctx`, taking announcements by multicast or, when
/// `multicast` is false, as requests; addresses expire after `max_age`.
///
/// # Panics
///
/// When the nameserver cannot start (a test fixture).
pub async fn start_ns(ctx: &Context, multicast: bool, max_age: Duration) -> NameServerHandle {
    NameServer::builder()
        .context(ctx.clone())
        .multicast(multicast)
        .max_age(max_age)
        .start()
        .await
        .unwrap_or_else(|e| panic!("the nameserver did not start: {e}"))
}

/// A named publisher on `ctx` announcing itself every `interval`, by
/// multicast or (when `multicast` is false) to the nameserver on
/// localhost.
///
/// # Panics
///
/// When the publisher cannot start (a test fixture).
pub async fn noisy(
    ctx: &Context,
    name: &str,
    aliases: &[&str],
    multicast: bool,
    interval: Duration,
) -> NoisyPublisher {
    let nameservers = if multicast {
        vec![]
    } else {
        vec!["localhost".to_owned()]
    };
    NoisyPublisher::builder(name)
        .aliases(aliases.iter().copied())
        .nameservers(nameservers)
        .broadcast_interval(interval)
        .context(ctx.clone())
        .start()
        .await
        .unwrap_or_else(|e| panic!("the publisher {name} did not start: {e}"))
}

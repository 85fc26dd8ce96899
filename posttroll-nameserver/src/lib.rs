//! The posttroll nameserver (PROTOCOL.md section 4): the server side of
//! discovery. Its clients, [`posttroll::nameserver::get_pub_address`] and
//! the subscribers that follow it, are in the `posttroll` facade.
//!
//! - [`NameServer`]: receives publishers' announcements (multicast, or
//!   requests on `broadcast_port` without multicast), keeps them in an
//!   [`AddressTable`], publishes address additions and removals on
//!   `address_publish_port`, and answers lookups on `nameserver_port`
//!   (and `secure_zmq_nameserver_port` with CURVE).
//! - [`AddressReceiver`]: the announcement side alone; [`AddressTable`]:
//!   its pure logic.
//! - [`blocking`] (feature `blocking`): the nameserver without async, as the reference's
//!   `NameServer().run()`.
//!
//! It serves on the engines the `posttroll` facade is built with (its
//! cargo features); this crate adds none. With its cargo feature `metrics`
//! it counts lookups, announcements, refusals, expiries and the table's
//! size through the `metrics` facade (named in `posttroll_core::metrics`);
//! the `nameserver` binary serves them (`--metrics-address`).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::publisher::NoisyPublisher;
//! use posttroll::{Config, Context};
//! use posttroll_nameserver::NameServer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config { backend: "inproc".into(), nameserver_port: 25565, address_publish_port: 26550, ..Config::default() };
//! let ctx = Context::new(config)?;
//! let ns = NameServer::builder().context(ctx.clone()).max_age(Duration::from_secs(60)).start().await?;
//! let publisher = NoisyPublisher::builder("my_service")
//!     .aliases(vec!["sdr".to_owned()])
//!     .context(ctx.clone())
//!     .start()
//!     .await?;
//! // The announcement goes out at once; wait until the table has it.
//! while ns.lookup("sdr").is_empty() {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! assert_eq!(ns.lookup("sdr")[0]["URI"].as_str(), Some(publisher.announced_uri()));
//! publisher.stop().await?;
//! ns.stop().await;
//! # Ok::<(), posttroll::Error>(())
//! # }).unwrap();
//! ```

#[cfg(feature = "blocking")]
pub mod blocking;
mod receiver;
mod server;
mod table;

pub use receiver::{
    AddressReceiver, AddressReceiverBuilder, DEFAULT_MAX_AGE, HEARTBEAT_INTERVAL_SECS,
    MAX_ANNOUNCEMENT_SIZE,
};
pub use server::{NameServer, NameServerBuilder, NameServerHandle, MAX_REQUEST_SIZE};
pub use table::{AddressTable, AnnouncementError, Timestamp};

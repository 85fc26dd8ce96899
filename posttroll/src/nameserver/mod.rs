//! The nameserver and its clients (PROTOCOL.md section 4).
//!
//! - [`NameServer`]: receives publishers' announcements (multicast, or
//!   requests on `broadcast_port` without multicast), keeps them in an
//!   [`AddressTable`], publishes address additions and removals on
//!   `address_publish_port`, and answers lookups on `nameserver_port`
//!   (and `secure_zmq_nameserver_port` with CURVE).
//! - [`get_pub_address`], [`get_pub_addresses`]: ask a nameserver.
//! - [`AddressReceiver`]: the announcement side alone; [`AddressTable`]:
//!   its pure logic.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::nameserver::{get_pub_address, NameServer};
//! use posttroll::publisher::NoisyPublisher;
//! use posttroll::{Config, Context};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config { backend: "inproc".into(), nameserver_port: 25562, address_publish_port: 26547, broadcast_port: 21201, ..Config::default() };
//! let ctx = Context::new(config)?;
//! let ns = NameServer::builder().context(ctx.clone()).start().await?;
//! let publisher = NoisyPublisher::builder("my_service")
//!     .context(ctx.clone())
//!     .broadcast_interval(Duration::from_millis(50))
//!     .start()
//!     .await?;
//! // The announcement goes out at once; ask until the nameserver has it.
//! let found = loop {
//!     let found = get_pub_address(&ctx, "my_service", Duration::from_secs(1), "localhost").await?;
//!     if !found.is_empty() { break found; }
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! };
//! assert_eq!(found[0].uri(), publisher.announced_uri());
//! publisher.stop().await?;
//! ns.stop().await;
//! # Ok::<(), posttroll::Error>(())
//! # }).unwrap();
//! ```

mod client;
mod receiver;
mod server;
mod table;

pub use client::{get_pub_address, get_pub_addresses, nameserver_endpoint};
pub use receiver::{
    AddressReceiver, AddressReceiverBuilder, DEFAULT_MAX_AGE, HEARTBEAT_INTERVAL_SECS,
};
pub use server::{
    NameServer, NameServerBuilder, NameServerHandle, LOOKUP_SUBJECT, MAX_REQUEST_SIZE,
};
pub use table::{AddressTable, AnnouncementError, Timestamp};

//! Asking a nameserver for publishers' addresses (PROTOCOL.md section 4):
//! the client side. The nameserver itself (announcements, the address
//! table, lookups served) is the `posttroll-nameserver` crate.
//!
//! - [`get_pub_address`], [`get_pub_addresses`]: ask a nameserver.
//! - [`nameserver_endpoint`]: where a nameserver given by name listens.
//! - [`LOOKUP_SUBJECT`]: the subject of lookup requests and replies.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::nameserver::get_pub_address;
//! use posttroll::publisher::NoisyPublisher;
//! use posttroll::{Config, Context};
//! use posttroll_nameserver::NameServer;
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

pub use client::{get_pub_address, get_pub_addresses, nameserver_endpoint, LOOKUP_SUBJECT};

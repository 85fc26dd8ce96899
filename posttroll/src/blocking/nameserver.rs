//! Asking a nameserver without async (see [`crate::nameserver`] for the
//! behaviour). The blocking nameserver itself is
//! `posttroll_nameserver::blocking`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::blocking::nameserver::get_pub_address;
//! use posttroll::{Config, Context};
//! use posttroll_nameserver::blocking::NameServer;
//!
//! let config = Config { backend: "inproc".into(), nameserver_port: 25563, address_publish_port: 26548, ..Config::default() };
//! let ctx = Context::new(config)?;
//! let ns = NameServer::builder().context(ctx.clone()).start()?;
//! assert!(get_pub_address(&ctx, "viirs", Duration::from_secs(1), "localhost")?.is_empty());
//! ns.stop()?;
//! # Ok::<(), posttroll::Error>(())
//! ```

use std::time::Duration;

use posttroll_core::{Address, Result};

use super::run;
use crate::nameserver as r#async;
use crate::Context;

pub use crate::nameserver::nameserver_endpoint;

/// Asks the nameserver once for the publishers of `name`; see
/// [`crate::nameserver::get_pub_address`].
///
/// Errors as the async version, and when called from inside an async
/// runtime.
pub fn get_pub_address(
    ctx: &Context,
    name: &str,
    timeout: Duration,
    nameserver: &str,
) -> Result<Vec<Address>> {
    run(r#async::get_pub_address(ctx, name, timeout, nameserver))
}

/// Asks the nameserver for the publishers of each of `names`, retrying
/// each until found or `timeout`; see
/// [`crate::nameserver::get_pub_addresses`].
///
/// Errors as the async version, and when called from inside an async
/// runtime.
pub fn get_pub_addresses(
    ctx: &Context,
    names: &[String],
    timeout: Duration,
    nameserver: &str,
) -> Result<Vec<Address>> {
    run(r#async::get_pub_addresses(ctx, names, timeout, nameserver))
}

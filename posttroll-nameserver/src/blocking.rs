//! The nameserver without async (see [`crate::NameServer`] for the
//! behaviour), on the blocking API's shared runtime
//! ([`posttroll::blocking`]); the blocking lookups are
//! [`posttroll::blocking::nameserver`].
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::blocking::nameserver::get_pub_address;
//! use posttroll::{Config, Context};
//! use posttroll_nameserver::blocking::NameServer;
//!
//! let config = Config { backend: "inproc".into(), nameserver_port: 25566, address_publish_port: 26551, ..Config::default() };
//! let ctx = Context::new(config)?;
//! let ns = NameServer::builder().context(ctx.clone()).start()?;
//! assert!(get_pub_address(&ctx, "viirs", Duration::from_secs(1), "localhost")?.is_empty());
//! ns.stop()?;
//! # Ok::<(), posttroll::Error>(())
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use posttroll::blocking::{block_on, run, OnRuntime};
use posttroll::Context;
use posttroll_core::{Endpoint, Result, Value};

use crate as r#async;
use crate::AddressTable;

/// The nameserver; see [`crate::NameServer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NameServer;

impl NameServer {
    /// A builder: max age 10 minutes, multicast on, not local-only,
    /// lookups on every interface.
    pub fn builder() -> NameServerBuilder {
        NameServerBuilder(r#async::NameServer::builder())
    }
}

/// Builds and starts a blocking [`NameServer`]; the options are those of
/// [`crate::NameServerBuilder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct NameServerBuilder(r#async::NameServerBuilder);

impl NameServerBuilder {
    /// See [`crate::NameServerBuilder::max_age`].
    pub fn max_age(self, max_age: Duration) -> Self {
        NameServerBuilder(self.0.max_age(max_age))
    }

    /// See [`crate::NameServerBuilder::multicast`].
    pub fn multicast(self, multicast: bool) -> Self {
        NameServerBuilder(self.0.multicast(multicast))
    }

    /// See [`crate::NameServerBuilder::local_only`].
    pub fn local_only(self, local_only: bool) -> Self {
        NameServerBuilder(self.0.local_only(local_only))
    }

    /// See [`crate::NameServerBuilder::address`].
    pub fn address(self, address: impl Into<String>) -> Self {
        NameServerBuilder(self.0.address(address))
    }

    /// See [`crate::NameServerBuilder::context`].
    pub fn context(self, context: Context) -> Self {
        NameServerBuilder(self.0.context(context))
    }

    /// Starts the nameserver in the background (on the blocking API's
    /// runtime) and returns at once; see
    /// [`crate::NameServerBuilder::start`].
    pub fn start(self) -> Result<NameServerHandle> {
        let handle = run(self.0.start())?;
        Ok(NameServerHandle {
            inner: OnRuntime::new(Arc::new(handle)),
        })
    }

    /// Starts the nameserver and blocks until it is stopped, as the
    /// reference's `NameServer().run()`. `on_started` gets a clone of the
    /// handle first, e.g. to stop it later from another thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::{Config, Context};
    /// use posttroll_nameserver::blocking::NameServer;
    ///
    /// let config = Config { backend: "inproc".into(), nameserver_port: 25564, address_publish_port: 26549, ..Config::default() };
    /// NameServer::builder()
    ///     .context(Context::new(config)?)
    ///     .run(|handle| {
    ///         // Stop it from another thread; `run` returns then.
    ///         std::thread::spawn(move || handle.stop());
    ///     })?;
    /// # Ok::<(), posttroll::Error>(())
    /// ```
    pub fn run(self, on_started: impl FnOnce(NameServerHandle)) -> Result<()> {
        let handle = self.start()?;
        on_started(handle.clone());
        handle.wait()
    }
}

/// A running blocking nameserver. Clones share it: any of them may
/// [`stop`](NameServerHandle::stop) it while another
/// [`wait`](NameServerHandle::wait)s. Dropping the last clone stops it
/// too.
#[derive(Debug, Clone)]
pub struct NameServerHandle {
    inner: OnRuntime<Arc<r#async::NameServerHandle>>,
}

impl NameServerHandle {
    /// The plain lookup endpoint as bound.
    pub fn lookup_endpoint(&self) -> &Endpoint {
        self.inner.lookup_endpoint()
    }

    /// The CURVE lookup endpoint, when one is served.
    pub fn secure_lookup_endpoint(&self) -> Option<&Endpoint> {
        self.inner.secure_lookup_endpoint()
    }

    /// Where address additions and removals are published.
    pub fn address_publish_endpoint(&self) -> &Endpoint {
        self.inner.address_publish_endpoint()
    }

    /// The table of addresses (shared with the running nameserver).
    pub fn address_table(&self) -> Arc<Mutex<AddressTable>> {
        self.inner.address_table()
    }

    /// The addresses offering `name` (`""`: all), as a lookup returns them.
    pub fn lookup(&self, name: &str) -> Vec<Value> {
        self.inner.lookup(name)
    }

    /// True until stopped.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the nameserver; returns within 1 s, its tasks ended.
    ///
    /// Errors only when called from inside an async runtime.
    pub fn stop(&self) -> Result<()> {
        block_on(self.inner.stop())
    }

    /// Blocks until the nameserver is stopped (from another thread).
    ///
    /// Errors only when called from inside an async runtime.
    pub fn wait(&self) -> Result<()> {
        block_on(self.inner.wait())
    }
}

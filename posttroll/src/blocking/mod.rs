//! The same API without async, as the Python API reads: publishers,
//! subscribers, nameserver lookups and the listener as plain method calls, plus
//! the guards [`publish::Publish`] and [`subscribe::Subscribe`] (the
//! reference's `with Publish(...)` and `with Subscribe(...)`), which stop
//! when dropped.
//!
//! This is a thin adapter over the async API, not a copy of it: there are
//! no blocking builders. Configure with the async builders and finish with
//! `start_blocking()` instead of `start().await`:
//!
//! | async builder | `start_blocking()` returns |
//! |---|---|
//! | [`crate::publisher::PublisherBuilder`] | [`publish::Publisher`] |
//! | [`crate::publisher::NoisyPublisherBuilder`] | [`publish::NoisyPublisher`] |
//! | [`crate::subscriber::SubscriberBuilder`], [`crate::subscriber::NSSubscriberBuilder`] | [`subscribe::Subscriber`] |
//! | [`crate::listener::ListenerContainerBuilder`] | [`listener::ListenerContainer`] |
//!
//! The handles' methods are the async ones, each waited for on the shared
//! runtime; [`publish::NoisyPublisher`] and [`publish::Publish`] dereference
//! to [`publish::Publisher`], [`subscribe::Subscribe`] to
//! [`subscribe::Subscriber`].
//!
//! Every call runs on one shared background runtime (two worker threads
//! named `posttroll-blocking`, built on first use), which also runs the
//! background tasks (announcing, reading sockets) between calls.
//!
//! **Do not call these from inside an async runtime** (e.g. from a
//! `#[tokio::main]` task): use the async API there. Such a call does not
//! block the runtime: it fails with an
//! [`ErrorKind::Unsupported`](posttroll_core::ErrorKind::Unsupported)
//! error instead.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use posttroll::{publisher::Publisher, subscriber::Subscriber};
//! use posttroll::Message;
//!
//! # let _global = posttroll::Context::replace_global(posttroll::Context::new(posttroll::Config { backend: "inproc".into(), ..Default::default() })?);
//! let publisher = Publisher::builder("inproc://blocking-doc")
//!     .start_blocking()?;
//! let subscriber = Subscriber::builder()
//!     .addresses(["inproc://blocking-doc"])
//!     .start_blocking()?;
//! let msg = loop {
//!     publisher.send(&Message::new("/counter", "info", "1")?)?;
//!     if let Some(msg) = subscriber.recv_one(Some(Duration::from_millis(50)))? {
//!         break msg;
//!     }
//! };
//! assert_eq!(msg.subject(), "/counter");
//! subscriber.stop()?;
//! publisher.stop()?;
//! # Ok::<(), posttroll::Error>(())
//! ```

pub mod listener;
pub mod nameserver;
pub mod publish;
pub mod subscribe;

use std::future::Future;
use std::sync::OnceLock;

use posttroll_core::{Error, Result};
use tokio::runtime::{Builder, Runtime};

/// The shared runtime of the blocking API, built on first use.
pub(crate) fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("posttroll-blocking")
        .enable_all()
        .build()
        .map_err(|e| Error::io("building the runtime of the blocking API", e))?;
    // Another thread may have won the race; its runtime is kept and ours
    // dropped (here, outside any runtime, which is allowed).
    Ok(RUNTIME.get_or_init(|| rt))
}

/// True when called from inside a tokio runtime, where blocking is
/// forbidden.
pub(crate) fn in_async_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `fut` to completion on the shared runtime; errors when called from
/// inside an async runtime. For blocking wrappers of async objects built
/// on this crate (the blocking nameserver of `posttroll-nameserver`), so
/// that every blocking call shares one runtime.
// Public for the blocking wrappers of posttroll-nameserver only.
#[doc(hidden)]
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    if in_async_context() {
        return Err(Error::Unsupported {
            backend: "the blocking API".to_owned(),
            what: "calls from inside an async runtime (use the async API there)".to_owned(),
        });
    }
    Ok(runtime()?.block_on(fut))
}

/// Runs a fallible `fut` on the shared runtime; see [`block_on`].
// Public for the blocking wrappers of posttroll-nameserver only.
#[doc(hidden)]
pub fn run<T, F: Future<Output = Result<T>>>(fut: F) -> Result<T> {
    block_on(fut)?
}

/// Holds an async object so that it is dropped inside the shared runtime's
/// context (a backend may need one to release its sockets), whichever
/// thread drops it. Derefs to the object.
#[derive(Debug, Clone)]
// Public for the blocking wrappers of posttroll-nameserver only.
#[doc(hidden)]
pub struct OnRuntime<T>(Option<T>);

impl<T> OnRuntime<T> {
    /// Holds `value` until dropped.
    pub fn new(value: T) -> OnRuntime<T> {
        OnRuntime(Some(value))
    }
}

impl<T> std::ops::Deref for OnRuntime<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => unreachable!("the value is taken only when dropped"),
        }
    }
}

impl<T> Drop for OnRuntime<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            match runtime() {
                Ok(rt) => {
                    let _guard = rt.enter();
                    drop(value);
                }
                Err(_) => drop(value),
            }
        }
    }
}

//! The reference's `posttroll.testing` helpers for code that never takes a
//! context: while the guard lives, [`Context::global`] (which every
//! publisher and subscriber made without `.context(...)` uses) is an
//! isolated in-process network, so an application's tests port one to one:
//!
//! - [`patched_publisher`] (the reference's `patched_publisher`): every
//!   publisher the application makes is recorded;
//! - [`patched_subscriber_recv`] (the reference's `patched_subscriber_recv`):
//!   every subscriber the application makes, whatever its addresses,
//!   receives exactly the given messages (those its topics match), then
//!   waits as a real subscriber does.
//!
//! The guards hold a process-wide lock (see [`Context::replace_global`]):
//! tests that use them run one at a time.
//!
//! # Examples
//!
//! ```
//! use posttroll::{publisher::Publisher, Message};
//! use posttroll_testkit::patched::patched_publisher;
//!
//! /// The code under test: it takes no context.
//! async fn announce_file() -> posttroll::Result<()> {
//!     let publisher = Publisher::builder("tcp://*:0").start().await?;
//!     publisher.send(&Message::new("/new_file", "file", "a.nc")?).await?;
//!     publisher.stop().await
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (_guard, recorder) = patched_publisher();
//! announce_file().await?;
//! assert_eq!(recorder.messages()[0].subject(), "/new_file");
//! # Ok::<(), posttroll::Error>(())
//! # }).unwrap();
//! ```

use bytes::Bytes;
use posttroll::{Context, GlobalContextGuard, Message};
use posttroll_backend_inproc::InprocNetwork;

use crate::fixture::inproc_config;
use crate::recorder::{recording_context, Recorder};

/// Records every publisher made on the global context until the guard is
/// dropped (see the [module documentation](self)).
pub fn patched_publisher() -> (GlobalContextGuard, Recorder) {
    let (ctx, recorder) = recording_context();
    (Context::replace_global(ctx), recorder)
}

/// Makes every subscriber created on the global context receive
/// `messages` (those its topics match, in order) until the guard is
/// dropped (see the [module documentation](self)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::{subscriber::Subscriber, Message};
/// use posttroll_testkit::patched::patched_subscriber_recv;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let _guard = patched_subscriber_recv([
///     Message::new("/new_file", "file", "a.nc")?,
///     Message::new("/other", "info", "skipped by the topic")?,
/// ]);
/// // The code under test: it takes no context.
/// let subscriber = Subscriber::builder()
///     .addresses(["tcp://satellite-host:9000"])
///     .topics(["/new_file"])
///     .start()
///     .await?;
/// let msg = subscriber.recv(Some(Duration::from_secs(1))).await?;
/// assert_eq!(msg.map(|m| m.data.as_text().map(str::to_owned)), Some(Some("a.nc".into())));
/// assert!(subscriber.recv(Some(Duration::from_millis(10))).await?.is_none());
/// subscriber.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub fn patched_subscriber_recv(messages: impl IntoIterator<Item = Message>) -> GlobalContextGuard {
    let network = InprocNetwork::new();
    network.script_subscribers(Some(
        messages
            .into_iter()
            .map(|msg| Bytes::from(msg.encode()))
            .collect(),
    ));
    let config = inproc_config();
    let ctx = Context::with_backend(config.clone(), network.backend(&config));
    Context::replace_global(ctx)
}

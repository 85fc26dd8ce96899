//! The reference's `posttroll.testing.patched_publisher` in Rust shape: a
//! [`Recorder`] of everything the publishers of an isolated in-process
//! network send.
//!
//! Where the Python helper patches `Publisher.send` so that nothing is sent
//! and the strings are collected, the Rust publishers stay real: they run
//! on an in-process network of their own, and the recorder taps it
//! ([`InprocNetwork::tap`]). So what is recorded is exactly what went out,
//! encoded as on the wire, and subscribers on the same network still
//! receive it.
//!
//! Differences from the Python helper:
//!
//! - "send before start", which the Python helper refuses with a
//!   `RuntimeError`, cannot be expressed in Rust: a `Publisher` exists only
//!   once started (its builder's `start` returns it), so there is nothing to
//!   check. A send after `stop` fails with
//!   [`ErrorKind::Closed`](posttroll::ErrorKind::Closed) and is not
//!   recorded.
//! - "`send` takes a str": Rust's `send` takes a [`Message`] and `send_raw`
//!   any bytes; every frame is recorded ([`Recorder::frames`]), and
//!   [`Recorder::messages`] decodes them.
//! - Every publisher of the network is recorded, including a nameserver's
//!   address publisher if one runs there; [`Recorder::records`] tells them
//!   apart by endpoint.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use posttroll::{Context, Endpoint, Message};
use posttroll_backend_inproc::{FrameTap, InprocNetwork, TappedFrame};

use crate::fixture::inproc_config;

/// Records every frame that any publisher of an in-process network sends,
/// from its creation on (see the [module documentation](self)).
///
/// Cheap to clone: clones share the record. The record grows until
/// [`clear`](Self::clear)ed.
///
/// # Examples
///
/// ```
/// use posttroll::{publisher::Publisher, Message};
/// use posttroll_testkit::recording_context;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (ctx, recorder) = recording_context();
/// let publisher = Publisher::builder("tcp://*:0").context(ctx).start().await?;
/// publisher.send(&Message::new("/counter", "info", "1")?).await?;
/// publisher.send_raw("not a message").await?;
///
/// // Recorded as soon as `send` returns, with no subscriber around.
/// let messages = recorder.messages();
/// assert_eq!(messages.len(), 1);
/// assert_eq!(messages[0].subject(), "/counter");
/// assert_eq!(recorder.frames().len(), 2);
/// assert_eq!(recorder.frames()[1], "not a message");
/// publisher.stop().await?;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    network: InprocNetwork,
    tap: Mutex<FrameTap>,
    record: Mutex<Vec<TappedFrame>>,
}

use posttroll_core::engine::lock;

/// A context on a new, isolated in-process network (see [`inproc_config`])
/// and a [`Recorder`] of that network: everything published through the
/// context (or any other context on the same network) is recorded.
///
/// # Examples
///
/// ```
/// use posttroll::publisher::Publisher;
/// use posttroll::Message;
/// use posttroll_testkit::recording_context;
///
/// // The blocking API works on it too.
/// let (ctx, recorder) = recording_context();
/// let publisher = Publisher::builder("tcp://*:0").context(ctx).start_blocking()?;
/// publisher.send(&Message::new("/counter", "info", "1")?)?;
/// assert_eq!(recorder.messages()[0].data.as_text(), Some("1"));
/// publisher.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
pub fn recording_context() -> (Context, Recorder) {
    let network = InprocNetwork::new();
    let config = inproc_config();
    let ctx = Context::with_backend(config.clone(), network.backend(&config));
    (ctx, Recorder::new(&network))
}

impl Recorder {
    /// Starts recording what the publishers of `network` send.
    pub fn new(network: &InprocNetwork) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                network: network.clone(),
                tap: Mutex::new(network.tap()),
                record: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The network recorded.
    pub fn network(&self) -> &InprocNetwork {
        &self.inner.network
    }

    /// The record, brought up to date.
    fn record(&self) -> MutexGuard<'_, Vec<TappedFrame>> {
        let mut record = lock(&self.inner.record);
        record.extend(lock(&self.inner.tap).drain());
        record
    }

    /// Every frame sent, with the endpoint of the publisher that sent it,
    /// oldest first.
    pub fn records(&self) -> Vec<TappedFrame> {
        self.record().clone()
    }

    /// Every frame sent, as sent, oldest first.
    pub fn frames(&self) -> Vec<Bytes> {
        self.record().iter().map(|r| r.frame.clone()).collect()
    }

    /// The frames sent by the publisher bound at `endpoint` (as bound, e.g.
    /// `tcp://*:40000`), oldest first.
    pub fn frames_from(&self, endpoint: &Endpoint) -> Vec<Bytes> {
        self.record()
            .iter()
            .filter(|r| &r.endpoint == endpoint)
            .map(|r| r.frame.clone())
            .collect()
    }

    /// Every frame sent that decodes as a message, decoded, oldest first
    /// (frames that do not decode are left out; see
    /// [`frames`](Self::frames)).
    pub fn messages(&self) -> Vec<Message> {
        self.record()
            .iter()
            .filter_map(|r| Message::decode(&r.frame).ok())
            .collect()
    }

    /// The number of frames recorded.
    pub fn len(&self) -> usize {
        self.record().len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.record().is_empty()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.record().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use posttroll::publisher::Publisher;

    #[tokio::test]
    async fn clones_share_and_clear_forgets() {
        let (ctx, recorder) = recording_context();
        let clone = recorder.clone();
        let publisher = Publisher::builder("inproc://rec")
            .context(ctx)
            .start()
            .await
            .unwrap();
        publisher.send_raw("pytroll://a info").await.unwrap();
        assert_eq!(clone.len(), 1);
        assert_eq!(
            recorder.frames_from(&"inproc://rec".parse().unwrap()).len(),
            1
        );
        recorder.clear();
        assert!(clone.is_empty());
        publisher.send_raw("pytroll://b info").await.unwrap();
        assert_eq!(clone.frames(), vec![Bytes::from("pytroll://b info")]);
    }
}

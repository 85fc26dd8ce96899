//! The reference's `posttroll.testing.patched_subscriber_recv` in Rust
//! shape: a real [`Subscriber`] whose `recv` yields exactly the given
//! messages.
//!
//! Where the Python helper patches `Subscriber.recv` to iterate over a
//! list, [`scripted_subscriber`] builds a real subscriber on an isolated
//! in-process network and publishes the messages to it before handing it
//! over, so the code under test runs the real receive path (decoding,
//! `Ok(None)` on timeout, `Closed` once stopped). As in the Python helper,
//! stopping the subscriber ends the script even when messages remain.

use posttroll::message::MAGIC;
use posttroll::publisher::Publisher;
use posttroll::subscriber::Subscriber;
use posttroll::{Context, Message, Result};
use posttroll_backend_inproc::InprocNetwork;

use crate::fixture::inproc_config;

/// Where the scripted messages are published on their private network.
pub(crate) const SCRIPT_ENDPOINT: &str = "inproc://posttroll-testkit-script";

/// A context on a new, isolated in-process network.
pub(crate) fn isolated_context() -> Context {
    let config = inproc_config();
    Context::with_backend(config.clone(), InprocNetwork::new().backend(&config))
}

/// A subscriber whose [`recv`](Subscriber::recv) yields `messages`, in
/// order, then nothing: `Ok(None)` each time the timeout passes (with no
/// timeout, `recv` waits forever), and an error of kind
/// [`Closed`](posttroll::ErrorKind::Closed) once [`stop`](Subscriber::stop)ped.
///
/// The subscriber listens to every topic on a private in-process network;
/// every message is already queued when this returns. The messages come
/// back as decoded from the wire: equal to the ones given once encoded
/// (`encode()`), with the version field set to the one written.
///
/// # Errors
///
/// Only if the in-process network fails, which it does not.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::{ErrorKind, Message};
/// use posttroll_testkit::scripted_subscriber;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let subscriber = scripted_subscriber(vec![
///     Message::new("/counter", "info", "1")?,
///     Message::new("/counter", "info", "2")?,
/// ])
/// .await?;
/// let wait = Some(Duration::from_millis(50));
/// assert_eq!(subscriber.recv(wait).await?.unwrap().data.as_text(), Some("1"));
/// assert_eq!(subscriber.recv(wait).await?.unwrap().data.as_text(), Some("2"));
/// assert!(subscriber.recv(wait).await?.is_none());
/// subscriber.stop().await?;
/// assert_eq!(subscriber.recv(wait).await.unwrap_err().kind(), ErrorKind::Closed);
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub async fn scripted_subscriber(
    messages: impl IntoIterator<Item = Message>,
) -> Result<Subscriber> {
    let ctx = isolated_context();
    // Unbounded and never dropping: however many messages, all arrive.
    let publisher = Publisher::builder(SCRIPT_ENDPOINT)
        .context(ctx.clone())
        .send_high_water_mark(0)
        .no_drop(true)
        .start()
        .await?;
    let subscriber = Subscriber::builder()
        .addresses([SCRIPT_ENDPOINT])
        .topics([MAGIC])
        .context(ctx)
        .start()
        .await?;
    // In process, a subscriber is connected once `start` returns: what is
    // published now is queued for it.
    for msg in messages {
        publisher.send(&msg).await?;
    }
    publisher.stop().await?;
    Ok(subscriber)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn many_messages_all_arrive_in_order() {
        let messages: Vec<Message> = (0..5000)
            .map(|i| Message::new("/n", "info", i.to_string()).unwrap())
            .collect();
        let subscriber = scripted_subscriber(messages.clone()).await.unwrap();
        for msg in &messages {
            let got = subscriber
                .recv(Some(Duration::from_secs(5)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.encode(), msg.encode());
        }
        assert!(subscriber
            .recv(Some(Duration::from_millis(20)))
            .await
            .unwrap()
            .is_none());
        subscriber.stop().await.unwrap();
    }

    #[tokio::test]
    async fn no_messages_means_none() {
        let subscriber = scripted_subscriber(Vec::new()).await.unwrap();
        assert!(subscriber
            .recv(Some(Duration::from_millis(10)))
            .await
            .unwrap()
            .is_none());
        subscriber.stop().await.unwrap();
    }
}

//! The fixtures without async, for plain `#[test]`s, on top of
//! [`posttroll::blocking`] (and with its rule: do not call these from inside
//! an async runtime; they fail with
//! [`posttroll::ErrorKind::Unsupported`] there).
//!
//! The [`Recorder`](crate::Recorder) and the ports and multicast helpers
//! have no async part: use them as they are.

use std::time::{Duration, Instant};

use posttroll::blocking::nameserver::get_pub_address;
use posttroll::blocking::subscribe::Subscriber;
use posttroll::message::MAGIC;
use posttroll::{Address, Config, Context, Error, ErrorKind, Message, Result};
use posttroll_nameserver::blocking::{NameServer, NameServerHandle};

use crate::fixture::{prepare, retryable, FixtureOptions, NAMESERVER_HOST};
use crate::scripted::{isolated_context, SCRIPT_ENDPOINT};

/// A posttroll nameserver running on free ports, for plain `#[test]`s:
/// the blocking twin of [`crate::NameServerFixture`] (see there for the
/// settings), running on the blocking API's background runtime.
///
/// Dropping it stops the nameserver too; prefer [`stop`](Self::stop).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::publisher::NoisyPublisher;
/// use posttroll_testkit::blocking::NameServerFixture;
/// use posttroll_testkit::FixtureOptions;
///
/// let ns = NameServerFixture::start(FixtureOptions { multicast: false, ..FixtureOptions::default() })?;
/// let publisher = NoisyPublisher::builder("my_service")
///     .context(ns.context().clone())
///     .nameservers(ns.announce_to())
///     .start_blocking()?;
/// let found = ns.wait_for_service("my_service", Duration::from_secs(5))?;
/// assert_eq!(found[0].uri(), publisher.announced_uri());
/// publisher.stop()?;
/// ns.stop()?;
/// # Ok::<(), posttroll::Error>(())
/// ```
#[derive(Debug)]
pub struct NameServerFixture {
    config: Config,
    context: Context,
    multicast: bool,
    handle: NameServerHandle,
}

impl NameServerFixture {
    /// Starts a nameserver on free ports (trying again with new ports, a few
    /// times, when one turned out to be taken).
    ///
    /// # Errors
    ///
    /// As [`crate::NameServerFixture::start`], and when called from inside
    /// an async runtime.
    pub fn start(options: FixtureOptions) -> Result<NameServerFixture> {
        let mut attempt = 0;
        loop {
            let (config, context) = prepare(&options.backend)?;
            let started = NameServer::builder()
                .context(context.clone())
                .multicast(options.multicast)
                .max_age(options.max_age)
                .start();
            match started {
                Ok(handle) => {
                    return Ok(NameServerFixture {
                        config,
                        context,
                        multicast: options.multicast,
                        handle,
                    })
                }
                Err(err) if retryable(&err, attempt) => attempt += 1,
                Err(err) => return Err(err),
            }
        }
    }

    /// See [`crate::NameServerFixture::config`].
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// See [`crate::NameServerFixture::context`].
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The host to pass as `nameserver`: `"127.0.0.1"`.
    pub fn nameserver(&self) -> &str {
        NAMESERVER_HOST
    }

    /// See [`crate::NameServerFixture::announce_to`].
    pub fn announce_to(&self) -> Vec<String> {
        if self.multicast {
            Vec::new()
        } else {
            vec![NAMESERVER_HOST.to_owned()]
        }
    }

    /// Whether the nameserver receives announcements by multicast.
    pub fn multicast(&self) -> bool {
        self.multicast
    }

    /// The running nameserver.
    pub fn handle(&self) -> &NameServerHandle {
        &self.handle
    }

    /// Asks the nameserver for `name` until it knows some address for it,
    /// for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when nothing was found in time; the lookup's
    /// other errors.
    pub fn wait_for_service(&self, name: &str, timeout: Duration) -> Result<Vec<Address>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ask = left.clamp(Duration::from_millis(10), Duration::from_secs(1));
            match get_pub_address(&self.context, name, ask, NAMESERVER_HOST) {
                Ok(found) if !found.is_empty() => return Ok(found),
                Ok(_) => {}
                Err(err) if err.kind() == ErrorKind::Timeout => {}
                Err(err) => return Err(err),
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(
                    format!("the nameserver to know {name:?}"),
                    timeout,
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the nameserver: returns within 1 s, every task ended.
    ///
    /// # Errors
    ///
    /// Only when called from inside an async runtime.
    pub fn stop(&self) -> Result<()> {
        self.handle.stop()
    }
}

/// The blocking twin of [`crate::scripted_subscriber`]: a blocking
/// subscriber whose `recv` iterator yields `Ok(Some(msg))` for each of
/// `messages`, in order, then `Ok(None)` per timeout, and ends once
/// stopped.
///
/// # Errors
///
/// Only when called from inside an async runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::Message;
/// use posttroll_testkit::blocking::scripted_subscriber;
///
/// let subscriber = scripted_subscriber(vec![Message::new("/counter", "info", "1")?])?;
/// let mut received = subscriber.recv(Some(Duration::from_millis(50)));
/// assert_eq!(received.next().unwrap()?.unwrap().subject(), "/counter");
/// assert!(received.next().unwrap()?.is_none());
/// subscriber.stop()?;
/// assert!(received.next().is_none());
/// # Ok::<(), posttroll::Error>(())
/// ```
pub fn scripted_subscriber(messages: impl IntoIterator<Item = Message>) -> Result<Subscriber> {
    let ctx = isolated_context();
    let publisher = posttroll::publisher::Publisher::builder(SCRIPT_ENDPOINT)
        .context(ctx.clone())
        .send_high_water_mark(0)
        .no_drop(true)
        .start_blocking()?;
    let subscriber = posttroll::subscriber::Subscriber::builder()
        .addresses([SCRIPT_ENDPOINT])
        .topics([MAGIC])
        .context(ctx)
        .start_blocking()?;
    for msg in messages {
        publisher.send(&msg)?;
    }
    publisher.stop()?;
    Ok(subscriber)
}

//! The announcement loop of a named publisher.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{DatagramSender, Endpoint, Error, Result, Security, Transport};

use super::worker::{stop_all, StopSignal, Worker};
use crate::Context;

/// The longest a request to a designated nameserver may take.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest timeout given to a request to a designated nameserver.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// A running announcement loop: one frame (an [`address_message`]) sent
/// now and then every interval, by multicast or to designated nameservers.
///
/// Dropping it without [`Announcer::stop`] also ends its tasks.
///
/// [`address_message`]: super::address_message
#[derive(Debug)]
pub struct Announcer {
    workers: Vec<Worker>,
    tasks: Arc<()>,
}

impl Announcer {
    /// Sends `frame` now and then every `interval` (a zero interval never
    /// starts, as the reference does for 0 or less):
    ///
    /// - to the designated `nameservers` when there are some, each with a
    ///   request to `tcp://host:<broadcast_port>` (a nameserver may also be
    ///   written `host:port` or `tcp://host:port`) expecting the reply `ok`.
    ///   Each nameserver is served by its own loop and each request is
    ///   bounded by a timeout (the interval, within 1 to 10 s), so a dead
    ///   nameserver never blocks the others nor [`Announcer::stop`]; a
    ///   failed request is logged and retried at the next interval;
    /// - else by the context's discovery channel (multicast).
    ///
    /// Errors when a nameserver cannot be understood or the discovery
    /// channel cannot be opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use posttroll::{discovery::{address_message, Announcer}, Config, Context};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let ctx = Context::new(Config { backend: "inproc".into(), ..Config::default() })?;
    /// let msg = address_message("my_service", "tcp://192.0.2.7:40000", &["my_service".into()], "unsecure_zmq")?;
    /// let announcer = Announcer::start(&ctx, Bytes::from(msg.encode()), Duration::from_secs(2), vec![]).await?;
    /// assert!(announcer.is_running());
    /// announcer.stop().await;
    /// # Ok::<(), posttroll::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn start(
        ctx: &Context,
        frame: Bytes,
        interval: Duration,
        nameservers: Vec<String>,
    ) -> Result<Announcer> {
        let tasks = Arc::new(());
        let mut workers = Vec::new();
        if interval.is_zero() {
            tracing::debug!("broadcast interval is 0: not announcing");
            return Ok(Announcer { workers, tasks });
        }
        if nameservers.is_empty() {
            let sender = ctx.discovery().sender().await?;
            workers.push(Worker::spawn(Some(&tasks), move |stop| {
                multicast_loop(sender, frame, interval, stop)
            }));
        } else {
            let port = ctx.config().broadcast_port;
            let endpoints = nameservers
                .iter()
                .map(|ns| designated_endpoint(ns, port))
                .collect::<Result<Vec<_>>>()?;
            let security = ctx.security();
            let timeout = interval.clamp(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT);
            for endpoint in endpoints {
                let transport = ctx.transport().clone();
                let frame = frame.clone();
                workers.push(Worker::spawn(Some(&tasks), move |stop| {
                    designated_loop(Designated {
                        transport,
                        endpoint,
                        security,
                        frame,
                        interval,
                        timeout,
                        stop,
                    })
                }));
            }
        }
        Ok(Announcer { workers, tasks })
    }

    /// True while the loop runs (false when the interval was zero).
    pub fn is_running(&self) -> bool {
        self.workers.iter().any(|w| !w.is_finished())
    }

    /// Stops announcing; returns within 1 s, the loop ended.
    pub async fn stop(self) {
        let Announcer { workers, tasks } = self;
        stop_all(workers).await;
        drop(tasks);
    }

    /// The number of tasks still alive (a test hook).
    #[doc(hidden)]
    pub fn live_tasks(&self) -> usize {
        Arc::strong_count(&self.tasks) - 1
    }
}

async fn multicast_loop(
    sender: Box<dyn DatagramSender>,
    frame: Bytes,
    interval: Duration,
    mut stop: StopSignal,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.stopped() => break,
            result = sender.send(frame.clone()) => match result {
                Ok(()) => {
                    if failing {
                        tracing::info!("announcing works again");
                        failing = false;
                    }
                }
                Err(err) => {
                    if !failing {
                        tracing::error!("cannot announce: {err}; trying again every {interval:?}");
                        failing = true;
                    }
                }
            },
        }
        tokio::select! {
            _ = stop.stopped() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

struct Designated {
    transport: Arc<dyn Transport>,
    endpoint: Endpoint,
    security: Security,
    frame: Bytes,
    interval: Duration,
    timeout: Duration,
    stop: StopSignal,
}

async fn designated_loop(d: Designated) {
    let Designated {
        transport,
        endpoint,
        security,
        frame,
        interval,
        timeout,
        mut stop,
    } = d;
    let mut failing = false;
    loop {
        let request = transport.request(&endpoint, security, frame.clone(), timeout);
        tokio::select! {
            _ = stop.stopped() => break,
            result = request => match result {
                Ok(reply) => {
                    if failing {
                        tracing::info!("announcing to the nameserver {endpoint} works again");
                        failing = false;
                    }
                    if reply.as_ref() != b"ok" {
                        tracing::warn!(
                            "invalid acknowledge from the nameserver {endpoint}: {:?}",
                            String::from_utf8_lossy(&reply[..reply.len().min(64)])
                        );
                    }
                }
                Err(err) => {
                    if failing {
                        tracing::debug!("cannot announce to the nameserver {endpoint}: {err}");
                    } else {
                        tracing::warn!(
                            "cannot announce to the nameserver {endpoint}: {err}; trying again every {interval:?}"
                        );
                        failing = true;
                    }
                }
            },
        }
        tokio::select! {
            _ = stop.stopped() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// The endpoint of a designated nameserver's announcement socket: `host`
/// (and a bare IPv6 address) gets `default_port`; `host:port`,
/// `[v6]:port` and `tcp://host:port` keep theirs.
pub(crate) fn designated_endpoint(nameserver: &str, default_port: u16) -> Result<Endpoint> {
    let ns = nameserver.trim();
    let rest = ns.strip_prefix("tcp://").unwrap_or(ns);
    if rest.is_empty() {
        return Err(Error::InvalidAddress {
            address: nameserver.to_owned(),
            reason: "the nameserver is empty".to_owned(),
        });
    }
    let bare_v6 = rest.parse::<Ipv6Addr>().is_ok();
    let unbracketed = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if bare_v6 || unbracketed.is_some() || !rest.contains(':') {
        let host = unbracketed.unwrap_or(rest);
        return Endpoint::parse(&Endpoint::tcp(host, default_port).to_string());
    }
    Endpoint::parse(&format!("tcp://{rest}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn designated_endpoints() {
        let ep = |s: &str| designated_endpoint(s, 21200).map(|e| e.to_string());
        assert_eq!(ep("nshost").unwrap(), "tcp://nshost:21200");
        assert_eq!(ep("nshost:6000").unwrap(), "tcp://nshost:6000");
        assert_eq!(ep("tcp://nshost:6000").unwrap(), "tcp://nshost:6000");
        assert_eq!(ep("tcp://nshost").unwrap(), "tcp://nshost:21200");
        assert_eq!(ep("::1").unwrap(), "tcp://[::1]:21200");
        assert_eq!(ep("[::1]").unwrap(), "tcp://[::1]:21200");
        assert_eq!(ep("[::1]:7").unwrap(), "tcp://[::1]:7");
        assert!(ep("").is_err());
        assert!(ep("host:notaport").is_err());
    }
}

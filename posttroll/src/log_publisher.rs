//! Log events published as posttroll messages: the reference's
//! `posttroll.logger.PytrollHandler` as a `tracing` layer (cargo feature
//! `log-publisher`).
//!
//! Each event becomes, as the reference's `PytrollFormatter` writes it,
//! `Message("log/<LEVEL>/<logger name>", "log.<level>", <the formatted
//! record>)`: the level as Python names it (`ERROR`, `WARNING`, `INFO`,
//! `DEBUG`; `TRACE` is sent as `DEBUG`), the event's target as the logger
//! name (`my_app::io` becomes `my_app.io`), and its message followed by its
//! other fields (`key=value`) as text data. The messages go out on a
//! [`NoisyPublisher`] announced under a name, so the reference's `Logger`
//! (`pytroll-logger`) and `posttroll logger` find them through the
//! nameserver.
//!
//! Logging never waits on the network: events are queued (at most 1024)
//! and sent by a task of their own; when the queue is full, events are
//! dropped and counted ([`LogPublisher::dropped`]). Events of posttroll's
//! own crates are not published (sending them would log again).
//!
//! # Examples
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use posttroll::log_publisher::LogPublisher;
//!
//! # async fn run() -> posttroll::Result<()> {
//! let (publisher, layer) = LogPublisher::builder("my_app").start().await?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
//! tracing::warn!(file = "a.nc", "disk almost full");
//! // ... at the end, send what is queued:
//! publisher.stop().await?;
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use posttroll_core::{Message, Result};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};

use crate::publisher::{NoisyPublisher, Publisher};
use crate::Context;

/// How many log messages wait for the sending task at most.
const QUEUE: usize = 1024;

/// Builds a [`LogPublisher`]; see [`LogPublisher::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct LogPublisherBuilder {
    name: String,
    port: u16,
    nameservers: Vec<String>,
    context: Option<Context>,
}

impl LogPublisherBuilder {
    /// Announce to these nameservers instead of by multicast (see
    /// [`NoisyPublisherBuilder::nameservers`](crate::publisher::NoisyPublisherBuilder::nameservers)).
    pub fn nameservers<I, S>(mut self, nameservers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.nameservers = nameservers.into_iter().map(Into::into).collect();
        self
    }

    /// The port to publish on (default 0: a free one), as the reference's
    /// `PytrollHandler(name, port)`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The context; default [`Context::global`].
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the publisher and returns it with the layer that feeds it.
    ///
    /// # Errors
    ///
    /// When the publisher cannot start (see [`NoisyPublisher`]).
    pub async fn start(self) -> Result<(LogPublisher, LogPublisherLayer)> {
        let mut builder = NoisyPublisher::builder(self.name).port(self.port);
        if !self.nameservers.is_empty() {
            builder = builder.nameservers(self.nameservers);
        }
        if let Some(ctx) = self.context {
            builder = builder.context(ctx);
        }
        let publisher = builder.start().await?;
        let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let sender = {
            // The plain publisher underneath (a shared handle).
            let publisher = Publisher::clone(&publisher);
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    if let Err(e) = publisher.send(&msg).await {
                        // Not through `tracing`: that would come back here.
                        eprintln!("posttroll log publisher: cannot send a log message: {e}");
                    }
                }
            })
        };
        Ok((
            LogPublisher {
                publisher,
                sender,
                dropped: dropped.clone(),
            },
            LogPublisherLayer { tx, dropped },
        ))
    }
}

/// The publisher of log messages (see the [module documentation](self)).
#[derive(Debug)]
pub struct LogPublisher {
    publisher: NoisyPublisher,
    sender: tokio::task::JoinHandle<()>,
    dropped: Arc<AtomicU64>,
}

impl LogPublisher {
    /// A builder for a log publisher announced as `name` (the reference's
    /// `PytrollHandler(name)`).
    pub fn builder(name: impl Into<String>) -> LogPublisherBuilder {
        LogPublisherBuilder {
            name: name.into(),
            port: 0,
            nameservers: Vec::new(),
            context: None,
        }
    }

    /// The publisher underneath (its address, its port).
    pub fn publisher(&self) -> &NoisyPublisher {
        &self.publisher
    }

    /// Log events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends what is queued (once every layer is dropped), then stops the
    /// publisher. A layer still installed keeps queueing, and this waits at
    /// most 1 s for the queue.
    ///
    /// # Errors
    ///
    /// As [`NoisyPublisher::stop`].
    pub async fn stop(self) -> Result<()> {
        let mut sender = self.sender;
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut sender)
            .await
            .is_err()
        {
            sender.abort();
        }
        self.publisher.stop().await
    }
}

/// The `tracing` layer that queues events for a [`LogPublisher`].
#[derive(Debug, Clone)]
pub struct LogPublisherLayer {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl<S: Subscriber> Layer<S> for LogPublisherLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with("posttroll") {
            return;
        }
        let Some(msg) = log_message(event) else {
            return;
        };
        if self.tx.try_send(msg).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The message the reference's `PytrollFormatter` makes of such a record.
fn log_message(event: &Event<'_>) -> Option<Message> {
    let meta = event.metadata();
    let level = python_level(*meta.level());
    let mut text = TextVisitor::default();
    event.record(&mut text);
    let logger = meta.target().replace("::", ".");
    Message::new(
        format!("log/{level}/{logger}"),
        format!("log.{}", level.to_ascii_lowercase()),
        text.finish(),
    )
    .ok()
}

/// The level as Python's `logging` names it.
fn python_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

/// The event's message, then its other fields as `key=value`.
#[derive(Default)]
struct TextVisitor {
    message: String,
    fields: String,
}

impl TextVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields
        } else {
            format!("{} {}", self.message, self.fields)
        }
    }
}

impl Visit for TextVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
            return;
        }
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={value:?}", field.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_subject_and_type() {
        let msg = Message::new(
            "log/WARNING/my_app.io",
            "log.warning",
            "disk full path=\"/data\"",
        );
        let msg = msg.unwrap_or_else(|e| panic!("{e}"));
        let line = String::from_utf8_lossy(&msg.encode()).into_owned();
        // As the reference writes it: "pytroll:/" + subject, no double slash.
        assert!(
            line.starts_with("pytroll:/log/WARNING/my_app.io log.warning "),
            "{line}"
        );
        assert_eq!(python_level(Level::TRACE), "DEBUG");
        assert_eq!(python_level(Level::WARN), "WARNING");
    }
}

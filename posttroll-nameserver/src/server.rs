//! [`NameServer`]: answers lookups from the [`AddressTable`] that an
//! [`AddressReceiver`] keeps.

use std::future::pending;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use posttroll::nameserver::{nameserver_endpoint, LOOKUP_SUBJECT};
use posttroll::Context;
use posttroll_core::log_sampling;
use posttroll_core::metrics::{self, events, LookupResult, Refusal, ReplyPort};
use posttroll_core::task::{stop_all, StopSignal, Worker};
use posttroll_core::{
    BindSpec, Config, Data, Delivery, Endpoint, ErrorKind, Message, ReplySocket, Result, Security,
    Transport, Value,
};
use tokio::sync::watch;

use crate::receiver::{excerpt, lock, AddressReceiver, DEFAULT_MAX_AGE};
use crate::table::AddressTable;

/// The largest lookup request answered (a real one is about 120 bytes).
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;

/// Builds and starts a [`NameServer`].
#[derive(Debug, Clone)]
pub struct NameServerBuilder {
    max_age: Duration,
    multicast: bool,
    local_only: bool,
    address: String,
    context: Option<Context>,
}

impl NameServerBuilder {
    /// How long a publisher is listed without announcing itself again
    /// (default 10 minutes).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Receive announcements by multicast (default true); false is the
    /// reference's `--no-multicast`: publishers then announce to this host
    /// by request on `broadcast_port`.
    pub fn multicast(mut self, multicast: bool) -> Self {
        self.multicast = multicast;
        self
    }

    /// Take multicast announcements from this host only (the reference's
    /// `-L`/`--local-only`).
    pub fn local_only(mut self, local_only: bool) -> Self {
        self.local_only = local_only;
        self
    }

    /// Where lookups are served: `*` (default: every interface, on
    /// `nameserver_port`), a host, `tcp://host[:port]`, `ipc:///path` or
    /// `inproc://name` (as the reference's `nameserver_address`).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// The context (default [`Context::global`]).
    pub fn context(mut self, context: Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the address receiver and binds the lookup socket: REP on
    /// `tcp://*:<nameserver_port>` without security and, when the context
    /// is `secure_zmq` or (with `unsecure_zmq`) `server_secret_key_file`
    /// is configured, also `tcp://*:<secure_zmq_nameserver_port>` with
    /// CURVE (when the keys are missing or that fails, a warning is logged
    /// and lookups are served plain only, as the reference does). `*`, here
    /// as for the address receiver's sockets, is every interface: IPv6 and
    /// IPv4 clients where the host is dual-stack (IPv4 ones are logged and
    /// allow-list-checked by their IPv4 address), IPv4 only elsewhere, as
    /// the reference listens.
    ///
    /// Errors when the address receiver or the plain lookup socket cannot
    /// be set up (e.g. a port is taken).
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll::{Config, Context};
    /// use posttroll_nameserver::NameServer;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let config = Config { backend: "inproc".into(), nameserver_port: 25557, address_publish_port: 26544, ..Config::default() };
    /// let ns = NameServer::builder().context(Context::new(config)?).start().await?;
    /// assert_eq!(ns.lookup_endpoint().port(), Some(25557));
    /// ns.stop().await;
    /// # Ok::<(), posttroll::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn start(self) -> Result<NameServerHandle> {
        let ctx = match self.context {
            Some(ctx) => ctx,
            None => Context::global()?,
        };
        let config = ctx.config();
        let table = Arc::new(Mutex::new(AddressTable::new(self.max_age)));
        let mut receiver = AddressReceiver::builder()
            .context(ctx.clone())
            .multicast(self.multicast)
            .local_only(self.local_only)
            .table(table.clone())
            .start()
            .await?;
        let announcement_replies_dropped = receiver.replies_dropped_counter();

        let plain_endpoint = nameserver_endpoint(&self.address, config.nameserver_port)?;
        let plain = match bind(&ctx, plain_endpoint, Security::Plain).await {
            Ok(socket) => socket,
            Err(e) => {
                receiver.stop().await;
                return Err(e);
            }
        };
        let secure_transport = secure_lookup_transport(&ctx);
        let secure = match &secure_transport {
            Some(transport) if matches!(plain.endpoint(), Endpoint::Tcp { .. }) => {
                let bound =
                    match nameserver_endpoint(&self.address, config.secure_zmq_nameserver_port) {
                        Ok(endpoint) => bind_on(transport, config, endpoint, Security::Curve).await,
                        Err(e) => Err(e),
                    };
                match bound {
                    Ok(socket) => Some(socket),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot create secure access to nameserver; serving plain lookups only");
                        None
                    }
                }
            }
            _ => None,
        };

        let lookup_endpoint = plain.endpoint().clone();
        let secure_endpoint = secure.as_ref().map(|s| s.endpoint().clone());
        let address_publish_endpoint = receiver.publish_endpoint().clone();
        tracing::info!(
            lookups = %lookup_endpoint,
            secure_lookups = ?secure_endpoint.as_ref().map(ToString::to_string),
            address_events = %address_publish_endpoint,
            "nameserver listening"
        );

        let stats = Arc::new(LookupStats::default());
        let serve = Serve {
            stats: stats.clone(),
            table: table.clone(),
            plain,
            secure,
            _secure_transport: secure_transport,
            configured_version: config.message_version.clone(),
        };
        let server = Worker::spawn(None, move |stop| serve.run(stop));
        let mut workers = vec![server];
        workers.extend(receiver.take_worker());
        let (finished_tx, finished) = watch::channel(false);
        Ok(NameServerHandle {
            stats,
            announcement_replies_dropped,
            lookup_endpoint,
            secure_endpoint,
            address_publish_endpoint,
            table,
            workers: Mutex::new(Some(workers)),
            finished_tx,
            finished,
        })
    }
}

async fn bind(
    ctx: &Context,
    endpoint: Endpoint,
    security: Security,
) -> Result<Box<dyn ReplySocket>> {
    bind_on(ctx.transport(), ctx.config(), endpoint, security).await
}

async fn bind_on(
    transport: &Arc<dyn Transport>,
    config: &Config,
    endpoint: Endpoint,
    security: Security,
) -> Result<Box<dyn ReplySocket>> {
    let mut spec = BindSpec::new(endpoint);
    spec.port_range = (config.pub_min_port, config.pub_max_port);
    spec.security = security;
    // A lookup request is about 120 bytes: a peer sending more than this is
    // disconnected by the engine before the frame is read.
    spec.max_message_size = Some(MAX_REQUEST_SIZE as u64);
    transport.bind_reply(spec).await
}

/// The transport of the CURVE lookup socket (port
/// `secure_zmq_nameserver_port`), as the reference serves it: the
/// context's own with `secure_zmq`; with `unsecure_zmq` and a configured
/// `server_secret_key_file`, a `secure_zmq` transport made for it (the
/// reference serves the secure port whatever its `backend`, when it has
/// the keys); otherwise none. When `secure_zmq` is not compiled in, a
/// warning says so.
fn secure_lookup_transport(ctx: &Context) -> Option<Arc<dyn Transport>> {
    let config = ctx.config();
    if ctx.security() == Security::Curve {
        return Some(ctx.transport().clone());
    }
    if ctx.backend_name() != "unsecure_zmq" {
        return None;
    }
    if config.server_secret_key_file.is_none() {
        tracing::warn!(
            "cannot create secure access to nameserver: `server_secret_key_file` is not set; \
             serving plain lookups only"
        );
        return None;
    }
    match posttroll::registry().build_named("secure_zmq", config) {
        Ok(backend) => Some(backend.transport),
        Err(e) => {
            tracing::warn!(error = %e, "cannot create secure access to nameserver; serving plain lookups only");
            None
        }
    }
}

/// The nameserver: keeps the addresses publishers announce and answers
/// lookups for them (PROTOCOL.md section 4).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::nameserver::get_pub_address;
/// use posttroll::{Config, Context};
/// use posttroll_nameserver::NameServer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = Config { backend: "inproc".into(), nameserver_port: 25559, address_publish_port: 26545, ..Config::default() };
/// let ctx = Context::new(config)?;
/// let ns = NameServer::builder().context(ctx.clone()).max_age(Duration::from_secs(60)).start().await?;
/// // Nobody announced anything yet.
/// let found = get_pub_address(&ctx, "viirs", Duration::from_secs(1), "localhost").await?;
/// assert!(found.is_empty());
/// ns.stop().await;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NameServer;

impl NameServer {
    /// A builder: max age 10 minutes, multicast on, not local-only,
    /// lookups on every interface.
    pub fn builder() -> NameServerBuilder {
        NameServerBuilder {
            max_age: DEFAULT_MAX_AGE,
            multicast: true,
            local_only: false,
            address: "*".to_owned(),
            context: None,
        }
    }
}

/// A running [`NameServer`]. Its methods take `&self`, so it can be shared
/// (e.g. in an `Arc`) between a task that [`wait`](NameServerHandle::wait)s
/// and one that [`stop`](NameServerHandle::stop)s. Dropping it stops the
/// nameserver's tasks too.
#[derive(Debug)]
pub struct NameServerHandle {
    stats: Arc<LookupStats>,
    announcement_replies_dropped: Arc<AtomicU64>,
    lookup_endpoint: Endpoint,
    secure_endpoint: Option<Endpoint>,
    address_publish_endpoint: Endpoint,
    table: Arc<Mutex<AddressTable>>,
    workers: Mutex<Option<Vec<Worker>>>,
    finished_tx: watch::Sender<bool>,
    finished: watch::Receiver<bool>,
}

impl NameServerHandle {
    /// The plain lookup endpoint as bound (`tcp://*:5557` by default).
    pub fn lookup_endpoint(&self) -> &Endpoint {
        &self.lookup_endpoint
    }

    /// The CURVE lookup endpoint, when one is served.
    pub fn secure_lookup_endpoint(&self) -> Option<&Endpoint> {
        self.secure_endpoint.as_ref()
    }

    /// Where address additions and removals are published
    /// (`tcp://*:16543` by default).
    pub fn address_publish_endpoint(&self) -> &Endpoint {
        &self.address_publish_endpoint
    }

    /// The table of addresses (shared with the running nameserver).
    pub fn address_table(&self) -> Arc<Mutex<AddressTable>> {
        self.table.clone()
    }

    /// The addresses offering `name` (`""`: all), as a lookup returns them.
    pub fn lookup(&self, name: &str) -> Vec<Value> {
        lock(&self.table).lookup(name)
    }

    /// Lookups answered with addresses (or none), since the start.
    pub fn lookups_answered(&self) -> u64 {
        self.stats.answered.load(Ordering::Relaxed)
    }

    /// Lookup requests refused as malformed (each got an error reply).
    pub fn lookups_refused(&self) -> u64 {
        self.stats.refused.load(Ordering::Relaxed)
    }

    /// Lookup replies dropped because the requester did not take them (its
    /// queue was full: it does not read its replies) or was gone. Serving
    /// goes on for everybody else.
    pub fn lookup_replies_dropped(&self) -> u64 {
        self.stats.replies_dropped.load(Ordering::Relaxed)
    }

    /// Announcement replies (`ok`) dropped, on the designated-announcement
    /// port, for the same reasons as
    /// [`lookup_replies_dropped`](NameServerHandle::lookup_replies_dropped).
    pub fn announcement_replies_dropped(&self) -> u64 {
        self.announcement_replies_dropped.load(Ordering::Relaxed)
    }

    /// True until stopped.
    pub fn is_running(&self) -> bool {
        !*self.finished.borrow()
    }

    /// Stops the nameserver: lookups and announcements are no longer
    /// served, the sockets are closed and every task has ended when this
    /// returns, within 1 s. Stopping twice is harmless.
    pub async fn stop(&self) {
        let workers = self
            .workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(workers) = workers {
            stop_all(workers).await;
            tracing::info!("nameserver stopped");
        }
        self.finished_tx.send_replace(true);
    }

    /// Waits until the nameserver is stopped (by
    /// [`stop`](NameServerHandle::stop) from elsewhere), as the reference's
    /// blocking `run()`.
    pub async fn wait(&self) {
        let mut finished = self.finished.clone();
        // An error means the handle is gone, which cannot be while `self` is
        // borrowed.
        let _ = finished.wait_for(|done| *done).await;
    }
}

/// Counters of the lookup loop.
#[derive(Debug, Default)]
struct LookupStats {
    answered: AtomicU64,
    refused: AtomicU64,
    replies_dropped: AtomicU64,
}

/// The lookup loop's state.
struct Serve {
    stats: Arc<LookupStats>,
    table: Arc<Mutex<AddressTable>>,
    plain: Box<dyn ReplySocket>,
    secure: Option<Box<dyn ReplySocket>>,
    /// Kept alive with the secure socket (its ZAP handler and handshake
    /// monitor).
    _secure_transport: Option<Arc<dyn Transport>>,
    configured_version: Option<String>,
}

impl Serve {
    async fn run(mut self, mut stop: StopSignal) {
        loop {
            let (received, secure) = tokio::select! {
                _ = stop.stopped() => break,
                r = self.plain.recv() => (r, false),
                r = async {
                    match self.secure.as_mut() {
                        Some(socket) => socket.recv().await,
                        None => pending().await,
                    }
                } => (r, true),
            };
            let request = match received {
                Ok(request) => request,
                Err(e) if e.kind() == ErrorKind::Closed => {
                    tracing::error!(error = %e, secure, "the lookup socket closed; nameserver stops serving");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, secure, "receiving a lookup request failed");
                    tokio::select! {
                        _ = stop.stopped() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                    continue;
                }
            };
            let (reply, outcome) = {
                let table = lock(&self.table);
                answer(&request.body, &table, self.configured_version.as_deref())
            };
            let peer = request.reply_to.peer.as_deref().unwrap_or("?");
            match outcome {
                Ok(found) => {
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                    metrics::nameserver_lookup(if found > 0 {
                        LookupResult::Found
                    } else {
                        LookupResult::NotFound
                    });
                }
                Err((kind, reason)) => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    metrics::nameserver_lookup(LookupResult::Refused);
                    metrics::refused(kind);
                    tracing::warn!(reason = %reason, request = %excerpt(&request.body), secure, peer, "bad lookup request");
                }
            }
            let socket = match self.secure.as_mut() {
                Some(socket) if secure => socket,
                _ => &mut self.plain,
            };
            match socket.reply(&request.reply_to, reply) {
                Ok(Delivery::Sent) => {}
                Ok(dropped) => {
                    let total = self.stats.replies_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    metrics::nameserver_reply_dropped(ReplyPort::Lookup);
                    if log_sampling::sample(total, events::LOOKUP_REPLY_DROPPED) {
                        tracing::warn!(secure, peer, reason = ?dropped, total, "dropped a lookup reply the requester does not take");
                    }
                }
                Err(e) => tracing::warn!(error = %e, secure, peer, "cannot reply to a lookup"),
            }
        }
        if let Err(e) = self.plain.close().await {
            tracing::debug!(error = %e, "closing the lookup socket");
        }
        if let Some(socket) = self.secure.as_mut() {
            if let Err(e) = socket.close().await {
                tracing::debug!(error = %e, "closing the secure lookup socket");
            }
        }
    }
}

/// The reply frame to one lookup request, and the number of addresses it
/// holds, or why the request was refused.
///
/// A valid lookup gets the reference's `get_active_address` reply:
/// `Message("/oper/ns", "info", [metadata...])`, or no data when nothing
/// matches, in the request's version. A request that is not a valid lookup
/// gets `Message("/oper/ns", "error", "<why>")`, so the requester is never
/// left waiting.
pub(crate) fn answer(
    frame: &[u8],
    table: &AddressTable,
    configured_version: Option<&str>,
) -> (Bytes, std::result::Result<usize, (Refusal, String)>) {
    match lookup_reply(frame, table) {
        Ok((reply, found)) => (
            Bytes::from(reply.encode_with(configured_version)),
            Ok(found),
        ),
        Err((kind, reason, version)) => {
            let reply =
                Message::new(LOOKUP_SUBJECT, "error", Data::Text(reason.clone())).and_then(|m| {
                    match version {
                        Some(v) => m.with_version(v),
                        None => Ok(m),
                    }
                });
            let frame = match reply {
                Ok(reply) => Bytes::from(reply.encode_with(configured_version)),
                // Not reached: the subject and type are valid tokens and a
                // decoded version is one too.
                Err(_) => Bytes::from_static(
                    b"pytroll://oper/ns error unknown@unknown 2000-01-01T00:00:00 v1.01",
                ),
            };
            (frame, Err((kind, reason)))
        }
    }
}

/// Why a lookup request is refused, and its version when it decoded.
type Refused = (Refusal, String, Option<String>);

/// The lookup reply and the number of addresses in it, or why the request
/// is refused.
fn lookup_reply(
    frame: &[u8],
    table: &AddressTable,
) -> std::result::Result<(Message, usize), Refused> {
    let malformed = |reason: String, version: Option<String>| (Refusal::Malformed, reason, version);
    if frame.len() > MAX_REQUEST_SIZE {
        return Err((
            Refusal::Size,
            format!(
                "request too large: {} bytes (limit {MAX_REQUEST_SIZE})",
                frame.len()
            ),
            None,
        ));
    }
    if std::str::from_utf8(frame).is_err() {
        return Err(malformed("request is not valid UTF-8".to_owned(), None));
    }
    let request =
        Message::decode(frame).map_err(|e| malformed(format!("malformed request: {e}"), None))?;
    let version = request.version().map(str::to_owned);
    if request.msg_type() != "request" {
        return Err(malformed(
            format!(
                "wrong message type '{}', expected 'request'",
                request.msg_type()
            ),
            version,
        ));
    }
    let service = match request.data.get("service") {
        Some(Value::String(service)) => service,
        Some(_) => {
            return Err(malformed(
                "the request's \"service\" is not a string".to_owned(),
                version,
            ))
        }
        None => {
            return Err(malformed(
                "the request's data is not a dict with a \"service\"".to_owned(),
                version,
            ))
        }
    };
    let found = table.lookup(service);
    let count = found.len();
    tracing::debug!(service = %service, found = count, "lookup");
    let data = if found.is_empty() {
        Data::None
    } else {
        Data::Json(Value::Array(found))
    };
    let reply = Message::new(LOOKUP_SUBJECT, "info", data)
        .map_err(|e| malformed(e.to_string(), version.clone()))?;
    let reply = match version {
        Some(version) => reply
            .with_version(version)
            .map_err(|e| malformed(e.to_string(), None))?,
        None => reply,
    };
    Ok((reply, count))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn table() -> AddressTable {
        let mut table = AddressTable::new(Duration::from_secs(60));
        let msg = Message::new(
            "/address/viirs",
            "info",
            Value::object([
                ("URI", Value::from("tcp://10.0.0.1:40000")),
                ("service", Value::from(vec!["viirs", "sdr"])),
            ]),
        )
        .unwrap();
        table.announce_message(msg, Utc::now()).unwrap();
        table
    }

    fn request(version: &str, data: Data) -> Vec<u8> {
        Message::new(LOOKUP_SUBJECT, "request", data)
            .unwrap()
            .with_version(version)
            .unwrap()
            .encode_with(None)
    }

    fn ok(frame: &[u8], table: &AddressTable) -> Message {
        let (reply, outcome) = answer(frame, table, None);
        assert!(outcome.is_ok(), "{outcome:?}");
        Message::decode(reply).unwrap()
    }

    fn lookup(version: &str, service: Value) -> Vec<u8> {
        request(version, Data::Json(Value::object([("service", service)])))
    }

    #[test]
    fn lookups_reply_in_the_request_version() {
        let table = table();
        for version in ["v1.01", "v1.2"] {
            let reply = ok(&lookup(version, Value::from("sdr")), &table);
            assert_eq!(reply.version(), Some(version));
            assert_eq!(reply.subject(), LOOKUP_SUBJECT);
            assert_eq!(reply.msg_type(), "info");
            let list = reply.data.as_json().unwrap().as_array().unwrap();
            assert_eq!(list[0]["URI"].as_str(), Some("tcp://10.0.0.1:40000"));
            let none = ok(&lookup(version, Value::from("x")), &table);
            assert_eq!(none.data, Data::None);
            assert_eq!(none.version(), Some(version));
        }
        let all = ok(&lookup("v1.2", Value::from("")), &table);
        assert_eq!(all.data.as_json().unwrap().as_array().unwrap().len(), 1);
        // The count of addresses found (the `result` label of the lookup
        // metric).
        assert_eq!(
            answer(&lookup("v1.2", Value::from("sdr")), &table, None).1,
            Ok(1)
        );
        assert_eq!(
            answer(&lookup("v1.2", Value::from("x")), &table, None).1,
            Ok(0)
        );
    }

    #[test]
    fn bad_requests_get_error_replies() {
        let table = table();
        let mut oversized = request("v1.2", Data::Text("x".repeat(MAX_REQUEST_SIZE)));
        oversized.truncate(MAX_REQUEST_SIZE + 1);
        let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
            (b"hello".to_vec(), "malformed request", None),
            (b"".to_vec(), "malformed request", None),
            (b"pytroll://oper/ns request a@b 2020-01-01T00:00:00 v9.9".to_vec(), "malformed request", None),
            (vec![b'p', 0xff, 0xfe], "UTF-8", None),
            (oversized, "too large", None),
            (
                b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.01 application/json {\"service\": \"sdr\"}".to_vec(),
                "wrong message type",
                Some("v1.01"),
            ),
            (request("v1.2", Data::None), "\"service\"", Some("v1.2")),
            (request("v1.2", Data::Text("sdr".into())), "\"service\"", Some("v1.2")),
            (request("v1.2", Data::Json(Value::object([("name", Value::from("sdr"))]))), "\"service\"", Some("v1.2")),
            (lookup("v1.01", Value::from(3)), "not a string", Some("v1.01")),
            (request("v1.2", Data::Json(Value::from(vec!["sdr"]))), "\"service\"", Some("v1.2")),
        ];
        for (frame, expected, version) in cases {
            let (reply, outcome) = answer(&frame, &table, None);
            let (kind, reason) = outcome.unwrap_err();
            let expected_kind = if expected == "too large" {
                Refusal::Size
            } else {
                Refusal::Malformed
            };
            assert_eq!(kind, expected_kind, "{reason}");
            assert!(reason.contains(expected), "{expected}: {reason}");
            let reply = Message::decode(reply).unwrap();
            assert_eq!(reply.subject(), LOOKUP_SUBJECT);
            assert_eq!(reply.msg_type(), "error");
            assert_eq!(reply.data.as_text(), Some(reason.as_str()));
            if let Some(version) = version {
                assert_eq!(reply.version(), Some(version));
            }
        }
    }
}

//! `posttroll`: publish, subscribe and look up publishers from the command
//! line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use posttroll::nameserver::{get_pub_address, get_pub_addresses};
use posttroll::publisher::{AnyPublisher, NoisyPublisher, Publisher};
use posttroll::subscriber::{NSSubscriber, Subscriber};
use posttroll::{Address, Context, Data, Message, Value};
use posttroll_cli::logging::{self, LogFormat, LogTarget};
use posttroll_cli::{load_config, parse_seconds, runtime, Shutdown};
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;
use tracing::level_filters::LevelFilter;

/// Publish, subscribe and look up posttroll publishers.
///
/// Ports and other settings come from the posttroll configuration: config
/// files (/etc/posttroll, ~/.config/posttroll, $POSTTROLL_CONFIG, --config)
/// and POSTTROLL_* environment variables (e.g. POSTTROLL_NAMESERVER_PORT,
/// POSTTROLL_BROADCAST_PORT, POSTTROLL_BACKEND).
///
/// Exit status: 0 success, 1 failure, 2 bad usage.
#[derive(Debug, Parser)]
#[command(name = "posttroll", version, about, long_about)]
struct Cli {
    /// A posttroll config file (YAML or JSON) read after the standard ones;
    /// POSTTROLL_* environment variables still win.
    #[arg(short = 'c', long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    /// Log more on stderr: -v info, -vv debug (default: warnings only);
    /// `subscribe -v` also prints connection events (connected,
    /// disconnected, silent).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish messages, announced under a name (found through nameservers)
    /// or on a fixed address without announcing.
    Publish(PublishArgs),
    /// Receive messages and print each as its encoded line.
    Subscribe(SubscribeArgs),
    /// Ask the nameserver for the publishers of a service; prints them as
    /// one line of JSON (a list of address records).
    Lookup(LookupArgs),
    /// Print the log messages of every publisher (those of the reference's
    /// `PytrollHandler` and of `posttroll::log_publisher`), as the
    /// reference's `pytroll-logger`: info and above, debug ones and other
    /// messages too with -v.
    Logger(LoggerArgs),
}

/// Messages come either from --subject (with --type and --data) or, with
/// --stdin, as encoded lines on standard input.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["subject", "stdin"])))]
#[command(group(ArgGroup::new("where").args(["name", "bind"])))]
struct PublishArgs {
    /// Announce the publisher under this name (it binds a free port, or
    /// --port). Without NAME, nothing is announced: give --bind or --port.
    #[arg(value_name = "NAME")]
    name: Option<String>,

    /// Another name the announced publisher is found by (repeatable).
    #[arg(short = 'A', long = "alias", value_name = "ALIAS", requires = "name")]
    aliases: Vec<String>,

    /// Announce to this nameserver (`host`, `host:port` or
    /// `tcp://host:port`; the port defaults to the broadcast port) instead of
    /// by multicast (repeatable).
    #[arg(long = "nameserver", value_name = "HOST", requires = "name")]
    nameservers: Vec<String>,

    /// Seconds between two announcements (0: never announce).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds, requires = "name")]
    broadcast_interval: Duration,

    /// The TCP port to bind on every interface (0: a free port between
    /// pub_min_port and pub_max_port).
    #[arg(short, long, value_name = "PORT", default_value_t = 0)]
    port: u16,

    /// Bind this address instead, without announcing: `tcp://*:9000`,
    /// `tcp://127.0.0.1:9000`, `ipc:///tmp/pub.sock`.
    #[arg(short, long, value_name = "ADDRESS", conflicts_with = "port")]
    bind: Option<String>,

    /// The subject of the messages to send, e.g. `/counter`.
    #[arg(short, long, value_name = "SUBJECT")]
    subject: Option<String>,

    /// The type of the messages (with --subject).
    #[arg(
        short = 't',
        long = "type",
        value_name = "TYPE",
        default_value = "info",
        requires = "subject"
    )]
    msg_type: String,

    /// The data of the messages (with --subject): JSON when it is a JSON
    /// object or list, else text.
    #[arg(short, long, value_name = "DATA", requires = "subject")]
    data: Option<String>,

    /// Read encoded messages from standard input, one per line, and send
    /// each as it is (lines that are not messages are reported and
    /// skipped; the exit status is then 1).
    #[arg(long)]
    stdin: bool,

    /// How many messages to send (default: 1 with --subject; every line
    /// with --stdin); 0 means without end.
    #[arg(short = 'n', long, value_name = "N")]
    count: Option<u64>,

    /// Seconds between two messages (default 1 with --subject, 0 with
    /// --stdin); 0 sends as fast as the publisher takes them.
    #[arg(short, long, value_name = "SECONDS", value_parser = parse_seconds)]
    interval: Option<Duration>,

    /// Seconds to wait before the first message, so that subscribers can
    /// connect (a message sent before a subscriber is connected is lost to
    /// it).
    #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_seconds)]
    delay: Duration,

    /// Wait until N subscribers have subscribed before the first message
    /// (instead of guessing a --delay); fails (status 1) when they have not
    /// within --wait-timeout.
    #[arg(long, value_name = "N")]
    wait_subscribers: Option<usize>,

    /// Seconds --wait-subscribers waits at most.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds, requires = "wait_subscribers")]
    wait_timeout: Duration,
}

/// Subscribes through the nameserver (to SERVICEs, or to every publisher),
/// or, with --address and no SERVICE, to those addresses only.
#[derive(Debug, Args)]
struct SubscribeArgs {
    /// Services (publisher names or aliases) to subscribe to, found through
    /// the nameserver. None: every publisher, unless --address is given.
    #[arg(value_name = "SERVICE")]
    services: Vec<String>,

    /// A publisher's address to connect to, e.g. `tcp://host:9000`
    /// (repeatable).
    #[arg(short, long = "address", value_name = "URI")]
    addresses: Vec<String>,

    /// Receive only messages whose subject starts with this topic, e.g.
    /// `/counter` (repeatable; default: everything).
    #[arg(short, long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,

    /// Follow the nameserver's address events: connect to publishers of the
    /// services as they appear, disconnect as they expire.
    #[arg(long)]
    addr_listener: bool,

    /// The nameserver's host (or `tcp://host:port`).
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    nameserver: String,

    /// Seconds to keep asking the nameserver for each service at start.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    lookup_timeout: Duration,

    /// Stop after this many messages.
    #[arg(short = 'n', long, value_name = "N")]
    count: Option<u64>,

    /// Stop after this many seconds (the exit status is then 1 if --count
    /// messages did not all come).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,

    /// Replace the sender's host in each message by its publisher's host.
    #[arg(long)]
    translate: bool,

    /// Print the received rate and counts on stderr every --stats-interval,
    /// and a summary at the end.
    #[arg(long)]
    stats: bool,

    /// Seconds between two --stats lines.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_seconds, requires = "stats")]
    stats_interval: Duration,

    /// Report a publisher silent (with -v) when it sends no heartbeat
    /// within SCALE times the min_interval its heartbeats announce.
    #[arg(long, value_name = "SCALE")]
    heartbeat_alarm_scale: Option<f64>,

    /// With --heartbeat-alarm-scale: also connect again to a silent
    /// publisher.
    #[arg(long, requires = "heartbeat_alarm_scale")]
    reconnect_when_silent: bool,
}

#[derive(Debug, Args)]
struct LoggerArgs {
    /// Log to this file instead of stderr, renamed FILE.YYYY-MM-DD at
    /// midnight (7 kept), as the reference's time-rotated log file.
    #[arg(short = 'r', long, value_name = "FILE")]
    rotated: Option<PathBuf>,

    /// The nameserver whose address events tell the publishers.
    #[arg(short = 's', long, value_name = "HOST", default_value = "localhost")]
    server: String,

    /// The port of the nameserver's address events.
    #[arg(short = 'p', long, value_name = "PORT", default_value_t = 16543)]
    port: u16,
}

#[derive(Debug, Args)]
struct LookupArgs {
    /// The service (publisher name or alias); empty or absent: every
    /// publisher.
    #[arg(value_name = "SERVICE", default_value = "")]
    service: String,

    /// The nameserver's host (or `tcp://host:port`).
    #[arg(long, value_name = "HOST", default_value = "localhost")]
    nameserver: String,

    /// Seconds to wait for the nameserver's reply (with --wait: for the
    /// service to appear).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,

    /// Ask again until the service has publishers or --timeout passes.
    #[arg(short, long)]
    wait: bool,

    /// Print a table (services, address, age of the last announcement)
    /// instead of the JSON line.
    #[arg(long)]
    table: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    if let Err(e) = logging::init(level, LogTarget::Stderr, LogFormat::Text) {
        return fail(&e.to_string());
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// Prints an error; the exit status 1.
fn fail(text: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "posttroll: {text}");
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let mut shutdown = Shutdown::new().map_err(|e| format!("cannot catch signals: {e}"))?;
    let config = load_config(cli.config.as_deref())
        .map_err(|e| format!("bad posttroll configuration: {e}"))?;
    let ctx = Context::new(config).map_err(|e| format!("cannot set up the backend: {e}"))?;
    match cli.command {
        Command::Publish(args) => publish(ctx, args, &mut shutdown).await,
        Command::Subscribe(args) => subscribe(ctx, args, cli.verbose > 0, &mut shutdown).await,
        Command::Logger(args) => logger(ctx, args, cli.verbose > 0, &mut shutdown).await,
        Command::Lookup(args) => tokio::select! {
            result = lookup(ctx, args) => result,
            name = shutdown.recv() => Err(format!("{name} received; lookup abandoned")),
        },
    }
}

/// The data of `--data`: JSON for an object or list, else text.
fn message_data(data: Option<&str>) -> Result<Data, String> {
    let Some(data) = data else {
        return Ok(Data::None);
    };
    let trimmed = data.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // Read as a receiver reads it: ISO strings in dicts are datetimes.
        let value = Value::parse_json(data)
            .map_err(|e| format!("--data looks like JSON but is not: {e}"))?;
        Ok(Data::from(value))
    } else {
        Ok(Data::Text(data.to_owned()))
    }
}

async fn publish(
    ctx: Context,
    args: PublishArgs,
    shutdown: &mut Shutdown,
) -> Result<ExitCode, String> {
    // Check the message before binding anything.
    let template = match &args.subject {
        Some(subject) => Some(
            Message::new(
                subject.as_str(),
                args.msg_type.as_str(),
                message_data(args.data.as_deref())?,
            )
            .map_err(|e| format!("bad message: {e}"))?,
        ),
        None => None,
    };
    let publisher = match &args.name {
        Some(name) => {
            let publisher = NoisyPublisher::builder(name.as_str())
                .port(args.port)
                .aliases(args.aliases.clone())
                .nameservers(args.nameservers.clone())
                .broadcast_interval(args.broadcast_interval)
                .context(ctx.clone())
                .start()
                .await
                .map_err(|e| format!("cannot start the publisher: {e}"))?;
            tracing::info!(
                "publishing on {} as {:?}, announced at {}",
                publisher.endpoint(),
                publisher.services(),
                publisher.announced_uri()
            );
            AnyPublisher::Noisy(publisher)
        }
        None => {
            let address = args
                .bind
                .clone()
                .unwrap_or_else(|| format!("tcp://*:{}", args.port));
            let publisher = Publisher::builder(address)
                .context(ctx.clone())
                .start()
                .await
                .map_err(|e| format!("cannot start the publisher: {e}"))?;
            tracing::info!("publishing on {}", publisher.endpoint());
            AnyPublisher::Plain(publisher)
        }
    };
    let result = tokio::select! {
        result = send_all(&ctx, &publisher, template, &args) => result,
        name = shutdown.recv() => {
            tracing::info!("{name} received; stopping");
            Ok(ExitCode::SUCCESS)
        }
    };
    if let Err(e) = publisher.stop().await {
        tracing::warn!("stopping the publisher: {e}");
    }
    result
}

/// Sends the messages: `template` (a fresh time each) `--count` times, or
/// the lines of stdin.
async fn send_all(
    ctx: &Context,
    publisher: &AnyPublisher,
    template: Option<Message>,
    args: &PublishArgs,
) -> Result<ExitCode, String> {
    tokio::time::sleep(args.delay).await;
    if let Some(n) = args.wait_subscribers {
        let have = publisher
            .wait_for_subscribers(n, args.wait_timeout)
            .await
            .map_err(|e| format!("waiting for subscribers: {e}"))?;
        tracing::info!("{have} subscriber(s) subscribed");
    }
    let version = ctx.config().message_version.clone();
    if let Some(template) = template {
        let count = args.count.unwrap_or(1);
        let interval = args.interval.unwrap_or(Duration::from_secs(1));
        let mut sent = 0u64;
        loop {
            let msg = template.clone().with_time(posttroll::DateTime::now_utc());
            publisher
                .send_raw(msg.encode_with(version.as_deref()))
                .await
                .map_err(|e| format!("cannot send: {e}"))?;
            sent += 1;
            if count != 0 && sent >= count {
                return Ok(ExitCode::SUCCESS);
            }
            if interval.is_zero() {
                // Unpaced: no timer tick a message; let other tasks (the
                // announcer) run now and then.
                if sent.is_multiple_of(1024) {
                    tokio::task::yield_now().await;
                }
            } else {
                tokio::time::sleep(interval).await;
            }
        }
    }
    let count = args.count.unwrap_or(0);
    let interval = args.interval.unwrap_or(Duration::ZERO);
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let (mut number, mut sent, mut bad) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let read = stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        if let Err(e) = Message::decode(&line) {
            bad += 1;
            let _ = writeln!(
                std::io::stderr(),
                "posttroll: stdin line {number} skipped: not a message: {e}"
            );
            continue;
        }
        if sent > 0 && !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
        publisher
            .send_raw(line.clone())
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        sent += 1;
        if count != 0 && sent >= count {
            break;
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn subscribe(
    ctx: Context,
    args: SubscribeArgs,
    print_events: bool,
    shutdown: &mut Shutdown,
) -> Result<ExitCode, String> {
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let topics = if args.topics.is_empty() {
        vec![posttroll::message::MAGIC.to_owned()]
    } else {
        args.topics.clone()
    };
    let plain = args.services.is_empty() && !args.addresses.is_empty() && !args.addr_listener;
    // Both subscriber builders take the heartbeat alarm the same way.
    macro_rules! with_alarm {
        ($builder:expr) => {
            match args.heartbeat_alarm_scale {
                Some(scale) => $builder
                    .heartbeat_alarm_scale(scale)
                    .reconnect_when_silent(args.reconnect_when_silent),
                None => $builder,
            }
        };
    }
    let starting = async {
        if plain {
            let builder = Subscriber::builder()
                .addresses(args.addresses.iter().map(String::as_str))
                .topics(topics.iter().map(String::as_str))
                .translate(args.translate)
                .context(ctx.clone());
            with_alarm!(builder).start().await
        } else {
            let services = if args.services.is_empty() {
                vec![String::new()]
            } else {
                args.services.clone()
            };
            let builder = NSSubscriber::builder()
                .services(services)
                .topics(topics)
                .addr_listener(args.addr_listener)
                .addresses(args.addresses.iter().map(String::as_str))
                .timeout(args.lookup_timeout)
                .translate(args.translate)
                .nameserver(args.nameserver.as_str())
                .context(ctx.clone());
            with_alarm!(builder).start().await
        }
    };
    let timed_out = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let subscriber = tokio::select! {
        started = starting => started.map_err(|e| format!("cannot subscribe: {e}"))?,
        name = shutdown.recv() => {
            tracing::info!("{name} received; stopping");
            return Ok(ExitCode::SUCCESS);
        }
        () = timed_out => return Ok(timeout_code(0, args.count)),
    };
    let mut stats = args.stats.then(|| Stats::new(args.stats_interval));
    let printer = print_events.then(|| {
        let mut events = subscriber.events();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let _ = writeln!(std::io::stderr(), "posttroll: {event}");
            }
        })
    });
    let result = tokio::select! {
        result = receive(&subscriber, args.count, deadline, stats.as_mut()) => result,
        name = shutdown.recv() => {
            tracing::info!("{name} received; stopping");
            Ok(ExitCode::SUCCESS)
        }
    };
    if let Err(e) = subscriber.stop().await {
        tracing::warn!("stopping the subscriber: {e}");
    }
    if let Some(printer) = printer {
        // The stream ends with the subscriber.
        let _ = printer.await;
    }
    if let Some(stats) = &stats {
        stats.summary();
    }
    result
}

/// The counts of `subscribe --stats`.
struct Stats {
    started: Instant,
    every: Duration,
    last: Instant,
    messages: u64,
    bytes: u64,
    last_messages: u64,
    last_bytes: u64,
}

impl Stats {
    fn new(every: Duration) -> Stats {
        let now = Instant::now();
        Stats {
            started: now,
            every: every.max(Duration::from_millis(10)),
            last: now,
            messages: 0,
            bytes: 0,
            last_messages: 0,
            last_bytes: 0,
        }
    }

    fn next_report(&self) -> Instant {
        self.last + self.every
    }

    fn count(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }

    /// One line: this interval's messages, rate and volume, and the totals.
    fn report(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64().max(1e-9);
        let messages = self.messages - self.last_messages;
        let bytes = self.bytes - self.last_bytes;
        let _ = writeln!(
            std::io::stderr(),
            "posttroll: stats: {messages} messages in {seconds:.2} s ({:.0} msg/s, {:.3} MB/s); total {} messages, {:.3} MB",
            messages as f64 / seconds,
            bytes as f64 / seconds / 1e6,
            self.messages,
            self.bytes as f64 / 1e6,
        );
        self.last = now;
        self.last_messages = self.messages;
        self.last_bytes = self.bytes;
    }

    fn summary(&self) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let _ = writeln!(
            std::io::stderr(),
            "posttroll: stats: received {} messages ({:.3} MB) in {seconds:.2} s: {:.0} msg/s",
            self.messages,
            self.bytes as f64 / 1e6,
            self.messages as f64 / seconds,
        );
    }
}

/// The exit status when the timeout passed after `received` messages.
fn timeout_code(received: u64, count: Option<u64>) -> ExitCode {
    match count {
        Some(count) if received < count => {
            let _ = writeln!(
                std::io::stderr(),
                "posttroll: timed out after {received} of {count} messages"
            );
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Prints each message received as its encoded line until `count` or
/// `deadline`.
async fn receive(
    subscriber: &Subscriber,
    count: Option<u64>,
    deadline: Option<Instant>,
    mut stats: Option<&mut Stats>,
) -> Result<ExitCode, String> {
    let mut received = 0u64;
    let mut frame = Vec::new();
    loop {
        if count.is_some_and(|count| received >= count) {
            return Ok(ExitCode::SUCCESS);
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let report_at = stats.as_ref().map(|s| s.next_report());
        let received_msg = tokio::select! {
            biased;
            received = subscriber.recv(timeout) => received,
            () = async {
                match report_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(stats) = stats.as_mut() {
                    stats.report();
                }
                continue;
            }
        };
        let msg = match received_msg {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(timeout_code(received, count)),
            Err(e) => return Err(format!("receiving: {e}")),
        };
        received += 1;
        frame.clear();
        msg.encode_into(&mut frame, None);
        frame.push(b'\n');
        if let Some(stats) = stats.as_mut() {
            stats.count(frame.len());
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&frame).and_then(|()| out.flush()) {
            // A closed pipe (`| head -1`) ends the subscription quietly.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(format!("cannot write to standard output: {e}"));
        }
    }
}

async fn lookup(ctx: Context, args: LookupArgs) -> Result<ExitCode, String> {
    let found = if args.wait {
        get_pub_addresses(
            &ctx,
            std::slice::from_ref(&args.service),
            args.timeout,
            &args.nameserver,
        )
        .await
    } else {
        get_pub_address(&ctx, &args.service, args.timeout, &args.nameserver).await
    }
    .map_err(|e| format!("lookup of {:?} failed: {e}", args.service))?;
    if args.table {
        let mut out = std::io::stdout().lock();
        return write!(out, "{}", address_table(&found))
            .and_then(|()| out.flush())
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| format!("cannot write to standard output: {e}"));
    }
    let list = Value::Array(found.iter().map(Address::to_value).collect());
    let line = serde_json::to_string(&list).map_err(|e| format!("cannot write JSON: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// The addresses as a table: services, URI, age of the last announcement
/// the nameserver received (from its `receive_time`), status.
fn address_table(addresses: &[Address]) -> String {
    let now = posttroll::DateTime::now_utc().to_utc();
    let rows: Vec<[String; 4]> = addresses
        .iter()
        .map(|address| {
            let services = address
                .metadata()
                .get("service")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let age = address
                .metadata()
                .get("receive_time")
                .and_then(|time| match time {
                    Value::DateTime(time) => Some(*time),
                    Value::String(text) => posttroll::DateTime::parse_isoformat(text).ok(),
                    _ => None,
                })
                .map(|time| {
                    let seconds = (now - time.to_utc()).num_milliseconds() as f64 / 1000.0;
                    format!("{:.1} s", seconds.max(0.0))
                })
                .unwrap_or_else(|| "?".to_owned());
            let status = match address.metadata().get("status").and_then(Value::as_bool) {
                Some(true) => "up",
                Some(false) => "gone",
                None => "?",
            };
            [services, address.uri().to_owned(), age, status.to_owned()]
        })
        .collect();
    let header = ["SERVICES", "ADDRESS", "AGE", "STATUS"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(line.join("  ").trim_end());
        table.push('\n');
    }
    table
}

/// `posttroll logger`: the reference's `pytroll-logger`.
async fn logger(
    ctx: Context,
    args: LoggerArgs,
    verbose: bool,
    shutdown: &mut Shutdown,
) -> Result<ExitCode, String> {
    let config = posttroll::Config {
        address_publish_port: args.port,
        ..ctx.config().clone()
    };
    let ctx = Context::new(config).map_err(|e| format!("cannot set up the backend: {e}"))?;
    let mut out: Box<dyn Write + Send> = match &args.rotated {
        Some(path) => Box::new(
            posttroll_cli::logging::RotatingFile::open(path)
                .map_err(|e| format!("cannot log to {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let color = args.rotated.is_none() && std::io::stderr().is_terminal();
    let subscriber = NSSubscriber::builder()
        .services([""])
        .addr_listener(true)
        .nameserver(args.server.as_str())
        .context(ctx)
        .start()
        .await
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    let result = loop {
        let msg = tokio::select! {
            msg = subscriber.recv(None) => msg,
            name = shutdown.recv() => {
                tracing::info!("{name} received; stopping");
                break Ok(ExitCode::SUCCESS);
            }
        };
        let msg = match msg {
            Ok(Some(msg)) => msg,
            Ok(None) => continue,
            Err(e) => break Err(format!("receiving: {e}")),
        };
        let Some(line) = logger_line(&msg, verbose, color) else {
            continue;
        };
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            break Err(format!("cannot write the log: {e}"));
        }
    };
    if let Err(e) = subscriber.stop().await {
        tracing::warn!("stopping the subscriber: {e}");
    }
    let _ = writeln!(
        std::io::stdout(),
        "Thanks for using pytroll/logger. See you soon on www.pytroll.org!"
    );
    result
}

/// The line `pytroll-logger` prints for `msg`, `[asctime LEVEL] subject
/// sender data time`; `None` when not shown (debug ones without
/// `verbose`).
fn logger_line(msg: &Message, verbose: bool, color: bool) -> Option<String> {
    let data = match (&msg.data, msg.data.as_text()) {
        (_, Some(text)) => text.to_owned(),
        (data, None) => match data.as_json() {
            Some(value) => value.to_json().to_string(),
            None => "[binary]".to_owned(),
        },
    };
    let (level, text) = match msg.msg_type() {
        "log.debug" | "log.info" | "log.warning" | "log.error" | "log.critical" => (
            msg.msg_type()[4..].to_ascii_uppercase(),
            format!(
                "{} {} {} {}",
                msg.subject(),
                msg.sender(),
                data,
                msg.time.isoformat()
            ),
        ),
        other => (
            "DEBUG".to_owned(),
            format!(
                "{} {} {other} {data} {}",
                msg.subject(),
                msg.sender(),
                msg.time.isoformat()
            ),
        ),
    };
    if level == "DEBUG" && !verbose {
        return None;
    }
    let shown = if color {
        let code = match level.as_str() {
            "WARNING" => 33,
            "INFO" => 32,
            "DEBUG" => 34,
            "CRITICAL" => 35,
            _ => 31,
        };
        format!("\x1b[1;{code}m{level}\x1b[0m")
    } else {
        level
    };
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    Some(format!("[{now} {shown:<19}] {text}"))
}

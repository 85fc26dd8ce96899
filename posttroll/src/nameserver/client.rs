//! Asking a nameserver for publishers' addresses.

use std::time::Duration;

use bytes::Bytes;
use posttroll_core::{Address, Data, Endpoint, Error, ErrorKind, Message, Result, Security, Value};
use tokio::time::Instant;

use crate::Context;

/// The subject of lookup requests and replies.
pub const LOOKUP_SUBJECT: &str = "/oper/ns";

/// The endpoint of a nameserver given as the reference takes it: `host`
/// (→ `tcp://host:<port>`), `tcp://host` (→ `tcp://host:<port>`),
/// `tcp://host:port`, `ipc:///path` or `inproc://name` (as given).
///
/// Beyond the reference, `host:port` means `tcp://host:port` and a bare
/// IPv6 address is bracketed.
///
/// # Examples
///
/// ```
/// use posttroll::nameserver::nameserver_endpoint;
///
/// assert_eq!(nameserver_endpoint("localhost", 5557).unwrap().to_string(), "tcp://localhost:5557");
/// assert_eq!(nameserver_endpoint("tcp://ns.example", 5557).unwrap().to_string(), "tcp://ns.example:5557");
/// assert_eq!(nameserver_endpoint("tcp://ns.example:6000", 5557).unwrap().to_string(), "tcp://ns.example:6000");
/// assert_eq!(nameserver_endpoint("ipc:///tmp/ns", 5557).unwrap().to_string(), "ipc:///tmp/ns");
/// assert!(nameserver_endpoint("", 5557).is_err());
/// ```
pub fn nameserver_endpoint(nameserver: &str, port: u16) -> Result<Endpoint> {
    let nameserver = nameserver.trim();
    if nameserver.is_empty() {
        return Err(Error::InvalidAddress {
            address: String::new(),
            reason: "the nameserver is empty".to_owned(),
        });
    }
    if let Some(rest) = nameserver.strip_prefix("tcp://") {
        let rest = rest.trim_end_matches('/');
        let has_port = match rest.strip_prefix('[') {
            Some(bracketed) => bracketed.contains("]:"),
            None => rest.contains(':'),
        };
        return if has_port {
            Endpoint::parse(&format!("tcp://{rest}"))
        } else {
            Endpoint::parse(&format!("tcp://{rest}:{port}"))
        };
    }
    if nameserver.contains("://") {
        return Endpoint::parse(nameserver);
    }
    match nameserver.matches(':').count() {
        0 => Ok(Endpoint::tcp(nameserver, port)),
        // `host:port`
        1 => Endpoint::parse(&format!("tcp://{nameserver}")),
        // A bare IPv6 address, maybe bracketed.
        _ if nameserver.starts_with('[') => Endpoint::parse(&format!("tcp://{nameserver}:{port}")),
        _ => Ok(Endpoint::tcp(nameserver, port)),
    }
}

/// The lookup endpoint and security for `nameserver` under `ctx`: port
/// `nameserver_port` plain, or `secure_zmq_nameserver_port` with CURVE for
/// `secure_zmq`.
fn lookup_target(ctx: &Context, nameserver: &str) -> Result<(Endpoint, Security)> {
    let config = ctx.config();
    let security = ctx.security();
    let port = match security {
        Security::Curve => config.secure_zmq_nameserver_port,
        Security::Plain => config.nameserver_port,
    };
    let endpoint = nameserver_endpoint(nameserver, port)?;
    let security = if endpoint.is_inproc() {
        Security::Plain
    } else {
        security
    };
    Ok((endpoint, security))
}

/// Asks the nameserver at `nameserver` (see [`nameserver_endpoint`]) once
/// for the publishers offering `name` (`""`: all of them).
///
/// Returns the addresses with the metadata the nameserver keeps
/// (`URI`, `service`, `backend`, `status`, `name`, `receive_time`, ...); an
/// empty list when none offers `name`. A fresh request is made on each call,
/// with the context's security (`secure_zmq`: CURVE on
/// `secure_zmq_nameserver_port`).
///
/// # Errors
///
/// [`ErrorKind::Timeout`] when no reply came within `timeout` ("Didn't get
/// an address after N seconds"), [`ErrorKind::Protocol`] when the reply is
/// not a lookup reply, and the transport's errors.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::nameserver::get_pub_address;
/// use posttroll::{Config, Context, ErrorKind};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ctx = Context::new(Config { backend: "inproc".into(), nameserver_port: 25560, ..Config::default() })?;
/// // No nameserver runs on that port.
/// let err = get_pub_address(&ctx, "viirs", Duration::from_millis(100), "localhost").await.unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Connect));
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub async fn get_pub_address(
    ctx: &Context,
    name: &str,
    timeout: Duration,
    nameserver: &str,
) -> Result<Vec<Address>> {
    let (endpoint, security) = lookup_target(ctx, nameserver)?;
    let request = Message::new(
        LOOKUP_SUBJECT,
        "request",
        Value::object([("service", Value::from(name))]),
    )?;
    let frame = Bytes::from(request.encode_with(ctx.config().message_version.as_deref()));
    tracing::debug!(%endpoint, service = name, "asking the nameserver");
    let reply = ctx
        .transport()
        .request(&endpoint, security, frame, timeout)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::Timeout => Error::timeout(
                format!(
                    "the nameserver at {endpoint} (didn't get an address after {} seconds)",
                    timeout.as_secs_f64()
                ),
                timeout,
            ),
            _ => e,
        })?;
    parse_reply(&reply, &endpoint)
}

/// The addresses in a lookup reply.
fn parse_reply(reply: &[u8], endpoint: &Endpoint) -> Result<Vec<Address>> {
    let reply = Message::decode(reply).map_err(|e| {
        Error::Protocol(format!(
            "the nameserver at {endpoint} sent a malformed reply: {e}"
        ))
    })?;
    if reply.msg_type() == "error" {
        return Err(Error::Protocol(format!(
            "the nameserver at {endpoint} refused the request: {}",
            reply.data.as_text().unwrap_or("no reason given")
        )));
    }
    match reply.data {
        Data::None => Ok(Vec::new()),
        Data::Text(s) if s.is_empty() => Ok(Vec::new()),
        Data::Json(Value::Array(items)) => items
            .into_iter()
            .map(|item| {
                Address::try_from(item).map_err(|e| {
                    Error::Protocol(format!("the nameserver at {endpoint} sent a bad address: {e}"))
                })
            })
            .collect(),
        other => Err(Error::Protocol(format!(
            "the nameserver at {endpoint} replied with data that is not a list of addresses: {other:?}"
        )
        .chars()
        .take(200)
        .collect())),
    }
}

/// Asks the nameserver for the publishers of each of `names` (an empty
/// slice means `[""]`, every publisher), as the reference: each name is
/// asked again, every `timeout / 20`, until it has addresses or `timeout`
/// has passed since its first request. Returns every address found, in
/// the order of `names`.
///
/// # Errors
///
/// As [`get_pub_address`]; a request that times out ends the search with
/// [`ErrorKind::Timeout`], as in the reference.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use posttroll::nameserver::get_pub_addresses;
/// use posttroll::{Config, Context};
/// use posttroll_nameserver::NameServer;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = Config { backend: "inproc".into(), nameserver_port: 25561, address_publish_port: 26546, ..Config::default() };
/// let ctx = Context::new(config)?;
/// let ns = NameServer::builder().context(ctx.clone()).start().await?;
/// let names = vec!["viirs".to_string(), "avhrr".to_string()];
/// let found = get_pub_addresses(&ctx, &names, Duration::from_millis(200), "localhost").await?;
/// assert!(found.is_empty());
/// ns.stop().await;
/// # Ok::<(), posttroll::Error>(())
/// # }).unwrap();
/// ```
pub async fn get_pub_addresses(
    ctx: &Context,
    names: &[String],
    timeout: Duration,
    nameserver: &str,
) -> Result<Vec<Address>> {
    let all = [String::new()];
    let names = if names.is_empty() { &all[..] } else { names };
    let pause = timeout / 20;
    let mut addresses = Vec::new();
    for name in names {
        let deadline = Instant::now() + timeout;
        loop {
            let found = get_pub_address(ctx, name, timeout, nameserver).await?;
            if !found.is_empty() {
                addresses.extend(found);
                break;
            }
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    Ok(addresses)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_the_reference_builds_them() {
        let cases = [
            ("localhost", "tcp://localhost:5557"),
            ("10.0.0.1", "tcp://10.0.0.1:5557"),
            ("tcp://localhost", "tcp://localhost:5557"),
            ("tcp://localhost/", "tcp://localhost:5557"),
            ("tcp://localhost:5559", "tcp://localhost:5559"),
            ("tcp://[::1]", "tcp://[::1]:5557"),
            ("tcp://[::1]:6000", "tcp://[::1]:6000"),
            ("localhost:5559", "tcp://localhost:5559"),
            ("::1", "tcp://[::1]:5557"),
            ("[::1]", "tcp://[::1]:5557"),
            ("ipc:///tmp/x", "ipc:///tmp/x"),
            ("inproc://ns", "inproc://ns"),
            ("*", "tcp://*:5557"),
        ];
        for (given, expected) in cases {
            assert_eq!(
                nameserver_endpoint(given, 5557).unwrap().to_string(),
                expected,
                "{given}"
            );
        }
        for bad in ["", "  ", "udp://x:1", "tcp://", "localhost:port"] {
            assert!(nameserver_endpoint(bad, 5557).is_err(), "{bad}");
        }
    }

    #[test]
    fn replies_parse() {
        let e = Endpoint::tcp("h", 1);
        let ok = b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.2 application/json [{\"URI\": \"tcp://h:2\", \"service\": [\"x\"]}, \"tcp://h:3\"]";
        let found = parse_reply(ok, &e).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].has_service("x"));
        assert_eq!(found[1].uri(), "tcp://h:3");
        assert!(
            parse_reply(b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.2", &e)
                .unwrap()
                .is_empty()
        );
        for bad in [
            &b"nonsense"[..],
            b"pytroll://oper/ns error a@b 2020-01-01T00:00:00 v1.2 text/ascii bad request",
            b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.2 application/json {\"URI\": \"x\"}",
            b"pytroll://oper/ns info a@b 2020-01-01T00:00:00 v1.2 application/json [1]",
        ] {
            assert_eq!(parse_reply(bad, &e).unwrap_err().kind(), ErrorKind::Protocol, "{}", String::from_utf8_lossy(bad));
        }
    }
}

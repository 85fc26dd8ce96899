//! Endpoints (`tcp://host:port`, `ipc:///path`, `inproc://name`) and
//! publisher addresses (a URI with the metadata a nameserver hands out).

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::message::{Map, Value};

/// A ZeroMQ endpoint.
///
/// # Examples
///
/// ```
/// use posttroll_core::Endpoint;
///
/// let e: Endpoint = "tcp://127.0.0.1:5557".parse().unwrap();
/// assert_eq!(e.port(), Some(5557));
/// assert_eq!(e.host(), Some("127.0.0.1"));
/// assert_eq!(e.to_string(), "tcp://127.0.0.1:5557");
/// assert!("udp://x:1".parse::<Endpoint>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `tcp://host:port`; `host` may be `*` (all interfaces, for binding) and
    /// an IPv6 address is written in brackets; port 0 means "pick one".
    Tcp {
        /// Host name or IP address, without brackets.
        host: String,
        /// The port.
        port: u16,
    },
    /// `ipc:///path`: a Unix socket.
    Ipc(PathBuf),
    /// `inproc://name`: in-process.
    Inproc(String),
}

impl Endpoint {
    /// Parses an endpoint URL.
    pub fn parse(s: &str) -> Result<Endpoint> {
        let bad = |reason: &str| Error::InvalidAddress {
            address: s.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("a tcp endpoint needs a port: tcp://host:port"))?;
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if host.is_empty() {
                return Err(bad("the host is empty"));
            }
            if host.contains('/') || host.chars().any(char::is_whitespace) {
                return Err(bad("the host has a '/' or whitespace"));
            }
            let port = port
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number in 0..=65535"))?;
            Ok(Endpoint::Tcp {
                host: host.to_owned(),
                port,
            })
        } else if let Some(rest) = s.strip_prefix("ipc://") {
            if rest.is_empty() {
                return Err(bad("the ipc path is empty"));
            }
            Ok(Endpoint::Ipc(PathBuf::from(rest)))
        } else if let Some(rest) = s.strip_prefix("inproc://") {
            if rest.is_empty() {
                return Err(bad("the inproc name is empty"));
            }
            Ok(Endpoint::Inproc(rest.to_owned()))
        } else {
            Err(bad(
                "expected tcp://host:port, ipc:///path or inproc://name",
            ))
        }
    }

    /// A TCP endpoint.
    pub fn tcp(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    /// The port of a TCP endpoint.
    pub fn port(&self) -> Option<u16> {
        match self {
            Endpoint::Tcp { port, .. } => Some(*port),
            _ => None,
        }
    }

    /// The host of a TCP endpoint.
    pub fn host(&self) -> Option<&str> {
        match self {
            Endpoint::Tcp { host, .. } => Some(host),
            _ => None,
        }
    }

    /// The same endpoint with another port (TCP only; others unchanged).
    pub fn with_port(&self, new_port: u16) -> Endpoint {
        match self {
            Endpoint::Tcp { host, .. } => Endpoint::tcp(host.clone(), new_port),
            other => other.clone(),
        }
    }

    /// True for `inproc://`, which never uses security.
    pub fn is_inproc(&self) -> bool {
        matches!(self, Endpoint::Inproc(_))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ipc(p) => write!(f, "ipc://{}", p.display()),
            Endpoint::Inproc(n) => write!(f, "inproc://{n}"),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

/// A publisher's address: its `URI` plus whatever metadata came with it
/// (`service`, `backend`, `supported_message_version`, `status`, `name`,
/// `receive_time`, ...), as the nameserver hands it out. A bare URI is an
/// address with no other metadata.
///
/// # Examples
///
/// ```
/// use posttroll_core::{Address, Value};
///
/// let a = Address::from("tcp://127.0.0.1:40000");
/// assert_eq!(a.uri(), "tcp://127.0.0.1:40000");
/// assert_eq!(a.backend(), None);
///
/// let meta = Value::object([
///     ("URI", Value::from("tcp://10.0.0.1:40000")),
///     ("service", Value::from(vec!["viirs", "sdr"])),
///     ("backend", Value::from("unsecure_zmq")),
/// ]);
/// let a = Address::try_from(meta).unwrap();
/// assert!(a.has_service("sdr"));
/// assert_eq!(a.host(), Some("10.0.0.1"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    uri: String,
    metadata: Map,
}

impl Address {
    /// An address from a bare URI.
    pub fn new(uri: impl Into<String>) -> Address {
        let uri = uri.into();
        let mut metadata = Map::default();
        metadata.insert("URI".into(), Value::from(uri.as_str()));
        Address { uri, metadata }
    }

    /// An address from a metadata dict, which must hold a string `URI`.
    pub fn from_metadata(metadata: Map) -> Result<Address> {
        match metadata.get("URI") {
            Some(Value::String(uri)) => Ok(Address {
                uri: uri.to_string(),
                metadata,
            }),
            _ => Err(Error::InvalidAddress {
                address: format!(
                    "dict with keys {:?}",
                    metadata.keys().take(8).collect::<Vec<_>>()
                ),
                reason: "address metadata has no string \"URI\"".to_owned(),
            }),
        }
    }

    /// The URI, e.g. `tcp://10.0.0.1:40000`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// All the metadata, `URI` included.
    pub fn metadata(&self) -> &Map {
        &self.metadata
    }

    /// The metadata as a JSON-like value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.metadata.clone())
    }

    /// The `backend` the publisher announced (`unsecure_zmq`/`secure_zmq`).
    pub fn backend(&self) -> Option<&str> {
        self.metadata.get("backend").and_then(Value::as_str)
    }

    /// The `supported_message_version` the publisher announced.
    pub fn supported_message_version(&self) -> Option<&str> {
        self.metadata
            .get("supported_message_version")
            .and_then(Value::as_str)
    }

    /// The `status` of an address event (`true` when absent, as the reference).
    pub fn status(&self) -> bool {
        self.metadata.get("status").is_none_or(Value::is_truthy)
    }

    /// The services (name and aliases): the `service` list, or a single string.
    pub fn services(&self) -> Vec<&str> {
        match self.metadata.get("service") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        }
    }

    /// True when `service` is in [`Address::services`]; the empty name
    /// matches every address, as in the reference's lookups.
    pub fn has_service(&self, service: &str) -> bool {
        service.is_empty() || self.services().contains(&service)
    }

    /// The host part of a `tcp://` URI (used by `translate`).
    pub fn host(&self) -> Option<&str> {
        let rest = self.uri.split_once("://")?.1;
        let host_port = rest.split('/').next()?;
        let host = match host_port.rsplit_once(':') {
            Some((h, _)) => h,
            None => host_port,
        };
        Some(
            host.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host),
        )
    }

    /// Sets a metadata field (not `URI`, which stays as built).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        if key != "URI" {
            self.metadata.insert(key.into(), value.into());
        }
    }
}

impl From<&str> for Address {
    fn from(uri: &str) -> Address {
        Address::new(uri)
    }
}

impl From<String> for Address {
    fn from(uri: String) -> Address {
        Address::new(uri)
    }
}

impl From<&String> for Address {
    fn from(uri: &String) -> Address {
        Address::new(uri.clone())
    }
}

impl TryFrom<Map> for Address {
    type Error = Error;

    fn try_from(map: Map) -> Result<Address> {
        Address::from_metadata(map)
    }
}

impl TryFrom<Value> for Address {
    type Error = Error;

    fn try_from(v: Value) -> Result<Address> {
        match v {
            Value::Object(map) => Address::from_metadata(map),
            Value::String(uri) => Ok(Address::new(uri.into_string())),
            other => Err(Error::InvalidAddress {
                address: format!("{other:?}").chars().take(60).collect(),
                reason: "an address is a URI string or a metadata dict".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        for s in [
            "tcp://*:0",
            "tcp://[::1]:5557",
            "ipc:///tmp/x.sock",
            "inproc://ns",
            "tcp://host.example:65535",
        ] {
            assert_eq!(Endpoint::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "",
            "tcp://",
            "tcp://:1",
            "tcp://h:70000",
            "tcp://h",
            "ipc://",
            "http://h:1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn address_metadata() {
        let a = Address::new("tcp://[::1]:9");
        assert_eq!(a.host(), Some("::1"));
        assert!(a.status());
        assert!(a.has_service(""));
        assert!(!a.has_service("x"));
        assert!(Address::try_from(Value::Int(1)).is_err());
        assert!(Address::from_metadata(Map::default()).is_err());
    }
}

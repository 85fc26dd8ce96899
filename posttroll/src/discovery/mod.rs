//! Announcing publishers, so that nameservers (and through them,
//! subscribers) find them (PROTOCOL.md section 3).
//!
//! A [`crate::publisher::NoisyPublisher`] builds its [`address_message`]
//! and hands it to an [`Announcer`], which sends it every broadcast interval
//! by multicast (the context's [`Discovery`](posttroll_core::Discovery)
//! channel) or to designated nameservers.

mod announcer;
mod own_ip;
pub(crate) mod worker;

pub use announcer::Announcer;
pub use own_ip::own_ip;

use posttroll_core::message::CURRENT_VERSION;
use posttroll_core::{Data, Message, Result, Value};

/// The announcement the reference sends for a named publisher
/// (PROTOCOL.md section 3):
///
/// ```text
/// Message("/address/<name>", "info", {"URI": uri, "service": services,
///         "supported_message_version": "v1.2", "backend": backend})
/// ```
///
/// `services` is the whole service list, the name first and then the
/// aliases. Errors when `name` holds whitespace (the subject cannot).
///
/// # Examples
///
/// ```
/// use posttroll::discovery::address_message;
///
/// let services = vec!["viirs".to_string(), "sdr".to_string()];
/// let msg = address_message("viirs", "tcp://10.0.0.1:40000", &services, "unsecure_zmq").unwrap();
/// assert_eq!(msg.subject(), "/address/viirs");
/// assert_eq!(msg.msg_type(), "info");
/// let frame = String::from_utf8(msg.encode()).unwrap();
/// assert!(frame.ends_with(
///     r#"application/json {"URI": "tcp://10.0.0.1:40000", "service": ["viirs", "sdr"], "supported_message_version": "v1.2", "backend": "unsecure_zmq"}"#
/// ));
/// ```
pub fn address_message(
    name: &str,
    uri: &str,
    services: &[String],
    backend: &str,
) -> Result<Message> {
    let data = Value::object([
        ("URI", Value::from(uri)),
        (
            "service",
            Value::Array(services.iter().map(|s| Value::from(s.as_str())).collect()),
        ),
        ("supported_message_version", Value::from(CURRENT_VERSION)),
        ("backend", Value::from(backend)),
    ]);
    Ok(Message::new(
        format!("/address/{name}"),
        "info",
        Data::Json(data),
    )?)
}

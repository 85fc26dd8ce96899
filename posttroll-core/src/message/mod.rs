//! The posttroll message and its wire codec.
//!
//! One message is one ZeroMQ frame holding one line of text:
//!
//! ```text
//! pytroll:/<subject> <type> <sender> <time> <version>[ <mime-type> <data>]
//! ```
//!
//! [`Message::decode`] reads every frame the Python reference reads, the same
//! way, and [`Message::encode`] writes byte for byte what the reference
//! writes for the same logical message (PROTOCOL.md section 1). Two places
//! deliberately do better: binary data stays raw bytes (never forced through
//! a text decoding), and input on which the reference crashes (a mime-type
//! with no data, a bad time, nesting too deep) gets a clean [`MessageError`].

mod datetime;
mod de;
mod error;
mod frame;
mod json;
mod lexer;
mod map;
mod pyfloat;
mod scan;
mod ser;
pub mod serde_datetime;
mod typed;
mod value;

use std::fmt;
use std::sync::OnceLock;

pub use compact_str::CompactString;
pub use datetime::{DateTime, IsoFormatError};
pub use error::MessageError;
pub use map::{Map, MapIntoIter, MapIter, MapIterMut};
pub use value::Value;

use error::excerpt;
use frame::{check_token, has_space, is_py_space, read_frame, write_text, RawData, RawHead};

/// The magic word every frame starts with (one slash).
pub const MAGIC: &str = "pytroll:/";

/// The newest message version understood, and the one written when data
/// holds a datetime.
pub const CURRENT_VERSION: &str = "v1.2";

/// The version written when nothing needs a newer one.
pub const BASE_VERSION: &str = "v1.01";

pub(crate) const MIME_JSON: &str = "application/json";
pub(crate) const MIME_TEXT: &str = "text/ascii";
pub(crate) const MIME_BINARY: &str = "binary/octet-stream";

/// The data part of a message.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Data {
    /// No data: no mime-type and no data on the wire.
    #[default]
    None,
    /// Text (`text/ascii`, though any UTF-8 is carried).
    Text(String),
    /// JSON data (`application/json`), datetimes included.
    Json(Value),
    /// Raw bytes (`binary/octet-stream`), never decoded as text.
    Binary(Vec<u8>),
}

impl Data {
    /// Binary data from raw bytes.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Data {
        Data::Binary(bytes.into())
    }

    /// JSON data from any serialisable value (see [`Value::from_serialize`]).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Data, MessageError> {
        Value::from_serialize(value).map(Data::from)
    }

    /// The JSON value, if the data is JSON.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Data::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The text, if the data is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if the data is binary.
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Data::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The value under `key` when the data is a JSON dict holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_json().and_then(|v| v.get(key))
    }

    /// Python truthiness of the data: false data is not written at all.
    pub fn is_truthy(&self) -> bool {
        match self {
            Data::None => false,
            Data::Text(s) => !s.is_empty(),
            Data::Json(v) => v.is_truthy(),
            Data::Binary(b) => !b.is_empty(),
        }
    }

    fn needed_version(&self) -> &'static str {
        match self {
            Data::Json(v) if v.contains_datetime() => CURRENT_VERSION,
            _ => BASE_VERSION,
        }
    }
}

impl From<Value> for Data {
    /// JSON data; a top-level string is text, as it is for the reference.
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => Data::Text(s.into_string()),
            v => Data::Json(v),
        }
    }
}

impl From<Map> for Data {
    fn from(m: Map) -> Self {
        Data::Json(Value::Object(m))
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::Text(s.to_owned())
    }
}

impl From<String> for Data {
    fn from(s: String) -> Self {
        Data::Text(s)
    }
}

/// A posttroll message: the header (subject, type, sender, time, version)
/// and the data.
///
/// `Message` (that is, `Message<Data>`) carries dynamic data: text, bytes
/// or a JSON [`Value`]. `Message<T>` carries data of a user type `T` that
/// is encoded straight from its `serde::Serialize` impl and decoded straight
/// into its `serde::Deserialize` impl, byte for byte as the reference writes
/// the same dict: see [`Message::new_typed`] and [`Message::decode_typed`].
///
/// # Examples
///
/// ```
/// use posttroll_core::{Data, Message, Value};
///
/// let msg = Message::new("/counter", "info", "1").unwrap();
/// let frame = msg.encode();
/// assert!(frame.starts_with(b"pytroll://counter info "));
///
/// let back = Message::decode(&frame).unwrap();
/// assert_eq!(back.subject(), "/counter");
/// assert_eq!(back.data, Data::Text("1".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message<D = Data> {
    subject: CompactString,
    msg_type: CompactString,
    sender: CompactString,
    /// When the message was made (a new message gets the current UTC time).
    pub time: DateTime,
    version: Option<CompactString>,
    /// The data part.
    pub data: D,
}

/// `user@host` of this process, as the reference computes it.
pub fn default_sender() -> &'static str {
    static SENDER: OnceLock<String> = OnceLock::new();
    SENDER.get_or_init(|| {
        let user = whoami::fallible::username().unwrap_or_else(|_| "unknown".to_owned());
        let host = whoami::fallible::hostname().unwrap_or_else(|_| "localhost".to_owned());
        let sender = format!("{user}@{host}");
        if has_space(&sender) {
            sender.chars().filter(|c| !is_py_space(*c)).collect()
        } else {
            sender
        }
    })
}

/// An empty string to fill in place: a `CompactString` built apart and
/// then moved is read back right after its bytes were copied in, a
/// store-forwarding stall that costs more than the copy itself.
const EMPTY: CompactString = CompactString::const_new("");

/// Python's `version <= "v1.01"`: times written naive.
fn naive_times(version: &str) -> bool {
    version <= BASE_VERSION
}

/// Header fields and builders, the same for every kind of data.
impl<D> Message<D> {
    /// A message with the default sender, the current UTC time and no
    /// version; errors when the subject or the type is empty or contains
    /// whitespace.
    fn with_header(subject: &str, msg_type: &str, data: D) -> Result<Message<D>, MessageError> {
        check_token(subject, |value| MessageError::InvalidSubject { value })?;
        check_token(msg_type, |value| MessageError::InvalidType { value })?;
        let mut msg = Message {
            subject: EMPTY,
            msg_type: EMPTY,
            // Borrows the process-wide string: no allocation per message.
            sender: CompactString::const_new(default_sender()),
            time: DateTime::now_utc(),
            version: None,
            data,
        };
        msg.subject.push_str(subject);
        msg.msg_type.push_str(msg_type);
        Ok(msg)
    }

    /// A message with the header of a decoded frame.
    fn from_raw_head(head: &RawHead<'_>, data: D) -> Message<D> {
        let mut msg = Message {
            subject: EMPTY,
            msg_type: EMPTY,
            sender: EMPTY,
            time: head.time,
            version: (!head.version.is_empty()).then_some(EMPTY),
            data,
        };
        msg.subject.push_str(head.subject);
        msg.msg_type.push_str(head.msg_type);
        msg.sender.push_str(head.sender);
        if let Some(v) = &mut msg.version {
            v.push_str(head.version);
        }
        msg
    }

    /// The same message with another sender (`user@host`).
    pub fn with_sender(mut self, sender: impl AsRef<str>) -> Result<Message<D>, MessageError> {
        let sender = sender.as_ref();
        check_token(sender, |value| MessageError::InvalidSender { value })?;
        self.sender = EMPTY;
        self.sender.push_str(sender);
        Ok(self)
    }

    /// The same message with another time.
    pub fn with_time(mut self, time: impl Into<DateTime>) -> Message<D> {
        self.time = time.into();
        self
    }

    /// The same message with an explicit version (written as is).
    pub fn with_version(mut self, version: impl AsRef<str>) -> Result<Message<D>, MessageError> {
        let version = version.as_ref();
        check_token(version, |value| MessageError::InvalidVersionString {
            value,
        })?;
        let mut v = EMPTY;
        v.push_str(version);
        self.version = Some(v);
        Ok(self)
    }

    /// The same header with other data.
    pub fn with_data<E>(self, data: E) -> Message<E> {
        self.map_data(|_| data)
    }

    /// The same header with the data mapped through `f`.
    pub fn map_data<E>(self, f: impl FnOnce(D) -> E) -> Message<E> {
        let Message {
            subject,
            msg_type,
            sender,
            time,
            version,
            data,
        } = self;
        Message {
            subject,
            msg_type,
            sender,
            time,
            version,
            data: f(data),
        }
    }

    /// The subject, e.g. `/counter` (written after `pytroll:/`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The message type, e.g. `info` or `file`.
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// The sender, `user@host`.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The part of the sender before the first `@` (empty when there is none).
    pub fn user(&self) -> &str {
        self.sender.split_once('@').map_or("", |(u, _)| u)
    }

    /// The part of the sender after the first `@` (empty when there is none).
    pub fn host(&self) -> &str {
        self.sender.split_once('@').map_or("", |(_, h)| h)
    }

    /// Replaces the host part of the sender (the subscriber's `translate`).
    pub fn set_host(&mut self, host: &str) -> Result<(), MessageError> {
        let sender = format!("{}@{}", self.user(), host);
        check_token(&sender, |value| MessageError::InvalidSender { value })?;
        self.sender = sender.into();
        Ok(())
    }

    /// The version set on the message or received with it, if any.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Appends the header for `version`: `pytroll:/<subject> <type>
    /// <sender> <time> <version>`, the time naive when `naive`.
    fn write_head(&self, out: &mut Vec<u8>, version: &str, naive: bool) {
        out.extend_from_slice(MAGIC.as_bytes());
        out.extend_from_slice(self.subject.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.msg_type.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.sender.as_bytes());
        out.push(b' ');
        write_time_version(out, &self.time, version, naive);
    }
}

/// Appends `<time> <version>`, the time naive when `naive`.
fn write_time_version(out: &mut Vec<u8>, time: &DateTime, version: &str, naive: bool) {
    json::write_isoformat(out, time, naive);
    out.push(b' ');
    out.extend_from_slice(version.as_bytes());
}

impl Message {
    /// A new message from this process: the default sender, the current UTC
    /// time, no version (the smallest one needed is written).
    ///
    /// Errors when the subject or the type is empty or contains whitespace.
    pub fn new(
        subject: impl AsRef<str>,
        msg_type: impl AsRef<str>,
        data: impl Into<Data>,
    ) -> Result<Message, MessageError> {
        Message::with_header(subject.as_ref(), msg_type.as_ref(), data.into())
    }

    /// The version written by [`Message::encode`]: the message's own, else
    /// the configured `message_version`, else the smallest one needed
    /// (`v1.2` when the data holds a datetime, else `v1.01`).
    pub fn rendered_version<'a>(&'a self, configured: Option<&'a str>) -> &'a str {
        self.version
            .as_deref()
            .or(configured)
            .unwrap_or_else(|| self.data.needed_version())
    }

    /// Encodes the message, with the process-wide configured `message_version`.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(configured_version())
    }

    /// Encodes the message with `configured` standing for the
    /// `message_version` config key.
    pub fn encode_with(&self, configured: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.estimated_len());
        self.encode_into(&mut out, configured);
        out
    }

    /// Appends the encoded message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>, configured: Option<&str>) {
        let version = self.rendered_version(configured);
        let naive = naive_times(version);
        self.write_head(out, version, naive);
        match &self.data {
            d if !d.is_truthy() => {}
            Data::None => {}
            Data::Text(s) => write_text(out, s),
            Data::Json(Value::String(s)) => write_text(out, s),
            Data::Json(v) => {
                out.push(b' ');
                out.extend_from_slice(MIME_JSON.as_bytes());
                out.push(b' ');
                json::write(out, v, naive);
            }
            Data::Binary(b) => {
                out.push(b' ');
                out.extend_from_slice(MIME_BINARY.as_bytes());
                out.push(b' ');
                out.extend_from_slice(b);
            }
        }
    }

    /// The header only (the message without its data part), as the
    /// reference's `Message.head`.
    pub fn head(&self) -> String {
        let version = self.rendered_version(configured_version());
        let mut out = Vec::with_capacity(96);
        self.write_head(&mut out, version, naive_times(version));
        // Every part of the head is a `String` or ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    fn estimated_len(&self) -> usize {
        let data = match &self.data {
            Data::None => 0,
            Data::Text(s) => s.len(),
            Data::Json(_) => 512,
            Data::Binary(b) => b.len(),
        };
        100 + self.subject.len() + self.msg_type.len() + self.sender.len() + data
    }

    /// Decodes a frame: UTF-8, else ISO-8859-1, by every rule of the
    /// reference (PROTOCOL.md section 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Message;
    ///
    /// let raw = "pytroll://PPS-monitorplot/3/norrköping/utv/polar/direct_readout/ file safusr.u@lxserv1096.smhi.se 2008-04-11T22:13:22.123000 v1.2 application/json {\"start_time\": \"2008-04-11T22:13:22.123000\"}";
    /// let msg = Message::decode(raw).unwrap();
    /// assert_eq!(msg.host(), "lxserv1096.smhi.se");
    /// assert_eq!(msg.encode(), raw.as_bytes());
    /// assert!(Message::decode("hello").is_err());
    /// ```
    pub fn decode(frame: impl AsRef<[u8]>) -> Result<Message, MessageError> {
        read_frame(frame.as_ref(), |head, raw| {
            let mut msg = Message::from_raw_head(&head, Data::None);
            // The data is parsed into its place in the message (moving a
            // freshly built value costs more than building it).
            match raw {
                RawData::None => {}
                RawData::Text(text) => msg.data = Data::Text(text.to_owned()),
                RawData::Binary(bytes) => msg.data = Data::Binary(bytes.to_vec()),
                RawData::Json(text) => {
                    msg.data = Data::Json(Value::Null);
                    if let Data::Json(v) = &mut msg.data {
                        json::parse_into(text, v).map_err(|e| json_error(text, e))?;
                        // A JSON string is text, as for the reference.
                        if let Value::String(s) = v {
                            let text = std::mem::take(s).into_string();
                            msg.data = Data::Text(text);
                        }
                    }
                }
            }
            Ok(msg)
        })
    }
}

/// The error for JSON data that does not parse.
fn json_error(text: &str, e: lexer::JsonError) -> MessageError {
    MessageError::InvalidJson {
        start: excerpt(text),
        reason: e.reason.to_owned(),
        offset: e.offset,
    }
}

/// The process-wide `message_version` setting.
fn configured_version() -> Option<&'static str> {
    crate::config::Config::global().message_version.as_deref()
}

impl fmt::Display for Message {
    /// The encoded message (binary data shown lossily as text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.encode()))
    }
}

impl std::str::FromStr for Message {
    type Err = MessageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Message::decode(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORRKOPING: &str = "pytroll://PPS-monitorplot/3/norrköping/utv/polar/direct_readout/ file safusr.u@lxserv1096.smhi.se 2008-04-11T22:13:22.123000 v1.2 application/json {\"start_time\": \"2008-04-11T22:13:22.123000\"}";

    #[test]
    fn reference_string_round_trips() {
        let m = Message::decode(NORRKOPING).unwrap();
        assert_eq!(m.encode_with(None), NORRKOPING.as_bytes());
        assert_eq!(m.user(), "safusr.u");
        assert!(matches!(m.data.get("start_time"), Some(Value::DateTime(_))));
    }

    #[test]
    fn latin1_frames_decode() {
        let latin1: Vec<u8> = NORRKOPING.chars().map(|c| c as u32 as u8).collect();
        let m = Message::decode(&latin1).unwrap();
        assert_eq!(
            m.subject(),
            "/PPS-monitorplot/3/norrköping/utv/polar/direct_readout/"
        );
    }
    #[test]
    fn errors_are_clean() {
        let cases: &[&str] = &[
            "",
            "pytroll:",
            "pytroll://a b c",
            "pytroll://a b c 2020-01-01T00:00:00 v1.3",
            "pytroll://a b c notatime v1.2",
            "pytroll://a b c 2020-01-01T00:00:00 v1.2 text/ascii",
            "pytroll://a b c 2020-01-01T00:00:00 v1.2 text/html <p>",
            "pytroll://a b c 2020-01-01T00:00:00 v1.2 application/json {",
            "pytroll:/ a b c 2020-01-01T00:00:00 v1.2",
        ];
        for c in cases {
            assert!(Message::decode(c).is_err(), "{c:?}");
        }
    }

    #[test]
    fn binary_frame_keeps_a_utf8_header() {
        let mut m =
            Message::new("/sjö/ä", "info", Data::binary(vec![0xff, b' ', 0xa0, 0])).unwrap();
        m.sender = "usér@höst".into();
        let frame = m.encode();
        assert!(std::str::from_utf8(&frame).is_err());
        let back = Message::decode(&frame).unwrap();
        assert_eq!(back.subject, m.subject);
        assert_eq!(back.sender, m.sender);
        assert_eq!(back.data, m.data);
        assert_eq!(back.encode(), frame);
    }

    #[test]
    fn latin1_binary_frame_is_stable_after_one_round() {
        // Found by the fuzzer: a latin-1 header followed by raw bytes.
        let frame = b"pytroll://a/b info u\xff@h 2008-04-11T22:13:22 v1.2 binary/octet-stream \xff";
        let m = Message::decode(frame).unwrap();
        assert_eq!(m.sender, "u\u{ff}@h");
        assert_eq!(m.data.as_binary(), Some(&[0xff][..]));
        let once = m.encode();
        assert_eq!(Message::decode(&once).unwrap().encode(), once);
    }

    #[test]
    fn binary_stays_raw() {
        let mut frame = b"pytroll://a b c 2020-01-01T00:00:00 v1.01 binary/octet-stream ".to_vec();
        frame.extend_from_slice(&[0xff, 0x00, 0xfe, b' ', 0xa0]);
        let m = Message::decode(&frame).unwrap();
        assert_eq!(
            m.data.as_binary(),
            Some(&[0xff, 0x00, 0xfe, b' ', 0xa0][..])
        );
        assert_eq!(m.encode_with(None), frame);
    }

    #[test]
    fn new_validates_tokens() {
        assert!(Message::new("", "info", Data::None).is_err());
        assert!(Message::new("/a b", "info", Data::None).is_err());
        assert!(Message::new("/a", "in fo", Data::None).is_err());
        assert!(Message::new("/a", "info", Data::None)
            .unwrap()
            .with_sender("x y")
            .is_err());
    }
}

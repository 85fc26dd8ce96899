//! Messages whose data is a user type: `Message<T>`, encoded straight from
//! `T`'s `serde::Serialize` impl and decoded straight into its
//! `serde::Deserialize` impl, without a [`Value`] tree in between.
//!
//! The bytes are those the reference writes for the dict the value stands
//! for (and those [`Message::new`] with [`Value::from_serialize`] writes):
//! see the `ser` module for how Rust values map to Python ones, and the
//! `de` module for how frames are read back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::read_frame;
use super::ser::{self, Written};
use super::{
    configured_version, de, naive_times, Data, Message, MessageError, Value, BASE_VERSION,
    CURRENT_VERSION, MAGIC,
};

impl<T> Message<T> {
    /// A new message from this process carrying `data`, a value of a user
    /// type: the default sender, the current UTC time, no version (the
    /// smallest one needed is written: `v1.2` when the data holds a
    /// datetime, else `v1.01`). Encode it with [`Message::encode_typed`],
    /// send the frame with the publisher's `send_raw`.
    ///
    /// Errors when the subject or the type is empty or contains whitespace.
    ///
    /// # Examples
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use posttroll_core::Message;
    /// use serde::Serialize;
    ///
    /// #[derive(Serialize)]
    /// struct FileMeta {
    ///     uri: String,
    ///     orbit_number: u32,
    ///     start_time: chrono::NaiveDateTime,
    ///     sun_elevation: f64,
    /// }
    ///
    /// let start_time = NaiveDate::from_ymd_opt(2020, 12, 1)
    ///     .and_then(|d| d.and_hms_opt(12, 0, 0))
    ///     .unwrap();
    /// let meta = FileMeta {
    ///     uri: "/data/viirs/SVM01.h5".into(),
    ///     orbit_number: 12345,
    ///     start_time,
    ///     sun_elevation: 23.4567,
    /// };
    /// let msg = Message::new_typed("/sat/polar/smb/level1", "file", &meta)?
    ///     .with_sender("safusr.u@lxserv1096.smhi.se")?
    ///     .with_time(start_time);
    /// let frame = msg.encode_typed_with(None)?;
    /// assert_eq!(
    ///     String::from_utf8(frame).unwrap(),
    ///     "pytroll://sat/polar/smb/level1 file safusr.u@lxserv1096.smhi.se \
    ///      2020-12-01T12:00:00 v1.2 application/json {\"uri\": \"/data/viirs/SVM01.h5\", \
    ///      \"orbit_number\": 12345, \"start_time\": \"2020-12-01T12:00:00\", \
    ///      \"sun_elevation\": 23.4567}"
    /// );
    /// # Ok::<(), posttroll_core::MessageError>(())
    /// ```
    pub fn new_typed(
        subject: impl AsRef<str>,
        msg_type: impl AsRef<str>,
        data: T,
    ) -> Result<Message<T>, MessageError> {
        Message::with_header(subject.as_ref(), msg_type.as_ref(), data)
    }
}

impl<T: Serialize> Message<T> {
    /// Encodes the message, with the process-wide configured
    /// `message_version`: the very bytes the reference writes for the same
    /// header and the dict `data` stands for.
    ///
    /// Errors when the data cannot be written as JSON (a map whose keys are
    /// not strings, numbers, booleans or `None`; a failing `Serialize` impl).
    pub fn encode_typed(&self) -> Result<Vec<u8>, MessageError> {
        self.encode_typed_with(configured_version())
    }

    /// Encodes the message with `configured` standing for the
    /// `message_version` config key (see [`Message::encode_typed`]).
    pub fn encode_typed_with(&self, configured: Option<&str>) -> Result<Vec<u8>, MessageError> {
        let mut out = Vec::with_capacity(
            self.subject().len() + self.msg_type().len() + self.sender().len() + 576,
        );
        self.encode_typed_into(&mut out, configured)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (see [`Message::encode_typed`]);
    /// on error `out` is left as it was.
    pub fn encode_typed_into(
        &self,
        out: &mut Vec<u8>,
        configured: Option<&str>,
    ) -> Result<(), MessageError> {
        let start = out.len();
        let fixed = self.version().or(configured);
        // Without a set version the data decides: `v1.2` when it holds a
        // datetime (which is then written as it is), else `v1.01`. The
        // header is written for `v1.2` and rewritten when that was wrong.
        let version = fixed.unwrap_or(CURRENT_VERSION);
        let naive = naive_times(version);
        self.write_head(out, version, naive);
        let head_end = out.len();
        let written = match ser::write_data(out, &self.data, naive) {
            Ok(written) => written,
            Err(e) => {
                out.truncate(start);
                return Err(e.into());
            }
        };
        if fixed.is_none() && !matches!(written, Written::Json { datetimes: true }) {
            let tail_start = start
                + MAGIC.len()
                + self.subject().len()
                + self.msg_type().len()
                + self.sender().len()
                + 3;
            let mut iso = [0u8; 48];
            let n = self.time.without_offset().isoformat_bytes(&mut iso);
            let tail = iso[..n].iter().chain(b" ").chain(BASE_VERSION.as_bytes());
            out.splice(tail_start..head_end, tail.copied());
        }
        Ok(())
    }

    /// The same message with dynamic data ([`Value::from_serialize`]): it
    /// encodes to the same bytes.
    pub fn to_dynamic(&self) -> Result<Message, MessageError> {
        let data = Data::from(Value::from_serialize(&self.data)?);
        Ok(self.clone_header(data))
    }
}

impl<D> Message<D> {
    /// A message with this header and `data`.
    fn clone_header<E>(&self, data: E) -> Message<E> {
        Message {
            subject: self.subject.clone(),
            msg_type: self.msg_type.clone(),
            sender: self.sender.clone(),
            time: self.time,
            version: self.version.clone(),
            data,
        }
    }
}

impl Message {
    /// Decodes a frame (as [`Message::decode`] does) with its data read
    /// straight into a `T`, without building a [`Value`].
    ///
    /// JSON data is read as the reference reads it. Datetimes arrive as ISO
    /// strings: a `chrono::NaiveDateTime` field gets the UTC time, a
    /// `chrono::DateTime<Utc>` or `DateTime<FixedOffset>` field the time
    /// with its offset (naive ones read as UTC), a [`DateTime`](super::DateTime)
    /// field the time as it was written, a `String` field the text. Text
    /// data reads as a string, binary data as bytes, and a frame without
    /// data (the reference writes none for `{}`, `[]`, `""`, `0` or `None`)
    /// as the false value of `T`: a struct whose fields all have defaults,
    /// an empty list, `None`.
    ///
    /// Errors as [`Message::decode`] does, and with
    /// [`MessageError::Serde`] naming the path in the data and what did not
    /// match when the data does not fit `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Message;
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct FileMeta {
    ///     uri: String,
    ///     start_time: chrono::DateTime<chrono::Utc>,
    ///     end_time: chrono::NaiveDateTime,
    ///     #[serde(default)]
    ///     sensor: Vec<String>,
    /// }
    ///
    /// let frame = br#"pytroll://sat file a@b 2020-12-01T12:00:00 v1.01 application/json {"uri": "/data/a.h5", "start_time": "2020-12-01T12:00:00", "end_time": "2020-12-01T12:01:25.600000"}"#;
    /// let msg = Message::decode_typed::<FileMeta>(frame)?;
    /// assert_eq!(msg.subject(), "/sat");
    /// assert_eq!(msg.data.uri, "/data/a.h5");
    /// assert_eq!(msg.data.start_time.to_rfc3339(), "2020-12-01T12:00:00+00:00");
    /// assert_eq!(msg.data.end_time.to_string(), "2020-12-01 12:01:25.600");
    /// assert!(msg.data.sensor.is_empty());
    ///
    /// let wrong = br#"pytroll://sat file a@b 2020-12-01T12:00:00 v1.01 application/json {"uri": 7}"#;
    /// let Err(err) = Message::decode_typed::<FileMeta>(wrong) else {
    ///     panic!("an int is not a string");
    /// };
    /// assert!(err.to_string().contains("at `uri`"), "{err}");
    /// # Ok::<(), posttroll_core::MessageError>(())
    /// ```
    pub fn decode_typed<T: DeserializeOwned>(
        frame: impl AsRef<[u8]>,
    ) -> Result<Message<T>, MessageError> {
        read_frame(frame.as_ref(), |head, raw| {
            let data = de::from_raw(raw)?;
            Ok(Message::from_raw_head(&head, data))
        })
    }

    /// The data read into a `T` (as [`Message::decode_typed`] reads it),
    /// for a message already decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Message;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Beat {
    ///     min_interval: u32,
    /// }
    ///
    /// let msg = Message::decode(r#"pytroll://heartbeat/x beat a@b 2020-12-01T12:00:00 v1.01 application/json {"min_interval": 29}"#)?;
    /// assert_eq!(msg.data_as::<Beat>()?.min_interval, 29);
    /// # Ok::<(), posttroll_core::MessageError>(())
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, MessageError> {
        de::from_data(&self.data)
    }

    /// The same message with its data read into a `T` ([`Message::data_as`]).
    pub fn to_typed<T: DeserializeOwned>(&self) -> Result<Message<T>, MessageError> {
        Ok(self.clone_header(self.data_as()?))
    }
}

impl Value {
    /// Deserialises the value into a user type (typed access to message
    /// data), as [`Message::data_as`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::Message;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Meta { start_time: chrono::DateTime<chrono::Utc>, sensor: String }
    ///
    /// let raw = br#"pytroll://sat file a@b 2020-12-01T12:00:00 v1.2 application/json {"start_time": "2020-12-01T12:00:00", "sensor": "viirs"}"#;
    /// let msg = Message::decode(raw).unwrap();
    /// let meta: Meta = msg.data.as_json().unwrap().deserialize().unwrap();
    /// assert_eq!(meta.sensor, "viirs");
    /// assert_eq!(meta.start_time.to_rfc3339(), "2020-12-01T12:00:00+00:00");
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, MessageError> {
        de::from_value(self)
    }
}

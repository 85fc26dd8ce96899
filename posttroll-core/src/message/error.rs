//! Errors of the message codec.

/// How many characters of offending input an error shows (as the reference).
pub(crate) const EXCERPT_CHARS: usize = 36;

/// The first [`EXCERPT_CHARS`] characters of `s`, so an error never carries a
/// whole frame.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// What was wrong with a message, when decoding a frame or building one.
///
/// Messages quote at most the first 36 characters of the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame does not start with `pytroll:/`.
    #[error("this is not a 'pytroll:/' message (wrong magic word): '{start}'")]
    WrongMagic {
        /// The start of the frame.
        start: String,
    },
    /// The frame has fewer than the five header fields.
    #[error("could not decode raw string: '{start}' (fewer than 5 fields: subject, type, sender, time, version)")]
    TooFewFields {
        /// The start of the frame after the magic word.
        start: String,
    },
    /// The version is above the newest one understood (`v1.2`).
    #[error("invalid message version: '{version}' (newest understood: v1.2)")]
    InvalidVersion {
        /// The version field.
        version: String,
    },
    /// The time field is not an ISO 8601 datetime.
    #[error("invalid message time: '{time}' is not an ISO 8601 datetime")]
    InvalidTime {
        /// The time field.
        time: String,
    },
    /// A mime-type is given but no data follows it (the reference crashes here).
    #[error("mime-type '{mime_type}' is not followed by any data")]
    MissingData {
        /// The mime-type field.
        mime_type: String,
    },
    /// The mime-type is not one of `application/json`, `text/ascii`, `binary/octet-stream`.
    #[error("unknown mime-type '{mime_type}'")]
    UnknownMimeType {
        /// The mime-type field, lower-cased.
        mime_type: String,
    },
    /// The JSON data does not parse.
    #[error("JSON decode failed on '{start}': {reason} at byte {offset}")]
    InvalidJson {
        /// The start of the data.
        start: String,
        /// What the parser expected.
        reason: String,
        /// Where, in bytes from the start of the data.
        offset: usize,
    },
    /// The subject is empty or contains whitespace.
    #[error("invalid subject: '{value}' (must be non-empty, without whitespace)")]
    InvalidSubject {
        /// The subject.
        value: String,
    },
    /// The type is empty or contains whitespace.
    #[error("invalid type: '{value}' (must be non-empty, without whitespace)")]
    InvalidType {
        /// The type.
        value: String,
    },
    /// The sender is empty or contains whitespace.
    #[error("invalid sender: '{value}' (must be non-empty, without whitespace)")]
    InvalidSender {
        /// The sender.
        value: String,
    },
    /// A version set on a message is empty or contains whitespace.
    #[error("invalid version: '{value}' (must be non-empty, without whitespace)")]
    InvalidVersionString {
        /// The version.
        value: String,
    },
    /// Converting between message data and a user type failed.
    #[error("message data does not match the requested type: {reason}")]
    Serde {
        /// What serde said, and where in the data.
        reason: String,
    },
    /// A user value cannot be written as message data (JSON as the
    /// reference writes it).
    #[error("message data cannot be written: {reason}")]
    Unserializable {
        /// What was refused, and where in the data.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS + 3);
    }
}

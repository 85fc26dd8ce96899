//! The frame around the data: the header fields, read as the reference
//! splits them and written as it joins them.

use std::borrow::Cow;

use super::datetime::DateTime;
use super::error::{excerpt, MessageError};
use super::scan;
use super::{CURRENT_VERSION, MAGIC, MIME_BINARY, MIME_JSON, MIME_TEXT};

/// Python's `str.isspace()`, which `re`'s `\s` uses on text.
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[inline]
const fn is_py_space_ascii(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
}

pub(crate) fn has_space(s: &str) -> bool {
    // Printable ASCII up to the first control, space or non-ASCII byte.
    let from = scan::find_field_break(s.as_bytes(), 0);
    s[from..].chars().any(is_py_space)
}

pub(crate) fn check_token(
    value: &str,
    make: impl FnOnce(String) -> MessageError,
) -> Result<(), MessageError> {
    if value.is_empty() || has_space(value) {
        Err(make(excerpt(value)))
    } else {
        Ok(())
    }
}

/// Up to seven fields of a frame, without allocating.
#[derive(Default, Debug, PartialEq)]
struct Fields<'a> {
    items: [&'a str; 7],
    len: usize,
}

impl<'a> Fields<'a> {
    fn push(&mut self, f: &'a str) {
        if self.len < 7 {
            self.items[self.len] = f;
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl<'a> std::ops::Index<usize> for Fields<'a> {
    type Output = &'a str;

    fn index(&self, i: usize) -> &&'a str {
        &self.items[..self.len][i]
    }
}

/// Whether the character at byte `i` of `s` (a character boundary) is
/// Python whitespace, and its width in bytes.
#[inline]
fn char_at(s: &str, i: usize) -> (bool, usize) {
    match s.as_bytes().get(i) {
        Some(&c) if c < 0x80 => (is_py_space_ascii(c), 1),
        _ => {
            let ch = s[i..].chars().next().unwrap_or(' ');
            (is_py_space(ch), ch.len_utf8())
        }
    }
}

/// Splits on runs of whitespace into at most 7 fields, as Python's
/// `re.split(r"\s+", s, maxsplit=6)`; returns the fields and the byte
/// offset of the seventh.
fn split_fields(s: &str) -> (Fields<'_>, usize) {
    let b = s.as_bytes();
    let mut fields = Fields::default();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Inside a field: jump to the next byte that may be whitespace.
        i = scan::find_field_break(b, i);
        if i >= b.len() {
            break;
        }
        let (space, width) = char_at(s, i);
        i += width;
        if !space {
            continue;
        }
        // A whitespace run from `run_start` up to `i`.
        let run_start = i - width;
        while i < b.len() {
            let (space, width) = char_at(s, i);
            if !space {
                break;
            }
            i += width;
        }
        fields.push(&s[start..run_start]);
        start = i;
        if fields.len() == 6 {
            break;
        }
    }
    // A trailing whitespace run leaves `start` at the end: one more (empty)
    // field, as Python gives.
    fields.push(&s[start..]);
    (fields, start)
}

/// Whether `header` (the start of a frame) holds all seven fields with a
/// `binary/octet-stream` mime type, so that the data starts inside it.
fn is_binary_header(header: &str) -> bool {
    let Some(rest) = header.strip_prefix(MAGIC) else {
        return false;
    };
    let (fields, _) = split_fields(rest);
    fields.len() == 7 && fields[5].eq_ignore_ascii_case(MIME_BINARY)
}

/// The header fields of a frame, borrowed from it, the time parsed.
pub(crate) struct RawHead<'a> {
    pub(crate) subject: &'a str,
    pub(crate) msg_type: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) time: DateTime,
    /// Empty when the frame has none (it then has too few fields, so never).
    pub(crate) version: &'a str,
}

/// The data part of a frame, borrowed from it.
pub(crate) enum RawData<'a> {
    /// No mime-type, no data.
    None,
    /// `application/json`: the JSON text.
    Json(&'a str),
    /// `text/ascii`: the text.
    Text(&'a str),
    /// `binary/octet-stream`: the raw bytes.
    Binary(&'a [u8]),
}

/// Reads a frame: UTF-8, else ISO-8859-1, by every rule of the reference
/// (PROTOCOL.md section 1), and hands its parts to `make`.
pub(crate) fn read_frame<R>(
    frame: &[u8],
    make: impl FnOnce(RawHead<'_>, RawData<'_>) -> Result<R, MessageError>,
) -> Result<R, MessageError> {
    match std::str::from_utf8(frame) {
        Ok(text) => read_text(frame, text, true, make),
        Err(e) => {
            // Binary data is raw bytes, so a frame that carries it is
            // rarely UTF-8 as a whole; its header still is when we (or
            // any UTF-8 writer) wrote it. Read that header as UTF-8
            // rather than as ISO-8859-1, so that a non-ASCII subject or
            // sender survives a round trip.
            let valid = &frame[..e.valid_up_to()];
            if let Ok(header) = std::str::from_utf8(valid) {
                if is_binary_header(header) {
                    return read_text(frame, header, true, make);
                }
            }
            let latin1: String = frame.iter().map(|&b| b as char).collect();
            read_text(frame, &latin1, false, make)
        }
    }
}

/// Reads `text`, the whole of `frame` (or, for binary data, at least its
/// header) as characters; `utf8` says whether byte offsets in `text` are
/// byte offsets in `frame`.
fn read_text<R>(
    frame: &[u8],
    text: &str,
    utf8: bool,
    make: impl FnOnce(RawHead<'_>, RawData<'_>) -> Result<R, MessageError>,
) -> Result<R, MessageError> {
    let Some(rest) = text.strip_prefix(MAGIC) else {
        return Err(MessageError::WrongMagic {
            start: excerpt(text),
        });
    };
    let (fields, data_offset) = split_fields(rest);
    if fields.len() < 5 {
        return Err(MessageError::TooFewFields {
            start: excerpt(rest),
        });
    }
    let version = fields[4];
    if version > CURRENT_VERSION {
        return Err(MessageError::InvalidVersion {
            version: excerpt(version),
        });
    }
    let time = DateTime::parse_isoformat(fields[3]).map_err(|_| MessageError::InvalidTime {
        time: excerpt(fields[3]),
    })?;
    let data = if fields.len() < 6 {
        RawData::None
    } else {
        let mime_type: Cow<'_, str> = if matches!(fields[5], MIME_JSON | MIME_TEXT) {
            // Already lower-case (the usual case).
            Cow::Borrowed(fields[5])
        } else if fields[5].is_ascii() {
            if fields[5].bytes().any(|c| c.is_ascii_uppercase()) {
                Cow::Owned(fields[5].to_ascii_lowercase())
            } else {
                Cow::Borrowed(fields[5])
            }
        } else {
            Cow::Owned(fields[5].to_lowercase())
        };
        if fields.len() < 7 {
            return Err(MessageError::MissingData {
                mime_type: excerpt(&mime_type),
            });
        }
        let payload = fields[6];
        match &*mime_type {
            MIME_JSON => RawData::Json(payload),
            MIME_TEXT => RawData::Text(payload),
            MIME_BINARY => {
                let start = if utf8 {
                    MAGIC.len() + data_offset
                } else {
                    MAGIC.len() + rest[..data_offset].chars().count()
                };
                RawData::Binary(&frame[start..])
            }
            _ => {
                return Err(MessageError::UnknownMimeType {
                    mime_type: excerpt(&mime_type),
                })
            }
        }
    };
    if fields[0].is_empty() {
        return Err(MessageError::InvalidSubject {
            value: String::new(),
        });
    }
    make(
        RawHead {
            subject: fields[0],
            msg_type: fields[1],
            sender: fields[2],
            time,
            version,
        },
        data,
    )
}

/// Appends ` text/ascii <text>`.
pub(crate) fn write_text(out: &mut Vec<u8>, text: &str) {
    out.push(b' ');
    out.extend_from_slice(MIME_TEXT.as_bytes());
    out.push(b' ');
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_python() {
        let (f, off) = split_fields("a  b\tc\u{a0}d e f g  h ");
        assert_eq!(f.items[..f.len()], ["a", "b", "c", "d", "e", "f", "g  h "]);
        assert_eq!(off, "a  b\tc\u{a0}d e f ".len());
        let (f, _) = split_fields(" a b ");
        assert_eq!(f.items[..f.len()], ["", "a", "b", ""]);
    }

    /// `split_fields` against a character-by-character version of
    /// `re.split(r"\s+", s, maxsplit=6)` on generated strings.
    #[test]
    fn split_fields_matches_char_by_char() {
        fn reference(s: &str) -> (Vec<&str>, usize) {
            let mut fields = Vec::new();
            let mut start = 0;
            let mut chars = s.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if fields.len() == 6 {
                    break;
                }
                if is_py_space(c) {
                    let mut end = i + c.len_utf8();
                    while let Some(&(j, d)) = chars.peek().filter(|(_, d)| is_py_space(*d)) {
                        end = j + d.len_utf8();
                        chars.next();
                    }
                    fields.push(&s[start..i]);
                    start = end;
                }
            }
            fields.push(&s[start..]);
            (fields, start)
        }
        let alphabet = [
            " ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x00", "\x7f", "\u{85}",
            "\u{a0}", "\u{2003}", "\u{3000}", "é", "😀", "a", "b", "/", "0", ":", "pytroll",
        ];
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        for _ in 0..100_000 {
            let mut s = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 40) {
                let r = x.rotate_left(k as u32 * 7) ^ k.wrapping_mul(0x9e37_79b9);
                // Mostly letters, so fields are of every length.
                s.push_str(
                    alphabet[if r.is_multiple_of(3) {
                        (r >> 8) as usize % alphabet.len()
                    } else {
                        16
                    }],
                );
            }
            let (f, off) = split_fields(&s);
            let (want, want_off) = reference(&s);
            assert_eq!(&f.items[..f.len()], &want[..], "{s:?}");
            assert_eq!(off, want_off, "{s:?}");
        }
    }
}

//! Fuzz target: the message decoder.
//!
//! Any byte string must decode or fail cleanly (never panic). When it
//! decodes, encoding is idempotent: encode → decode → encode gives the same
//! bytes, with the one exception the reference has too (text data starting
//! with whitespace loses that whitespace, as the reference's field split
//! eats it); after that one round the encoding must be stable. The ISO 8601
//! parser must not panic on the input either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posttroll_core::{Data, DateTime, Message, Value};

/// Python's `str.isspace()`, which the reference's `re.split(r"\s+")` uses.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn roundtrip(data: &[u8], frame: &[u8]) -> Vec<u8> {
    match Message::decode(frame) {
        Ok(m) => m.encode_with(None),
        Err(e) => panic!(
            "decoding our own encoding failed: {e}\n input: {}\n encoded: {}",
            show(data),
            show(frame)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = DateTime::parse_isoformat(text);
    }
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let first = msg.encode_with(None);
    let second = roundtrip(data, &first);
    let text = match &msg.data {
        Data::Text(s) => Some(s.as_str()),
        Data::Json(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let expected = match text {
        Some(s) if s.starts_with(is_py_space) => {
            let mut m = msg.clone();
            m.data = Data::Text(s.trim_start_matches(is_py_space).into());
            m.encode_with(None)
        }
        _ => first.clone(),
    };
    assert!(
        second == expected,
        "encoding is not idempotent\n input: {}\n first: {}\n second: {}\n expected: {}",
        show(data),
        show(&first),
        show(&second),
        show(&expected)
    );
    let third = roundtrip(data, &second);
    assert!(
        third == second,
        "encoding is not stable\n input: {}\n second: {}\n third: {}",
        show(data),
        show(&second),
        show(&third)
    );
});

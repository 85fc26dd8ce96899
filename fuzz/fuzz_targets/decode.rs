//! Fuzz target: the message decoder.
//!
//! Any byte string must decode or fail cleanly (never panic). When it
//! decodes, encoding is idempotent: encode → decode → encode gives the same
//! bytes. The ISO 8601 parser must not panic on the input either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posttroll_core::{DateTime, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = DateTime::parse_isoformat(text);
    }
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let first = msg.encode_with(None);
    let again = match Message::decode(&first) {
        Ok(m) => m,
        Err(e) => panic!(
            "re-decoding our own encoding failed: {e}\n input: {:?}\n encoded: {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&first)
        ),
    };
    let second = again.encode_with(None);
    assert_eq!(
        first,
        second,
        "encoding is not idempotent\n input: {:?}\n first: {:?}\n second: {:?}",
        String::from_utf8_lossy(data),
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second)
    );
});

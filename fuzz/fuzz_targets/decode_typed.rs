//! Fuzz target: the typed decoder (`Message::decode_typed`).
//!
//! Any byte string must decode straight into every kind of type, or fail
//! cleanly (never panic): a `Value`, a `Map`, a struct with chrono,
//! `DateTime`, string, number, option, list, map and enum fields, and the
//! types serde buffers (untagged enums). The typed decoder never reads a
//! frame the dynamic one refuses, and where both read a dict they read the
//! same values: the typed re-encoding is the dynamic one.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use posttroll_core::{Data, DateTime, Map, Message, Value};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Kind {
    Unit,
    Newtype(u8),
    Tuple(i32, String),
    Struct { a: bool },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Loose {
    Number(f64),
    Text(String),
    List(Vec<Loose>),
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Typed {
    #[serde(default)]
    naive: Option<chrono::NaiveDateTime>,
    #[serde(default)]
    utc: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    fixed: Option<chrono::DateTime<chrono::FixedOffset>>,
    #[serde(default)]
    own: Option<DateTime>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    big: i128,
    #[serde(default)]
    ratio: f64,
    #[serde(default)]
    kinds: Vec<Kind>,
    #[serde(default)]
    loose: Option<Loose>,
    #[serde(default)]
    table: BTreeMap<String, Value>,
    #[serde(flatten)]
    rest: Map,
}

fuzz_target!(|data: &[u8]| {
    let dynamic = Message::decode(data);
    let value = Message::decode_typed::<Value>(data);
    let _ = Message::decode_typed::<Map>(data);
    let _ = Message::decode_typed::<Typed>(data);
    let _ = Message::decode_typed::<Vec<Loose>>(data);
    let _ = Message::decode_typed::<String>(data);
    let _ = Message::decode_typed::<Vec<u8>>(data);
    match (&dynamic, &value) {
        (Err(_), Ok(v)) => panic!(
            "the typed decoder read a frame the dynamic one refuses: {v:?}\n input: {:?}",
            String::from_utf8_lossy(data)
        ),
        (Ok(d), Ok(v)) => {
            if let Data::Json(Value::Object(_)) = &d.data {
                let typed = v.encode_typed_with(None);
                let want = d.encode_with(None);
                assert!(
                    typed.as_deref().ok() == Some(&want[..]),
                    "typed and dynamic decodings of a dict differ\n input: {:?}\n typed: {typed:?}\n dynamic: {:?}",
                    String::from_utf8_lossy(data),
                    String::from_utf8_lossy(&want)
                );
            }
            // The data read from a decoded message gives the same result.
            let _ = d.data_as::<Typed>();
            let _ = d.data_as::<Value>();
        }
        _ => {}
    }
});

//! Golden vectors written by the real Python posttroll 1.16.0
//! (`tests/golden/generate.py`): the Rust codec must read and write every
//! frame byte for byte as the reference does, except where it deliberately
//! does better (binary data stays raw bytes; input on which the reference
//! crashes gets a clean error).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use posttroll_core::{Data, DateTime, Message, Value};
use serde_json::Value as J;

const VECTORS: &str = include_str!("golden/vectors.jsonl");
const ISOFORMAT: &str = include_str!("golden/isoformat.jsonl");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The tagged form the generator uses for Python values.
fn tagged(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::BigInt(s) => match s.parse::<u64>() {
            Ok(u) => J::from(u),
            Err(_) => serde_json::json!({ "$bigint": s }),
        },
        Value::Float(f) => {
            let mut out = Vec::new();
            let msg = Message::new("/a", "b", Value::Array(vec![Value::Float(*f)])).unwrap();
            msg.encode_into(&mut out, Some("v1.01"));
            let s = String::from_utf8(out).unwrap();
            let repr = s
                .rsplit_once('[')
                .unwrap()
                .1
                .trim_end_matches(']')
                .to_owned();
            let repr = match repr.as_str() {
                "NaN" => "nan".to_owned(),
                "Infinity" => "inf".to_owned(),
                "-Infinity" => "-inf".to_owned(),
                _ => repr,
            };
            serde_json::json!({ "$float": repr })
        }
        Value::String(s) => J::String(s.to_string()),
        Value::DateTime(d) => serde_json::json!({ "$datetime": d.isoformat() }),
        Value::Array(a) => J::Array(a.iter().map(tagged).collect()),
        Value::Object(o) => J::Object(o.iter().map(|(k, v)| (k.to_string(), tagged(v))).collect()),
    }
}

/// Builds a Value from the tagged form; `None` when it is not representable.
fn untag(j: &J) -> Option<Value> {
    Some(match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::BigInt(n.to_string()),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(a) => Value::Array(a.iter().map(untag).collect::<Option<_>>()?),
        J::Object(o) => {
            if let Some(f) = o.get("$float") {
                let f = f.as_str()?;
                Value::Float(match f {
                    "nan" => f64::NAN,
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => f.parse().ok()?,
                })
            } else if let Some(d) = o.get("$datetime") {
                Value::DateTime(python_datetime(d.as_str()?)?)
            } else if let Some(b) = o.get("$bigint") {
                Value::BigInt(b.as_str()?.to_owned())
            } else if o.contains_key("$bytes") {
                return None;
            } else {
                Value::Object(
                    o.iter()
                        .map(|(k, v)| Some((k.as_str().into(), untag(v)?)))
                        .collect::<Option<_>>()?,
                )
            }
        }
    })
}

/// A datetime from Python's isoformat output. `fromisoformat` drops the
/// microseconds of an offset whose whole seconds are zero; the generator's
/// datetimes were built directly, so keep them.
fn python_datetime(s: &str) -> Option<DateTime> {
    let d = DateTime::parse_isoformat(s).ok()?;
    if d.offset_micros() == Some(0) && s.len() > 26 {
        let (_, off) = s.split_at(s.len() - 16);
        if let Some(frac) = off
            .strip_prefix("+00:00:00.")
            .or_else(|| off.strip_prefix("-00:00:00."))
        {
            let us: i64 = frac.parse().ok()?;
            let us = if off.starts_with('-') { -us } else { us };
            return DateTime::with_offset_micros(d.local(), us);
        }
    }
    Some(d)
}

fn data_tagged(d: &Data) -> J {
    match d {
        Data::None => J::String(String::new()),
        Data::Text(s) => J::String(s.clone()),
        Data::Json(v) => tagged(v),
        Data::Binary(b) => J::String(String::from_utf8_lossy(b).into_owned()),
    }
}

fn input_hex_of(line: &str) -> Vec<u8> {
    let key = "\"input_hex\": \"";
    let start = line.find(key).unwrap() + key.len();
    let end = start + line[start..].find('"').unwrap();
    unhex(&line[start..end])
}

#[test]
fn decode_vectors() {
    let mut checked = 0;
    for line in VECTORS.lines() {
        if !line.contains("\"kind\": \"decode\"") {
            continue;
        }
        let input = input_hex_of(line);
        if line.contains("\"lone_surrogate\": true") {
            // Lone surrogates cannot live in a Rust String: a clean error.
            assert!(Message::decode(&input).is_err(), "{line}");
            checked += 1;
            continue;
        }
        let Ok(case) = serde_json::from_str::<J>(line) else {
            // Nested too deep for serde_json: compare the re-encoding only.
            let rust = Message::decode(&input);
            if line.contains("\"ok\": false") {
                assert!(rust.is_err(), "{line:.200}");
            } else {
                let key = "\"encoded_hex\": \"";
                let start = line.find(key).unwrap() + key.len();
                let end = start + line[start..].find('"').unwrap();
                assert_eq!(
                    rust.unwrap().encode_with(None),
                    unhex(&line[start..end]),
                    "{line:.200}"
                );
            }
            checked += 1;
            continue;
        };
        let name = case["name"].as_str().unwrap();
        let py = &case["python"];
        let rust = Message::decode(&input);
        if !py["ok"].as_bool().unwrap() {
            assert!(
                rust.is_err(),
                "{name}: the reference refused ({}: {}) but Rust decoded {:?}",
                py["error_class"],
                py["error"],
                rust
            );
            checked += 1;
            continue;
        }
        let msg = rust
            .unwrap_or_else(|e| panic!("{name}: Rust refused a frame the reference reads: {e}"));
        let want = unhex(py["encoded_hex"].as_str().unwrap());
        let got = msg.encode_with(None);
        let binary_latin1 =
            py["binary"].as_bool().unwrap() && !case["input_is_utf8"].as_bool().unwrap();
        if binary_latin1 {
            // The reference decoded the whole frame as ISO-8859-1 text; Rust
            // keeps the data bytes raw. Same head, data = the original bytes.
            let py_data = py["data"].as_str().unwrap();
            let raw: Vec<u8> = py_data.chars().map(|c| c as u32 as u8).collect();
            assert_eq!(msg.data.as_binary(), Some(&raw[..]), "{name}");
            let head_len = want.len() - py_data.len();
            assert_eq!(&got[..got.len() - raw.len()], &want[..head_len], "{name}");
        } else {
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{name}: re-encoding differs"
            );
            assert_eq!(got, want, "{name}");
            assert_eq!(
                data_tagged(&msg.data),
                py["data"],
                "{name}: decoded data differs"
            );
        }
        assert_eq!(msg.subject(), py["subject"].as_str().unwrap(), "{name}");
        assert_eq!(msg.msg_type(), py["type"].as_str().unwrap(), "{name}");
        assert_eq!(msg.sender(), py["sender"].as_str().unwrap(), "{name}");
        assert_eq!(msg.time.isoformat(), py["time"].as_str().unwrap(), "{name}");
        assert_eq!(
            msg.version().unwrap_or(""),
            py["version"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            matches!(msg.data, Data::Binary(_)),
            py["binary"].as_bool().unwrap(),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 150, "only {checked} decode vectors");
}

#[test]
fn encode_vectors() {
    let mut checked = 0;
    let mut refused = 0;
    for line in VECTORS.lines() {
        if !line.contains("\"kind\": \"encode\"") || line.contains("\"lone_surrogate\": true") {
            continue;
        }
        let case: J = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let m = &case["message"];
        let py = &case["python"];
        let binary = m["binary"].as_bool().unwrap();
        let Some(value) = untag(&m["data"]) else {
            // bytes inside data: the reference refuses it too.
            assert!(!py["ok"].as_bool().unwrap(), "{name}");
            continue;
        };
        let data = match (binary, value) {
            (true, Value::String(s)) => Data::binary(s.into_string().into_bytes()),
            // False data is never written, binary or not.
            (true, v) if !v.is_truthy() => Data::binary(Vec::new()),
            (true, _) => {
                // Non-text binary data: the reference raises TypeError;
                // Rust's Data::Binary cannot even hold it.
                assert!(!py["ok"].as_bool().unwrap(), "{name}");
                continue;
            }
            (false, v) => Data::from(v),
        };
        let built = Message::new(
            m["subject"].as_str().unwrap(),
            m["type"].as_str().unwrap(),
            data,
        )
        .and_then(|msg| msg.with_sender(m["sender"].as_str().unwrap()))
        .map(|msg| msg.with_time(python_datetime(m["time"].as_str().unwrap()).unwrap()))
        .and_then(|msg| match m["version"].as_str() {
            Some(v) if !v.is_empty() => msg.with_version(v),
            _ => Ok(msg),
        });
        let msg = match built {
            Ok(msg) => msg,
            Err(e) => {
                // Rust refuses empty or whitespace-holding subject/type/sender
                // at construction; the reference refuses the empty ones at
                // encode and writes the others into undecodable frames.
                refused += 1;
                let s = m["subject"].as_str().unwrap().to_owned()
                    + m["type"].as_str().unwrap()
                    + m["sender"].as_str().unwrap();
                assert!(
                    !py["ok"].as_bool().unwrap() || s.chars().any(char::is_whitespace),
                    "{name}: Rust refused a message the reference encodes: {e}"
                );
                continue;
            }
        };
        if !py["ok"].as_bool().unwrap() {
            panic!(
                "{name}: the reference refused ({}) but Rust built {msg:?}",
                py["error"]
            );
        }
        let got = msg.encode_with(case["config_message_version"].as_str());
        let want = unhex(py["encoded_hex"].as_str().unwrap());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name}: encoding differs"
        );
        checked += 1;
    }
    assert!(
        checked >= 60,
        "only {checked} encode vectors (refused {refused})"
    );
}

#[test]
fn fromisoformat_matches_python_312() {
    let mut checked = 0;
    for line in ISOFORMAT.lines() {
        let case: J = serde_json::from_str(line).unwrap();
        let input = case["input"].as_str().unwrap();
        let got = DateTime::parse_isoformat(input).map(|d| d.isoformat());
        if case["ok"].as_bool().unwrap() {
            assert_eq!(
                got.as_deref().ok(),
                case["iso"].as_str(),
                "fromisoformat({input:?}) should be {}",
                case["iso"]
            );
        } else {
            assert!(
                got.is_err(),
                "fromisoformat({input:?}) should fail ({}), got {got:?}",
                case["error"]
            );
        }
        checked += 1;
    }
    assert!(checked > 3000);
}

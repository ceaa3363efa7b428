//! How an event is hashed into the chain.
//!
//! `hash = sha256(prev_hash || canonical_json(event))`, genesis `prev_hash` is
//! 32 zero bytes. Canonical JSON is serde_json's compact form with object keys
//! sorted at every level. We sort explicitly instead of relying on
//! `serde_json::Map` being a `BTreeMap`: another crate in the workspace
//! enabling serde_json's `preserve_order` feature would otherwise silently
//! change every hash.

use crate::StoreError;
use aws_lc_rs::digest;
use serde_json::Value;
use vigil_core::Event;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The canonical JSON text of `event`, exactly as it is hashed and stored.
pub fn canonical_json(event: &Event) -> Result<String, StoreError> {
    match super::direct::canonical_json(event) {
        Some(text) => Ok(text),
        None => canonical_via_value(event),
    }
}

/// The general path: through a `serde_json::Value`, sorting every object.
pub(crate) fn canonical_via_value(event: &Event) -> Result<String, StoreError> {
    let value = serde_json::to_value(event).map_err(|source| StoreError::Json {
        context: "serializing an event",
        source,
    })?;
    Ok(canonical_value(&value))
}

/// The canonical text of an arbitrary JSON value (sorted keys, no spaces).
pub(crate) fn canonical_value(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Scalars use serde_json's own escaping and number formatting; `Display` of
/// a `Value` is its compact JSON and cannot fail.
fn write_scalar(value: &Value, out: &mut String) {
    out.push_str(&value.to_string());
}

/// `sha256(prev_hash || body)`.
pub fn chain_hash(prev_hash: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev_hash);
    ctx.update(body);
    let digest = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Reads a 32-byte hash out of a stored BLOB.
pub(crate) fn hash_from_blob(blob: &[u8], what: &str, seq: i64) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(blob).map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} of seq {seq} is {} bytes, not 32",
            blob.len()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use vigil_core::EventBody;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value: Value =
            serde_json::json!({"b": 1, "a": {"z": [3, {"y": 1, "x": "é\""}], "c": null}});
        assert_eq!(
            canonical_value(&value),
            r#"{"a":{"c":null,"z":[3,{"x":"é\"","y":1}]},"b":1}"#
        );
    }

    #[test]
    fn chain_hash_is_sha256_of_prev_and_body() {
        let event = Event {
            at_ms: 1,
            session: None,
            principal: None,
            run_id: None,
            body: EventBody::Error {
                message: "x".into(),
            },
        };
        let body = canonical_json(&event).unwrap();
        assert_eq!(
            body,
            r#"{"at_ms":1,"body":{"message":"x","type":"error"},"principal":null,"run_id":null,"session":null}"#
        );
        let mut input = GENESIS_HASH.to_vec();
        input.extend_from_slice(body.as_bytes());
        let expected = digest::digest(&digest::SHA256, &input);
        assert_eq!(
            chain_hash(&GENESIS_HASH, body.as_bytes()).as_slice(),
            expected.as_ref()
        );
    }
}

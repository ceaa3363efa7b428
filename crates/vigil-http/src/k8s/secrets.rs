//! Secret values masked in the API server's JSON answers, whatever their
//! shape: one Secret, a `SecretList` (whose items carry no `kind`), a
//! `Table` of secrets (rows with `PartialObjectMetadata` or whole objects),
//! and each watch event. Pure: a `serde_json::Value` in, masked in place.
//!
//! What is masked: every value of `data` and `stringData`, and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (it holds
//! the applied Secret, values and all). The keys stay, so a client still
//! sees which keys a Secret has. `data` values stay valid base64 (clients
//! decode them) of the text `vigil:masked`.

use serde_json::Value;

/// base64 of [`MASKED_TEXT`]: a masked `data` value.
pub const MASKED_DATA: &str = "dmlnaWw6bWFza2Vk";
/// A masked `stringData` value or annotation.
pub const MASKED_TEXT: &str = "vigil:masked";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Deepest nesting walked; JSON the API server sends is far shallower.
/// serde_json itself refuses documents nested deeper than 128.
const MAX_DEPTH: usize = 160;

/// Masks the Secrets in `value`. With `every_object`, each object with a
/// `metadata` field is taken for a Secret (the answer of a request on
/// `secrets`, whose list items carry no `kind`); otherwise only objects of
/// `kind: Secret` are. Returns how many values were masked.
pub fn mask(value: &mut Value, every_object: bool) -> u64 {
    let mut masked = 0;
    walk(value, every_object, 0, &mut masked);
    masked
}

fn walk(value: &mut Value, every_object: bool, depth: usize, masked: &mut u64) {
    if depth > MAX_DEPTH {
        // Not reachable with serde_json's own limit; fail closed anyway.
        *value = Value::String(MASKED_TEXT.to_string());
        *masked += 1;
        return;
    }
    match value {
        Value::Object(map) => {
            let is_secret = map.contains_key("metadata")
                && (every_object || map.get("kind").and_then(Value::as_str) == Some("Secret"));
            if is_secret {
                if let Some(data) = map.get_mut("data") {
                    *masked += mask_values(data, MASKED_DATA);
                }
                if let Some(data) = map.get_mut("stringData") {
                    *masked += mask_values(data, MASKED_TEXT);
                }
            }
            if let Some(note) = map
                .get_mut("metadata")
                .and_then(|m| m.get_mut("annotations"))
                .and_then(|a| a.get_mut(LAST_APPLIED))
                && (is_secret || every_object)
            {
                *note = Value::String(MASKED_TEXT.to_string());
                *masked += 1;
            }
            for child in map.values_mut() {
                walk(child, every_object, depth + 1, masked);
            }
        }
        Value::Array(items) => {
            for child in items {
                walk(child, every_object, depth + 1, masked);
            }
        }
        _ => {}
    }
}

/// Each value of a `data` map replaced by `with`; anything but a map
/// replaced whole.
fn mask_values(data: &mut Value, with: &str) -> u64 {
    match data {
        Value::Object(map) => {
            let mut n = 0;
            for v in map.values_mut() {
                if !v.is_null() {
                    *v = Value::String(with.to_string());
                    n += 1;
                }
            }
            n
        }
        Value::Null => 0,
        other => {
            *other = Value::String(with.to_string());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HUNTER2: &str = "aHVudGVyMg==";

    fn secret() -> Value {
        json!({
            "metadata": {"name": "db", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    "{\"data\":{\"password\":\"aHVudGVyMg==\"}}",
                "team": "payments"
            }},
            "type": "Opaque",
            "data": {"password": HUNTER2, "user": "YWRtaW4="},
            "stringData": {"token": "plain"}
        })
    }

    fn leaks(v: &Value) -> bool {
        let text = v.to_string();
        text.contains(HUNTER2) || text.contains("YWRtaW4=") || text.contains("plain")
    }

    #[test]
    fn a_list_of_secrets_without_kinds_is_masked() {
        let mut list = json!({"kind": "SecretList", "metadata": {}, "items": [secret(), secret()]});
        assert_eq!(mask(&mut list, true), 8);
        assert!(!leaks(&list));
        assert_eq!(list["items"][0]["data"]["password"], MASKED_DATA);
        assert_eq!(list["items"][1]["stringData"]["token"], MASKED_TEXT);
        // What is not secret stays.
        assert_eq!(
            list["items"][0]["metadata"]["annotations"]["team"],
            "payments"
        );
        assert_eq!(list["items"][0]["type"], "Opaque");
    }

    #[test]
    fn watch_events_and_tables_are_masked() {
        let mut s = secret();
        s["kind"] = json!("Secret");
        let mut event = json!({"type": "MODIFIED", "object": s});
        mask(&mut event, false);
        assert!(!leaks(&event));

        let mut table = json!({"kind": "Table", "rows": [{"cells": ["db", "Opaque", 2], "object": {
            "kind": "PartialObjectMetadata", "metadata": secret()["metadata"].clone()}}]});
        mask(&mut table, true);
        assert!(!table.to_string().contains(HUNTER2));
    }

    #[test]
    fn other_objects_are_left_alone_outside_secret_answers() {
        let mut cm =
            json!({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"mode": "fast"}});
        assert_eq!(mask(&mut cm, false), 0);
        assert_eq!(cm["data"]["mode"], "fast");
        // A Secret inside another answer is still masked.
        let mut s = secret();
        s["kind"] = json!("Secret");
        let mut list = json!({"kind": "List", "items": [cm.clone(), s]});
        mask(&mut list, false);
        assert!(!leaks(&list));
        assert_eq!(list["items"][0]["data"]["mode"], "fast");
    }

    #[test]
    fn odd_shapes_fail_closed() {
        let mut s = json!({"metadata": {}, "data": "aHVudGVyMg=="});
        mask(&mut s, true);
        assert_eq!(s["data"], MASKED_DATA);
        let mut s = json!({"metadata": {}, "data": null});
        assert_eq!(mask(&mut s, true), 0);
    }
}

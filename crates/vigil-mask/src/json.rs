//! Masking of a JSON document (an HTTP answer): the nodes that
//! `[[policy.mask]] json_paths` select (RFC 9535 JSONPath) are masked
//! whole, then every string, every number's text and every object key
//! goes through the content detectors. Nothing here reads a value into an
//! error or a count: the result says how many values were masked, never
//! which.

use std::sync::Arc;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::{Hits, MaskKey, Masked, Masker, Style};

/// Compiled `json_paths`, each with the masker of its rule's style.
#[derive(Clone, Default)]
pub struct JsonPaths {
    paths: Vec<(JsonPath, Arc<Masker>)>,
}

/// A `json_paths` entry that is not RFC 9535 JSONPath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` is not a JSONPath (RFC 9535): {message}")]
pub struct JsonPathError {
    pub path: String,
    pub message: String,
}

/// Parses one `json_paths` entry.
pub fn parse_json_path(path: &str) -> Result<JsonPath, JsonPathError> {
    JsonPath::parse(path).map_err(|e| JsonPathError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// What masking a document did, for the ledger: counts only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonMasked {
    /// Nodes masked whole because a path selected them.
    pub path_values: u64,
    /// Detector hits inside the remaining values.
    pub hits: Hits,
}

impl JsonPaths {
    /// Compiles `(paths, style)` of each rule.
    pub fn compile<'a>(
        rules: impl IntoIterator<Item = (&'a [String], Style)>,
        key: &MaskKey,
    ) -> Result<JsonPaths, JsonPathError> {
        let mut paths = Vec::new();
        for (list, style) in rules {
            if list.is_empty() {
                continue;
            }
            let masker = Arc::new(Masker::new(&[], style, key.clone()));
            for p in list {
                paths.push((parse_json_path(p)?, masker.clone()));
            }
        }
        Ok(JsonPaths { paths })
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Masks `value` in place: selected nodes whole, then `content`'s
    /// detectors over everything left.
    pub fn mask(&self, value: &mut Value, content: Option<&Masker>) -> JsonMasked {
        let mut out = JsonMasked::default();
        for (path, masker) in &self.paths {
            let pointers: Vec<String> = path
                .query_located(value)
                .dedup()
                .locations()
                .map(|l| l.to_json_pointer())
                .collect();
            for pointer in pointers {
                if let Some(node) = value.pointer_mut(&pointer) {
                    *node = whole(masker, node);
                    out.path_values += 1;
                }
            }
        }
        if let Some(masker) = content {
            scan(masker, value, &mut out.hits);
        }
        out
    }
}

/// A node masked whole: its text (a string's own, any other node's JSON)
/// in the masker's style; `null` for the null style.
fn whole(masker: &Masker, node: &Value) -> Value {
    let text = match node {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match masker.mask_value(text.as_bytes()) {
        Masked::Text(t) => Value::String(String::from_utf8_lossy(&t).into_owned()),
        Masked::Null => Value::Null,
    }
}

/// Every string, number and key of `value`, through the detectors.
pub fn scan(masker: &Masker, value: &mut Value, hits: &mut Hits) {
    match value {
        Value::String(s) => {
            if let Some(masked) = text(masker, s, hits) {
                *value = masked;
            }
        }
        Value::Number(n) => {
            if let Some(masked) = text(masker, &n.to_string(), hits) {
                *value = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scan(masker, v, hits)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                scan(masker, &mut v, hits);
                let key = match text(masker, &key, hits) {
                    Some(Value::String(k)) => k,
                    Some(_) => "[REDACTED]".to_string(),
                    None => key,
                };
                map.insert(key, v);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// A masked value for `s`, when a detector hit.
fn text(masker: &Masker, s: &str, hits: &mut Hits) -> Option<Value> {
    let (masked, h) = masker.scan(s.as_bytes())?;
    hits.add(&h);
    Some(match masked {
        Masked::Text(t) => Value::String(String::from_utf8_lossy(&t).into_owned()),
        Masked::Null => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::JsonPaths;
    use crate::{Detector, MaskKey, Masker, Style};
    use serde_json::json;

    fn paths(list: &[&str], style: Style) -> JsonPaths {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        JsonPaths::compile([(list.as_slice(), style)], &MaskKey::new([1; 32])).unwrap()
    }

    #[test]
    fn selected_nodes_are_masked_whole_at_any_depth() {
        let p = paths(&["$..email", "$.items[*].ssn", "$.a.b"], Style::Redact);
        let mut v = json!({
            "email": "a@x.io",
            "items": [{"ssn": "123-45-6789", "n": 1}, {"ssn": 987654321}],
            "deep": {"email": {"nested": true}},
            "a": {"b": [1, 2], "c": "kept"}
        });
        let out = p.mask(&mut v, None);
        assert_eq!(out.path_values, 5);
        let text = v.to_string();
        for secret in ["a@x.io", "123-45-6789", "987654321", "nested"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(v["a"]["c"], "kept");
        assert_eq!(v["items"][0]["n"], 1);
    }

    #[test]
    fn the_null_style_makes_selected_nodes_null() {
        let p = paths(&["$.secret"], Style::Null);
        let mut v = json!({"secret": "x", "other": "y"});
        p.mask(&mut v, None);
        assert_eq!(v, json!({"secret": null, "other": "y"}));
    }

    #[test]
    fn detectors_reach_strings_numbers_and_keys() {
        let m = Masker::new(
            &[Detector::Email, Detector::CreditCard],
            Style::Redact,
            MaskKey::new([1; 32]),
        );
        let mut v =
            json!({"c": 4111111111111111u64, "ada@example.com": "mail me at bob@example.org"});
        let out = JsonPaths::default().mask(&mut v, Some(&m));
        let text = v.to_string();
        assert!(!text.contains("4111111111111111"), "{text}");
        assert!(!text.contains("example"), "{text}");
        assert_eq!(out.hits.total(), 3);
    }

    #[test]
    fn a_path_that_is_not_jsonpath_is_an_error() {
        let list = vec!["$..[".to_string()];
        let err = JsonPaths::compile([(list.as_slice(), Style::Redact)], &MaskKey::new([1; 32]));
        assert!(err.is_err());
    }
}

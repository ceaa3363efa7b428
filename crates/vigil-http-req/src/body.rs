//! The request body as `http.body` shows it: JSON, read strictly. A key
//! given twice in one object is refused, since parsers disagree on which
//! one counts (the first, the last, an error) and a rule would see one
//! while the target acts on the other.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::HttpReqError;

/// Parses `body` as JSON. `Ok(None)` when it is empty or not JSON (a
/// condition on its fields then fails, and a failing condition denies);
/// an error when it is JSON with a duplicate key.
pub fn parse_json(body: &[u8]) -> Result<Option<Value>, HttpReqError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(v)) => Ok(Some(v)),
        // The visitor accepts every JSON type, so a data error is ours.
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(HttpReqError::DuplicateJsonKey)
        }
        Err(_) => Ok(None),
    }
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `application/json` or a `+json` type: the bodies Vigil reads as JSON.
/// Any other body (a form, multipart) may hold parameters a server reads
/// while Vigil would see other ones in a JSON reading of the same bytes.
pub fn is_json_media(media: &str) -> bool {
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// A JSON value whose objects have unique keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // Keys equal but for ASCII case are duplicates too: Go's
        // encoding/json matches struct fields case-insensitively.
        let mut folded = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if !folded.insert(key.to_ascii_lowercase()) || out.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_json;
    use crate::HttpReqError;
    use serde_json::json;

    #[test]
    fn json_bodies_parse_and_others_are_none() {
        assert_eq!(
            parse_json(br#"{"a": [1, {"b": null}], "c": "x"}"#),
            Ok(Some(json!({"a": [1, {"b": null}], "c": "x"})))
        );
        assert_eq!(parse_json(b""), Ok(None));
        assert_eq!(parse_json(b"a=1&b=2"), Ok(None));
        assert_eq!(parse_json(b"{\"a\": 1"), Ok(None));
    }

    #[test]
    fn a_duplicate_key_at_any_depth_is_refused() {
        assert_eq!(
            parse_json(br#"{"admin": false, "admin": true}"#),
            Err(HttpReqError::DuplicateJsonKey)
        );
        assert_eq!(
            parse_json(br#"[{"x": {"a": 1, "a": 2}}]"#),
            Err(HttpReqError::DuplicateJsonKey)
        );
        assert_eq!(
            parse_json(br#"{"admin": false, "Admin": true}"#),
            Err(HttpReqError::DuplicateJsonKey)
        );
        // The same key in two objects is fine.
        assert!(matches!(
            parse_json(br#"[{"a": 1}, {"a": 2}]"#),
            Ok(Some(_))
        ));
    }

    #[test]
    fn deep_nesting_is_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_json(deep.as_bytes()), Ok(None));
    }
}

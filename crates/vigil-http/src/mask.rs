//! Masking of the target's answers, failing closed: a body that must be
//! masked is read whole (up to `max_response_bytes`) and masked, or
//! refused with 502; it is never passed through unmasked.
//!
//! What can be masked: JSON (every string, every number's text and every
//! object key goes through the session's content detectors) and `text/*`
//! (scanned as it is). Anything else (binary, an encoding Vigil asked the
//! target not to use, a body past the bound, JSON that does not parse) is
//! refused. `[[policy.mask]] columns` speak of tables and do not apply to
//! HTTP.

use serde_json::Value;
use vigil_core::MaskingSummary;
use vigil_guard::SessionCtx;
use vigil_mask::{Hits, Masked, Masker};

/// Whether this session's answers must be masked.
pub fn needed(session: &SessionCtx) -> bool {
    session.mask.content().is_some()
}

/// Why an answer could not be masked (the caller gets 502).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unmaskable {
    #[error("the target's answer is encoded (Content-Encoding) and must be masked")]
    Encoded,
    #[error("the target's answer is not JSON or text and must be masked")]
    NotText,
    #[error("the target's answer is not valid JSON and must be masked")]
    BadJson,
    #[error("the target's answer is larger than max_response_bytes and must be masked")]
    TooLarge,
    #[error("the target broke off its answer")]
    Broken,
}

/// Masks a whole body of `content_type`. Returns the masked bytes and what
/// was masked (counts only).
pub fn body(
    session: &SessionCtx,
    content_type: &str,
    body: &[u8],
) -> Result<(Vec<u8>, Option<MaskingSummary>), Unmaskable> {
    let Some(masker) = session.mask.content() else {
        return Ok((body.to_vec(), None));
    };
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut hits = Hits::default();
    let out = if media == "application/json" || media.ends_with("+json") {
        let mut value: Value = serde_json::from_slice(body).map_err(|_| Unmaskable::BadJson)?;
        json(masker, &mut value, &mut hits);
        serde_json::to_vec(&value).map_err(|_| Unmaskable::BadJson)?
    } else if media.starts_with("text/") || body.is_empty() {
        match masker.scan(body) {
            Some((Masked::Text(t), h)) => {
                hits.add(&h);
                t
            }
            Some((Masked::Null, h)) => {
                hits.add(&h);
                Vec::new()
            }
            None => body.to_vec(),
        }
    } else {
        return Err(Unmaskable::NotText);
    };
    Ok((out, summary(&hits)))
}

/// Every string, number and key of `value`, through `masker`.
fn json(masker: &Masker, value: &mut Value, hits: &mut Hits) {
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
        Value::Array(items) => items.iter_mut().for_each(|v| json(masker, v, hits)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                json(masker, &mut v, hits);
                let key = match text(masker, &key, hits) {
                    Some(Value::String(k)) => k,
                    Some(_) => "***".to_string(),
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

fn summary(hits: &Hits) -> Option<MaskingSummary> {
    if hits.total() == 0 {
        return None;
    }
    Some(MaskingSummary {
        detector_hits: hits
            .iter()
            .map(|(d, n)| (d.as_str().to_string(), u64::from(n)))
            .collect(),
        ..MaskingSummary::default()
    })
}

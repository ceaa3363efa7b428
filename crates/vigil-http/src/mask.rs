//! Masking of the target's answers, failing closed: a body that must be
//! masked is read whole (up to `max_response_bytes`) and masked, or
//! refused with 502; it is never passed through unmasked.
//!
//! What can be masked: JSON (the nodes `json_paths` select masked whole,
//! then every string, every number's text and every object key through
//! the session's content detectors) and `text/*` when only detectors apply
//! (scanned as it is). Anything else (binary, an encoding Vigil asked the
//! target not to use, a body past the bound, JSON that does not parse, a
//! non-JSON answer where paths apply) is refused. `[[policy.mask]]
//! columns` speak of tables and do not apply to HTTP.

use serde_json::Value;
use vigil_core::MaskingSummary;
use vigil_guard::SessionCtx;
use vigil_mask::{Hits, Masked};

/// Whether this session's answers must be masked.
pub fn needed(session: &SessionCtx) -> bool {
    session.mask.content().is_some() || !session.mask.json_paths().is_empty()
}

/// Why an answer could not be masked (the caller gets 502).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unmaskable {
    #[error("the target's answer has a Content-Encoding Vigil cannot decode, and must be masked")]
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
    let content = session.mask.content().map(|m| m.as_ref());
    let paths = session.mask.json_paths();
    let media = vigil_http_req::media_type(content_type);
    if is_json(&media) {
        let mut value: Value = serde_json::from_slice(body).map_err(|_| Unmaskable::BadJson)?;
        let (hits, path_values) = json(session, &mut value);
        let out = serde_json::to_vec(&value).map_err(|_| Unmaskable::BadJson)?;
        return Ok((out, summary(&hits, path_values)));
    }
    // Paths select JSON nodes: an answer they cannot be applied to is
    // refused, whatever its type.
    if !paths.is_empty() && !body.is_empty() {
        return Err(Unmaskable::BadJson);
    }
    if !(media.starts_with("text/") || body.is_empty()) {
        return Err(Unmaskable::NotText);
    }
    let mut hits = Hits::default();
    let out = match content.and_then(|m| m.scan(body)) {
        Some((Masked::Text(t), h)) => {
            hits.add(&h);
            t
        }
        Some((Masked::Null, h)) => {
            hits.add(&h);
            Vec::new()
        }
        None => body.to_vec(),
    };
    Ok((out, summary(&hits, 0)))
}

/// Whether a media type (lower case, without parameters) is JSON.
pub fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Masks a parsed JSON document with the session's `json_paths` and
/// detectors; returns the detector hits and how many path values.
pub fn json(session: &SessionCtx, value: &mut Value) -> (Hits, u64) {
    let content = session.mask.content().map(|m| m.as_ref());
    let masked = session.mask.json_paths().mask(value, content);
    (masked.hits, masked.path_values)
}

/// What the ledger records of a masked answer (counts only).
pub fn summary(hits: &Hits, path_values: u64) -> Option<MaskingSummary> {
    if hits.total() == 0 && path_values == 0 {
        return None;
    }
    Some(MaskingSummary {
        column_values: path_values,
        columns: if path_values > 0 {
            vec![format!("{path_values} <- json_paths")]
        } else {
            Vec::new()
        },
        detector_hits: hits
            .iter()
            .map(|(d, n)| (d.as_str().to_string(), u64::from(n)))
            .collect(),
    })
}

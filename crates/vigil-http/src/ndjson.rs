//! Masked answers that are newline-delimited JSON (`application/x-ndjson`,
//! `application/jsonl`, `application/json-lines`): each line is a document
//! of its own, so it is parsed, masked (`json_paths` and detectors) and
//! sent as it completes: a long or endless stream stays live and is never
//! held whole. A line that does not parse, or grows past
//! `max_response_bytes`, ends the stream (nothing of it passes unmasked).

use std::sync::Arc;

use bytes::BytesMut;
use serde_json::Value;
use vigil_guard::{Guard, SessionCtx};
use vigil_mask::Hits;

use crate::relay::{self, BodySender, ChannelBody, Finished};

/// Whether a media type (lower case, no parameters) is newline-delimited JSON.
pub fn is_ndjson(media: &str) -> bool {
    matches!(
        media,
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/json-lines"
    )
}

/// Why a stream ended early.
#[derive(Debug, PartialEq, Eq)]
pub enum LineError {
    NotJson,
    TooLarge,
}

/// The complete lines of `buf` (consumed from it), each masked by `mask`
/// and written to `out` with its newline; `last` takes the rest as a final
/// line too (a stream may end without a newline).
pub fn drain_lines(
    buf: &mut BytesMut,
    max_line: u64,
    last: bool,
    mask: &mut impl FnMut(&mut Value),
    out: &mut Vec<u8>,
) -> Result<(), LineError> {
    loop {
        let line = match buf.iter().position(|b| *b == b'\n') {
            Some(end) => buf.split_to(end + 1),
            None if last && !buf.is_empty() => buf.split_to(buf.len()),
            None => break,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(&line);
            continue;
        }
        let mut value: Value = serde_json::from_slice(&line).map_err(|_| LineError::NotJson)?;
        mask(&mut value);
        serde_json::to_writer(&mut *out, &value).map_err(|_| LineError::NotJson)?;
        out.push(b'\n');
    }
    if buf.len() as u64 > max_line {
        return Err(LineError::TooLarge);
    }
    Ok(())
}

/// Starts the task that masks `upstream`'s lines and feeds the returned
/// body; it records the outcome and closes the session.
pub fn stream(
    guard: Arc<Guard>,
    session: SessionCtx,
    upstream: reqwest::Response,
    max_line: u64,
    done: Finished,
) -> ChannelBody {
    let (tx, body) = relay::channel();
    tokio::spawn(relay_lines(guard, session, upstream, max_line, done, tx));
    body
}

async fn relay_lines(
    guard: Arc<Guard>,
    session: SessionCtx,
    mut upstream: reqwest::Response,
    max_line: u64,
    mut done: Finished,
    tx: BodySender,
) {
    let mut buf = BytesMut::new();
    let mut hits = Hits::default();
    let mut path_values = 0u64;
    loop {
        let (chunk, last) = match upstream.chunk().await {
            Ok(Some(chunk)) => (Some(chunk), false),
            Ok(None) => (None, true),
            Err(_) => {
                done.error = Some("upstream_broke");
                let _ = tx.send(Err(relay::broken("the target broke off"))).await;
                break;
            }
        };
        if let Some(chunk) = chunk {
            buf.extend_from_slice(&chunk);
        }
        let mut out = Vec::new();
        let mut mask = |v: &mut Value| {
            let (h, n) = crate::mask::json(&session, v);
            hits.add(&h);
            path_values += n;
        };
        if let Err(e) = drain_lines(&mut buf, max_line, last, &mut mask, &mut out) {
            tracing::warn!(session = %session.id, reason = ?e, "http proxy: a streamed answer could not be masked; stream ended");
            done.error = Some("unmaskable");
            let _ = tx.send(Err(relay::broken("unmaskable"))).await;
            break;
        }
        if !out.is_empty() {
            done.bytes += out.len() as u64;
            if tx.send(Ok(out.into())).await.is_err() {
                done.error = Some("client_gone");
                break;
            }
        }
        if last {
            break;
        }
    }
    done.masking = crate::mask::summary(&hits, path_values);
    relay::finish_outcome(&guard, &session, done).await;
    guard.close_session(&session).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str], max: u64) -> Result<String, LineError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut mask = |v: &mut Value| {
            if let Some(o) = v.as_object_mut() {
                o.remove("email");
            }
        };
        for (i, chunk) in chunks.iter().enumerate() {
            buf.extend_from_slice(chunk.as_bytes());
            drain_lines(&mut buf, max, i + 1 == chunks.len(), &mut mask, &mut out)?;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn lines_split_anywhere_come_out_whole_and_masked() {
        let stream = "{\"n\":1,\"email\":\"a@x.io\"}\n[1,2]\n\n{\"n\":2,\"email\":\"b@x.io\"}";
        for cut in 0..stream.len() {
            let out = run(&[&stream[..cut], &stream[cut..]], 1 << 20).unwrap_or_default();
            assert_eq!(out, "{\"n\":1}\n[1,2]\n\n{\"n\":2}\n", "cut at {cut}");
        }
    }

    #[test]
    fn a_bad_or_oversized_line_ends_the_stream() {
        assert_eq!(
            run(&["{\"a\":1}\nnot json\n"], 1 << 20),
            Err(LineError::NotJson)
        );
        assert_eq!(
            run(&["{\"a\":\"0123456789", "x"], 8),
            Err(LineError::TooLarge)
        );
        assert!(is_ndjson("application/x-ndjson") && !is_ndjson("application/json"));
    }
}

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

use crate::relay::{self, ChannelBody, Finished};

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

/// The lines of a masked NDJSON answer, each at most `max_line` bytes.
struct Lines {
    max_line: u64,
}

impl relay::Documents for Lines {
    fn drain(
        &mut self,
        session: &SessionCtx,
        buf: &mut BytesMut,
        last: bool,
        out: &mut Vec<u8>,
        counts: &mut (Hits, u64),
    ) -> Result<(), &'static str> {
        let mut mask = |v: &mut Value| {
            let (hits, paths) = crate::mask::json(session, v);
            counts.0.add(&hits);
            counts.1 += paths;
        };
        drain_lines(buf, self.max_line, last, &mut mask, out).map_err(|e| match e {
            LineError::NotJson => "a line that is not JSON",
            LineError::TooLarge => "a line larger than max_response_bytes",
        })
    }
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
    relay::masked_documents(guard, session, upstream, Lines { max_line }, done)
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

//! A masked answer that is a stream of JSON documents (a watch: one event
//! per document, newline-separated as the API server writes them): each
//! document is parsed, masked and sent on as it completes, so a watch stays
//! live. A document that does not parse, or grows past the bound, ends the
//! stream (never passed through unmasked).

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use serde_json::Value;
use vigil_guard::{Guard, SessionCtx};
use vigil_mask::Hits;

use crate::relay::{self, ChannelBody, Finished};

/// How the documents are masked.
#[derive(Clone, Copy, Debug)]
pub struct Masking {
    /// Secret values (`k8s_secrets` not revealed to this principal).
    pub secrets: bool,
    /// Every object with metadata is a Secret (a request on `secrets`).
    pub secrets_everywhere: bool,
    /// The session's `json_paths` and detectors apply.
    pub policy: bool,
}

impl Masking {
    pub fn any(self) -> bool {
        self.secrets || self.policy
    }
}

/// Why a stream ended early.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamError {
    NotJson,
    TooLarge,
}

/// The documents complete in `buf` (consumed from it), masked, each
/// followed by a newline. What is left is the start of the next document.
pub fn drain(
    buf: &mut BytesMut,
    max_document: u64,
    mask: &mut impl FnMut(&mut Value),
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    let mut consumed = 0;
    {
        let mut docs = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
        loop {
            match docs.next() {
                // Only objects: a top-level number could be cut in two
                // by a chunk boundary and read as two.
                Some(Ok(mut value)) if value.is_object() => {
                    consumed = docs.byte_offset();
                    mask(&mut value);
                    serde_json::to_writer(&mut *out, &value).map_err(|_| StreamError::NotJson)?;
                    out.push(b'\n');
                }
                Some(Ok(_)) => return Err(StreamError::NotJson),
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => return Err(StreamError::NotJson),
                None => {
                    consumed = buf.len();
                    break;
                }
            }
        }
    }
    buf.advance(consumed);
    if buf.len() as u64 > max_document {
        return Err(StreamError::TooLarge);
    }
    Ok(())
}

/// Masks one document as `masking` says; adds to `counts` (detector
/// hits, values masked by path or as Secret values).
pub fn mask_document(
    session: &SessionCtx,
    masking: Masking,
    value: &mut Value,
    counts: &mut (Hits, u64),
) {
    if masking.secrets {
        counts.1 += super::secrets::mask(value, masking.secrets_everywhere);
    }
    if masking.policy {
        let (hits, paths) = crate::mask::json(session, value);
        counts.0.add(&hits);
        counts.1 += paths;
    }
}

/// A watch's documents, masked as `masking` says, each at most
/// `max_document` bytes.
struct WatchDocuments {
    masking: Masking,
    max_document: u64,
}

impl relay::Documents for WatchDocuments {
    fn drain(
        &mut self,
        session: &SessionCtx,
        buf: &mut BytesMut,
        _last: bool,
        out: &mut Vec<u8>,
        counts: &mut (Hits, u64),
    ) -> Result<(), &'static str> {
        let masking = self.masking;
        let mut mask = |v: &mut Value| mask_document(session, masking, v, counts);
        drain(buf, self.max_document, &mut mask, out).map_err(|e| match e {
            StreamError::NotJson => "a document that is not a JSON object",
            StreamError::TooLarge => "a document larger than max_response_bytes",
        })
    }
}

/// Starts the task that reads `upstream`, masks each document and feeds
/// the returned body; it records the outcome and closes the session.
pub fn stream(
    guard: Arc<Guard>,
    session: SessionCtx,
    upstream: reqwest::Response,
    masking: Masking,
    max_document: u64,
    done: Finished,
) -> ChannelBody {
    let documents = WatchDocuments {
        masking,
        max_document,
    };
    relay::masked_documents(guard, session, upstream, documents, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str], max: u64) -> Result<String, StreamError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut mask = |v: &mut Value| {
            super::super::secrets::mask(v, false);
        };
        for chunk in chunks {
            buf.extend_from_slice(chunk.as_bytes());
            drain(&mut buf, max, &mut mask, &mut out)?;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    const EVENT: &str = r#"{"type":"ADDED","object":{"kind":"Secret","metadata":{"name":"a"},"data":{"k":"aHVudGVyMg=="}}}"#;

    #[test]
    fn events_split_anywhere_come_out_whole_and_masked() {
        let stream = format!("{EVENT}\n{EVENT}\n");
        for cut in 0..stream.len() {
            let out = run(&[&stream[..cut], &stream[cut..]], 1 << 20).unwrap_or_default();
            assert_eq!(out.lines().count(), 2, "cut at {cut}");
            assert!(!out.contains("aHVudGVyMg=="), "cut at {cut}");
        }
    }

    #[test]
    fn documents_without_newlines_are_read_too() {
        let out = run(&[&format!("{EVENT}{EVENT}")], 1 << 20).unwrap_or_default();
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn garbage_and_oversized_documents_end_the_stream() {
        assert_eq!(
            run(&["{\"a\":1}\nnot json\n"], 1 << 20),
            Err(StreamError::NotJson)
        );
        assert_eq!(run(&["12", "34"], 1 << 20), Err(StreamError::NotJson));
        assert_eq!(run(&["{\"a\":\"0123456789"], 8), Err(StreamError::TooLarge));
    }
}

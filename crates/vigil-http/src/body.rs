//! The request body: read whole, bounded in size and time, before the
//! decision (so the decision, an approval's binding and the bytes sent are
//! the same bytes) when policy may read or bind it; otherwise streamed to
//! the target as it arrives, bounded on the way.

use axum::body::Body;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{BODY_TIMEOUT, MAX_REQUEST_BODY};

pub enum BodyError {
    TooLarge,
    Timeout,
    Broken,
}

/// The whole request body, at most [`MAX_REQUEST_BODY`] bytes, within
/// [`BODY_TIMEOUT`]. A declared length past the bound is refused before
/// a byte is read.
pub async fn read_body(parts: &Parts, body: Body) -> Result<Bytes, BodyError> {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Broken)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > MAX_REQUEST_BODY {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// A request body streamed to the target as it arrives (policy allowed the
/// request outright, and nothing reads the body): at most `limit` bytes,
/// each chunk within [`BODY_TIMEOUT`]. Past either, the stream fails and
/// the target sees a broken body (never a complete one); `cut` is set when
/// the size was the reason.
pub fn stream(body: Body, limit: u64, cut: Arc<AtomicBool>) -> reqwest::Body {
    use futures_util::StreamExt;
    let chunks = body.into_data_stream();
    // State: the client's chunks, the bytes seen, whether the stream ended.
    let bounded = futures_util::stream::unfold((chunks, 0u64, false), move |state| {
        let cut = cut.clone();
        async move {
            let (mut chunks, seen, ended) = state;
            if ended {
                return None;
            }
            let fail = |why: &'static str| Err(std::io::Error::other(why));
            match tokio::time::timeout(BODY_TIMEOUT, chunks.next()).await {
                Ok(None) => None,
                Ok(Some(Ok(data))) => {
                    let seen = seen + data.len() as u64;
                    if seen > limit {
                        cut.store(true, Ordering::SeqCst);
                        return Some((fail("request body too large"), (chunks, seen, true)));
                    }
                    Some((Ok(data), (chunks, seen, false)))
                }
                Ok(Some(Err(_))) => {
                    Some((fail("the request body broke off"), (chunks, seen, true)))
                }
                Err(_) => Some((fail("the request body stalled"), (chunks, seen, true))),
            }
        }
    });
    reqwest::Body::wrap_stream(bounded)
}

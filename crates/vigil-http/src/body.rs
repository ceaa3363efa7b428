//! The request body: read whole, bounded in size and time, before the
//! decision (so the decision, an approval's binding and the bytes sent are
//! the same bytes).

use axum::body::Body;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

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

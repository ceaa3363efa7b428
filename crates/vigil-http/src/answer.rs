//! The permitted request sent, and the target's answer turned into the
//! caller's: streamed (the relay task takes the session), or read whole
//! and masked, or refused with 502.

use axum::body::Body;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use bytes::Bytes;
use std::time::Instant;
use vigil_guard::{Permit, SessionCtx};
use vigil_http_req::Analysed;

use crate::handler::Outcome::{self, Done, MaskedLines, Streaming};
use crate::handler::Streamed;
use crate::relay::{self, Finished};
use crate::target::HttpTarget;
use crate::{HttpProxy, mask, reply};

/// A request body: read whole before the decision, or streamed to the
/// target as it arrives (`cut` set if it went past its bound).
pub enum RequestBody {
    Whole(Bytes),
    Streamed {
        body: reqwest::Body,
        cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    },
}

/// What is sent: the request as read and analysed, and its body.
pub struct Permitted<'a> {
    pub parts: &'a Parts,
    pub analysed: &'a Analysed,
    pub body: RequestBody,
    /// The answer must be masked.
    pub masked: bool,
}

/// Sends the permitted request and answers with the target's response.
pub async fn forward(
    proxy: &HttpProxy,
    target: &HttpTarget,
    session: &SessionCtx,
    request: Permitted<'_>,
    permit: Permit,
) -> Outcome {
    let Permitted {
        parts,
        analysed,
        body,
        masked,
    } = request;
    let started = Instant::now();
    let seq = permit.seqs.first().copied().unwrap_or_default();
    let mut done = Finished {
        seq,
        started,
        status: 0,
        bytes: 0,
        error: None,
        masking: None,
    };
    let cut = match &body {
        RequestBody::Streamed { cut, .. } => Some(cut.clone()),
        RequestBody::Whole(_) => None,
    };
    let upstream = match crate::forward::send(target, &permit, parts, analysed, body, masked).await
    {
        Ok(r) => r,
        Err(_) if cut.is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst)) => {
            // The streamed body went past its bound: the target got a
            // broken body, never a complete one.
            done.error = Some("too_large");
            relay::finish_outcome(&proxy.guard, session, done).await;
            return Done(reply::too_large(crate::MAX_STREAMED_BODY));
        }
        Err(e) => {
            let timeout = e.is_timeout();
            tracing::warn!(session = %session.id, connection = %target.name, timeout, "http proxy: the target could not be reached");
            done.error = Some(if timeout { "timeout" } else { "unreachable" });
            relay::finish_outcome(&proxy.guard, session, done).await;
            return Done(reply::bad_gateway(
                "the target could not be reached",
                timeout,
            ));
        }
    };
    done.status = upstream.status().as_u16();
    let response = crate::forward::response_head(&upstream, masked);
    let content_type = upstream
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let media = vigil_http_req::media_type(&content_type);
    let encoded = !crate::decode::codings_of(upstream.headers()).is_empty();
    // An unmasked answer streams as it is; newline-delimited JSON streams
    // masked line by line; anything else that must be masked is read whole.
    let stream_as: Option<fn(Box<Streamed>) -> Outcome> = if !masked {
        Some(Streaming)
    } else if crate::ndjson::is_ndjson(&media) && !encoded {
        Some(MaskedLines)
    } else {
        None
    };
    if let Some(wrap) = stream_as {
        return match response.body(()) {
            Ok(response) => wrap(Box::new(Streamed {
                response,
                upstream,
                done,
            })),
            Err(_) => {
                done.error = Some("bad_response");
                relay::finish_outcome(&proxy.guard, session, done).await;
                Done(reply::bad_gateway(
                    "the target's answer could not be relayed",
                    false,
                ))
            }
        };
    }
    let masked_body = masked_answer(session, target, upstream, &content_type).await;
    match masked_body {
        Ok((bytes, masking)) => {
            done.bytes = bytes.len() as u64;
            done.masking = masking;
            relay::finish_outcome(&proxy.guard, session, done).await;
            let response = response
                .header(CONTENT_LENGTH, HeaderValue::from(bytes.len()))
                .body(Body::from(bytes));
            match response {
                Ok(r) => Done(r),
                Err(_) => Done(reply::bad_gateway(
                    "the target's answer could not be relayed",
                    false,
                )),
            }
        }
        Err(why) => {
            tracing::warn!(session = %session.id, connection = %target.name, reason = %why, "http proxy: answer refused (must be masked)");
            done.error = Some("unmaskable");
            relay::finish_outcome(&proxy.guard, session, done).await;
            Done(reply::bad_gateway(&why.to_string(), false))
        }
    }
}

/// Reads and masks a whole answer, bounded by `max_response_bytes`.
pub(crate) async fn masked_answer(
    session: &SessionCtx,
    target: &HttpTarget,
    upstream: reqwest::Response,
    content_type: &str,
) -> Result<(Vec<u8>, Option<vigil_core::MaskingSummary>), mask::Unmaskable> {
    let decoded = crate::decode::read_decoded(upstream, target.max_response_bytes).await?;
    mask::body(session, content_type, &decoded)
}

//! The target's answer on its way to the caller: streamed by a task that
//! owns the session until the last byte (bounded by the connection's
//! `max_response_bytes`), then records the outcome and closes the session.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;
use vigil_core::{MaskingSummary, StatementOutcome};
use vigil_guard::{Guard, SessionCtx};

/// Chunks in flight between the target and the caller.
const CHANNEL_CHUNKS: usize = 8;

/// A response body fed by the relay task.
pub struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

/// The sending side of a [`ChannelBody`].
pub type BodySender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// A bounded channel and the response body it feeds.
pub fn channel() -> (BodySender, ChannelBody) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    (tx, ChannelBody(rx))
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// What the ledger gets when a request is over.
pub struct Finished {
    pub seq: i64,
    pub started: Instant,
    pub status: u16,
    pub bytes: u64,
    pub error: Option<&'static str>,
    pub masking: Option<MaskingSummary>,
}

/// Records how a forwarded request ended (the session stays open).
pub async fn finish_outcome(guard: &Guard, session: &SessionCtx, done: Finished) {
    guard
        .statement_done(
            session,
            StatementOutcome {
                statement_seq: done.seq,
                duration_us: done.started.elapsed().as_micros() as u64,
                tag: Some(format!("{} {} bytes", done.status, done.bytes)),
                error_code: done.error.map(str::to_string),
                masking: done.masking,
            },
        )
        .await;
}

/// Starts the task that relays `upstream`'s body; returns the body the
/// caller reads.
pub fn stream(
    guard: Arc<Guard>,
    session: SessionCtx,
    upstream: reqwest::Response,
    max_bytes: u64,
    mut done: Finished,
) -> ChannelBody {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::spawn(async move {
        let mut upstream = upstream;
        loop {
            match upstream.chunk().await {
                Ok(Some(chunk)) => {
                    done.bytes += chunk.len() as u64;
                    if done.bytes > max_bytes {
                        // The caller sees a broken body, never a cut one
                        // that looks whole.
                        done.error = Some("max_response_bytes");
                        let _ = tx.send(Err(broken("max_response_bytes"))).await;
                        break;
                    }
                    if tx.send(Ok(chunk)).await.is_err() {
                        done.error = Some("client_gone");
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    done.error = Some("upstream_broke");
                    let _ = tx.send(Err(broken("the target broke off"))).await;
                    break;
                }
            }
        }
        finish_outcome(&guard, &session, done).await;
        guard.close_session(&session).await;
    });
    ChannelBody(rx)
}

pub fn broken(why: &'static str) -> std::io::Error {
    std::io::Error::other(why)
}

/// How a masked document stream is cut and masked: takes the complete
/// documents out of the buffer (masked, written to the output; `last` when
/// the target's body has ended), adding to the masked counts, or fails when
/// what is there cannot be masked.
pub trait Documents: Send + 'static {
    fn drain(
        &mut self,
        session: &SessionCtx,
        buf: &mut bytes::BytesMut,
        last: bool,
        out: &mut Vec<u8>,
        counts: &mut (vigil_mask::Hits, u64),
    ) -> Result<(), &'static str>;
}

/// Starts the task that relays a masked answer document by document as it
/// streams (a Kubernetes watch, NDJSON); it records the outcome and closes
/// the session. Nothing of a document that cannot be masked is sent: the
/// stream ends there.
pub fn masked_documents(
    guard: Arc<Guard>,
    session: SessionCtx,
    upstream: reqwest::Response,
    documents: impl Documents,
    done: Finished,
) -> ChannelBody {
    let (tx, body) = channel();
    tokio::spawn(relay_documents(
        guard, session, upstream, documents, done, tx,
    ));
    body
}

async fn relay_documents(
    guard: Arc<Guard>,
    session: SessionCtx,
    mut upstream: reqwest::Response,
    mut documents: impl Documents,
    mut done: Finished,
    tx: BodySender,
) {
    let mut buf = bytes::BytesMut::new();
    let mut counts = (vigil_mask::Hits::default(), 0u64);
    loop {
        let last = match upstream.chunk().await {
            Ok(Some(chunk)) => {
                buf.extend_from_slice(&chunk);
                false
            }
            Ok(None) => true,
            Err(_) => {
                done.error = Some("upstream_broke");
                let _ = tx.send(Err(broken("the target broke off"))).await;
                break;
            }
        };
        let mut out = Vec::new();
        let mut drained = documents.drain(&session, &mut buf, last, &mut out, &mut counts);
        if drained.is_ok() && last && buf.iter().any(|b| !b.is_ascii_whitespace()) {
            drained = Err("a truncated document");
        }
        if let Err(why) = drained {
            tracing::warn!(session = %session.id, reason = why, "a streamed answer could not be masked; stream ended");
            done.error = Some("unmaskable");
            let _ = tx.send(Err(broken("unmaskable"))).await;
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
    done.masking = crate::mask::summary(&counts.0, counts.1);
    finish_outcome(&guard, &session, done).await;
    guard.close_session(&session).await;
}

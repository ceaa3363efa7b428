//! A statement held for approval: the client is told at once (a
//! NoticeResponse, sent by the server pump between two whole messages), and
//! the pump waits for the reviewer, the rule's timeout, a CancelRequest or
//! the client closing its connection (either withdraws the request), or the
//! gateway's shutdown (which refuses it, so a held client gets an error
//! rather than a hang).

use super::ClientPump;
use crate::protocol::{MessageReader, MessageWriter};
use bytes::BytesMut;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use vigil_guard::{Decision, GuardError, Withdrawal};

impl ClientPump<'_> {
    /// Resolves a `Held` decision into `Allowed` or `Refused` by waiting.
    pub(super) async fn settle(
        &self,
        decision: Result<Decision, GuardError>,
    ) -> Result<Decision, GuardError> {
        let hold = match decision {
            Ok(Decision::Held(hold)) => hold,
            other => return other,
        };
        let mut notice = MessageWriter::new();
        notice.notice("00000", &hold.notice());
        self.shared.send_to_client(notice.take().freeze());
        tracing::info!(session = %self.session.id, approval = %hold.approval.id, "statement held for approval");
        let withdrawn = withdrawal(
            self.cancels.clone(),
            self.shutdown.clone(),
            self.gone.clone(),
        );
        self.held.send_replace(true);
        let settled = self
            .guard
            .await_approval(self.session, hold, withdrawn)
            .await;
        self.held.send_replace(false);
        settled
    }
}

/// Bytes a held client may send ahead (a pipeline) while its socket is
/// watched; past this the gateway stops reading until the hold ends.
const WATCH_LIMIT: usize = 256 * 1024;

/// Runs `handled` (the handling of one client message). While a statement
/// in it is held (`held`), the client's socket is read too, so that its EOF
/// or failure is noticed: `gone` turns true and the hold is withdrawn.
/// Whatever the client sends meanwhile is kept in `buf`, for later.
pub(super) async fn watching_client<T, R>(
    handled: impl Future<Output = T>,
    client: &mut R,
    buf: &mut BytesMut,
    held: &mut watch::Receiver<bool>,
    gone: &watch::Sender<bool>,
) -> T
where
    R: AsyncRead + Unpin,
{
    tokio::pin!(handled);
    loop {
        if *gone.borrow() {
            return handled.await;
        }
        let watch = async {
            if held.wait_for(|h| *h).await.is_err() || buf.len() >= WATCH_LIMIT {
                std::future::pending::<()>().await;
            }
            client.read_buf(buf).await
        };
        tokio::select! {
            biased;
            out = &mut handled => return out,
            read = watch => match read {
                Ok(0) | Err(_) => {
                    gone.send_replace(true);
                }
                Ok(_) => {}
            },
        }
    }
}

/// Resolves when the client cancels or the gateway begins to shut down.
async fn withdrawal(
    cancels: Option<watch::Receiver<u64>>,
    shutdown: Option<watch::Receiver<bool>>,
    gone: Option<watch::Receiver<bool>>,
) -> Withdrawal {
    let cancelled = async move {
        match cancels {
            Some(mut rx) => {
                rx.borrow_and_update();
                let _ = rx.changed().await;
            }
            None => std::future::pending().await,
        }
    };
    let stopping = async move {
        match shutdown {
            Some(mut rx) => {
                // A closed sender means the gateway is going away too.
                while !*rx.borrow_and_update() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
            None => std::future::pending().await,
        }
    };
    let left = async move {
        match gone {
            Some(mut rx) => {
                // A dropped sender means the pump is gone too.
                let _ = rx.wait_for(|g| *g).await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = cancelled => Withdrawal::Cancelled,
        _ = left => Withdrawal::ClientGone,
        _ = stopping => Withdrawal::Shutdown,
    }
}

/// The parameter type OIDs of a Parse message as it carries them (4 bytes
/// each, big-endian), kept whole as the approval previewer's hint (see
/// [`crate::backend::param_types_of_hint`]); none when malformed: the
/// target then rejects the Parse itself.
pub(super) fn parse_param_types(frame: &[u8]) -> Arc<[u8]> {
    let mut r = MessageReader::new(frame, "Parse");
    let types = (|| {
        r.cstr()?;
        r.cstr()?;
        let n = r.u16()?;
        r.take(4 * usize::from(n))
    })();
    Arc::from(types.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameter_types_of_a_parse() {
        let mut w = MessageWriter::new();
        w.parse("s1", "DELETE FROM t WHERE id = $1 AND n = $2", &[20, 0]);
        let hint = parse_param_types(&w.take());
        assert_eq!(crate::backend::param_types_of_hint(&hint), [20, 0]);
        w.parse("", "SELECT 1", &[]);
        assert!(parse_param_types(&w.take()).is_empty());
        assert!(parse_param_types(b"P\0\0\0\x05").is_empty());
    }
}

//! The SSH side of the exec seam (`vigil_target::ExecTarget`): what the MCP
//! `ssh_exec` tool runs. The same analysis as an exec request, the same
//! pinned upstream login (one per call, with the permit), the same masks.

use std::sync::Arc;

use russh::ChannelMsg;
use vigil_core::ActionKind;
use vigil_guard::Permit;
use vigil_target::{BoxFuture, ExecOutput, ExecTarget, TargetError};

use crate::facts;
use crate::mask::OutputMask;
use crate::upstream::{self, SshTarget};

/// One `kind = "ssh"` connection as the exec seam sees it.
pub struct SshExec {
    target: Arc<SshTarget>,
}

impl SshExec {
    pub fn new(target: SshTarget) -> Self {
        SshExec {
            target: Arc::new(target),
        }
    }
}

impl ExecTarget for SshExec {
    fn action(&self, command: &[u8]) -> ActionKind {
        facts::exec(command)
    }

    fn exec<'a>(
        &'a self,
        permit: &'a Permit,
        command: &'a [u8],
        max_bytes: usize,
        mask: Option<Arc<vigil_mask::Masker>>,
    ) -> BoxFuture<'a, Result<ExecOutput, TargetError>> {
        Box::pin(async move {
            let up = upstream::connect(&self.target, permit, None)
                .await
                .map_err(|e| TargetError::Unreachable(e.to_string()))?;
            let result = run(&up, command, max_bytes, mask).await;
            let _ = up
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
            result
        })
    }
}

async fn run(
    up: &upstream::Upstream,
    command: &[u8],
    max_bytes: usize,
    mask: Option<Arc<vigil_mask::Masker>>,
) -> Result<ExecOutput, TargetError> {
    let failed = |e: russh::Error| TargetError::Failed(format!("the target's channel failed: {e}"));
    let mut ch = up.handle.channel_open_session().await.map_err(failed)?;
    ch.exec(true, command.to_vec()).await.map_err(failed)?;
    let mut out = ExecOutput::default();
    let mut masks = mask.map(|m| (OutputMask::new(m.clone()), OutputMask::new(m)));
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Failure => {
                return Err(TargetError::Failed("the target refused the command".into()));
            }
            ChannelMsg::Data { data } => {
                let data = match &mut masks {
                    Some((m, _)) => m.push(&data),
                    None => data.to_vec(),
                };
                keep(&mut out, false, &data, max_bytes);
            }
            ChannelMsg::ExtendedData { data, .. } => {
                let data = match &mut masks {
                    Some((_, m)) => m.push(&data),
                    None => data.to_vec(),
                };
                keep(&mut out, true, &data, max_bytes);
            }
            ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
        if out.truncated {
            // Enough: closing the channel ends the command's output.
            let _ = ch.close().await;
            break;
        }
    }
    if let Some((mut o, mut e)) = masks {
        let rest = o.flush();
        keep(&mut out, false, &rest, max_bytes);
        let rest = e.flush();
        keep(&mut out, true, &rest, max_bytes);
        out.masked = o.hits.total() + e.hits.total();
    }
    Ok(out)
}

/// Appends output while the call's byte budget lasts.
fn keep(out: &mut ExecOutput, stderr: bool, data: &[u8], max_bytes: usize) {
    let used = out.stdout.len() + out.stderr.len();
    let room = max_bytes.saturating_sub(used);
    let take = data.len().min(room);
    let buf = if stderr {
        &mut out.stderr
    } else {
        &mut out.stdout
    };
    buf.extend_from_slice(&data[..take]);
    if take < data.len() {
        out.truncated = true;
    }
}

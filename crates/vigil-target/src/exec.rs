//! The seam to targets that run commands (SSH): the MCP `ssh_exec` tool
//! reaches an SSH server through it with the same analysis, permit and
//! output masking as the SSH front-end, without knowing SSH.

use std::sync::Arc;

use vigil_core::ActionKind;
use vigil_guard::Permit;

use crate::{BoxFuture, TargetError};

/// What a command printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when the command ended without one (a signal, a dropped channel).
    pub exit_status: Option<u32>,
    /// Output past the call's byte limit was dropped.
    pub truncated: bool,
    /// Values the masks replaced.
    pub masked: u32,
}

/// One configured connection that runs commands.
pub trait ExecTarget: Send + Sync {
    /// The command as policy sees it (analysed the way the native
    /// front-end analyses it).
    fn action(&self, command: &[u8]) -> ActionKind;

    /// Runs `command` with the guard's permit, stdin empty. At most
    /// `max_bytes` of output (stdout and stderr together) come back;
    /// `mask` rewrites what the caller must not see.
    fn exec<'a>(
        &'a self,
        permit: &'a Permit,
        command: &'a [u8],
        max_bytes: usize,
        mask: Option<Arc<vigil_mask::Masker>>,
    ) -> BoxFuture<'a, Result<ExecOutput, TargetError>>;
}

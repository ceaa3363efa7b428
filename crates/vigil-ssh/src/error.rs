//! What fails in the SSH front-end, by who failed.

/// An error of the SSH front-end. Client-facing text never includes a
/// secret; the log line has the detail.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("ssh protocol: {0}")]
    Protocol(#[from] russh::Error),
    #[error("host key in {path}: {reason}")]
    HostKey { path: String, reason: String },
    #[error("upstream {connection}: {reason}")]
    Upstream { connection: String, reason: String },
    #[error("guard: {0}")]
    Guard(#[from] vigil_guard::GuardError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

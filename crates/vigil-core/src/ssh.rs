use serde::{Deserialize, Serialize};

/// The SSH channel request being decided, as `ssh.request` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SshRequest {
    /// An interactive shell.
    #[default]
    Shell,
    /// A command (`ssh host CMD`).
    Exec,
    /// A subsystem (`sftp`), and each SFTP operation inside one.
    Subsystem,
    /// A local port forward (`ssh -L`, `ssh -W`, `ssh -J`).
    DirectTcpip,
    /// A remote port forward (`ssh -R`).
    TcpipForward,
    /// Agent forwarding (`ssh -A`).
    Agent,
    /// X11 forwarding (`ssh -X`).
    X11,
    /// An environment variable (`SendEnv`, `SetEnv`).
    Env,
    /// A terminal (`ssh -t`).
    Pty,
}

impl SshRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            SshRequest::Shell => "shell",
            SshRequest::Exec => "exec",
            SshRequest::Subsystem => "subsystem",
            SshRequest::DirectTcpip => "direct_tcpip",
            SshRequest::TcpipForward => "tcpip_forward",
            SshRequest::Agent => "agent",
            SshRequest::X11 => "x11",
            SshRequest::Env => "env",
            SshRequest::Pty => "pty",
        }
    }
}

/// One SSH channel request (or SFTP operation), as the `ssh.*` CEL
/// variables expose it. Fields that do not apply to the request are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshFacts {
    pub request: SshRequest,
    /// The exec command as the client sent it (invalid UTF-8 replaced).
    pub command: String,
    /// The command's words, only when provable (else empty and `opaque`).
    pub argv: Vec<String>,
    /// The normalised command name; empty when opaque.
    pub argv0: String,
    /// An exec whose effect cannot be proven. False for other requests.
    pub opaque: bool,
    pub opaque_reasons: Vec<String>,
    /// Wrappers unwrapped around the command (`sudo -u app`, `bash -c`).
    pub wrappers: Vec<String>,
    /// The subsystem's name (`sftp`).
    pub subsystem: String,
    /// Where a port forward goes (or listens, for `tcpip_forward`).
    pub forward_host: String,
    pub forward_port: u32,
    /// The SFTP operation (`open_read`, `remove`, ...); empty on the
    /// subsystem request itself.
    pub sftp_op: String,
    pub sftp_path: String,
    /// An `env` request's variable.
    pub env_name: String,
    pub env_value: String,
    /// What the ledger shows for this request (the command, `subsystem
    /// sftp`, `sftp remove /x`, `direct_tcpip db:5432`, ...).
    pub text: String,
}

//! Channel requests as policy sees them (`ssh.*`).

use vigil_core::{ActionKind, SshFacts, SshRequest};

/// An exec request: the command analysed by the shell parser.
pub fn exec(command: &[u8]) -> ActionKind {
    let analysis = vigil_shell::analyze(command);
    let text = String::from_utf8_lossy(command).into_owned();
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Exec,
        command: text.clone(),
        opaque: analysis.opaque(),
        opaque_reasons: analysis.reason_names(),
        argv: analysis.argv.unwrap_or_default(),
        argv0: analysis.argv0,
        wrappers: analysis.wrappers,
        text,
        ..SshFacts::default()
    })
}

pub fn shell() -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Shell,
        text: "shell".into(),
        ..SshFacts::default()
    })
}

pub fn subsystem(name: &str) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Subsystem,
        subsystem: name.to_string(),
        text: format!("subsystem {name}"),
        ..SshFacts::default()
    })
}

pub fn pty(term: &str) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Pty,
        text: format!("pty {term}"),
        ..SshFacts::default()
    })
}

/// An env request. The value is visible to rules but not to the ledger text.
pub fn env(name: &str, value: &str) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Env,
        env_name: name.to_string(),
        env_value: value.to_string(),
        text: format!("env {name}"),
        ..SshFacts::default()
    })
}

pub fn forward(request: SshRequest, host: &str, port: u32) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request,
        forward_host: host.to_string(),
        forward_port: port,
        text: format!("{} {host}:{port}", request.as_str()),
        ..SshFacts::default()
    })
}

/// A connection to a remote-forwarded port, as the target reports it: the
/// same facts the forward was allowed with (`tcpip_forward`, the address and
/// port as the client asked for them, 0 when the target chose the port), so
/// the rule that allowed the forward decides each connection; the ledger text
/// names the bound port and the originator.
pub fn forwarded_tcpip(
    host: &str,
    asked_port: u32,
    bound_port: u32,
    originator: &str,
    originator_port: u32,
) -> ActionKind {
    // The originator is the target's word: kept short in the ledger.
    let originator: String = originator.chars().take(64).collect();
    ActionKind::Ssh(SshFacts {
        request: SshRequest::TcpipForward,
        forward_host: host.to_string(),
        forward_port: asked_port,
        text: format!("forwarded_tcpip {host}:{bound_port} from {originator}:{originator_port}"),
        ..SshFacts::default()
    })
}

pub fn bare(request: SshRequest) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request,
        text: request.as_str().to_string(),
        ..SshFacts::default()
    })
}

/// Variables no rule can allow: each makes the target's shell or loader
/// run code of the client's choosing before the command.
pub fn env_never_allowed(name: &str) -> bool {
    name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
        || matches!(
            name,
            "BASH_ENV" | "ENV" | "PROMPT_COMMAND" | "SHELLOPTS" | "PS4" | "IFS"
        )
}

/// One SFTP operation inside an `sftp` subsystem.
pub fn sftp(op: &str, path: &str) -> ActionKind {
    ActionKind::Ssh(SshFacts {
        request: SshRequest::Subsystem,
        subsystem: "sftp".into(),
        sftp_op: op.to_string(),
        sftp_path: path.to_string(),
        text: format!("sftp {op} {path}"),
        ..SshFacts::default()
    })
}

//! Vigil's SSH front-end.
//!
//! `ssh -p 2222 <connection>@GW` (or `<anything>+<connection>@GW`), with a
//! Vigil token or OIDC JWT as the password (or the answer to the one
//! keyboard-interactive prompt). Each channel request (exec, shell,
//! subsystem, pty, env, agent, X11, port forwards) becomes an
//! [`vigil_core::SshFacts`] decided by [`vigil_guard::Guard::decide`];
//! nothing reaches the target without the [`vigil_guard::Permit`] it
//! returns. Exec strings are analysed by [`vigil_shell::analyze`].
//!
//! Layout: `server.rs` (listener and the per-connection russh handler:
//! login and the requests answered at once), `channel.rs` (one task per
//! session channel: decision, hold, upstream open), `relay.rs` (the two
//! directions of an open channel), `upstream.rs` (Vigil's login to the
//! target with the injected credential and the pinned host key),
//! `inbound.rs` (channels the target opens back: remote forwards, agent,
//! X11), `facts.rs` (requests as policy sees them), `hostkey.rs`.

pub mod authorized_key;
mod channel;
mod error;
mod exec_target;
mod facts;
pub mod hostkey;
mod inbound;
mod mask;
mod relay;
mod server;
pub mod sftp;
mod sftp_relay;
mod upstream;

pub use error::SshError;
pub use exec_target::SshExec;
pub use russh::keys::PrivateKey;

/// Reads an OpenSSH private key file (unencrypted).
pub fn load_private_key(path: &std::path::Path) -> Result<PrivateKey, String> {
    russh::keys::load_secret_key(path, None).map_err(|e| e.to_string())
}
pub use server::{SshFrontend, SshFrontendConfig};
pub use upstream::{SftpMode, SshTarget, TargetAuth};

/// Client stdin held back while a command waits for approval; past this the
/// request is withdrawn (nothing was sent upstream).
pub const MAX_HELD_STDIN: usize = 1024 * 1024;
/// How long a client has to log in.
pub const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

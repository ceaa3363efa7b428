//! `kind = "ssh"`: an SSH server, served by the `vigil-ssh` front-end.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{Invalid, check_address};
use crate::expand::{Parsed, Str};

/// `kind = "ssh"`: the target, how Vigil logs in, and what it records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshOptions {
    /// `host:port` of the target.
    pub address: String,
    pub user: String,
    pub auth: SshAuth,
    /// The target's host key, as a `known_hosts` line without the host
    /// (`ssh-ed25519 AAAA...`); any other key fails the connection.
    pub known_host: String,
    pub recording: SshRecording,
    /// Shell and exec recordings also hold the client's input (asciicast
    /// "i" events). An audit trail, not a boundary: what the client types
    /// is decided only as the request that opened the channel.
    pub record_input: bool,
    pub sftp: SftpMode,
}

impl SshOptions {
    /// The keys of an `ssh` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &[
        "address",
        "user",
        "private_key_file",
        "password",
        "known_host",
        "recording",
        "record_input",
        "sftp",
    ];
}

/// The credential Vigil logs in to the target with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshAuth {
    PrivateKeyFile(PathBuf),
    Password(Secret<String>),
}

/// What happens when a channel cannot be recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SshRecording {
    /// No recording, no channel.
    #[default]
    Required,
    /// The channel goes on; the failure is logged and in the ledger.
    BestEffort,
}

impl std::str::FromStr for SshRecording {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "required" => Ok(SshRecording::Required),
            "best-effort" => Ok(SshRecording::BestEffort),
            other => Err(format!(
                "unknown recording mode `{other}`, expected `required` or `best-effort`"
            )),
        }
    }
}

/// How SFTP is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SftpMode {
    /// Rules decide each operation (`ssh.sftp.op`, `ssh.sftp.path`).
    #[default]
    Policy,
    /// Reading operations only, whatever the rules say about writes.
    ReadOnly,
    /// No SFTP subsystem at all.
    Deny,
}

impl std::str::FromStr for SftpMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "policy" => Ok(SftpMode::Policy),
            "read-only" => Ok(SftpMode::ReadOnly),
            "deny" => Ok(SftpMode::Deny),
            other => Err(format!(
                "unknown sftp mode `{other}`, expected `policy`, `read-only` or `deny`"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSsh {
    address: Spanned<Str>,
    user: Spanned<Str>,
    #[serde(default)]
    private_key_file: Option<Spanned<Str>>,
    #[serde(default)]
    password: Option<Spanned<Str>>,
    known_host: Spanned<Str>,
    #[serde(default)]
    recording: Option<Parsed<SshRecording>>,
    #[serde(default)]
    record_input: bool,
    #[serde(default)]
    sftp: Option<Parsed<SftpMode>>,
}

impl RawSsh {
    pub(crate) fn check(self, table: &Range<usize>) -> Result<SshOptions, Invalid> {
        check_address(&self.address.get_ref().0).map_err(|m| (self.address.span(), m))?;
        if self.user.get_ref().0.is_empty() {
            return Err((self.user.span(), "`user` must not be empty".to_owned()));
        }
        let auth = match (self.private_key_file, self.password) {
            (Some(file), None) => SshAuth::PrivateKeyFile(PathBuf::from(file.into_inner().0)),
            (None, Some(password)) => SshAuth::Password(Secret::new(password.into_inner().0)),
            (Some(_), Some(password)) => {
                return Err((
                    password.span(),
                    "give `private_key_file` or `password`, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err((
                    table.clone(),
                    "an `ssh` connection needs `private_key_file` or `password`".to_owned(),
                ));
            }
        };
        let known_host = self.known_host.get_ref().0.trim().to_owned();
        let mut fields = known_host.split_whitespace();
        if fields.next().is_none() || fields.next().is_none() {
            return Err((
                self.known_host.span(),
                "`known_host` must be the target's public key as `<key type> <base64>`, e.g. `ssh-ed25519 AAAA...` (`ssh-keyscan` prints it)"
                    .to_owned(),
            ));
        }
        Ok(SshOptions {
            address: self.address.into_inner().0,
            user: self.user.into_inner().0,
            auth,
            known_host,
            recording: self.recording.map(|r| r.0).unwrap_or_default(),
            record_input: self.record_input,
            sftp: self.sftp.map(|s| s.0).unwrap_or_default(),
        })
    }
}

//! Errors of the HTTP front-end. Their texts may reach a client: no
//! credential, no response byte, no internal path.

/// Why a target could not be set up or reached.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection's TLS material or URL could not be used (at startup).
    #[error("connection `{connection}`: {reason}")]
    Setup { connection: String, reason: String },
    /// The target could not be reached or broke off.
    #[error("the target could not be reached")]
    Unreachable(#[source] reqwest::Error),
}

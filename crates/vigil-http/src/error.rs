//! Errors of the HTTP front-end. Their texts may reach a client: no
//! credential, no response byte, no internal path.

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection's TLS material or URL could not be used (at startup).
    #[error("connection `{connection}`: {reason}")]
    Setup { connection: String, reason: String },
}

//! The upstream side: dialing the target with the connection's own
//! credential, which never leaves this module except towards the target.

mod auth;
mod connect;
mod preview;
mod tls;

pub use auth::AuthMethods;
pub use connect::{Upstream, UpstreamConfig, UpstreamTls, connect, send_cancel};
pub use preview::{PreviewError, explain_json, param_types_of_hint};

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach the target: {0}")]
    Io(#[from] std::io::Error),
    #[error("target protocol error: {0}")]
    Protocol(String),
    /// The target refused the connection's credential. The text is the
    /// server's, which names the user but never the password.
    #[error("target refused the login: {0}")]
    Auth(String),
    #[error("target TLS: {0}")]
    Tls(String),
    #[error("target TLS required by the connection but refused by the server")]
    TlsRefused,
    #[error("the target asks for {0}, which the gateway does not support")]
    UnsupportedAuth(String),
    /// The target asked for a method the connection's `auth_methods` leaves out.
    #[error(
        "the target asks for {0} authentication, which this connection does not allow (auth_methods)"
    )]
    AuthNotAllowed(&'static str),
}

impl From<crate::protocol::FrameError> for BackendError {
    fn from(e: crate::protocol::FrameError) -> Self {
        BackendError::Protocol(e.to_string())
    }
}

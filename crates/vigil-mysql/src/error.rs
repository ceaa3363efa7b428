//! What can end a MySQL session or login, and who failed.

/// A failure of the client, the target or the gateway while relaying.
#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The client sent bytes that are not the protocol (or past a limit).
    #[error("client protocol error: {0}")]
    Client(String),
    /// The target sent bytes that fit no expectation.
    #[error("target protocol error: {0}")]
    Upstream(String),
    /// The target refused Vigil's login; the text never holds the password.
    #[error("target login failed: {0}")]
    Login(String),
}

pub type Result<T> = std::result::Result<T, MysqlError>;

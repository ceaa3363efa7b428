/// Why the guard refused to open a session or to decide.
///
/// Display texts are safe to show a client: no credential, no internal path.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("authentication failed")]
    Authentication(#[source] vigil_identity::IdentityError),
    #[error("unknown connection \"{0}\"")]
    UnknownConnection(String),
    #[error("no policy grants {principal} access to connection \"{connection}\"")]
    NotGranted {
        principal: String,
        connection: String,
    },
    #[error("the mask rules of this connection cannot be applied: {0}")]
    MaskConfig(String),
    /// The ledger could not record the decision: fail closed.
    #[error("the audit ledger is unavailable, so nothing can be forwarded")]
    Ledger(#[source] vigil_store::StoreError),
}

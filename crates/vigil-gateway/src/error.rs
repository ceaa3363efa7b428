use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] vigil_config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] vigil_store::StoreError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    #[error("mask key: {0}")]
    MaskKey(String),
    #[error("OIDC: {0}")]
    Oidc(String),
    #[error("SSH: {0}")]
    Ssh(String),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "server.store (a shared PostgreSQL store) is not supported yet; remove it to use the embedded SQLite store in data_dir"
    )]
    SharedStoreUnsupported,
    #[error("no listener configured: set [listen] postgres, mysql, ssh and/or http")]
    NothingToListen,
}

//! vigil-mysql: the MySQL/MariaDB front-end. Bytes to actions and back:
//! framing with size limits, login through the guard, statement analysis
//! with `vigil-mysql-sql`, the guard's decision before any byte is
//! forwarded, masking of result rows, the ledger outcome.

mod analysis;
mod announce;
mod auth;
pub mod backend;
pub mod binary_row;
mod binary_text;
mod client_auth;
mod client_out;
mod error;
mod error_text;
mod frontend;
mod handshake;
mod mask;
mod mask_binary;
pub mod packet;
mod prefixed;
mod prepare_ok;
mod refusal;
mod relay;
#[cfg(test)]
mod scripted;
mod session;
mod statements;
mod target;
mod target_query;
mod upstream_login;
mod upstream_tls;
pub mod wire;

pub use backend::{Flavor, UpstreamConfig, UpstreamTls};
pub use error::MysqlError;
pub use frontend::{MysqlFrontend, MysqlFrontendConfig};
pub use target::MysqlTarget;

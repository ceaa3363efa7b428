//! The PostgreSQL front-end of Vigil.
//!
//! It speaks the v3 protocol to clients and to the target, turns each
//! statement into an action for the guard, and relays what the guard
//! allows. It decides nothing itself.

mod admission;
pub mod backend;
mod cancel;
mod catalog;
mod frontend;
mod mask;
pub mod protocol;
pub mod query;
mod session;
mod stream;

pub use admission::{AdmissionConfig, FailedLogins, SourceCheck};
pub use catalog::{CatalogCache, CatalogSource};
pub use frontend::{PgFrontend, PgFrontendConfig};

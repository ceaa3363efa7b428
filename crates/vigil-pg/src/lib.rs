//! The PostgreSQL front-end of Vigil.
//!
//! It speaks the v3 protocol to clients and to the target, turns each
//! statement into an action for the guard, and relays what the guard
//! allows. It decides nothing itself.

pub mod backend;
mod cancel;
mod catalog;
mod frontend;
mod mask;
pub mod protocol;
mod query;
mod session;
mod stream;
mod target;

pub use frontend::{PgFrontend, PgFrontendConfig};
pub use target::PgTarget;

//! The ledger's hash chain and its verification.

pub mod chain;
mod direct;
pub mod head;
pub mod verify;
mod verify_log;

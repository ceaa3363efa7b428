//! The ledger's hash chain and its verification.

pub mod chain;
pub mod verify;

//! The ledger's append-only log: the hot path's durable record.
//!
//! Decisions are chained and framed here and written with one `write` per
//! group commit ([`writer`]); SQLite is the queryable index, fed from these
//! files off the hot path ([`tail`]) and caught up from them at start, so an
//! acknowledged event can never be missing from it after a crash.

pub(crate) mod lock;
pub(crate) mod record;
pub(crate) mod recover;
pub(crate) mod segment;
pub(crate) mod tail;
pub(crate) mod writer;

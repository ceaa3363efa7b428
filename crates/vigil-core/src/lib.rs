//! Shared types of the Vigil pipeline.
//!
//! Every protocol front-end turns bytes into an [`Action`], the guard turns a
//! [`PrincipalRecord`] and an action into a [`Verdict`], and everything that happens
//! is written to the ledger as an [`Event`]. These types carry no I/O.

mod action;
mod approval;
mod connection_kind;
mod event;
mod http;
mod k8s;
pub mod lru;
mod principal;
mod protocol;
mod run_id;
mod secret;
mod ssh;
mod verdict;

pub use action::{Action, ActionKind, ConnectionRef, SqlFacts};
pub use approval::{ApprovalRecord, ApprovalStatus, GrantRecord};
pub use connection_kind::ConnectionKind;
pub use event::{
    Event, EventBody, MaskingSummary, SessionId, StatementOutcome, VerdictKind, VerdictRecord,
};
pub use http::HttpFacts;
pub use k8s::{K8sExec, K8sFacts};
pub use principal::{IdentityKey, PrincipalKind, PrincipalRecord};
pub use protocol::Protocol;
pub use run_id::{MAX_RUN_ID, RunId};
pub use secret::Secret;
pub use ssh::{SshFacts, SshRequest};
pub use verdict::{ReviewMode, Verdict};

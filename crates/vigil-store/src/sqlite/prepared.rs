//! An event made ready for the writer on the caller's task.
//!
//! Serializing to canonical JSON is done before the event enters the queue,
//! outside the writer's lock, so it never holds up a commit.

use crate::StoreError;
use crate::ledger::chain::canonical_json;
use crate::log::writer::EventFields;
use vigil_core::{Event, EventBody};

/// What an event changes in the `sessions` summary table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionEffect {
    None,
    Start {
        principal: String,
        connection: String,
        protocol: String,
    },
    Statement {
        denied: bool,
    },
    End,
}

#[derive(Debug)]
pub(crate) struct PreparedEvent {
    pub at_ms: i64,
    pub session: Option<String>,
    pub principal: Option<String>,
    pub run_id: Option<String>,
    pub event_type: &'static str,
    /// Canonical JSON of the whole event: what is hashed and stored.
    pub body: String,
    pub effect: SessionEffect,
}

impl PreparedEvent {
    /// The fields the log and the index take, borrowed.
    pub(crate) fn fields(&self) -> EventFields<'_> {
        EventFields {
            at_ms: self.at_ms,
            session: self.session.as_deref(),
            principal: self.principal.as_deref(),
            run_id: self.run_id.as_deref(),
            event_type: self.event_type,
            body: &self.body,
            effect: &self.effect,
        }
    }

    pub(crate) fn new(event: Event) -> Result<Self, StoreError> {
        let body = canonical_json(&event)?;
        let effect = match &event.body {
            EventBody::SessionStart {
                protocol,
                connection,
                principal,
                ..
            } => SessionEffect::Start {
                principal: principal.name.clone(),
                connection: connection.clone(),
                protocol: protocol.as_str().to_string(),
            },
            EventBody::Statement { decision, .. } => SessionEffect::Statement {
                denied: decision.verdict == vigil_core::VerdictKind::Deny,
            },
            EventBody::SessionEnd { .. } => SessionEffect::End,
            _ => SessionEffect::None,
        };
        Ok(PreparedEvent {
            at_ms: event.at_ms,
            event_type: event.body.type_name(),
            session: event.session,
            principal: event.principal,
            run_id: event.run_id,
            body,
            effect,
        })
    }
}

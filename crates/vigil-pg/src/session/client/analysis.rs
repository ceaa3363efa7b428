//! What the client pump knows of a statement before it decides: its facts
//! under the target's settings and the latest catalog, how its rows are
//! masked, whether its errors may quote data, and what it may change.

use super::ops;
use super::{ClientPump, MAX_STATEMENTS_PER_MESSAGE};
use crate::mask::StatementMask;
use crate::session::names::Facts;
use std::sync::Arc;
use vigil_core::SqlFacts;
use vigil_guard::{Refusal, Unpolicied};

impl ClientPump<'_> {
    /// Whether errors and notices while `facts` runs may quote data the
    /// session must not see: with column rules, anything that reads a
    /// table, calls a function or reads a cursor.
    pub(super) fn guarded(&self, facts: &SqlFacts) -> bool {
        self.session.mask.has_column_rules() && crate::mask::may_quote_data(facts)
    }

    /// A statement that is not read-only may change settings the target
    /// lexes later text under; the change is reported before ReadyForQuery.
    pub(super) fn note_settings(&mut self, facts: &[SqlFacts]) {
        if let Some(f) = facts.iter().find(|f| !f.read_only) {
            self.unsettled = Some(self.batch);
            self.unsettled_opaque |= !ops::is_plain_dml(f);
        }
    }

    /// A `COPY ... FROM STDIN` about to be forwarded: until the client ends
    /// its data, a Sync may be ignored by the target (see `Kind::CopySync`).
    pub(super) fn note_copy_in(&mut self, facts: &[SqlFacts]) {
        if facts.iter().any(|f| f.kind == "copy" && f.writes) {
            self.copy_done_sent = false;
            self.shared.copy_in_expected();
        }
    }

    /// Analyses a statement under the settings the target reads it with.
    /// Err(Some) is a refusal (recorded); Err(None) means the refusal could
    /// not even be recorded.
    pub(super) async fn analyse(&mut self, text: &str) -> Result<Facts, Option<Refusal>> {
        if let Some(source) = &self.catalog_source {
            let latest = source.current().await;
            if !Arc::ptr_eq(&latest, &self.catalog) {
                self.catalog = latest;
            }
        }
        let analysed = match self.shared.lexing_problem() {
            Some(problem) => Err(format!(
                "the target reads statements under {problem}, which Vigil's analyser does \
                 not reproduce; reconnect to continue"
            )),
            None => self
                .analyses
                .analyze(text, &self.catalog)
                .map_err(|e| e.to_string()),
        };
        let analysed = analysed.and_then(|facts| {
            if facts.len() > MAX_STATEMENTS_PER_MESSAGE {
                return Err(format!(
                    "more than {MAX_STATEMENTS_PER_MESSAGE} statements in one message"
                ));
            }
            match self.copy_unreadable(&facts) {
                Some(problem) => Err(problem),
                None => Ok(facts),
            }
        });
        match analysed {
            Ok(facts) => Ok(facts),
            Err(e) => match self
                .guard
                .refuse(self.session, Unpolicied::unanalysable(text, &e))
                .await
            {
                Ok(r) => Err(Some(r)),
                Err(e) => {
                    tracing::error!(session = %self.session.id, error = %e, "ledger unavailable");
                    Err(None)
                }
            },
        }
    }

    /// A `COPY ... TO` whose data the masker could not read as the target
    /// writes it (an `ENCODING`, an option it does not know): refused in a
    /// session with masks.
    pub(super) fn copy_unreadable(&self, facts: &[SqlFacts]) -> Option<String> {
        if self.session.mask.is_empty() {
            return None;
        }
        facts
            .iter()
            .filter(|f| f.kind == "copy")
            .find_map(|f| vigil_sql::copy_out_format(&f.text).err())
            .map(|e| format!("the COPY's output cannot be masked: {e}"))
    }

    /// How the rows of one statement are masked, for a session with masks.
    /// `kind` is the statement's `SqlFacts::kind`.
    pub(super) fn statement_mask(&self, text: &str, kind: &str) -> Option<Arc<StatementMask>> {
        let policy = &self.session.mask;
        if policy.is_empty() {
            return None;
        }
        let lineage = self.lineages.output_lineage(text, &self.catalog);
        // Only a COPY has a copy format: spare every other statement a parse.
        let copy = if kind == "copy" {
            vigil_sql::copy_out_format(text).ok().flatten()
        } else {
            None
        };
        StatementMask::build(policy, lineage, copy)
    }
}

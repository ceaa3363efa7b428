//! Masking on the way back to the client: which output columns of a
//! statement are masked (from its lineage and the session's mask policy),
//! and the rewriting of DataRow, CopyData, notification, error and notice
//! messages. RowDescription is never changed.

mod copy;
mod fields;
mod guarded;
mod row;
mod tally;

pub use copy::CopyMasker;
pub use fields::{hide_error_text, mask_error_fields, mask_notification};
pub use guarded::may_quote_data;
pub use row::{Formats, mask_data_row, row_types};
pub use tally::Tally;

use std::sync::Arc;
use vigil_mask::{MaskPolicy, Masker};
use vigil_sql::{AnalysisError, ColumnLineage, CopyOutFormat, OutputLineage};

/// How the results of one statement are masked.
pub struct StatementMask {
    /// Per output column: the masker that replaces the whole value.
    columns: Vec<Option<Arc<Masker>>>,
    /// For columns past `columns` (the shape was not known): fail closed.
    rest: Option<Arc<Masker>>,
    /// Detectors over every text value, after column masking.
    pub content: Option<Arc<Masker>>,
    /// `COPY ... TO`: how rows are laid out.
    pub copy: Option<CopyOutFormat>,
    /// For the ledger: each masked output column and why.
    pub described: Vec<String>,
}

impl StatementMask {
    /// The mask of one statement, or None when nothing of its output can be
    /// masked (the common case for a session without mask rules).
    pub fn build(
        policy: &MaskPolicy,
        lineage: Result<Arc<Option<OutputLineage>>, AnalysisError>,
        copy: Option<CopyOutFormat>,
    ) -> Option<Arc<StatementMask>> {
        if policy.is_empty() {
            return None;
        }
        let mut mask = StatementMask {
            columns: Vec::new(),
            rest: None,
            content: policy.content().cloned(),
            copy,
            described: Vec::new(),
        };
        match lineage.as_deref() {
            Ok(Some(lineage)) => {
                for (i, column) in lineage.columns.iter().enumerate() {
                    let (masker, why) = match column {
                        ColumnLineage::Derived(sources) => {
                            let hit = sources.iter().find_map(|c| {
                                policy
                                    .for_column(&c.schema, &c.table, &c.column)
                                    .map(|m| (m, c))
                            });
                            match hit {
                                Some((m, c)) => (
                                    Some(m.clone()),
                                    format!("{} <- {}.{}.{}", i + 1, c.schema, c.table, c.column),
                                ),
                                None => (None, String::new()),
                            }
                        }
                        ColumnLineage::Unknown(reason) => match policy.for_unproven() {
                            Some(m) => {
                                (Some(m.clone()), format!("{} <- unproven: {reason}", i + 1))
                            }
                            None => (None, String::new()),
                        },
                    };
                    if masker.is_some() {
                        mask.described.push(why);
                    }
                    mask.columns.push(masker);
                }
                // The server's row always has as many columns as the
                // lineage; if it ever has more, mask them (fail closed).
                mask.rest = policy.for_unproven().cloned();
            }
            Ok(None) => {
                // No rows expected (a write without RETURNING, SET, ...). If
                // rows come anyway, they are masked whole where rules exist.
                mask.rest = policy.for_unproven().cloned();
            }
            Err(e) => {
                if let Some(m) = policy.for_unproven() {
                    mask.rest = Some(m.clone());
                    mask.described.push(format!("all <- unproven: {e}"));
                }
            }
        }
        Some(Arc::new(mask))
    }

    /// A mask for rows whose statement is not known: every column whole
    /// where column rules exist, detectors over everything.
    pub fn unknown(policy: &MaskPolicy) -> Option<Arc<StatementMask>> {
        Self::build(
            policy,
            Err(AnalysisError::Parse("rows of an unknown statement".into())),
            None,
        )
    }

    pub fn column(&self, index: usize) -> Option<&Arc<Masker>> {
        match self.columns.get(index) {
            Some(m) => m.as_ref(),
            None => self.rest.as_ref(),
        }
    }
}

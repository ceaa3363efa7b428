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
use vigil_mask::{ColumnOrigin, MaskPlan, MaskPolicy, ResultShape, SourceColumn};
use vigil_sql::{AnalysisError, ColumnLineage, CopyOutFormat, OutputLineage};

/// How the results of one statement are masked: the protocol-free plan
/// (`vigil_mask::MaskPlan`, from the statement's lineage and the session's
/// policy) and, for `COPY ... TO`, how its rows are laid out.
pub struct StatementMask {
    plan: MaskPlan,
    /// `COPY ... TO`: how rows are laid out.
    pub copy: Option<CopyOutFormat>,
}

impl StatementMask {
    /// The mask of one statement, or None when nothing of its output can be
    /// masked (the common case for a session without mask rules).
    pub fn build(
        policy: &MaskPolicy,
        lineage: Result<Arc<Option<OutputLineage>>, AnalysisError>,
        copy: Option<CopyOutFormat>,
    ) -> Option<Arc<StatementMask>> {
        let plan = plan_of(policy, &lineage)?;
        Some(Arc::new(StatementMask { plan, copy }))
    }

    /// A mask for rows whose statement is not known: every column whole
    /// where column rules exist, detectors over everything.
    pub fn unknown(policy: &MaskPolicy) -> Option<Arc<StatementMask>> {
        let plan = MaskPlan::build(
            policy,
            ResultShape::Unproven("rows of an unknown statement"),
        )?;
        Some(Arc::new(StatementMask { plan, copy: None }))
    }
}

/// A statement's mask is its plan plus the COPY layout: the row and COPY
/// maskers take the plan.
impl std::ops::Deref for StatementMask {
    type Target = MaskPlan;

    fn deref(&self) -> &MaskPlan {
        &self.plan
    }
}

/// The protocol-free mask plan of a statement whose output lineage the SQL
/// analysis worked out (or failed to).
pub fn plan_of(
    policy: &MaskPolicy,
    lineage: &Result<Arc<Option<OutputLineage>>, AnalysisError>,
) -> Option<MaskPlan> {
    if policy.is_empty() {
        return None;
    }
    let why;
    let shape = match lineage.as_deref() {
        Ok(Some(lineage)) => ResultShape::Columns(lineage.columns.iter().map(origin).collect()),
        Ok(None) => ResultShape::NoRows,
        Err(e) => {
            why = e.to_string();
            ResultShape::Unproven(&why)
        }
    };
    MaskPlan::build(policy, shape)
}

fn origin(column: &ColumnLineage) -> ColumnOrigin<'_> {
    match column {
        ColumnLineage::Derived(sources) => ColumnOrigin::Sources(
            sources
                .iter()
                .map(|c| SourceColumn {
                    schema: &c.schema,
                    table: &c.table,
                    column: &c.column,
                })
                .collect(),
        ),
        ColumnLineage::Unknown(why) => ColumnOrigin::Unproven(why),
    }
}

//! The mask plan of one result: which masker replaces each output column,
//! from what the analysis proved about where the column's values come from
//! (its lineage) and the session's [`MaskPolicy`].
//!
//! Protocol-free: a front-end describes the result's columns as
//! [`ColumnOrigin`]s (PostgreSQL and MySQL from their SQL lineage, an HTTP
//! API from its schema) and applies the plan to values in its own wire
//! format.
//!
//! ```
//! use vigil_mask::{ColumnOrigin, MaskKey, MaskPlan, MaskPolicy, MaskRule, ResultShape,
//!                  SourceColumn, Style};
//!
//! let columns = ["public.users.email".to_string()];
//! let rule = MaskRule { columns: &columns, detectors: &[], style: Style::Redact };
//! let policy = MaskPolicy::compile([rule], &MaskKey::new([0; 32])).unwrap();
//! let email = SourceColumn { schema: "public", table: "users", column: "email" };
//! let shape = ResultShape::Columns(vec![
//!     ColumnOrigin::Sources(vec![]),       // a constant
//!     ColumnOrigin::Sources(vec![email]),  // users.email
//! ]);
//! let plan = MaskPlan::build(&policy, shape).unwrap();
//! assert!(plan.column(0).is_none());
//! assert!(plan.column(1).is_some());
//! assert_eq!(plan.described(), ["2 <- public.users.email"]);
//! ```

use crate::{MaskPolicy, Masker};
use std::sync::Arc;

/// A column of a table (or view) that a rule may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceColumn<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub column: &'a str,
}

/// Where one output column's values come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnOrigin<'a> {
    /// Only from these columns (none: a constant, `now()`, `count(*)`).
    Sources(Vec<SourceColumn<'a>>),
    /// Not proven; the string says why (for the ledger).
    Unproven(&'a str),
}

/// What the analysis proved about a result's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResultShape<'a> {
    /// One origin per output column, in order. Columns past these (the
    /// target sent more than the analysis counted) are unproven.
    Columns(Vec<ColumnOrigin<'a>>),
    /// No rows are expected (a write without RETURNING, SET, ...).
    NoRows,
    /// Nothing is known about the result; the string says why.
    Unproven(&'a str),
}

/// Per output column, the masker that replaces the whole value; then the
/// detectors that scan every text value.
#[derive(Debug, Default)]
pub struct MaskPlan {
    columns: Vec<Option<Arc<Masker>>>,
    /// Columns past `columns`: fail closed.
    rest: Option<Arc<Masker>>,
    content: Option<Arc<Masker>>,
    described: Vec<String>,
}

impl MaskPlan {
    /// The plan of one result, or `None` when the policy masks nothing (the
    /// common case, so a session without mask rules pays nothing).
    pub fn build(policy: &MaskPolicy, shape: ResultShape<'_>) -> Option<MaskPlan> {
        if policy.is_empty() {
            return None;
        }
        let unproven = policy.for_unproven();
        let mut plan = MaskPlan {
            content: policy.content().cloned(),
            // Whatever the target sends past the proven columns is masked
            // whole where column rules exist.
            rest: unproven.cloned(),
            ..MaskPlan::default()
        };
        match shape {
            ResultShape::Columns(origins) => {
                for (i, origin) in origins.iter().enumerate() {
                    let (masker, why) = match origin {
                        ColumnOrigin::Sources(sources) => {
                            match sources.iter().find_map(|c| {
                                policy
                                    .for_column(c.schema, c.table, c.column)
                                    .map(|m| (m, c))
                            }) {
                                Some((m, c)) => (
                                    Some(m.clone()),
                                    format!("{} <- {}.{}.{}", i + 1, c.schema, c.table, c.column),
                                ),
                                None => (None, String::new()),
                            }
                        }
                        ColumnOrigin::Unproven(reason) => match unproven {
                            Some(m) => {
                                (Some(m.clone()), format!("{} <- unproven: {reason}", i + 1))
                            }
                            None => (None, String::new()),
                        },
                    };
                    if masker.is_some() {
                        plan.described.push(why);
                    }
                    plan.columns.push(masker);
                }
            }
            ResultShape::NoRows => {}
            ResultShape::Unproven(reason) => {
                if unproven.is_some() {
                    plan.described.push(format!("all <- unproven: {reason}"));
                }
            }
        }
        Some(plan)
    }

    /// The masker of output column `index` (0-based), if its whole value is
    /// replaced.
    pub fn column(&self, index: usize) -> Option<&Arc<Masker>> {
        match self.columns.get(index) {
            Some(m) => m.as_ref(),
            None => self.rest.as_ref(),
        }
    }

    /// The detectors run over every text value after column masking.
    pub fn content(&self) -> Option<&Arc<Masker>> {
        self.content.as_ref()
    }

    /// For the ledger: each masked output column and why, never a value.
    pub fn described(&self) -> &[String] {
        &self.described
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MaskKey, MaskRule, Style};

    fn email_policy() -> MaskPolicy {
        let columns = ["public.users.email".to_string()];
        let rule = MaskRule {
            columns: &columns,
            detectors: &[],
            style: Style::Redact,
        };
        MaskPolicy::compile([rule], &MaskKey::new([0; 32])).unwrap()
    }

    #[test]
    fn no_rules_no_plan() {
        assert!(MaskPlan::build(&MaskPolicy::default(), ResultShape::NoRows).is_none());
    }

    #[test]
    fn unproven_columns_and_columns_past_the_shape_fail_closed() {
        let p = email_policy();
        let plan = MaskPlan::build(
            &p,
            ResultShape::Columns(vec![
                ColumnOrigin::Unproven("a function"),
                ColumnOrigin::Sources(vec![]),
            ]),
        )
        .unwrap();
        assert!(plan.column(0).is_some());
        assert!(plan.column(1).is_none());
        assert!(plan.column(2).is_some(), "past the proven columns");
        assert_eq!(plan.described(), ["1 <- unproven: a function"]);

        let plan = MaskPlan::build(&p, ResultShape::Unproven("no parse")).unwrap();
        assert!(plan.column(0).is_some());
        assert_eq!(plan.described(), ["all <- unproven: no parse"]);
    }
}

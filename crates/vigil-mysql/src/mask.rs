//! Masking of one result set: the plan from the statement's lineage and the
//! column definitions the target sent, applied to text-protocol rows.

use crate::backend::BaseTables;
use crate::wire::{Cursor, put_lenenc_str};
use std::collections::BTreeMap;
use vigil_core::MaskingSummary;
use vigil_mask::{ColumnOrigin, Hits, MaskPlan, MaskPolicy, Masked, ResultShape, SourceColumn};
use vigil_mysql_sql::{Lineage, Origin};

/// A column definition's names (lower case), type and flags.
#[derive(Clone, Debug, Default)]
pub struct ColumnDef {
    pub schema: String,
    pub org_table: String,
    pub org_name: String,
    /// `enum_field_types` (see `binary_row::ty`).
    pub column_type: u8,
    pub flags: u16,
}

/// Column definition flags.
pub mod flag {
    pub const NOT_NULL: u16 = 0x0001;
    pub const UNSIGNED: u16 = 0x0020;
}

impl ColumnDef {
    pub fn nullable(&self) -> bool {
        self.flags & flag::NOT_NULL == 0
    }
}

impl ColumnDef {
    pub fn decode(payload: &[u8]) -> Option<ColumnDef> {
        let mut c = Cursor::new(payload);
        let mut s = || {
            c.lenenc_str()
                .map(|v| String::from_utf8_lossy(v.unwrap_or_default()).to_lowercase())
        };
        let _catalog = s()?;
        let schema = s()?;
        let _table = s()?;
        let org_table = s()?;
        let _name = s()?;
        let org_name = s()?;
        // The fixed part: its length (0x0C), character set, column length,
        // then the type and the flags.
        let _fixed = c.lenenc()?;
        let _charset = c.u16()?;
        let _length = c.u32()?;
        let column_type = c.u8()?;
        let flags = c.u16()?;
        Some(ColumnDef {
            schema,
            org_table,
            org_name,
            column_type,
            flags,
        })
    }
}

/// The plan of one result set: `lineage` from the analysis (None: a result
/// the analysis did not expect), `defs` from the target.
pub fn plan(
    policy: &MaskPolicy,
    lineage: Option<&Lineage>,
    defs: &[ColumnDef],
    base_tables: Option<&BaseTables>,
) -> Option<MaskPlan> {
    if policy.is_empty() {
        return None;
    }
    let origins: Vec<Option<Vec<(String, String, String)>>> = match lineage {
        Some(Lineage::Columns(cols)) => {
            let mut out = Vec::with_capacity(defs.len());
            let mut star: Option<(String, String)> = None;
            for (i, def) in defs.iter().enumerate() {
                let origin = match (&star, cols.get(i)) {
                    (Some((db, t)), _) => star_column(db, t, def),
                    (None, Some(Origin::Sources(s))) => Some(s.clone()),
                    (None, Some(Origin::Star(db, t))) => {
                        star = Some((db.clone(), t.clone()));
                        star_column(db, t, def)
                    }
                    (None, Some(Origin::Unproven(_))) | (None, None) => None,
                };
                out.push(origin);
            }
            out
        }
        Some(Lineage::Catalog) => vec![Some(Vec::new()); defs.len()],
        _ => vec![None; defs.len()],
    };
    // A source proves nothing unless it is a base table (a view shows a
    // masked column under its own name).
    let is_base = |schema: &str, table: &str| {
        base_tables.is_some_and(|b| b.contains(&(schema.to_lowercase(), table.to_lowercase())))
    };
    let origins: Vec<Option<Vec<(String, String, String)>>> = origins
        .into_iter()
        .map(|o| o.filter(|sources| sources.iter().all(|(d, t, _)| is_base(d, t))))
        .collect();
    let shape = ResultShape::Columns(
        origins
            .iter()
            .map(|o| match o {
                Some(s) => ColumnOrigin::Sources(
                    s.iter()
                        .map(|(schema, table, column)| SourceColumn {
                            schema,
                            table,
                            column,
                        })
                        .collect(),
                ),
                None => ColumnOrigin::Unproven("lineage not proven"),
            })
            .collect(),
    );
    MaskPlan::build(policy, shape)
}

/// A column of `SELECT *` over the one table `db.t`: the target names it
/// (`org_name`); a column that is not of that table is unproven.
fn star_column(db: &str, t: &str, def: &ColumnDef) -> Option<Vec<(String, String, String)>> {
    (def.org_table == t && !def.org_name.is_empty() && (def.schema.is_empty() || def.schema == db))
        .then(|| vec![(db.to_string(), t.to_string(), def.org_name.clone())])
}

/// What masking did over a result, for the ledger.
#[derive(Debug, Default)]
pub struct Tally {
    pub columns: Vec<String>,
    pub values: u64,
    pub hits: Hits,
}

impl Tally {
    pub fn summary(&self) -> Option<MaskingSummary> {
        if self.columns.is_empty() && self.values == 0 && self.hits.total() == 0 {
            return None;
        }
        let mut detector_hits = BTreeMap::new();
        for (d, n) in self.hits.iter() {
            detector_hits.insert(d.as_str().to_string(), u64::from(n));
        }
        Some(MaskingSummary {
            columns: self.columns.clone(),
            column_values: self.values,
            detector_hits,
        })
    }
}

/// A text-protocol row with `columns` values, masked; `None` when the row
/// does not parse (the relay then ends the session).
pub fn text_row(plan: &MaskPlan, row: &[u8], columns: usize, tally: &mut Tally) -> Option<Vec<u8>> {
    let mut c = Cursor::new(row);
    let mut out = Vec::with_capacity(row.len() + 16);
    for i in 0..columns {
        let value = c.lenenc_str()?;
        let Some(value) = value else {
            out.push(0xFB);
            continue;
        };
        let mut current: Option<Vec<u8>> = None;
        if let Some(m) = plan.column(i) {
            tally.values += 1;
            match m.mask_value(value) {
                Masked::Text(t) => current = Some(t),
                Masked::Null => {
                    out.push(0xFB);
                    continue;
                }
            }
        }
        if let Some(content) = plan.content() {
            let text = current.as_deref().unwrap_or(value);
            if let Some((masked, hits)) = content.scan(text) {
                tally.hits.add(&hits);
                match masked {
                    Masked::Text(t) => current = Some(t),
                    Masked::Null => {
                        out.push(0xFB);
                        continue;
                    }
                }
            }
        }
        put_lenenc_str(&mut out, current.as_deref().unwrap_or(value));
    }
    c.at_end().then_some(out)
}

//! Masking of binary-protocol rows (COM_STMT_EXECUTE and COM_STMT_FETCH
//! answers) with the same plan text rows use.
//!
//! The rule: a masked value of a character or blob column is replaced by
//! the masked text (its length prefix rewritten). A column of any other
//! type (numbers, dates, DECIMAL, BIT, JSON, GEOMETRY) cannot carry a
//! marker the client would not misread, so its masked value is sent as
//! NULL; and a NULL is sent only where the column definition allows NULL.
//! A masked NOT NULL column of such a type (or any masked NOT NULL column
//! under `style = "null"`) is refused before a row is sent ([`check`]);
//! a detector hit in such a column, found only while rows stream, ends the
//! session ([`MaskError::NotNullable`]).

use crate::binary_row::{self, BinaryRowError, Value, carries_text};
use crate::mask::{ColumnDef, Tally, flag};
use std::borrow::Cow;
use vigil_mask::{MaskPlan, Masked, Style};

/// Why a binary row could not be masked. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("binary row: {0}")]
    Decode(#[from] BinaryRowError),
    #[error("column {0} must be masked but is NOT NULL and of a type that cannot carry a mask")]
    NotNullable(usize),
}

/// The first column whose mask the result cannot carry, by the column
/// definitions alone (see the module's rule).
pub fn check(plan: &MaskPlan, defs: &[ColumnDef]) -> Result<(), usize> {
    for (i, def) in defs.iter().enumerate() {
        if let Some(m) = plan.column(i)
            && (m.style() == Style::Null || !carries_text(def.column_type))
            && !def.nullable()
        {
            return Err(i);
        }
    }
    Ok(())
}

/// A binary row of the columns `defs`, masked by `plan`.
pub fn row(
    plan: &MaskPlan,
    row: &[u8],
    defs: &[ColumnDef],
    tally: &mut Tally,
) -> Result<Vec<u8>, MaskError> {
    let types: Vec<u8> = defs.iter().map(|d| d.column_type).collect();
    let mut values = binary_row::decode(row, &types)?;
    for (i, (value, def)) in values.iter_mut().zip(defs).enumerate() {
        if *value == Value::Null {
            continue;
        }
        let null = || {
            if def.nullable() {
                Ok(Value::Null)
            } else {
                Err(MaskError::NotNullable(i))
            }
        };
        let text = carries_text(def.column_type);
        if let Some(m) = plan.column(i) {
            tally.values += 1;
            *value = match (text, value_bytes(value)) {
                (true, Some(bytes)) => match m.mask_value(bytes) {
                    Masked::Text(t) => Value::Text(Cow::Owned(t)),
                    Masked::Null => null()?,
                },
                _ => null()?,
            };
        }
        let Some(content) = plan.content() else {
            continue;
        };
        // The detectors read what the text protocol would show: strings,
        // DECIMAL and JSON as sent, integers in decimal. Floats and dates
        // are not scanned.
        let found = match &*value {
            Value::Text(s) => content.scan(s),
            Value::Fixed(b) => {
                binary_row::integer_text(def.column_type, def.flags & flag::UNSIGNED != 0, b)
                    .and_then(|t| content.scan(t.as_bytes()))
            }
            _ => None,
        };
        if let Some((masked, hits)) = found {
            tally.hits.add(&hits);
            *value = match masked {
                Masked::Text(t) if text => Value::Text(Cow::Owned(t)),
                _ => null()?,
            };
        }
    }
    let mut out = Vec::with_capacity(row.len() + 16);
    binary_row::encode(&values, &mut out);
    Ok(out)
}

/// The bytes a column mask reads: the content of a length-encoded value.
fn value_bytes<'v>(v: &'v Value<'_>) -> Option<&'v [u8]> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary_row::ty;
    use vigil_mask::{
        ColumnOrigin, MaskKey, MaskPolicy, MaskRule, ResultShape, SourceColumn, Style,
    };

    fn def(t: u8, flags: u16) -> ColumnDef {
        ColumnDef {
            column_type: t,
            flags,
            ..ColumnDef::default()
        }
    }

    fn plan(style: Style) -> MaskPlan {
        let columns = ["t.secret".to_string()];
        let rules = [MaskRule {
            columns: &columns,
            detectors: &[],
            style,
        }];
        let policy = MaskPolicy::compile(rules, &MaskKey::new([7; 32]));
        let policy = policy.unwrap_or_else(|e| panic!("{e:?}"));
        let sources = |c: &'static str| {
            ColumnOrigin::Sources(vec![SourceColumn {
                schema: "db",
                table: "t",
                column: c,
            }])
        };
        let shape = ResultShape::Columns(vec![sources("id"), sources("secret")]);
        MaskPlan::build(&policy, shape).unwrap_or_else(|| panic!("no plan"))
    }

    #[test]
    fn a_masked_string_is_replaced_and_its_length_rewritten() {
        let p = plan(Style::Redact);
        let defs = [def(ty::LONG, flag::NOT_NULL), def(ty::VAR_STRING, 0)];
        let row = [0x00, 0x00, 7, 0, 0, 0, 3, b'a', b'@', b'b'];
        let mut tally = Tally::default();
        let out = super::row(&p, &row, &defs, &mut tally).unwrap_or_else(|e| panic!("{e}"));
        let mut want = vec![0x00, 0x00, 7, 0, 0, 0];
        crate::wire::put_lenenc_str(&mut want, b"[REDACTED]");
        assert_eq!(out, want);
        assert_eq!(tally.values, 1);
    }

    #[test]
    fn a_masked_number_becomes_null_only_where_null_is_allowed() {
        let p = plan(Style::Redact);
        let nullable = [def(ty::LONG, 0), def(ty::LONGLONG, 0)];
        assert_eq!(check(&p, &nullable), Ok(()));
        let row = [0x00, 0x00, 7, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9];
        let out = super::row(&p, &row, &nullable, &mut Tally::default());
        assert_eq!(out.ok(), Some(vec![0x00, 0b1000, 7, 0, 0, 0]));
        let not_null = [def(ty::LONG, 0), def(ty::LONGLONG, flag::NOT_NULL)];
        assert_eq!(check(&p, &not_null), Err(1));
        let out = super::row(&p, &row, &not_null, &mut Tally::default());
        assert!(matches!(out, Err(MaskError::NotNullable(1))));
        // A NOT NULL string column carries the marker.
        let text = [def(ty::LONG, 0), def(ty::BLOB, flag::NOT_NULL)];
        assert_eq!(check(&p, &text), Ok(()));
        // ... but not a NULL.
        assert_eq!(check(&plan(Style::Null), &text), Err(1));
    }

    #[test]
    fn an_undecodable_row_is_an_error_not_a_pass_through() {
        let p = plan(Style::Redact);
        let defs = [def(ty::LONG, 0), def(ty::VAR_STRING, 0)];
        let out = super::row(
            &p,
            &[0x00, 0x00, 7, 0, 0, 0, 9, b'a'],
            &defs,
            &mut Tally::default(),
        );
        assert!(matches!(out, Err(MaskError::Decode(_))));
    }
}

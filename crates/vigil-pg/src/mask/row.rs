//! DataRow masking: whole values of masked columns, then detectors over the
//! text of every other value. Binary-format values that must change become
//! NULL, since a replacement could not be encoded in the column's type.

use super::Tally;
use crate::protocol::{FrameError, MessageReader};
use bytes::{BufMut, BytesMut};
use vigil_mask::MaskPlan;
use vigil_mask::Masked;

/// Result format codes of a portal, as Bind set them.
#[derive(Clone, Debug, Default)]
pub enum Formats {
    /// Simple query, or Bind without format codes.
    #[default]
    AllText,
    AllBinary,
    PerColumn(std::sync::Arc<[i16]>),
}

impl Formats {
    pub fn from_codes(codes: Vec<i16>) -> Formats {
        match codes.as_slice() {
            [] | [0] => Formats::AllText,
            [1] => Formats::AllBinary,
            _ => Formats::PerColumn(codes.into()),
        }
    }

    fn is_binary(&self, column: usize) -> bool {
        match self {
            Formats::AllText => false,
            Formats::AllBinary => true,
            // An out-of-range index is a protocol error on the server's side;
            // treat it as binary so a change becomes NULL.
            Formats::PerColumn(codes) => codes.get(column).is_none_or(|&c| c != 0),
        }
    }
}

/// Types whose text form any masked text is a valid value of: a masked
/// value of any other type (a number, JSON, an array) becomes NULL, since a
/// client could not decode `[REDACTED]` as one.
const TEXT_TYPES: [u32; 6] = [
    25,   // text
    1043, // varchar
    1042, // bpchar
    19,   // name
    18,   // char
    705,  // unknown (string literals)
];

/// The column type OIDs of a RowDescription.
pub fn row_types(message: &[u8]) -> Result<Vec<u32>, FrameError> {
    let mut r = MessageReader::new(message, "RowDescription");
    let count = r.i16()?;
    let mut types = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        r.cstr()?;
        r.take(6)?; // table oid, column number
        types.push(r.i32()? as u32);
        r.take(8)?; // type size, type modifier, format
    }
    Ok(types)
}

/// Rewrites one DataRow into `out` when something in it is masked; returns
/// false (and writes nothing) when the row passes unchanged. `types` are the
/// columns' type OIDs when the RowDescription was seen; a value whose type
/// is not known to be text becomes NULL when it must change.
pub fn mask_data_row(
    message: &[u8],
    mask: &MaskPlan,
    formats: &Formats,
    types: Option<&[u32]>,
    out: &mut BytesMut,
    tally: &mut Tally,
) -> Result<bool, FrameError> {
    let mut r = MessageReader::new(message, "DataRow");
    let count = r.i16()?;
    let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let len = r.i32()?;
        values.push(if len < 0 {
            None
        } else {
            Some(r.take(len as usize)?)
        });
    }
    let mut replaced: Vec<(usize, Masked)> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let Some(value) = value else { continue };
        let textual = !formats.is_binary(i)
            && types
                .and_then(|t| t.get(i))
                .is_some_and(|oid| TEXT_TYPES.contains(oid));
        if let Some(masker) = mask.column(i) {
            tally.column_values += 1;
            let masked = if textual {
                masker.mask_value(value)
            } else {
                Masked::Null
            };
            replaced.push((i, masked));
        } else if let Some(content) = mask.content()
            && let Some((masked, hits)) = content.scan(value)
        {
            tally.add_hits(&hits);
            replaced.push((i, if textual { masked } else { Masked::Null }));
        }
    }
    if replaced.is_empty() {
        return Ok(false);
    }
    let start = out.len();
    out.put_u8(b'D');
    out.put_u32(0);
    out.put_i16(count);
    let mut next = replaced.iter().peekable();
    for (i, value) in values.iter().enumerate() {
        let value: Option<&[u8]> = match next.peek() {
            Some((at, masked)) if *at == i => {
                next.next();
                match masked {
                    Masked::Text(t) => Some(t.as_slice()),
                    Masked::Null => None,
                }
            }
            _ => *value,
        };
        match value {
            Some(v) => {
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
            None => out.put_i32(-1),
        }
    }
    let len = (out.len() - start - 1) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::StatementMask;
    use std::sync::Arc;
    use vigil_mask::{MaskKey, MaskPolicy, MaskRule, Style};

    fn data_row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_u8(b'D');
        b.put_u32(0);
        b.put_i16(values.len() as i16);
        for v in values {
            match v {
                Some(v) => {
                    b.put_i32(v.len() as i32);
                    b.put_slice(v);
                }
                None => b.put_i32(-1),
            }
        }
        let len = (b.len() - 1) as u32;
        b[1..5].copy_from_slice(&len.to_be_bytes());
        b.to_vec()
    }

    fn values(message: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut r = MessageReader::new(message, "DataRow");
        let n = r.i16().unwrap();
        (0..n)
            .map(|_| {
                let len = r.i32().unwrap();
                (len >= 0).then(|| r.take(len as usize).unwrap().to_vec())
            })
            .collect()
    }

    fn first_column_masked() -> Arc<StatementMask> {
        let columns = vec!["t.secret".to_string()];
        let policy = MaskPolicy::compile(
            [MaskRule {
                columns: &columns,
                detectors: &[],
                style: Style::Redact,
            }],
            &MaskKey::new([1; 32]),
        )
        .unwrap();
        let lineage = vigil_sql::OutputLineage {
            columns: vec![
                vigil_sql::ColumnLineage::column(vigil_sql::QualifiedColumn::new(
                    "public", "t", "secret",
                )),
                vigil_sql::ColumnLineage::constant(),
            ],
            rest: None,
        };
        StatementMask::build(&policy, Ok(Arc::new(Some(lineage))), None).unwrap()
    }

    #[test]
    fn a_masked_text_column_takes_the_style_and_others_pass() {
        let mask = first_column_masked();
        let row = data_row(&[Some(b"hunter2-secret"), Some(b"42")]);
        let mut out = BytesMut::new();
        let mut tally = Tally::default();
        let changed = mask_data_row(
            &row,
            &mask,
            &Formats::AllText,
            Some(&[25, 23]),
            &mut out,
            &mut tally,
        )
        .unwrap();
        assert!(changed);
        let v = values(&out);
        assert_eq!(v[0].as_deref(), Some(&b"[REDACTED]"[..]));
        assert_eq!(v[1].as_deref(), Some(&b"42"[..]));
        assert_eq!(tally.column_values, 1);
    }

    #[test]
    fn masked_values_of_other_types_or_unknown_types_or_binary_become_null() {
        let mask = first_column_masked();
        let row = data_row(&[Some(b"12345"), Some(b"42")]);
        for (formats, types) in [
            (Formats::AllText, Some(&[23u32, 23][..])),
            (Formats::AllText, None),
            (Formats::AllBinary, Some(&[25u32, 23][..])),
        ] {
            let mut out = BytesMut::new();
            mask_data_row(
                &row,
                &mask,
                &formats,
                types,
                &mut out,
                &mut Tally::default(),
            )
            .unwrap();
            assert_eq!(values(&out)[0], None);
        }
    }

    #[test]
    fn truncated_rows_are_errors() {
        let mask = first_column_masked();
        let mut row = data_row(&[Some(b"abc")]);
        row.truncate(row.len() - 1);
        let mut out = BytesMut::new();
        assert!(
            mask_data_row(
                &row,
                &mask,
                &Formats::AllText,
                None,
                &mut out,
                &mut Tally::default()
            )
            .is_err()
        );
    }
}

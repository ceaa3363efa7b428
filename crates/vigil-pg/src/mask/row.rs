//! DataRow masking: whole values of masked columns, then detectors over the
//! text of every other value. Binary-format values that must change become
//! NULL, since a replacement could not be encoded in the column's type.

use super::{StatementMask, Tally};
use crate::protocol::{FrameError, MessageReader};
use bytes::{BufMut, BytesMut};
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

/// Rewrites one DataRow into `out` when something in it is masked; returns
/// false (and writes nothing) when the row passes unchanged.
pub fn mask_data_row(
    message: &[u8],
    mask: &StatementMask,
    formats: &Formats,
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
        let binary = formats.is_binary(i);
        if let Some(masker) = mask.column(i) {
            tally.column_values += 1;
            let masked = if binary {
                Masked::Null
            } else {
                masker.mask_value(value)
            };
            replaced.push((i, masked));
        } else if let Some(content) = &mask.content
            && let Some((masked, hits)) = content.scan(value)
        {
            tally.add_hits(&hits);
            replaced.push((i, if binary { Masked::Null } else { masked }));
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

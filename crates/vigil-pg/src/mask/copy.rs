//! `COPY ... TO STDOUT` masking. PostgreSQL sends one row per CopyData
//! message (the binary header rides with the first row), so each message is
//! split into fields, masked fields are replaced, and the row is written
//! back in the same format.

use super::Tally;
use crate::protocol::FrameError;
use bytes::{BufMut, BytesMut};
use vigil_mask::MaskPlan;
use vigil_mask::{Masked, Masker};
use vigil_sql::{CopyKind, CopyOutFormat};

const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Masks the CopyData messages of one COPY TO.
pub struct CopyMasker {
    format: CopyOutFormat,
    rows_seen: u64,
}

/// A field's byte range in the row, and whether it was quoted.
type Span = (usize, usize, bool);
/// Splits one row of a delimited format into field spans.
type SplitRow = fn(&CopyOutFormat, &[u8]) -> Vec<Span>;
/// Writes one replaced field in a delimited format.
type WriteField = fn(&CopyOutFormat, &mut BytesMut, &Field);

enum Field {
    Null,
    Value(Vec<u8>),
}

impl CopyMasker {
    pub fn new(format: CopyOutFormat) -> Self {
        Self {
            format,
            rows_seen: 0,
        }
    }

    /// Rewrites one CopyData message into `out` (a whole CopyData message).
    /// Returns false, writing nothing, when the row passes unchanged.
    pub fn mask(
        &mut self,
        message: &[u8],
        mask: &MaskPlan,
        out: &mut BytesMut,
        tally: &mut Tally,
    ) -> Result<bool, FrameError> {
        let data = message.get(5..).ok_or(FrameError::Malformed("CopyData"))?;
        let first = self.rows_seen == 0;
        self.rows_seen += 1;
        match self.format.kind {
            CopyKind::Binary => self.mask_binary(data, first, mask, out, tally),
            CopyKind::Text | CopyKind::Csv if first && self.format.header => Ok(false),
            CopyKind::Text => {
                self.mask_delimited(data, mask, out, tally, split_text, Self::write_text)
            }
            CopyKind::Csv => {
                self.mask_delimited(data, mask, out, tally, split_csv, Self::write_csv)
            }
        }
    }

    fn mask_delimited(
        &self,
        data: &[u8],
        mask: &MaskPlan,
        out: &mut BytesMut,
        tally: &mut Tally,
        split: SplitRow,
        write: WriteField,
    ) -> Result<bool, FrameError> {
        let (line, eol) = match data.iter().rposition(|&b| b == b'\n') {
            Some(at) => (&data[..at], &data[at..]),
            None => (data, &data[data.len()..]),
        };
        let (line, eol) = match line.last() {
            Some(b'\r') => (&line[..line.len() - 1], &data[line.len() - 1..]),
            _ => (line, eol),
        };
        let spans = split(&self.format, line);
        let mut changed: Vec<(usize, Field)> = Vec::new();
        for (i, &(start, end, quoted)) in spans.iter().enumerate() {
            let raw = &line[start..end];
            if !quoted && raw == self.format.null.as_bytes() {
                continue;
            }
            if let Some(f) = replacement(mask, i, raw, false, tally) {
                changed.push((i, f));
            }
        }
        if changed.is_empty() {
            return Ok(false);
        }
        let at = begin(out);
        let mut next = changed.into_iter().peekable();
        for (i, &(start, end, _)) in spans.iter().enumerate() {
            if i > 0 {
                out.put_u8(self.format.delimiter);
            }
            match next.peek() {
                Some((j, _)) if *j == i => {
                    if let Some((_, field)) = next.next() {
                        write(&self.format, out, &field);
                    }
                }
                _ => out.put_slice(&line[start..end]),
            }
        }
        out.put_slice(eol);
        finish(out, at);
        Ok(true)
    }

    fn write_text(format: &CopyOutFormat, out: &mut BytesMut, field: &Field) {
        match field {
            Field::Null => out.put_slice(format.null.as_bytes()),
            Field::Value(v) => {
                // A masked value must not carry what would end or escape the field.
                for &b in v {
                    let safe = !matches!(b, b'\\' | b'\n' | b'\r') && b != format.delimiter;
                    out.put_u8(if safe { b } else { b'*' });
                }
            }
        }
    }

    fn write_csv(format: &CopyOutFormat, out: &mut BytesMut, field: &Field) {
        match field {
            Field::Null => out.put_slice(format.null.as_bytes()),
            Field::Value(v) => {
                out.put_u8(format.quote);
                for &b in v {
                    if b == format.quote || b == format.escape {
                        out.put_u8(format.escape);
                    }
                    out.put_u8(b);
                }
                out.put_u8(format.quote);
            }
        }
    }

    fn mask_binary(
        &self,
        data: &[u8],
        first: bool,
        mask: &MaskPlan,
        out: &mut BytesMut,
        tally: &mut Tally,
    ) -> Result<bool, FrameError> {
        let bad = || FrameError::Malformed("binary COPY data");
        let mut pos = 0;
        if first {
            if !data.starts_with(BINARY_SIGNATURE) || data.len() < 19 {
                return Err(bad());
            }
            let ext = u32::from_be_bytes([data[15], data[16], data[17], data[18]]) as usize;
            pos = 19usize
                .checked_add(ext)
                .filter(|&p| p <= data.len())
                .ok_or_else(bad)?;
        }
        let header = &data[..pos];
        let tuple = &data[pos..];
        if tuple.len() < 2 {
            return if tuple.is_empty() {
                Ok(false)
            } else {
                Err(bad())
            };
        }
        let count = i16::from_be_bytes([tuple[0], tuple[1]]);
        if count < 0 {
            return Ok(false); // the trailer
        }
        let mut fields: Vec<Option<&[u8]>> = Vec::with_capacity(count as usize);
        let mut p = 2;
        for _ in 0..count {
            let len_bytes = tuple.get(p..p + 4).ok_or_else(bad)?;
            let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            p += 4;
            if len < 0 {
                fields.push(None);
            } else {
                let v = tuple.get(p..p + len as usize).ok_or_else(bad)?;
                p += len as usize;
                fields.push(Some(v));
            }
        }
        let mut changed = false;
        let masked: Vec<Option<&[u8]>> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| match f {
                Some(v) if replacement(mask, i, v, true, tally).is_some() => {
                    changed = true;
                    None
                }
                other => *other,
            })
            .collect();
        if !changed {
            return Ok(false);
        }
        let at = begin(out);
        out.put_slice(header);
        out.put_i16(count);
        for f in masked {
            match f {
                Some(v) => {
                    out.put_i32(v.len() as i32);
                    out.put_slice(v);
                }
                None => out.put_i32(-1),
            }
        }
        out.put_slice(&tuple[p..]);
        finish(out, at);
        Ok(true)
    }
}

/// What a field becomes, if it must change: whole-column masking first, then
/// content detectors. Binary values that must change become NULL.
fn replacement(
    mask: &MaskPlan,
    i: usize,
    raw: &[u8],
    binary: bool,
    tally: &mut Tally,
) -> Option<Field> {
    let to_field = |m: Masked| match m {
        Masked::Null => Field::Null,
        Masked::Text(_) if binary => Field::Null,
        Masked::Text(t) => Field::Value(t),
    };
    if let Some(masker) = mask.column(i) {
        tally.column_values += 1;
        return Some(to_field(masker.mask_value(raw)));
    }
    let content: &Masker = mask.content()?;
    let (masked, hits) = content.scan(raw)?;
    tally.add_hits(&hits);
    Some(to_field(masked))
}

/// Text format: fields end at an unescaped delimiter; `\` escapes one byte.
fn split_text(format: &CopyOutFormat, line: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < line.len() {
        if line[i] == b'\\' {
            i += 2;
            continue;
        }
        if line[i] == format.delimiter {
            spans.push((start, i, false));
            start = i + 1;
        }
        i += 1;
    }
    spans.push((start, line.len().min(i.max(start)), false));
    spans
}

/// CSV: a field may be quoted; inside quotes, the escape byte escapes the
/// quote (doubled quote by default). Spans of quoted fields exclude the
/// quotes and keep escapes as written.
fn split_csv(format: &CopyOutFormat, line: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut i = 0;
    loop {
        if i < line.len() && line[i] == format.quote {
            let start = i + 1;
            let mut j = start;
            while j < line.len() {
                if line[j] == format.escape
                    && j + 1 < line.len()
                    && (line[j + 1] == format.quote || line[j + 1] == format.escape)
                    && format.escape != format.quote
                {
                    j += 2;
                    continue;
                }
                if line[j] == format.quote {
                    if format.escape == format.quote
                        && j + 1 < line.len()
                        && line[j + 1] == format.quote
                    {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            spans.push((start, j.min(line.len()), true));
            i = j + 1;
            if i < line.len() && line[i] == format.delimiter {
                i += 1;
                continue;
            }
            break;
        }
        let start = i;
        while i < line.len() && line[i] != format.delimiter {
            i += 1;
        }
        spans.push((start, i, false));
        if i < line.len() {
            i += 1;
            continue;
        }
        break;
    }
    spans
}

fn begin(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_u8(b'd');
    out.put_u32(0);
    at
}

fn finish(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at - 1) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(kind: CopyKind) -> CopyOutFormat {
        let csv = kind == CopyKind::Csv;
        CopyOutFormat {
            kind,
            delimiter: if csv { b',' } else { b'\t' },
            quote: b'"',
            escape: b'"',
            null: if csv { String::new() } else { "\\N".into() },
            header: false,
        }
    }

    #[test]
    fn text_rows_split_on_unescaped_delimiters() {
        let f = fmt(CopyKind::Text);
        let line = b"1\ta\\tb\t\\N";
        let spans = split_text(&f, line);
        let fields: Vec<&[u8]> = spans.iter().map(|&(s, e, _)| &line[s..e]).collect();
        assert_eq!(fields, vec![&b"1"[..], b"a\\tb", b"\\N"]);
    }

    #[test]
    fn csv_rows_split_with_quotes_and_doubled_quotes() {
        let f = fmt(CopyKind::Csv);
        let line = br#"1,"a,""b""",,"""#;
        let spans = split_csv(&f, line);
        let fields: Vec<(&[u8], bool)> = spans.iter().map(|&(s, e, q)| (&line[s..e], q)).collect();
        assert_eq!(
            fields,
            vec![
                (&b"1"[..], false),
                (br#"a,""b"""#.as_slice(), true),
                (b"".as_slice(), false),
                (b"".as_slice(), true)
            ]
        );
    }
}

//! The binary protocol's result row (the answer to COM_STMT_EXECUTE and
//! COM_STMT_FETCH): a 0x00 header, a NULL bitmap whose bits start at offset
//! 2, then each non-NULL value in the layout its column type dictates.
//! Decoding is strict (reserved bits, padding bits, lengths and the end of
//! the row are all checked) so that `encode(decode(row)) == row` for every
//! row that decodes: the relay can then re-encode a masked row without
//! changing anything it did not mean to change.

use crate::wire::{Cursor, put_lenenc_str};
use std::borrow::Cow;

/// Column types on the wire (`enum_field_types`).
pub mod ty {
    pub const DECIMAL: u8 = 0x00;
    pub const TINY: u8 = 0x01;
    pub const SHORT: u8 = 0x02;
    pub const LONG: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const TIMESTAMP: u8 = 0x07;
    pub const LONGLONG: u8 = 0x08;
    pub const INT24: u8 = 0x09;
    pub const DATE: u8 = 0x0a;
    pub const TIME: u8 = 0x0b;
    pub const DATETIME: u8 = 0x0c;
    pub const YEAR: u8 = 0x0d;
    pub const NEWDATE: u8 = 0x0e;
    pub const VARCHAR: u8 = 0x0f;
    pub const BIT: u8 = 0x10;
    pub const JSON: u8 = 0xf5;
    pub const NEWDECIMAL: u8 = 0xf6;
    pub const ENUM: u8 = 0xf7;
    pub const SET: u8 = 0xf8;
    pub const TINY_BLOB: u8 = 0xf9;
    pub const MEDIUM_BLOB: u8 = 0xfa;
    pub const LONG_BLOB: u8 = 0xfb;
    pub const BLOB: u8 = 0xfc;
    pub const VAR_STRING: u8 = 0xfd;
    pub const STRING: u8 = 0xfe;
    pub const GEOMETRY: u8 = 0xff;
}

/// How a value of a column type is laid out in a binary row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Always NULL (type NULL): no bytes.
    Null,
    /// Little-endian, this many bytes (integers, FLOAT, DOUBLE, YEAR).
    Fixed(usize),
    /// A length-encoded string (strings, blobs, DECIMAL, BIT, JSON, ...).
    LenEnc,
    /// One length byte, then that many bytes; the allowed lengths.
    Temporal(&'static [u8]),
}

const DATE_LENGTHS: &[u8] = &[0, 4, 7, 11];
const TIME_LENGTHS: &[u8] = &[0, 8, 12];

/// The layout of `t`, or `None` for a type that never appears in a binary
/// row (the server-internal TIMESTAMP2, DATETIME2, TIME2, ...).
pub fn layout(t: u8) -> Option<Layout> {
    use ty::*;
    Some(match t {
        NULL => Layout::Null,
        TINY => Layout::Fixed(1),
        SHORT | YEAR => Layout::Fixed(2),
        LONG | INT24 | FLOAT => Layout::Fixed(4),
        LONGLONG | DOUBLE => Layout::Fixed(8),
        DATE | DATETIME | TIMESTAMP | NEWDATE => Layout::Temporal(DATE_LENGTHS),
        TIME => Layout::Temporal(TIME_LENGTHS),
        DECIMAL | VARCHAR | BIT | JSON | NEWDECIMAL | ENUM | SET | TINY_BLOB | MEDIUM_BLOB
        | LONG_BLOB | BLOB | VAR_STRING | STRING | GEOMETRY => Layout::LenEnc,
        _ => return None,
    })
}

/// Whether a column of type `t` can carry a masked value as text: the
/// character and blob types, which clients read as bytes. A number, a date,
/// a DECIMAL, BIT, JSON or GEOMETRY value is parsed by the client, so a
/// marker like `[REDACTED]` would be misread or break the client.
pub fn carries_text(t: u8) -> bool {
    use ty::*;
    matches!(
        t,
        VARCHAR | VAR_STRING | STRING | TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | BLOB | ENUM | SET
    )
}

/// One value of a binary row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    /// A fixed-width value's bytes.
    Fixed(&'a [u8]),
    /// A length-encoded value's content.
    Text(Cow<'a, [u8]>),
    /// A temporal value's bytes (without its length byte).
    Temporal(&'a [u8]),
}

/// Why a binary row did not decode. Never holds a value's bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BinaryRowError {
    #[error("a binary row must start with 0x00")]
    Header,
    #[error("the row is shorter than its NULL bitmap")]
    Bitmap,
    #[error("reserved or padding bits of the NULL bitmap are set")]
    StrayBits,
    #[error("column {0} has a type that never appears in a binary row")]
    UnknownType(usize),
    #[error("column {0} is of type NULL but not marked NULL")]
    NullType(usize),
    #[error("the value of column {0} is truncated")]
    Truncated(usize),
    #[error("the temporal value of column {0} has a length its type does not allow")]
    TemporalLength(usize),
    #[error("the length of column {0} is not in its shortest encoding")]
    LongLength(usize),
    #[error("bytes follow the last column")]
    Trailing,
}

/// The bitmap's first two bits are reserved in binary rows.
const BITMAP_OFFSET: usize = 2;

fn bitmap_len(columns: usize) -> usize {
    (columns + 7 + BITMAP_OFFSET) / 8
}

/// The bytes `put_lenenc` writes before a string of `n` bytes.
fn lenenc_size(n: usize) -> usize {
    match n {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 9,
    }
}

/// Decodes a row of `types.len()` columns.
pub fn decode<'a>(row: &'a [u8], types: &[u8]) -> Result<Vec<Value<'a>>, BinaryRowError> {
    let mut c = Cursor::new(row);
    if c.u8() != Some(0x00) {
        return Err(BinaryRowError::Header);
    }
    let bitmap = c
        .take(bitmap_len(types.len()))
        .ok_or(BinaryRowError::Bitmap)?;
    let is_null = |i: usize| {
        let bit = i + BITMAP_OFFSET;
        bitmap
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
    };
    // Only the bits of real columns may be set: anything else would be lost
    // by re-encoding.
    for bit in (0..bitmap.len() * 8).filter(|&b| b < BITMAP_OFFSET || b >= types.len() + 2) {
        if bitmap
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        {
            return Err(BinaryRowError::StrayBits);
        }
    }
    let mut values = Vec::with_capacity(types.len());
    for (i, &t) in types.iter().enumerate() {
        let layout = layout(t).ok_or(BinaryRowError::UnknownType(i))?;
        if is_null(i) {
            values.push(Value::Null);
            continue;
        }
        let value = match layout {
            Layout::Null => return Err(BinaryRowError::NullType(i)),
            Layout::Fixed(n) => Value::Fixed(c.take(n).ok_or(BinaryRowError::Truncated(i))?),
            Layout::LenEnc => {
                let at = c.pos;
                let s = match c.lenenc_str() {
                    Some(Some(s)) => s,
                    // 0xFB (a text row's NULL) is no length in a binary row.
                    _ => return Err(BinaryRowError::Truncated(i)),
                };
                // A longer length prefix than needed would not survive
                // re-encoding; servers always send the shortest.
                if c.pos - at - s.len() != lenenc_size(s.len()) {
                    return Err(BinaryRowError::LongLength(i));
                }
                Value::Text(Cow::Borrowed(s))
            }
            Layout::Temporal(allowed) => {
                let n = c.u8().ok_or(BinaryRowError::Truncated(i))?;
                if !allowed.contains(&n) {
                    return Err(BinaryRowError::TemporalLength(i));
                }
                Value::Temporal(c.take(usize::from(n)).ok_or(BinaryRowError::Truncated(i))?)
            }
        };
        values.push(value);
    }
    if !c.at_end() {
        return Err(BinaryRowError::Trailing);
    }
    Ok(values)
}

/// Encodes `values` as a binary row.
pub fn encode(values: &[Value<'_>], out: &mut Vec<u8>) {
    out.push(0x00);
    let start = out.len();
    out.resize(start + bitmap_len(values.len()), 0);
    for (i, v) in values.iter().enumerate() {
        let bit = i + BITMAP_OFFSET;
        match v {
            Value::Null => {
                if let Some(b) = out.get_mut(start + bit / 8) {
                    *b |= 1 << (bit % 8);
                }
            }
            Value::Fixed(b) => out.extend_from_slice(b),
            Value::Text(s) => put_lenenc_str(out, s),
            Value::Temporal(b) => {
                out.push(b.len() as u8);
                out.extend_from_slice(b);
            }
        }
    }
}

/// An integer value as the text protocol would show it, for the content
/// detectors (a card number kept in a BIGINT is still a card number).
pub fn integer_text(t: u8, unsigned: bool, bytes: &[u8]) -> Option<String> {
    use ty::*;
    let mut b = [0u8; 8];
    b.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let raw = u64::from_le_bytes(b);
    let bits = match t {
        TINY => 8,
        SHORT | YEAR => 16,
        LONG | INT24 => 32,
        LONGLONG => 64,
        _ => return None,
    };
    if unsigned || t == YEAR {
        return Some(raw.to_string());
    }
    // Sign-extend from the type's width.
    let shift = 64 - bits;
    Some((((raw << shift) as i64) >> shift).to_string())
}

#[cfg(test)]
#[path = "binary_row_tests.rs"]
mod tests;

//! Messages that can echo values outside result rows: notification
//! payloads, and the fields of errors and notices (a unique violation's
//! DETAIL names the key's value).

use super::Tally;
use crate::protocol::{FrameError, MessageReader};
use bytes::{BufMut, BytesMut};
use vigil_mask::{MaskPolicy, Masked};

const HIDDEN_DETAIL: &str = "[detail hidden by vigil: it may quote masked values]";

/// Rewrites a NotificationResponse whose payload holds detected content.
pub fn mask_notification(
    message: &[u8],
    policy: &MaskPolicy,
    out: &mut BytesMut,
    tally: &mut Tally,
) -> Result<bool, FrameError> {
    let Some(content) = policy.content() else {
        return Ok(false);
    };
    let mut r = MessageReader::new(message, "NotificationResponse");
    let pid = r.i32()?;
    let channel = r.cstr()?;
    let payload = r.cstr()?;
    let Some((masked, hits)) = content.scan(payload.as_bytes()) else {
        return Ok(false);
    };
    tally.add_hits(&hits);
    let at = out.len();
    out.put_u8(b'A');
    out.put_u32(0);
    out.put_i32(pid);
    put_cstr(out, channel.as_bytes());
    match masked {
        Masked::Text(t) => put_cstr(out, &t),
        Masked::Null => put_cstr(out, b""),
    }
    let len = (out.len() - at - 1) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
    Ok(true)
}

/// Rewrites an ErrorResponse or NoticeResponse: detectors over every
/// free-text field, and where column rules exist, DETAIL and WHERE lines
/// that quote row or key values are hidden (they can carry a masked column).
pub fn mask_error_fields(
    message: &[u8],
    policy: &MaskPolicy,
    out: &mut BytesMut,
    tally: &mut Tally,
) -> Result<bool, FrameError> {
    let tag = *message
        .first()
        .ok_or(FrameError::Malformed("ErrorResponse"))?;
    let mut r = MessageReader::new(message, "ErrorResponse");
    let mut fields: Vec<(u8, Vec<u8>, bool)> = Vec::new();
    let mut changed = false;
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        let value = r.cstr()?.as_bytes();
        let mut new = None;
        if policy.has_column_rules() && matches!(kind, b'D' | b'W') && quotes_values(value) {
            new = Some(HIDDEN_DETAIL.as_bytes().to_vec());
        } else if matches!(kind, b'M' | b'D' | b'H' | b'W' | b'q')
            && let Some(content) = policy.content()
            && let Some((masked, hits)) = content.scan(value)
        {
            tally.add_hits(&hits);
            new = Some(match masked {
                Masked::Text(t) => t,
                Masked::Null => b"[masked]".to_vec(),
            });
        }
        changed |= new.is_some();
        let is_new = new.is_some();
        fields.push((kind, new.unwrap_or_else(|| value.to_vec()), is_new));
    }
    if !changed {
        return Ok(false);
    }
    let at = out.len();
    out.put_u8(tag);
    out.put_u32(0);
    for (kind, value, _) in &fields {
        out.put_u8(*kind);
        put_cstr(out, value);
    }
    out.put_u8(0);
    let len = (out.len() - at - 1) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
    Ok(true)
}

/// `Key (email)=(a@b.c) already exists.`, `Failing row contains (...)`.
fn quotes_values(text: &[u8]) -> bool {
    let t = String::from_utf8_lossy(text);
    t.contains(")=(") || t.contains("row contains") || t.contains("(") && t.contains("=")
}

fn put_cstr(out: &mut BytesMut, bytes: &[u8]) {
    for &b in bytes {
        if b != 0 {
            out.put_u8(b);
        }
    }
    out.put_u8(0);
}

//! Messages that can echo values outside result rows: notification
//! payloads, and the fields of errors and notices (a unique violation's
//! DETAIL names the key's value).

use super::Tally;
use crate::protocol::{FrameError, MessageReader};
use bytes::{BufMut, BytesMut};
use vigil_mask::{MaskPolicy, Masked};

const HIDDEN_DETAIL: &str = "[detail hidden by vigil: it may quote masked values]";
const HIDDEN_MESSAGE: &str = "[message hidden by vigil: it may carry masked values]";
const HIDDEN_VALUE: &[u8] = b"\"[value hidden by vigil]\"";
const HIDDEN_PAYLOAD: &str = "[payload hidden by vigil: this session sees masked data]";

/// SQLSTATE classes whose messages name only the statement's own text,
/// objects, privileges and the session's state, never row data: syntax and
/// access rules (42), connections (08), resources (53, 54), operator
/// intervention (57), transaction rollback and state (40, 25), invalid
/// authorization (28), feature not supported (0A).
fn speaks_only_of_the_statement(code: &[u8]) -> bool {
    matches!(
        code.get(..2),
        Some(b"42" | b"08" | b"53" | b"54" | b"57" | b"40" | b"25" | b"28" | b"0A")
    )
}

/// Notices and warnings (`RAISE NOTICE`, server warnings) keep their text,
/// with detectors over it: hiding them would hide every plain notice.
fn is_notice_or_warning(code: &[u8]) -> bool {
    matches!(code.get(..2), Some(b"00" | b"01"))
}

/// `RAISE EXCEPTION` messages are whatever code put in them, in any form.
fn raised_by_code(code: &[u8]) -> bool {
    matches!(code.get(..2), Some(b"P0"))
}

/// Replaces every double-quoted run in an error message.
fn hide_quoted(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.iter().position(|&b| b == b'"') {
        out.extend_from_slice(&rest[..open]);
        match rest[open + 1..].iter().position(|&b| b == b'"') {
            Some(close) => {
                out.extend_from_slice(HIDDEN_VALUE);
                rest = &rest[open + 1 + close + 1..];
            }
            None => {
                out.extend_from_slice(HIDDEN_VALUE);
                rest = &[];
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

/// What a guarded error or notice says in place of the target's message.
const GENERIC_MESSAGE: &str = "vigil: the target reported an error while reading data this session sees masked; its text is hidden (the SQLSTATE is the target's)";
const GENERIC_NOTICE: &str = "vigil: the target sent a notice while reading data this session sees masked; its text is hidden";

/// Rewrites an ErrorResponse or NoticeResponse raised while a statement
/// that reads masked data runs: every field the target fills from data
/// (message, detail, hint, context, where, the internal query, object
/// names) is dropped; severity, SQLSTATE and the statement position stay,
/// and the message becomes a generic one.
pub fn hide_error_text(message: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
    let tag = *message
        .first()
        .ok_or(FrameError::Malformed("ErrorResponse"))?;
    let mut r = MessageReader::new(message, "ErrorResponse");
    let at = out.len();
    out.put_u8(tag);
    out.put_u32(0);
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        let value = r.cstr()?;
        if matches!(kind, b'S' | b'V' | b'C' | b'P') {
            out.put_u8(kind);
            put_cstr(out, value.as_bytes());
        }
    }
    out.put_u8(b'M');
    put_cstr(
        out,
        if tag == b'N' {
            GENERIC_NOTICE.as_bytes()
        } else {
            GENERIC_MESSAGE.as_bytes()
        },
    );
    out.put_u8(0);
    let len = (out.len() - at - 1) as u32;
    out[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Rewrites a NotificationResponse: with column rules its payload is hidden
/// whole; otherwise detected content in it is masked.
pub fn mask_notification(
    message: &[u8],
    policy: &MaskPolicy,
    out: &mut BytesMut,
    tally: &mut Tally,
) -> Result<bool, FrameError> {
    let mut r = MessageReader::new(message, "NotificationResponse");
    let pid = r.i32()?;
    let channel = r.cstr()?;
    let payload = r.cstr()?;
    let masked = if policy.has_column_rules() {
        // Any session's statement may have put a masked column's value in
        // the payload, in a form no detector knows: hidden whole.
        Masked::Text(HIDDEN_PAYLOAD.as_bytes().to_vec())
    } else {
        let Some(content) = policy.content() else {
            return Ok(false);
        };
        let Some((masked, hits)) = content.scan(payload.as_bytes()) else {
            return Ok(false);
        };
        tally.add_hits(&hits);
        masked
    };
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

/// Rewrites an ErrorResponse or NoticeResponse. Detectors run over every
/// free-text field. Where column rules exist, errors can carry a masked
/// value in a form no detector knows (`invalid input syntax for type
/// integer: "<base64 of an email>"`, a WHERE clause's cast of an SSN), so
/// unless the SQLSTATE's class is one that speaks only of the statement and
/// the session (syntax, privileges, connections, resources), quoted values
/// in the message are hidden and DETAIL, HINT, CONTEXT and the internal
/// query are dropped. `RAISE EXCEPTION` messages (class P0) are hidden
/// whole; notices and warnings keep their text under the detectors. The
/// SQLSTATE always stays.
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
    let mut raw: Vec<(u8, &[u8])> = Vec::new();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            break;
        }
        raw.push((kind, r.cstr()?.as_bytes()));
    }
    let code = raw
        .iter()
        .find(|(k, _)| *k == b'C')
        .map(|(_, v)| *v)
        .unwrap_or(b"XX000");
    let guarded = policy.has_column_rules()
        && !speaks_only_of_the_statement(code)
        && !is_notice_or_warning(code);
    let mut fields: Vec<(u8, Vec<u8>, bool)> = Vec::new();
    let mut changed = false;
    for (kind, value) in raw {
        let mut new = None;
        if guarded && matches!(kind, b'D' | b'W' | b'H' | b'q') {
            new = Some(HIDDEN_DETAIL.as_bytes().to_vec());
        } else if guarded && kind == b'M' {
            let hidden = if raised_by_code(code) {
                HIDDEN_MESSAGE.as_bytes().to_vec()
            } else {
                hide_quoted(value)
            };
            if hidden != value {
                new = Some(hidden);
            }
        } else if policy.has_column_rules() && matches!(kind, b'D' | b'W') && quotes_values(value) {
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
    // Detectors still run over what is kept of the message.
    for (kind, value, is_new) in fields.iter_mut() {
        if *kind == b'M'
            && *is_new
            && let Some(content) = policy.content()
            && let Some((Masked::Text(t), hits)) = content.scan(value)
        {
            tally.add_hits(&hits);
            *value = t;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{MessageWriter, parse_error_fields};
    use vigil_mask::{MaskKey, MaskRule, Style};

    fn policy(columns: &[&str], detectors: &[&str]) -> MaskPolicy {
        let columns: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        let detectors: Vec<String> = detectors.iter().map(|s| s.to_string()).collect();
        let rule = MaskRule {
            columns: &columns,
            detectors: &detectors,
            style: Style::Redact,
        };
        MaskPolicy::compile([rule], &MaskKey::new([7; 32])).unwrap()
    }

    fn error(code: &str, message: &str) -> Vec<u8> {
        let mut w = MessageWriter::new();
        w.error("ERROR", code, message);
        w.take().to_vec()
    }

    fn rewritten(p: &MaskPolicy, msg: &[u8]) -> Option<String> {
        let mut out = BytesMut::new();
        let mut tally = Tally::default();
        mask_error_fields(msg, p, &mut out, &mut tally)
            .unwrap()
            .then(|| parse_error_fields(&out).unwrap().message)
    }

    #[test]
    fn data_errors_hide_quoted_values_when_columns_are_masked() {
        let p = policy(&["customers.email"], &[]);
        let msg = error(
            "22P02",
            "invalid input syntax for type integer: \"YWRhQGV4YW1wbGUuY29t\"",
        );
        let out = rewritten(&p, &msg).unwrap();
        assert!(!out.contains("YWRh"), "{out}");
        assert!(
            out.starts_with("invalid input syntax for type integer"),
            "{out}"
        );
    }

    #[test]
    fn syntax_and_privilege_errors_keep_their_words() {
        let p = policy(&["customers.email"], &[]);
        assert_eq!(
            rewritten(&p, &error("42703", "column \"emial\" does not exist")),
            None
        );
        assert_eq!(
            rewritten(&p, &error("42501", "permission denied for table t")),
            None
        );
    }

    #[test]
    fn raised_exceptions_are_hidden_whole_and_sessions_without_columns_only_scan() {
        let p = policy(&["customers.email"], &[]);
        assert_eq!(
            rewritten(&p, &error("P0001", "leak 123456789")).unwrap(),
            HIDDEN_MESSAGE
        );
        let detectors_only = policy(&[], &["email"]);
        assert_eq!(
            rewritten(&detectors_only, &error("22P02", "bad \"x\"")),
            None
        );
        let out = rewritten(&detectors_only, &error("P0001", "mail ada@example.com")).unwrap();
        assert!(!out.contains("ada@example.com"), "{out}");
    }

    #[test]
    fn guarded_errors_keep_only_the_sqlstate_and_position() {
        let msg = error(
            "42704",
            "unrecognized configuration parameter \"ada@example.com bob@example.com\"",
        );
        let mut out = BytesMut::new();
        hide_error_text(&msg, &mut out).unwrap();
        let f = parse_error_fields(&out).unwrap();
        assert_eq!(f.code, "42704");
        assert!(!f.message.contains("example.com"), "{}", f.message);
        assert!(!String::from_utf8_lossy(&out).contains("ada@"));
    }

    #[test]
    fn hide_quoted_replaces_every_quoted_run() {
        assert_eq!(
            hide_quoted(b"a \"x\" b \"y"),
            b"a \"[value hidden by vigil]\" b \"[value hidden by vigil]\"".to_vec()
        );
        assert_eq!(hide_quoted(b"no quotes"), b"no quotes".to_vec());
    }
}

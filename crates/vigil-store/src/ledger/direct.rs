//! Canonical JSON written directly, for the two events every statement
//! appends (its decision and its outcome).
//!
//! The general path ([`super::chain::canonical_json`]) builds a
//! `serde_json::Value` tree and sorts every object: about a fifth of the
//! ledger's CPU under pgbench. Here the keys are written in sorted order by
//! hand, and strings go through serde_json's own escaper, so the bytes are
//! the same (a property test compares the two on random events). Any event
//! this file does not know, or a field it does not expect, takes the
//! general path.

use std::fmt::Write as _;
use vigil_core::{Event, EventBody, StatementOutcome, VerdictRecord};

/// The canonical JSON of `event`, or `None` when the general path must
/// write it.
pub(crate) fn canonical_json(event: &Event) -> Option<String> {
    let mut out = Vec::with_capacity(384);
    out.extend_from_slice(b"{\"at_ms\":");
    write_number(&mut out, event.at_ms);
    out.extend_from_slice(b",\"body\":");
    match &event.body {
        EventBody::Statement {
            connection,
            text,
            kind,
            tables_read,
            tables_written,
            decision,
        } => {
            out.extend_from_slice(b"{\"connection\":");
            write_str(&mut out, connection)?;
            out.extend_from_slice(b",\"decision\":");
            write_verdict(&mut out, decision)?;
            out.extend_from_slice(b",\"kind\":");
            write_str(&mut out, kind)?;
            out.extend_from_slice(b",\"tables_read\":");
            write_strs(&mut out, tables_read)?;
            out.extend_from_slice(b",\"tables_written\":");
            write_strs(&mut out, tables_written)?;
            out.extend_from_slice(b",\"text\":");
            write_str(&mut out, text)?;
            out.extend_from_slice(b",\"type\":\"statement\"}");
        }
        EventBody::StatementDone(StatementOutcome {
            statement_seq,
            duration_us,
            tag,
            error_code,
            masking: None,
        }) => {
            out.extend_from_slice(b"{\"duration_us\":");
            write_number(&mut out, duration_us);
            out.extend_from_slice(b",\"error_code\":");
            write_opt_str(&mut out, error_code.as_deref())?;
            out.extend_from_slice(b",\"statement_seq\":");
            write_number(&mut out, statement_seq);
            out.extend_from_slice(b",\"tag\":");
            write_opt_str(&mut out, tag.as_deref())?;
            out.extend_from_slice(b",\"type\":\"statement_done\"}");
        }
        _ => return None,
    }
    out.extend_from_slice(b",\"principal\":");
    write_opt_str(&mut out, event.principal.as_deref())?;
    out.extend_from_slice(b",\"run_id\":");
    write_opt_str(&mut out, event.run_id.as_deref())?;
    out.extend_from_slice(b",\"session\":");
    write_opt_str(&mut out, event.session.as_deref())?;
    out.push(b'}');
    String::from_utf8(out).ok()
}

fn write_verdict(out: &mut Vec<u8>, v: &VerdictRecord) -> Option<()> {
    out.extend_from_slice(b"{\"reason\":");
    write_opt_str(out, v.reason.as_deref())?;
    out.extend_from_slice(b",\"rule\":");
    write_str(out, &v.rule)?;
    out.extend_from_slice(b",\"verdict\":");
    write_str(out, v.verdict.as_str())?;
    out.push(b'}');
    Some(())
}

fn write_strs(out: &mut Vec<u8>, items: &[String]) -> Option<()> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item)?;
    }
    out.push(b']');
    Some(())
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) -> Option<()> {
    match s {
        Some(s) => write_str(out, s),
        None => {
            out.extend_from_slice(b"null");
            Some(())
        }
    }
}

/// serde_json's escaping, so the bytes match the general path.
fn write_str(out: &mut Vec<u8>, s: &str) -> Option<()> {
    serde_json::to_writer(out, s).ok()
}

fn write_number(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    // Integers print the same through Display as through serde_json.
    let mut digits = String::new();
    let _ = write!(digits, "{n}");
    out.extend_from_slice(digits.as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ledger::chain::canonical_via_value;
    use proptest::prelude::*;
    use vigil_core::MaskingSummary;

    fn any_text() -> impl Strategy<Value = String> {
        // Quotes, backslashes, control characters, DEL, non-ASCII.
        proptest::string::string_regex("[a-z \"\\\\\u{0}-\u{1f}\u{7f}é€😀$]{0,24}").unwrap()
    }

    fn any_opt() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any_text())
    }

    fn event(body: EventBody, at_ms: i64, ids: [Option<String>; 3]) -> Event {
        let [session, principal, run_id] = ids;
        Event {
            at_ms,
            session,
            principal,
            run_id,
            body,
        }
    }

    proptest! {
        #[test]
        fn statements_match_the_general_path(
            at_ms in any::<i64>(),
            ids in [any_opt(), any_opt(), any_opt()],
            texts in [any_text(), any_text(), any_text(), any_text(), any_text()],
            reason in any_opt(),
            read in proptest::collection::vec(any_text(), 0..3),
            written in proptest::collection::vec(any_text(), 0..3),
        ) {
            let [connection, text, kind, _, rule] = texts;
            let verdict = if reason.is_some() { vigil_core::VerdictKind::Deny } else { vigil_core::VerdictKind::Allow };
            let e = event(EventBody::Statement {
                connection, text, kind,
                tables_read: read, tables_written: written,
                decision: VerdictRecord { verdict, rule, reason },
            }, at_ms, ids);
            prop_assert_eq!(canonical_json(&e).unwrap(), canonical_via_value(&e).unwrap());
        }

        #[test]
        fn outcomes_match_the_general_path(
            at_ms in any::<i64>(),
            ids in [any_opt(), any_opt(), any_opt()],
            statement_seq in any::<i64>(),
            duration_us in any::<u64>(),
            tag in any_opt(),
            error_code in any_opt(),
        ) {
            let e = event(EventBody::StatementDone(StatementOutcome {
                statement_seq, duration_us, tag, error_code, masking: None,
            }), at_ms, ids);
            prop_assert_eq!(canonical_json(&e).unwrap(), canonical_via_value(&e).unwrap());
        }
    }

    #[test]
    fn other_events_take_the_general_path() {
        let masked = event(
            EventBody::StatementDone(StatementOutcome {
                statement_seq: 1,
                duration_us: 2,
                tag: None,
                error_code: None,
                masking: Some(MaskingSummary::default()),
            }),
            0,
            [None, None, None],
        );
        assert!(canonical_json(&masked).is_none());
        let error = event(
            EventBody::Error {
                message: "x".into(),
            },
            0,
            [None, None, None],
        );
        assert!(canonical_json(&error).is_none());
    }
}

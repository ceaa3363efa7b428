//! Which session settings a statement changes, and which of those changes
//! are harmless enough for `read_only`.
//!
//! An allow-list (issue 11, class 2): only the user-level preferences below
//! are read-only to set. Everything else, including every setting PostgreSQL
//! or an extension may add later (`pgaudit.*`, any dotted name), is a change
//! of server settings that policy sees as `sql.kind == "set"` with
//! `sql.read_only == false` and its name in `sql.settings`. A limit
//! (`statement_timeout`, `work_mem`, `temp_file_limit`, ...) is never
//! harmless: the analyser cannot know whether a new value raises it.
//! `search_path` is not harmless either: it changes which function an
//! unqualified name such as `lower()` resolves to, so the function allow-list
//! would judge a different function than the server runs.

use pg_query::NodeEnum;
use pg_query::protobuf::{DefElem, Node, VariableSetKind, VariableSetStmt};

/// Settings any value of which only changes how this session's own output
/// is formatted, how it is labelled, or how strictly it is isolated.
const HARMLESS: &[&str] = &[
    "application_name",
    "datestyle",
    "intervalstyle",
    "timezone",
    "extra_float_digits",
    "client_min_messages",
    "bytea_output",
    "transaction_isolation",
    "default_transaction_isolation",
    "transaction_deferrable",
    "default_transaction_deferrable",
];

/// Settings that are harmless to switch on (read-only transactions) and not
/// to switch off: `SET ... = off`, `SET ... TO DEFAULT` and `RESET` may lift
/// a read-only default the database administrator put on the role.
const HARMLESS_WHEN_ON: &[&str] = &["transaction_read_only", "default_transaction_read_only"];

/// What one `SET`/`RESET` changes.
pub(crate) struct SetEffect {
    /// The settings it names, lower case (`all` for `RESET ALL`).
    pub settings: Vec<String>,
    /// Whether every change is on the allow-list.
    pub harmless: bool,
}

/// The settings `v` changes and whether that change is harmless.
pub(crate) fn variable_set(v: &VariableSetStmt) -> SetEffect {
    let name = v.name.to_ascii_lowercase();
    let kind = VariableSetKind::try_from(v.kind);
    match (kind, name.as_str()) {
        (Ok(VariableSetKind::VarResetAll), _) => SetEffect {
            settings: vec!["all".to_owned()],
            harmless: false,
        },
        // `SET TRANSACTION ...` and `SET SESSION CHARACTERISTICS AS
        // TRANSACTION ...`: one DefElem per mode, named `transaction_*`.
        (Ok(VariableSetKind::VarSetMulti), "transaction" | "session characteristics") => {
            let prefix = if name == "transaction" {
                ""
            } else {
                "default_"
            };
            let mut settings = Vec::with_capacity(v.args.len());
            let mut harmless = !v.args.is_empty();
            for arg in &v.args {
                match &arg.node {
                    Some(NodeEnum::DefElem(d)) => {
                        let setting = format!("{prefix}{}", d.defname.to_ascii_lowercase());
                        harmless &= value_is_harmless(&setting, def_value(d), true);
                        settings.push(setting);
                    }
                    _ => {
                        harmless = false;
                        settings.push("*".to_owned());
                    }
                }
            }
            SetEffect { settings, harmless }
        }
        (Ok(VariableSetKind::VarSetValue), _) => {
            let harmless = match v.args.as_slice() {
                [one] => value_is_harmless(&name, one.node.as_ref(), true),
                // A list (`SET datestyle = ISO, MDY`): any value of these is harmless.
                _ => HARMLESS.contains(&name.as_str()),
            };
            SetEffect {
                settings: vec![name.clone()],
                harmless: harmless && !name.is_empty(),
            }
        }
        // SET ... TO DEFAULT, RESET ..., SET ... FROM CURRENT.
        (
            Ok(
                VariableSetKind::VarSetDefault
                | VariableSetKind::VarReset
                | VariableSetKind::VarSetCurrent,
            ),
            _,
        ) => SetEffect {
            harmless: value_is_harmless(&name, None, false),
            settings: vec![name],
        },
        _ => SetEffect {
            settings: vec![if name.is_empty() {
                "*".to_owned()
            } else {
                name
            }],
            harmless: false,
        },
    }
}

/// Whether giving `setting` this value is harmless. `value` is `None` when
/// the statement restores a default the analyser cannot see, which only a
/// setting harmless at any value allows.
fn value_is_harmless(setting: &str, value: Option<&NodeEnum>, explicit: bool) -> bool {
    if HARMLESS.contains(&setting) {
        return true;
    }
    if HARMLESS_WHEN_ON.contains(&setting) && explicit {
        return value.is_some_and(is_on);
    }
    false
}

/// The value of a `SET TRANSACTION` mode.
fn def_value(d: &DefElem) -> Option<&NodeEnum> {
    d.arg.as_deref().and_then(|n| n.node.as_ref())
}

/// Whether a constant spells "on" the way PostgreSQL's `parse_bool` reads it
/// (only the full words; a prefix such as `t` counts as not on, so the
/// statement is refused rather than misread).
fn is_on(value: &NodeEnum) -> bool {
    match value {
        NodeEnum::AConst(c) => match c.val.as_ref() {
            Some(pg_query::protobuf::a_const::Val::Sval(s)) => word_is_on(&s.sval),
            Some(pg_query::protobuf::a_const::Val::Ival(i)) => i.ival == 1,
            Some(pg_query::protobuf::a_const::Val::Boolval(b)) => b.boolval,
            _ => false,
        },
        NodeEnum::String(s) => word_is_on(&s.sval),
        NodeEnum::Integer(i) => i.ival == 1,
        NodeEnum::Boolean(b) => b.boolval,
        _ => false,
    }
}

fn word_is_on(word: &str) -> bool {
    matches!(
        word.trim().to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1"
    )
}

/// The setting a `set_config(name, value, is_local)` call changes: its name
/// in lower case when it is a string constant, `*` otherwise.
pub(crate) fn set_config_target(args: &[Node]) -> String {
    let constant = match args.first().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
            Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.as_str()),
            _ => None,
        },
        // `'name'::text`: still a constant.
        Some(NodeEnum::TypeCast(t)) => match t.arg.as_deref().and_then(|a| a.node.as_ref()) {
            Some(NodeEnum::AConst(c)) => match c.val.as_ref() {
                Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.as_str()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    match constant {
        Some(name) if !name.trim().is_empty() => name.trim().to_ascii_lowercase(),
        _ => "*".to_owned(),
    }
}

/// Whether a `BEGIN`/`START TRANSACTION` option list asks for `READ WRITE`
/// (or anything else than the isolation and deferrable modes and `READ ONLY`).
pub(crate) fn begin_options_harmless(options: &[Node]) -> bool {
    options.iter().all(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) => {
            value_is_harmless(&d.defname.to_ascii_lowercase(), def_value(d), true)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_words_are_on() {
        for w in ["on", "TRUE", "yes", "1", " on "] {
            assert!(word_is_on(w), "{w}");
        }
        for w in ["off", "t", "y", "o", "", "2", "onn"] {
            assert!(!word_is_on(w), "{w}");
        }
    }

    #[test]
    fn the_allow_lists_are_lower_case_and_disjoint() {
        for s in HARMLESS.iter().chain(HARMLESS_WHEN_ON) {
            assert_eq!(*s, s.to_ascii_lowercase());
        }
        assert!(!HARMLESS.iter().any(|s| HARMLESS_WHEN_ON.contains(s)));
        for s in [
            "search_path",
            "statement_timeout",
            "role",
            "client_encoding",
        ] {
            assert!(!HARMLESS.contains(&s));
        }
    }
}

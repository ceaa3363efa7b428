//! `SET`: which settings a statement changes, whether that is read-only
//! (session scope, settings known to change nothing but the session's own
//! reading and formatting), and whether it changes how the target lexes.

use crate::probe::{Probe, parts};
use sqlparser::ast::{ContextModifier, Expr, ObjectName, Set};

/// What one `SET` statement does.
pub(crate) struct SetFacts {
    pub settings: Vec<String>,
    pub read_only: bool,
    /// Changes `sql_mode` or the client character set: the session re-reads
    /// them from the target before analysing anything else.
    pub lexing: bool,
}

/// Session variables a client may set in a read-only statement: how the
/// session reads and shows values, its transaction mode and its timeouts.
/// Nothing here writes data, settings of other sessions, or files.
const READ_ONLY_SESSION: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "group_concat_max_len",
    "interactive_timeout",
    "lc_time_names",
    "max_execution_time",
    "max_statement_time",
    "net_read_timeout",
    "net_write_timeout",
    "sql_mode",
    "sql_safe_updates",
    "sql_select_limit",
    "time_zone",
    "transaction_isolation",
    "transaction_read_only",
    "tx_isolation",
    "tx_read_only",
    "wait_timeout",
];

/// Settings that change how the target splits and reads statement text.
const LEXING: &[&str] = &[
    "sql_mode",
    "character_set_client",
    "names",
    "character set",
    "character_set_connection",
];

/// `normalized` is the statement as the target parses it: a `GLOBAL` or
/// `PERSIST` word anywhere in a `SET` (the parser drops the scope of some
/// forms, such as `SET GLOBAL TRANSACTION`) makes it not read-only.
pub(crate) fn facts(set: &Set, normalized: &str) -> SetFacts {
    let mut out = SetFacts {
        settings: Vec::new(),
        read_only: !mentions_global(normalized),
        lexing: false,
    };
    match set {
        Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => {
            out.assign(scope.as_ref(), variable);
            out.values(values.iter());
        }
        Set::MultipleAssignments { assignments } => {
            for a in assignments {
                out.assign(a.scope.as_ref(), &a.name);
                out.values(std::iter::once(&a.value));
            }
        }
        Set::SetNames { .. } | Set::SetNamesDefault {} => out.push("names"),
        Set::SetTransaction { .. } => out.push("transaction"),
        Set::SetTimeZone { value, .. } => {
            out.push("time_zone");
            out.values(std::iter::once(value));
        }
        _ => {
            out.push("*");
            out.read_only = false;
        }
    }
    out
}

impl SetFacts {
    fn push(&mut self, name: &str) {
        if LEXING.contains(&name) {
            self.lexing = true;
        }
        if !self.settings.iter().any(|s| s == name) {
            self.settings.push(name.to_string());
        }
    }

    fn assign(&mut self, scope: Option<&ContextModifier>, variable: &ObjectName) {
        let joined = parts(variable).join(".");
        let (global, name) = variable_name(scope, &joined);
        if name.starts_with('@') {
            // A user variable: the session's own value.
            self.push(&name);
            return;
        }
        self.push(&name);
        if global || !READ_ONLY_SESSION.contains(&name.as_str()) {
            self.read_only = false;
        }
    }

    fn values<'e>(&mut self, values: impl Iterator<Item = &'e Expr>) {
        for v in values {
            let probe = Probe::run(v, None);
            // A value read from a table would carry it into a variable
            // that later reads as a constant: not read-only.
            if !probe.read_only || !probe.relations.is_empty() {
                self.read_only = false;
            }
        }
    }
}

/// Whether a variable as written is global, and its name without scope.
fn variable_name(scope: Option<&ContextModifier>, written: &str) -> (bool, String) {
    let mut global = matches!(scope, Some(ContextModifier::Global));
    let mut name = written;
    if let Some(rest) = name.strip_prefix("@@") {
        name = rest;
        for (prefix, is_global) in [("global.", true), ("session.", false), ("local.", false)] {
            if let Some(rest) = name.strip_prefix(prefix) {
                name = rest;
                global |= is_global;
            }
        }
        // `@@x` is the session's x; a persisted or global one needs a prefix.
        if name.starts_with("persist") {
            global = true;
        }
    } else if name.starts_with('@') {
        return (false, name.to_string());
    }
    (global, name.to_string())
}

/// Whether a word of `text` outside quotes is `GLOBAL` or `PERSIST*`.
fn mentions_global(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| {
            let w = w.to_ascii_lowercase();
            w == "global" || w.starts_with("persist")
        })
}

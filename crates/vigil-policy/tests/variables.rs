//! Each CEL variable is bound from the input.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use vigil_core::PrincipalKind;

#[test]
fn principal_variables() {
    let action = sql_on("shop", select("t"));
    assert!(condition_holds("principal.name == 'alice'", &action));
    assert!(condition_holds("'eu' in principal.groups", &action));
    assert!(condition_holds(
        "principal.groups.exists(g, g == 'analysts')",
        &action
    ));
    assert!(condition_holds("principal.kind == 'agent'", &action));
    assert!(!condition_holds("principal.kind == 'human'", &action));
}

#[test]
fn human_principal_kind() {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("r", Allow, Some("principal.kind == 'human'"))],
    )]);
    let mut bob = agent("bob", &[]);
    bob.kind = PrincipalKind::Human;
    assert_eq!(
        eval(&set, &bob, &sql_on("shop", select("t")))
            .verdict
            .label(),
        "allow"
    );
}

#[test]
fn connection_variables() {
    let action = sql_on("shop", select("t"));
    assert!(condition_holds("connection.name == 'shop'", &action));
    assert!(condition_holds("connection.kind == 'postgres'", &action));
}

#[test]
fn now_is_a_timestamp() {
    let action = sql_on("shop", select("t"));
    assert!(condition_holds(
        "now == timestamp('2024-01-01T12:00:00Z')",
        &action
    ));
    assert!(condition_holds("now.getHours() == 12", &action));
    assert!(condition_holds("now.getDayOfWeek() == 1", &action));
    assert!(condition_holds(
        "now > timestamp('2023-12-31T00:00:00Z')",
        &action
    ));
}

#[test]
fn sql_variables() {
    let read = sql_on("shop", select("orders"));
    assert!(condition_holds("sql.kind == 'select'", &read));
    assert!(condition_holds("sql.read_only", &read));
    assert!(condition_holds(
        "!sql.writes && !sql.ddl && !sql.has_where",
        &read
    ));
    assert!(condition_holds(
        "sql.tables_read == ['public.orders']",
        &read
    ));
    assert!(condition_holds("size(sql.tables_written) == 0", &read));
    assert!(condition_holds("sql.text.startsWith('SELECT')", &read));
    assert!(condition_holds(
        "sql.text.lowerAscii().contains('from orders')",
        &read
    ));

    let del = sql_on("shop", delete("orders", true));
    assert!(condition_holds("sql.writes && sql.has_where", &del));
    assert!(condition_holds(
        "'public.orders' in sql.tables_written",
        &del
    ));

    let mut facts = select("t");
    facts.functions = vec!["nextval".into(), "pg_catalog.now".into()];
    facts.ddl = true;
    let f = sql_on("shop", facts);
    assert!(condition_holds("'nextval' in sql.functions", &f));
    assert!(condition_holds(
        "sql.functions.exists(fn, fn.startsWith('pg_catalog.'))",
        &f
    ));
    assert!(condition_holds("sql.ddl", &f));
}

#[test]
fn sql_settings_names_what_a_set_changes() {
    let mut facts = select("t");
    facts.kind = "set".into();
    facts.read_only = false;
    facts.tables_read.clear();
    facts.settings = vec!["log_statement".into()];
    let set = sql_on("shop", facts);
    assert!(condition_holds(
        "sql.kind == 'set' && 'log_statement' in sql.settings",
        &set
    ));
    assert!(condition_holds(
        "sql.settings.all(s, !s.startsWith('pgaudit.'))",
        &set
    ));
    assert!(!condition_holds(
        "sql.settings.exists(s, s == 'application_name')",
        &set
    ));
    let read = sql_on("shop", select("orders"));
    assert!(condition_holds("size(sql.settings) == 0", &read));
}

#[test]
fn has_macro_sees_declared_fields() {
    let read = sql_on("shop", select("orders"));
    assert!(condition_holds("has(sql.kind)", &read));
}

//! Session settings are an allow-list (issue 11, class 2): only user-level
//! preferences known harmless are read-only to change; every other SET,
//! RESET or set_config is a change of server settings, named in `settings`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use vigil_sql::{SqlFacts, analyze};

fn one(sql: &str) -> SqlFacts {
    match analyze(sql, &common::catalog()) {
        Ok(mut f) if f.len() == 1 => f.remove(0),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Asserts kind, read_only and settings; a settings change is never a write.
fn check(sql: &str, kind: &str, read_only: bool, settings: &[&str]) {
    let f = one(sql);
    assert_eq!(f.kind, kind, "{sql}");
    assert_eq!(f.read_only, read_only, "{sql}: read_only");
    assert_eq!(f.settings, settings, "{sql}: settings");
    assert!(!f.writes, "{sql}: writes");
}

#[test]
fn harmless_preferences_are_read_only() {
    check(
        "SET application_name = 'crew'",
        "set",
        true,
        &["application_name"],
    );
    check("SET DateStyle = ISO, MDY", "set", true, &["datestyle"]);
    check("SET DateStyle = 'ISO, MDY'", "set", true, &["datestyle"]);
    check("SET datestyle TO DEFAULT", "set", true, &["datestyle"]);
    check(
        "SET IntervalStyle = postgres",
        "set",
        true,
        &["intervalstyle"],
    );
    check("SET TIME ZONE 'UTC'", "set", true, &["timezone"]);
    check("SET TIME ZONE LOCAL", "set", true, &["timezone"]);
    check("SET timezone = 'Europe/Paris'", "set", true, &["timezone"]);
    check(
        "SET extra_float_digits = 3",
        "set",
        true,
        &["extra_float_digits"],
    );
    check(
        "SET client_min_messages TO warning",
        "set",
        true,
        &["client_min_messages"],
    );
    check("SET bytea_output = 'hex'", "set", true, &["bytea_output"]);
    check(
        "SET LOCAL application_name = 'x'",
        "set",
        true,
        &["application_name"],
    );
    check(
        "SET SESSION application_name = 'x'",
        "set",
        true,
        &["application_name"],
    );
    check(
        "RESET application_name",
        "reset",
        true,
        &["application_name"],
    );
    check("RESET TIME ZONE", "reset", true, &["timezone"]);
}

#[test]
fn read_only_modes_may_only_be_switched_on() {
    check(
        "SET default_transaction_read_only = on",
        "set",
        true,
        &["default_transaction_read_only"],
    );
    check(
        "SET default_transaction_read_only = true",
        "set",
        true,
        &["default_transaction_read_only"],
    );
    check(
        "SET default_transaction_read_only = 1",
        "set",
        true,
        &["default_transaction_read_only"],
    );
    check(
        "SET transaction_read_only TO on",
        "set",
        true,
        &["transaction_read_only"],
    );
    for sql in [
        "SET default_transaction_read_only = off",
        "SET default_transaction_read_only = false",
        "SET default_transaction_read_only = 0",
        "SET default_transaction_read_only = t",
        "SET default_transaction_read_only TO DEFAULT",
        "RESET default_transaction_read_only",
        "SET transaction_read_only = off",
    ] {
        assert!(!one(sql).read_only, "{sql}");
    }
}

#[test]
fn transaction_modes() {
    check(
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "set",
        true,
        &["transaction_isolation"],
    );
    check(
        "SET TRANSACTION READ ONLY",
        "set",
        true,
        &["transaction_read_only"],
    );
    check(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE",
        "set",
        true,
        &[
            "transaction_deferrable",
            "transaction_isolation",
            "transaction_read_only",
        ],
    );
    check(
        "SET TRANSACTION READ WRITE",
        "set",
        false,
        &["transaction_read_only"],
    );
    check(
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE",
        "set",
        false,
        &["transaction_isolation", "transaction_read_only"],
    );
    check(
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "set",
        true,
        &["default_transaction_read_only"],
    );
    check(
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "set",
        false,
        &["default_transaction_read_only"],
    );
    check(
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "set",
        true,
        &["default_transaction_isolation"],
    );
    check(
        "SET transaction_isolation = 'serializable'",
        "set",
        true,
        &["transaction_isolation"],
    );
    assert!(!one("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'").read_only);
    // BEGIN READ WRITE lifts a read-only default the role may carry.
    assert!(one("BEGIN").read_only);
    assert!(one("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY").read_only);
    assert!(one("START TRANSACTION READ ONLY DEFERRABLE").read_only);
    assert!(!one("BEGIN READ WRITE").read_only);
    assert!(!one("START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE").read_only);
}

#[test]
fn audit_replication_and_limits_are_changes_of_settings() {
    for (sql, name) in [
        ("SET log_statement = 'none'", "log_statement"),
        ("SET track_activities = off", "track_activities"),
        ("SET pgaudit.log = 'none'", "pgaudit.log"),
        ("SET \"pgaudit\".\"log\" = 'none'", "pgaudit.log"),
        (
            "SET session_replication_role = replica",
            "session_replication_role",
        ),
        ("SET statement_timeout = 0", "statement_timeout"),
        ("SET statement_timeout = '1s'", "statement_timeout"),
        ("SET LOCAL lock_timeout = '1s'", "lock_timeout"),
        ("SET work_mem = '64kB'", "work_mem"),
        ("SET temp_file_limit = -1", "temp_file_limit"),
        (
            "SET idle_in_transaction_session_timeout = 0",
            "idle_in_transaction_session_timeout",
        ),
        ("SET search_path = evil, pg_catalog", "search_path"),
        ("SET SCHEMA 'evil'", "search_path"),
        ("SET client_encoding = 'SJIS'", "client_encoding"),
        ("SET NAMES 'GBK'", "client_encoding"),
        (
            "SET standard_conforming_strings = off",
            "standard_conforming_strings",
        ),
        ("SET backslash_quote = on", "backslash_quote"),
        ("SET row_security = off", "row_security"),
        ("SET XML OPTION DOCUMENT", "xmloption"),
        ("SET my.custom = 'x'", "my.custom"),
        ("SET ROLE admin", "role"),
        (
            "SET SESSION AUTHORIZATION postgres",
            "session_authorization",
        ),
        (
            "SET session_preload_libraries = 'evil'",
            "session_preload_libraries",
        ),
        ("SET enable_seqscan = off", "enable_seqscan"),
    ] {
        check(sql, "set", false, &[name]);
    }
    check(
        "RESET statement_timeout",
        "reset",
        false,
        &["statement_timeout"],
    );
    check("RESET ROLE", "reset", false, &["role"]);
    check("RESET ALL", "reset", false, &["all"]);
    check(
        "SET statement_timeout TO DEFAULT",
        "set",
        false,
        &["statement_timeout"],
    );
}

#[test]
fn set_config_names_its_setting() {
    let f = one("SELECT set_config('log_statement', 'none', false)");
    assert!(!f.read_only);
    assert_eq!(f.settings, ["log_statement"]);
    let f = one("SELECT pg_catalog.set_config('Application_Name'::text, 'x', true)");
    assert!(!f.read_only);
    assert_eq!(f.settings, ["application_name"]);
    let f = one("SELECT set_config(name, 'x', false) FROM t");
    assert!(!f.read_only);
    assert_eq!(f.settings, ["*"]);
    let f = one("SELECT 1 WHERE set_config('a.b', $1, true) IS NOT NULL");
    assert_eq!(f.settings, ["a.b"]);
    // current_setting reads.
    let f = one("SELECT current_setting('work_mem')");
    assert!(f.read_only);
    assert!(f.settings.is_empty());
}

#[test]
fn other_session_statements() {
    check("DISCARD ALL", "discard", false, &["all"]);
    check("DISCARD TEMP", "discard", false, &[]);
    check("DISCARD TEMPORARY", "discard", false, &[]);
    check("DISCARD PLANS", "discard", true, &[]);
    check("DISCARD SEQUENCES", "discard", true, &[]);
    check(
        "SET CONSTRAINTS ALL DEFERRED",
        "set_constraints",
        false,
        &[],
    );
    check("LOAD 'auto_explain'", "load", false, &[]);
    let f = one("ALTER SYSTEM SET log_statement = 'none'");
    assert!(f.ddl && !f.read_only);
    assert_eq!(f.kind, "alter_system");
    assert_eq!(f.settings, ["log_statement"]);
    assert_eq!(one("ALTER SYSTEM RESET ALL").settings, ["all"]);
    assert_eq!(
        one("ALTER ROLE r SET search_path = x").settings,
        ["search_path"]
    );
    assert_eq!(
        one("ALTER DATABASE d SET work_mem = '1GB'").settings,
        ["work_mem"]
    );
    assert!(one("SHOW log_statement").settings.is_empty());
    assert!(one("SELECT 1").settings.is_empty());
}

/// Names no allow-list holds: anything built from identifier characters and
/// dots that is not one of the harmless names.
fn foreign_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,20}(\\.[a-z_][a-z0-9_]{0,10})?".prop_filter("allow-listed", |n| {
        ![
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
            "transaction_read_only",
            "default_transaction_read_only",
        ]
        .contains(&n.as_str())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn a_setting_off_the_allow_list_is_never_read_only(
        name in foreign_name(),
        value in prop::sample::select(&["on", "off", "0", "1", "'x'", "DEFAULT", "'1s', '2s'"][..]),
        form in 0..6usize,
    ) {
        let quoted = format!("\"{name}\"");
        let sql = match form {
            0 => format!("SET {quoted} = {value}"),
            1 => format!("SET LOCAL {quoted} TO {value}"),
            2 => format!("SET SESSION {quoted} = {value}"),
            3 => format!("RESET {quoted}"),
            4 => format!("SELECT set_config('{name}', 'x', false)"),
            _ => format!("SET {quoted} TO DEFAULT"),
        };
        let facts = analyze(&sql, &common::catalog());
        prop_assert!(facts.is_ok(), "{}: {:?}", sql, facts);
        let facts = facts.unwrap_or_default();
        prop_assert_eq!(facts.len(), 1);
        prop_assert!(!facts[0].read_only, "{} was read-only", sql);
        prop_assert!(!facts[0].writes);
        prop_assert_eq!(&facts[0].settings, &vec![name.clone()], "{}", sql);
    }
}

//! The public API around the statement analysis: splitting, errors, the catalog.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use vigil_sql::{AnalysisError, Catalog, analyze, output_lineage};

#[test]
fn empty_input_gives_no_statements() {
    for sql in [
        "",
        "   ",
        "\n\t",
        ";",
        ";;",
        "-- only a comment",
        "/* block */",
        "/* a */ ; -- b",
    ] {
        assert_eq!(analyze(sql, &Catalog::empty()), Ok(vec![]), "{sql:?}");
    }
}

#[test]
fn several_statements_give_one_facts_each_with_their_own_text() {
    let sql = "SELECT 1; DELETE FROM t WHERE id = 2;\n  -- note\n  UPDATE u SET a = 'x;y'";
    let facts = analyze(sql, &common::catalog()).unwrap_or_default();
    let kinds: Vec<&str> = facts.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds, ["select", "delete", "update"]);
    assert_eq!(facts[0].text, "SELECT 1");
    assert_eq!(facts[1].text, "DELETE FROM t WHERE id = 2");
    assert!(
        facts[2].text.ends_with("UPDATE u SET a = 'x;y'"),
        "{}",
        facts[2].text
    );
    assert!(facts[0].read_only && !facts[1].read_only && !facts[2].read_only);
    assert_eq!(facts[1].tables_written, ["public.t"]);
}

#[test]
fn statement_text_keeps_dollar_quotes_and_multibyte_text() {
    let sql = "SELECT 'héllo — ✓'; DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$;SELECT 2";
    let facts = analyze(sql, &Catalog::empty()).unwrap_or_default();
    assert_eq!(facts.len(), 3);
    assert_eq!(facts[0].text, "SELECT 'héllo — ✓'");
    assert_eq!(facts[1].text, "DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$");
    assert_eq!(facts[1].kind, "do");
    assert_eq!(facts[2].text, "SELECT 2");
}

#[test]
fn a_parse_error_anywhere_fails_the_whole_string() {
    for sql in [
        "SELEC 1",
        "SELECT 1; DELETE FROM",
        "SELECT (1",
        "SELECT 'unterminated",
        "SELECT $$ unterminated",
        "DROP",
        "SELECT * FROM t WHERE",
        "INSERT INTO t VALUES (1,",
        "SELECT 1 FROM FROM t",
        "/* unterminated comment",
    ] {
        match analyze(sql, &Catalog::empty()) {
            Err(AnalysisError::Parse(msg)) => assert!(!msg.is_empty()),
            other => panic!("{sql:?}: {other:?}"),
        }
    }
}

#[test]
fn nul_bytes_are_refused() {
    assert_eq!(
        analyze("SELECT 1\0; DROP TABLE t", &Catalog::empty()),
        Err(AnalysisError::NulByte)
    );
}

#[test]
fn error_messages_are_client_safe() {
    let e = analyze("SELEC 1", &Catalog::empty()).err();
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.starts_with("syntax error"), "{text}");
}

#[test]
fn an_unloaded_catalog_refuses_every_statement_that_depends_on_it() {
    for unloaded in [Catalog::unloaded(), Catalog::empty(), Catalog::default()] {
        assert!(!unloaded.is_loaded());
        assert_eq!(unloaded.function_count(), 0);
        let read_only = |sql: &str| analyze(sql, &unloaded).map(|f| f[0].read_only);
        for sql in [
            "SELECT * FROM t",
            "SELECT * FROM pg_catalog.pg_class",
            "SELECT now()",
            "SELECT random()",
            "SELECT 1 + 1",
            "SELECT 1 WHERE 2 IN (SELECT 3)",
            "SELECT '1'::int",
            "SELECT 1 BETWEEN 0 AND 2",
            "EXPLAIN SELECT * FROM t",
            "DELETE FROM t WHERE id = 1",
            "INSERT INTO t VALUES (now())",
            "SELECT set_config('a', 'b', false)",
        ] {
            assert_eq!(
                read_only(sql),
                Err(AnalysisError::CatalogNotLoaded),
                "{sql}"
            );
        }
        // What needs no catalog is analysed as usual.
        assert_eq!(read_only("SELECT 1"), Ok(true));
        assert_eq!(read_only("BEGIN"), Ok(true));
        assert_eq!(read_only("SET application_name = 'x'"), Ok(true));
        assert_eq!(read_only("SET log_statement = 'none'"), Ok(false));
        assert_eq!(read_only("INSERT INTO t VALUES (1)"), Ok(false));
        assert_eq!(read_only("DROP TABLE t"), Ok(false));
        // Output lineage refuses everything: no column's source is provable.
        assert_eq!(
            output_lineage("SELECT 1", &unloaded),
            Err(AnalysisError::CatalogNotLoaded)
        );
    }
    let message = AnalysisError::CatalogNotLoaded.to_string();
    assert!(message.starts_with("catalog not loaded"), "{message}");
}

#[test]
fn a_loaded_catalog_with_no_rows_is_loaded_and_knows_nothing() {
    let bare = Catalog::from_rows(Vec::<Vec<Option<String>>>::new()).unwrap_or_default();
    assert!(bare.is_loaded());
    let read_only = |sql: &str| analyze(sql, &bare).map(|f| f[0].read_only);
    assert_eq!(read_only("SELECT 1"), Ok(true));
    for sql in [
        "SELECT * FROM t",
        "SELECT 1 + 1",
        "SELECT '1'::int",
        "SELECT lower('A')",
    ] {
        assert_eq!(read_only(sql), Ok(false), "{sql}");
    }
    // The short allowlist of harmless volatile built-ins needs no pg_proc row.
    assert_eq!(read_only("SELECT random()"), Ok(true));
    assert_eq!(read_only("SELECT gen_random_uuid()"), Ok(true));
    assert_eq!(read_only("SELECT clock_timestamp(), timeofday()"), Ok(true));
    assert_eq!(read_only("SELECT app.random()"), Ok(false));
}

#[test]
fn the_test_catalog_loads() {
    let c = common::catalog();
    assert!(c.function_count() > 30);
}

fn row(items: &[Option<&str>]) -> Vec<Option<String>> {
    items.iter().map(|i| i.map(str::to_owned)).collect()
}

#[test]
fn malformed_catalog_rows_are_refused() {
    for bad in [
        row(&[Some("function"), Some("public"), Some("f")]),
        row(&[Some("function"), Some("public"), Some("f"), Some("x")]),
        row(&[Some("function"), Some("public"), Some("f"), None]),
        row(&[None, Some("public"), Some("f"), Some("v")]),
        row(&[Some("function"), None, Some("f"), Some("v")]),
        row(&[Some("table"), Some("public"), Some("f"), None]),
        row(&[Some("view"), Some("public"), Some("v"), None]),
    ] {
        assert!(
            matches!(
                Catalog::from_rows([bad.clone()]),
                Err(AnalysisError::CatalogRow { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_function_is_safe_only_if_every_entry_of_its_name_is() {
    let c = Catalog::from_rows([
        row(&[Some("function"), Some("pg_catalog"), Some("f"), Some("i")]),
        row(&[Some("function"), Some("a"), Some("f"), Some("s")]),
        row(&[Some("function"), Some("b"), Some("f"), Some("v")]),
    ])
    .unwrap_or_default();
    assert_eq!(c.function_count(), 3);
    let ro = |sql: &str| analyze(sql, &c).map(|f| f[0].read_only);
    assert_eq!(ro("SELECT f()"), Ok(false));
    assert_eq!(ro("SELECT a.f()"), Ok(true));
    assert_eq!(ro("SELECT pg_catalog.f()"), Ok(true));
    assert_eq!(ro("SELECT b.f()"), Ok(false));
    assert_eq!(ro("SELECT c.f()"), Ok(false));
}

#[test]
fn a_volatile_aggregate_or_user_operator_is_caught() {
    let c = Catalog::from_rows([
        row(&[
            Some("function"),
            Some("public"),
            Some("evil_agg"),
            Some("v"),
        ]),
        row(&[Some("operator"), Some("public"), Some("@@@"), Some("v")]),
        row(&[Some("operator"), Some("pg_catalog"), Some("="), Some("i")]),
        row(&[Some("column"), Some("public"), Some("t"), Some("1:a")]),
        row(&[Some("column"), Some("public"), Some("t"), Some("2:b")]),
        row(&[Some("column"), Some("public"), Some("u"), Some("1:b")]),
    ])
    .unwrap_or_default();
    let ro = |sql: &str| analyze(sql, &c).map(|f| f[0].read_only);
    assert_eq!(ro("SELECT evil_agg(x) FROM t"), Ok(false));
    assert_eq!(ro("SELECT a @@@ b FROM t"), Ok(false));
    assert_eq!(
        ro("SELECT * FROM t WHERE a @@@ ANY (SELECT b FROM u)"),
        Ok(false)
    );
    assert_eq!(ro("SELECT a = b FROM t"), Ok(true));
}

#[test]
fn view_chains_deeper_than_the_limit_are_unsafe() {
    // v0 is volatile; v1 reads v0, v2 reads v1, ... v30 reads v29.
    let mut rows = vec![row(&[
        Some("view"),
        Some("public"),
        Some("v0"),
        Some("SELECT nextval('s')"),
    ])];
    let defs: Vec<(String, String)> = (1..=30)
        .map(|i| (format!("v{i}"), format!("SELECT * FROM v{}", i - 1)))
        .collect();
    for (name, def) in &defs {
        rows.push(row(&[Some("view"), Some("public"), Some(name), Some(def)]));
    }
    let c = Catalog::from_rows(rows).unwrap_or_default();
    for i in [0, 1, 5, 15, 16, 17, 30] {
        let facts = analyze(&format!("SELECT * FROM v{i}"), &c).unwrap_or_default();
        assert!(!facts[0].read_only, "v{i}");
    }
    // A view that fails to parse is unsafe too.
    let c = Catalog::from_rows([row(&[
        Some("view"),
        Some("public"),
        Some("odd"),
        Some("SELEC"),
    ])])
    .unwrap_or_default();
    assert_eq!(
        analyze("SELECT * FROM odd", &c).map(|f| f[0].read_only),
        Ok(false)
    );
}

#[test]
fn the_load_query_is_one_valid_statement() {
    let facts = analyze(Catalog::LOAD_QUERY, &common::catalog()).unwrap_or_default();
    assert_eq!(facts.len(), 1);
    assert_eq!(facts[0].kind, "select");
    assert!(
        facts[0]
            .tables_read
            .contains(&"pg_catalog.pg_proc".to_owned())
    );
}

#[test]
fn unknown_statement_kinds_get_a_snake_case_name() {
    let facts = analyze(
        "CREATE CONVERSION c FOR 'LATIN1' TO 'UTF8' FROM f",
        &Catalog::empty(),
    )
    .unwrap_or_default();
    assert_eq!(facts[0].kind, "create_conversion");
    assert!(!facts[0].read_only);
    let facts = analyze(
        "IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y",
        &Catalog::empty(),
    )
    .unwrap_or_default();
    assert_eq!(facts[0].kind, "import_foreign_schema");
}

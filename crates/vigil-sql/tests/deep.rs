//! Hostile nesting must end in Err (or Ok), never in a stack overflow: each
//! case runs on a thread with a 2 MiB stack, the size of a tokio worker's.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use vigil_sql::{AnalysisError, Catalog, SqlFacts, analyze};

/// Analyses with a loaded catalog, so that only depth (not a missing
/// catalog) can make a statement fail.
fn on_small_stack(sql: String) -> Result<Vec<SqlFacts>, AnalysisError> {
    let catalog = common::catalog();
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &catalog));
    match handle.map(|h| h.join()) {
        Ok(Ok(result)) => result,
        _ => panic!("analysis thread failed"),
    }
}

#[test]
fn hundred_thousand_parentheses_are_refused() {
    let sql = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn hundred_thousand_terms_are_refused() {
    let sql = format!("SELECT 1{}", "+1".repeat(100_000));
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn deeply_nested_subqueries_are_refused() {
    let depth = 10_000;
    let sql = format!(
        "{}SELECT 1{}",
        "SELECT * FROM (".repeat(depth),
        ") s".repeat(depth)
    );
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn deeply_nested_scalar_subqueries_are_refused() {
    let depth = 20_000;
    let sql = format!("{}1{}", "SELECT (".repeat(depth), ")".repeat(depth));
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn deeply_nested_function_calls_are_refused() {
    let depth = 50_000;
    let sql = format!("SELECT {}1{}", "abs(".repeat(depth), ")".repeat(depth));
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn deeply_nested_ctes_are_refused() {
    let depth = 5_000;
    let sql = format!(
        "{}SELECT 1{}",
        "WITH c AS (".repeat(depth),
        ") SELECT * FROM c".repeat(depth)
    );
    let result = on_small_stack(sql);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn long_flat_statements_are_fine() {
    // Long but flat: a big IN list and a long OR chain (flat BoolExpr).
    let ins: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
    let sql = format!("SELECT * FROM t WHERE id IN ({})", ins.join(","));
    let facts = on_small_stack(sql).unwrap_or_default();
    assert_eq!(facts.len(), 1);
    assert!(facts[0].read_only);
    let ors: Vec<String> = (0..5_000).map(|i| format!("a = {i}")).collect();
    let sql = format!("SELECT * FROM t WHERE {}", ors.join(" OR "));
    let facts = on_small_stack(sql).unwrap_or_default();
    assert_eq!(facts.len(), 1);
}

#[test]
fn moderate_nesting_is_analysed() {
    // What real queries do: a few levels of nested subqueries and expressions.
    let depth = 10;
    let sql = format!(
        "{}SELECT 1{}",
        "SELECT * FROM (".repeat(depth),
        ") s".repeat(depth)
    );
    let facts = on_small_stack(sql).unwrap_or_default();
    assert_eq!(facts.len(), 1);
    assert!(facts[0].read_only);
    let sql = format!("SELECT 1{}", "+1".repeat(400));
    assert!(on_small_stack(sql).is_ok());
}

#[test]
fn over_long_input_is_refused() {
    let sql = format!("SELECT '{}'", "x".repeat(vigil_sql::MAX_SQL_LEN));
    assert!(matches!(
        analyze(&sql, &Catalog::empty()),
        Err(AnalysisError::TooLong)
    ));
}

#[test]
fn report_errors_of_hostile_inputs() {
    let cases = [
        (
            "parens",
            format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
        ("terms", format!("SELECT 1{}", "+1".repeat(100_000))),
        ("terms_1k", format!("SELECT 1{}", "+1".repeat(1_000))),
        (
            "parens_small",
            format!("SELECT {}1{}", "(".repeat(400), ")".repeat(400)),
        ),
        (
            "subqueries",
            format!(
                "{}SELECT 1{}",
                "SELECT * FROM (".repeat(10_000),
                ") s".repeat(10_000)
            ),
        ),
    ];
    for (name, sql) in cases {
        println!("{name}: {:?}", on_small_stack(sql).map(|f| f.len()));
    }
}

#[test]
fn report_raw_pg_query_errors() {
    for n in [1_000usize, 100_000] {
        let sql = format!("SELECT 1{}", "+1".repeat(n));
        let handle = std::thread::Builder::new()
            .stack_size(64 * 1024 * 1024)
            .spawn(move || {
                pg_query::parse(&sql, 0)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        if let Ok(h) = handle {
            println!("raw {n} terms: {:?}", h.join().ok());
        }
    }
}

//! Real generated SQL nests deeper than prost's default recursion limit
//! allowed (about 45 levels): the limit is now the walker's own `MAX_DEPTH`.
//! Every case runs on a 2 MiB thread, the size of a tokio worker's stack.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use vigil_sql::{AnalysisError, Catalog, MAX_DEPTH, SqlFacts, analyze};

fn on_small_stack(sql: String, catalog: Catalog) -> Result<Vec<SqlFacts>, AnalysisError> {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || analyze(&sql, &catalog));
    match handle.map(|h| h.join()) {
        Ok(Ok(result)) => result,
        _ => panic!("analysis thread failed"),
    }
}

fn one(sql: String, catalog: Catalog) -> SqlFacts {
    let mut facts = on_small_stack(sql, catalog).unwrap();
    assert_eq!(facts.len(), 1);
    facts.remove(0)
}

#[test]
fn a_200_term_concatenation_is_analysed() {
    let sql = format!("SELECT a{} FROM t", " || a".repeat(199));
    let facts = one(sql, common::catalog());
    assert_eq!(facts.kind, "select");
    assert!(facts.read_only && !facts.writes && !facts.ddl);
    assert_eq!(facts.tables_read, ["public.t"]);
    assert!(facts.functions.is_empty());
}

#[test]
fn a_100_term_sum_is_analysed() {
    let sql = format!("SELECT 1{}", "+1".repeat(99));
    let facts = one(sql, common::catalog());
    assert_eq!(facts.kind, "select");
    assert!(facts.read_only);
    assert!(facts.tables_read.is_empty() && facts.functions.is_empty());
}

#[test]
fn a_volatile_call_at_the_bottom_of_a_deep_chain_is_seen() {
    let sql = format!("SELECT nextval('s'){} FROM t", " + 1".repeat(300));
    let facts = one(sql, common::catalog());
    assert!(!facts.read_only);
    assert_eq!(facts.functions, ["nextval"]);
}

#[test]
fn a_60_branch_case_chain_and_50_nested_calls_are_analysed() {
    let mut case = String::from("0");
    for i in 0..60 {
        case = format!("CASE WHEN a = {i} THEN {i} ELSE {case} END");
    }
    let facts = one(
        format!("SELECT {case} FROM t WHERE b > 0"),
        common::catalog(),
    );
    assert!(facts.read_only && facts.has_where);
    assert_eq!(facts.tables_read, ["public.t"]);

    let calls = format!("SELECT {}a{} FROM t", "lower(".repeat(50), ")".repeat(50));
    let facts = one(calls, common::catalog());
    assert!(facts.read_only);
    assert_eq!(facts.functions, ["lower"]);

    let calls = format!("SELECT {}a{} FROM t", "lower(".repeat(50), ")".repeat(50));
    let facts = one(
        calls.replacen("lower(", "set_config(", 1),
        common::catalog(),
    );
    assert!(!facts.read_only);
}

#[test]
fn nesting_past_the_walker_limit_is_too_deep() {
    for n in [MAX_DEPTH, 2 * MAX_DEPTH, 4_000] {
        let sql = format!("SELECT 1{}", "+1".repeat(n));
        assert_eq!(
            on_small_stack(sql, common::catalog()),
            Err(AnalysisError::TooDeep),
            "{n}"
        );
    }
    let sql = format!(
        "SELECT {}1{}",
        "abs(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert_eq!(
        on_small_stack(sql, common::catalog()),
        Err(AnalysisError::TooDeep)
    );
}

#[test]
fn the_limit_is_the_walkers_own() {
    // The deepest analysable `1+1+...` chain: a few levels short of MAX_DEPTH
    // (the statement, its target and the last constant are levels too).
    let ok = |n: usize| on_small_stack(format!("SELECT 1{}", "+1".repeat(n)), common::catalog());
    let (mut lo, mut hi) = (1, MAX_DEPTH);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if ok(mid).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    assert!(lo + 8 >= MAX_DEPTH, "deepest analysable chain: {lo}");
    assert_eq!(ok(hi), Err(AnalysisError::TooDeep));
}

#[test]
fn the_deepest_trees_libpg_query_accepts_do_not_overflow() {
    // libpg_query serialises at most 10 000 nested protobuf messages, about
    // 5 000 levels: these are just under (decoded, then refused by the walk)
    // and just over (refused by libpg_query) that bound, in the shapes whose
    // decode needs the most stack per level.
    for depth in [4_990, 5_010] {
        let shapes = [
            format!("SELECT 1{}", "+1".repeat(depth)),
            format!("SELECT ARRAY{}1{}", "[".repeat(depth), "]".repeat(depth)),
            format!("SELECT {}a", "NOT ".repeat(depth)),
            format!("SELECT {}1{}", "f(".repeat(depth), ")".repeat(depth)),
            format!("SELECT {}a", "+-".repeat(depth / 2)),
        ];
        for sql in shapes {
            let head: String = sql.chars().take(20).collect();
            assert_eq!(
                on_small_stack(sql, common::catalog()),
                Err(AnalysisError::TooDeep),
                "{head}... x{depth}"
            );
        }
    }
}

#[test]
fn one_byte_per_level_nesting_does_not_overflow() {
    // The scanner splits `+-+-` into one-character prefix operators: the
    // most nesting per byte of input, at every size around the thresholds.
    for n in [50, 100, 200, 250, 300, 400, 500, 700, 1_000, 2_000, 4_000] {
        let sql = format!("SELECT {}a", "+-".repeat(n / 2));
        let result = on_small_stack(sql, common::catalog());
        if n < MAX_DEPTH - 8 {
            assert_eq!(result.map(|f| f.len()), Ok(1), "{n}");
        } else {
            assert_eq!(result, Err(AnalysisError::TooDeep), "{n}");
        }
    }
}

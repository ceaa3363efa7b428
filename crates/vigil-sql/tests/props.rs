//! Property tests: the analyser never panics, and a known-volatile call
//! anywhere in a statement always makes it not read-only.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use vigil_sql::{Catalog, analyze};

const SEEDS: &[&str] = &[
    "SELECT a, b FROM t WHERE id = $1 ORDER BY a LIMIT 10",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING",
    "UPDATE t SET a = (SELECT max(b) FROM u) WHERE c IN (1, 2)",
    "COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)",
    "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t WHERE a",
    "DO $$ BEGIN PERFORM nextval('s'); END $$; SELECT 1",
    "SELECT JSON_OBJECT('a' VALUE 1), ARRAY[1,2][1], x::int FROM t FOR UPDATE",
    "CREATE TABLE t AS SELECT * FROM u; DROP TABLE t",
    "SET ROLE admin; RESET ALL; SHOW search_path",
];

const TEMPLATES: &[&str] = &[
    "SELECT {}",
    "SELECT * FROM t WHERE a = {}",
    "SELECT * FROM t ORDER BY {}",
    "SELECT x FROM t GROUP BY {}",
    "SELECT x FROM t GROUP BY x HAVING {} > 1",
    "WITH c AS (SELECT {}) SELECT * FROM c",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT {} FROM r) SELECT * FROM r",
    "SELECT (SELECT {})",
    "SELECT 1 WHERE EXISTS (SELECT {})",
    "SELECT * FROM t WHERE a IN (SELECT {})",
    "SELECT * FROM (SELECT {} AS x) s",
    "SELECT * FROM t JOIN u ON {} = 1",
    "SELECT * FROM t, LATERAL (SELECT {}) l",
    "SELECT CASE WHEN x THEN {} ELSE 0 END FROM t",
    "SELECT coalesce(NULL, {})",
    "SELECT GREATEST(1, {})",
    "SELECT ARRAY[{}]",
    "SELECT ROW({}, 1)",
    "SELECT {}::text",
    "SELECT CAST({} AS int)",
    "SELECT count(*) FILTER (WHERE {} > 0) FROM t",
    "SELECT sum(x) OVER (ORDER BY {}) FROM t",
    "SELECT * FROM generate_series(1, {})",
    "SELECT * FROM t LIMIT {}",
    "SELECT * FROM t OFFSET {}",
    "VALUES ({})",
    "SELECT 1 UNION SELECT {}",
    "SELECT JSON_ARRAY({})",
    "SELECT JSON_OBJECT('k' VALUE {})",
    "SELECT {} IS NULL",
    "SELECT NOT ({} > 1)",
    "SELECT abs({})",
    "SELECT x FROM t WHERE x = ANY (ARRAY[{}])",
    "EXPLAIN ANALYZE SELECT {}",
    "DECLARE c CURSOR FOR SELECT {}",
    "PREPARE p AS SELECT {}",
    "COPY (SELECT {}) TO STDOUT",
    "SELECT * FROM t TABLESAMPLE BERNOULLI ({})",
    "SELECT xmlelement(name a, {})",
];

const VOLATILE: &[&str] = &[
    "nextval('s')",
    "setval('s', 1)",
    "set_config('a', 'b', false)",
    "pg_terminate_backend(1)",
    "lo_import('/etc/passwd')",
    "dblink_exec('c', 'DROP TABLE t')",
    "public.dblink_exec('c', 'x')",
    "my_user_function()",
    "app.md5('x')",
    "NEXTVAL('s')",
    "abs(nextval('s'))",
    "pg_catalog.nextval('s')",
];

/// A seed statement with a few characters inserted, removed or replaced.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..6),
    )
        .prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (at, op, c) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let i = at.index(chars.len());
                match op {
                    0 => chars.insert(i, c),
                    1 => {
                        chars.remove(i);
                    }
                    _ => chars[i] = c,
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(sql in any::<String>()) {
        let _ = analyze(&sql, &Catalog::empty());
    }

    #[test]
    fn never_panics_on_sql_like_tokens(
        tokens in prop::collection::vec(prop::sample::select(&[
            "SELECT", "FROM", "WHERE", "(", ")", "t", "1", ",", "WITH", "AS", "DELETE",
            "INSERT", "INTO", "VALUES", "UPDATE", "SET", "a", "=", "'x'", "$1", ";",
            "nextval", "::", "int", "JOIN", "ON", "UNION", "FOR", "UPDATE", "COPY", "TO",
            "STDOUT", "EXPLAIN", "ANALYZE", "$$", "--", "/*", "*/", "*", "+", "LATERAL",
        ][..]), 0..40)
    ) {
        let _ = analyze(&tokens.join(" "), &common::catalog());
    }

    #[test]
    fn never_panics_on_mutated_sql(sql in mutated()) {
        let _ = analyze(&sql, &common::catalog());
    }

    #[test]
    fn a_volatile_call_anywhere_is_never_read_only(
        template in prop::sample::select(TEMPLATES),
        call in prop::sample::select(VOLATILE),
    ) {
        let sql = template.replace("{}", call);
        // An unloaded catalog refuses the statement outright.
        prop_assert_eq!(
            analyze(&sql, &Catalog::empty()),
            Err(vigil_sql::AnalysisError::CatalogNotLoaded)
        );
        for catalog in [common::bare(), common::catalog()] {
            let facts = analyze(&sql, &catalog);
            prop_assert!(facts.is_ok(), "{}: {:?}", sql, facts);
            let facts = facts.unwrap_or_default();
            prop_assert!(!facts.is_empty());
            prop_assert!(!facts[0].read_only, "{} was read-only", sql);
        }
    }

    #[test]
    fn the_same_templates_are_read_only_with_a_stable_call(
        template in prop::sample::select(TEMPLATES),
    ) {
        // Guards the previous property against passing trivially.
        let sql = template.replace("{}", "abs(1)");
        let facts = analyze(&sql, &common::catalog()).unwrap_or_default();
        prop_assert!(!facts.is_empty(), "{}", sql);
        prop_assert!(facts[0].read_only, "{} was not read-only", sql);
    }
}

//! Catalog-dependent facts fail closed (issue 11, class 5): operators, casts
//! and relations are allow-lists like functions, secret and statistics
//! catalogs are never plain read-only, and no catalog means no analysis of a
//! statement that depends on it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use vigil_sql::{AnalysisError, Catalog, SENSITIVE_CATALOGS, analyze};

fn ro(sql: &str) -> bool {
    match analyze(sql, &common::catalog()) {
        Ok(f) if !f.is_empty() => f.iter().all(|f| f.read_only),
        other => panic!("{sql}: {other:?}"),
    }
}

fn row(cat: &str, schema: &str, name: &str, detail: &str) -> Vec<Option<String>> {
    vec![
        Some(cat.to_owned()),
        Some(schema.to_owned()),
        Some(name.to_owned()),
        Some(detail.to_owned()),
    ]
}

#[test]
fn built_in_operators_the_catalog_lists_are_read_only() {
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "SELECT * FROM t WHERE a <> 1 AND b >= 2 OR x < 3",
        "SELECT a || 'x', -a, a % 2 FROM t",
        "SELECT * FROM t WHERE name LIKE 'a%' OR name ILIKE 'b%'",
        "SELECT * FROM t WHERE a BETWEEN 1 AND 2",
        "SELECT * FROM t WHERE a NOT BETWEEN SYMMETRIC 1 AND 2",
        "SELECT * FROM t WHERE a IN (1, 2) AND b IS DISTINCT FROM 3",
        "SELECT * FROM t WHERE a IN (SELECT id FROM u)",
        "SELECT * FROM t WHERE a = ANY (SELECT id FROM u)",
        "SELECT CASE a WHEN 1 THEN 'x' END FROM t",
        "SELECT NULLIF(a, 1) FROM t",
        "SELECT * FROM t ORDER BY a USING <",
        "SELECT 1 OPERATOR(pg_catalog.+) 2",
    ] {
        assert!(ro(sql), "{sql}");
    }
}

#[test]
fn unknown_or_volatile_operators_are_not_read_only() {
    for sql in [
        "SELECT a === 1 FROM t",
        "SELECT a OPERATOR(public.===) 1 FROM t",
        "SELECT a <<<>>> 1 FROM t",
        "SELECT a OPERATOR(app.=) 1 FROM t",
        "SELECT * FROM t WHERE a === ANY (SELECT id FROM u)",
        "SELECT * FROM t WHERE a === ALL (ARRAY[1])",
    ] {
        assert!(!ro(sql), "{sql}");
    }
    // A stable user operator is as good as a stable user function.
    assert!(ro("SELECT a +++ 1 FROM t"));
}

#[test]
fn casts_are_an_allow_list() {
    for sql in [
        "SELECT '1'::int, 'x'::text, 1::numeric(10, 2), 'x'::varchar(3)",
        "SELECT CAST(a AS bigint), a::pg_catalog.int4 FROM t",
        "SELECT interval '1 day', date '2020-01-01', 't'::regclass",
        "SELECT '{1,2}'::int[]",
        "SELECT 'x'::nice_t",
    ] {
        assert!(ro(sql), "{sql}");
    }
    for sql in [
        "SELECT 'x'::evil_t",
        "SELECT 'x'::public.evil_t",
        "SELECT '{x}'::evil_t[]",
        "SELECT 'x'::unknown_type",
        "SELECT 'x'::app.int4",
        "SELECT CAST(a AS mystery) FROM t",
        "SELECT XMLSERIALIZE(CONTENT '<a/>' AS mystery)",
    ] {
        assert!(!ro(sql), "{sql}");
    }
}

#[test]
fn a_cast_entry_in_any_schema_that_is_volatile_spoils_the_unqualified_name() {
    let c = Catalog::from_rows([
        row("cast", "pg_catalog", "mytype", "s"),
        row("cast", "evil", "mytype", "v"),
    ])
    .unwrap();
    let ro = |sql: &str| analyze(sql, &c).map(|f| f[0].read_only);
    assert_eq!(ro("SELECT 'x'::mytype"), Ok(false));
    assert_eq!(ro("SELECT 'x'::pg_catalog.mytype"), Ok(true));
    assert_eq!(ro("SELECT 'x'::evil.mytype"), Ok(false));
    assert!(Catalog::from_rows([row("cast", "public", "t", "x")]).is_err());
    assert!(Catalog::from_rows([row("operator", "public", "+", "")]).is_err());
}

#[test]
fn relations_the_catalog_does_not_list_are_not_read_only() {
    assert!(ro("SELECT * FROM t"));
    assert!(ro("SELECT * FROM app.t"));
    assert!(ro("SELECT relname FROM pg_catalog.pg_class"));
    for sql in [
        "SELECT * FROM never_loaded",
        "SELECT * FROM app.never_loaded",
        "SELECT * FROM other.t",
        "SELECT * FROM t JOIN pg_temp.scratch USING (id)",
        "SELECT * FROM t WHERE a IN (SELECT x FROM new_view)",
        "COPY (SELECT * FROM new_view) TO STDOUT",
    ] {
        assert!(!ro(sql), "{sql}");
    }
    // A CTE is not a relation of the catalog.
    assert!(ro(
        "WITH never_loaded AS (SELECT 1 AS x) SELECT x FROM never_loaded"
    ));
}

#[test]
fn secret_and_statistics_catalogs_are_not_plain_read_only() {
    for (schema, name) in SENSITIVE_CATALOGS {
        for sql in [
            format!("SELECT * FROM {name}"),
            format!("SELECT * FROM {schema}.{name}"),
            format!("SELECT 1 FROM t WHERE EXISTS (SELECT 1 FROM {name})"),
            format!("SELECT (SELECT count(*) FROM {schema}.{name})"),
        ] {
            let facts = analyze(&sql, &common::catalog()).unwrap();
            assert!(!facts[0].read_only, "{sql}");
            // Policy still sees what is read, to allow it explicitly.
            assert!(
                facts[0].tables_read.iter().any(|t| t.ends_with(name)),
                "{sql}: {:?}",
                facts[0].tables_read
            );
        }
    }
    // Other sessions' statement text is sensitive too (same upstream role for all).
    assert!(!ro("SELECT query FROM pg_catalog.pg_stat_activity"));
}

#[test]
fn views_over_secret_catalogs_are_unsafe_unless_they_are_the_systems_own() {
    let body = |name: &str| format!("SELECT rolname, rolpassword FROM pg_catalog.{name}");
    let c = Catalog::from_rows([
        row("column", "pg_catalog", "pg_authid", "1:rolname"),
        row("column", "pg_catalog", "pg_authid", "2:rolpassword"),
        row("column", "pg_catalog", "pg_roles", "1:rolname"),
        row(
            "view",
            "pg_catalog",
            "pg_roles",
            "SELECT rolname FROM pg_authid",
        ),
        row("view", "pg_catalog", "pg_shadow", &body("pg_authid")),
        row("view", "public", "leak", &body("pg_authid")),
        row("view", "public", "leak2", "SELECT * FROM pg_shadow"),
        row("view", "public", "fine", "SELECT rolname FROM pg_roles"),
    ])
    .unwrap();
    let ro = |sql: &str| analyze(sql, &c).map(|f| f[0].read_only);
    assert_eq!(ro("SELECT * FROM pg_roles"), Ok(true));
    assert_eq!(ro("SELECT * FROM fine"), Ok(true));
    assert_eq!(ro("SELECT * FROM pg_shadow"), Ok(false));
    assert_eq!(ro("SELECT * FROM leak"), Ok(false));
    assert_eq!(ro("SELECT * FROM public.leak2"), Ok(false));
}

#[test]
fn the_load_query_lists_every_operator_and_type_with_its_volatility() {
    let q = Catalog::LOAD_QUERY;
    assert!(q.contains("SELECT 'operator', n.nspname::text, o.oprname::text, COALESCE("));
    assert!(q.contains("FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n"));
    assert!(q.contains("pg_catalog.pg_constraint"));
    assert!(q.contains("AND n.nspname <> 'pg_toast'"));
    assert!(!q.contains("NOT IN ('pg_catalog', 'information_schema')"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any relation name the test catalog does not list makes a read not
    /// read-only, qualified or not.
    #[test]
    fn unlisted_relations_are_never_read_only(
        name in "[a-z][a-z0-9_]{0,12}",
        schema in prop::option::of(prop::sample::select(&["public", "app", "pg_catalog", "other"][..])),
    ) {
        let listed = common::TABLES.iter().any(|(s, n)| {
            *n == name && schema.is_none_or(|schema| schema == *s)
        }) || ["safe_v", "bad_v", "on_bad_v", "deep_v", "safe_on_safe_v"].contains(&name.as_str());
        prop_assume!(!listed);
        let relation = match schema {
            Some(s) => format!("{s}.\"{name}\""),
            None => format!("\"{name}\""),
        };
        let sql = format!("SELECT * FROM {relation}");
        let facts = analyze(&sql, &common::catalog());
        prop_assert!(facts.is_ok(), "{}: {:?}", sql, facts);
        prop_assert!(!facts.unwrap_or_default()[0].read_only, "{} was read-only", sql);
        prop_assert_eq!(analyze(&sql, &Catalog::unloaded()), Err(AnalysisError::CatalogNotLoaded));
    }

    /// Any operator spelling the catalog does not list is not read-only.
    #[test]
    fn unlisted_operators_are_never_read_only(op in "[~!@#%^&|`?+*/<>=-]{1,4}") {
        // `!=` is the parser's own spelling of `<>`.
        prop_assume!(!common::BUILTIN_OPERATORS.contains(&op.as_str()) && op != "+++" && op != "!=");
        // Spelled through OPERATOR() so every spelling parses as one operator.
        let sql = format!("SELECT 1 OPERATOR({op}) 2");
        if let Ok(facts) = analyze(&sql, &common::catalog()) {
            prop_assert!(!facts[0].read_only, "{} was read-only", sql);
        }
    }
}

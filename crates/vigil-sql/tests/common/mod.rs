//! A catalog that looks like a small real database, shared by the test files.
#![allow(dead_code)]

use vigil_sql::Catalog;

fn row(cat: &str, schema: &str, name: &str, detail: Option<&str>) -> Vec<Option<String>> {
    vec![
        Some(cat.to_owned()),
        Some(schema.to_owned()),
        Some(name.to_owned()),
        detail.map(str::to_owned),
    ]
}

/// A catalog loaded from a target that has nothing in it.
pub fn bare() -> Catalog {
    match Catalog::from_rows(Vec::<Vec<Option<String>>>::new()) {
        Ok(c) => c,
        Err(e) => panic!("empty catalog: {e}"),
    }
}

/// Built-in operators, all immutable as in `pg_operator`.
pub const BUILTIN_OPERATORS: &[&str] = &[
    "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "||", "~~", "!~~", "~~*",
    "!~~*", "~", "!~", "~*", "!~*", "@>", "<@", "&&", "->", "->>", "#>", "#>>", "?", "|/",
];

/// Built-in types a cast may name (pg_query's spelling: `int` is `pg_catalog.int4`).
pub const BUILTIN_TYPES: &[&str] = &[
    "int2",
    "int4",
    "int8",
    "text",
    "varchar",
    "bpchar",
    "char",
    "name",
    "oid",
    "regclass",
    "regproc",
    "regtype",
    "numeric",
    "float4",
    "float8",
    "bool",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "jsonb",
    "uuid",
    "bytea",
    "xml",
    "inet",
];

/// Tables (and one sequence) the cases read, each with the same six columns.
pub const TABLES: &[(&str, &str)] = &[
    ("public", "t"),
    ("public", "u"),
    ("public", "a"),
    ("public", "b"),
    ("public", "c"),
    ("public", "d"),
    ("public", "s"),
    ("public", "log"),
    ("public", "mv"),
    ("public", "n"),
    ("public", "p1"),
    ("public", "pgbench_accounts"),
    ("public", "users"),
    ("public", "v"),
    ("public", "x"),
    ("public", "weird table"),
    ("public", "rls_t"),
    ("public", "rls_ok"),
    ("app", "t"),
    ("app", "u"),
    ("App", "T"),
    ("pg_catalog", "pg_class"),
    ("pg_catalog", "pg_namespace"),
    ("pg_catalog", "pg_stat_activity"),
    ("pg_catalog", "pg_authid"),
    ("pg_catalog", "pg_statistic"),
];

/// Functions with their pg_proc volatility, volatile operators and casts,
/// views (one read-only, one volatile, one reading the volatile one) and a
/// table with a volatile row-security policy.
pub fn catalog() -> Catalog {
    let mut rows = Vec::new();
    for (name, vol) in [
        ("now", "s"),
        ("lower", "i"),
        ("upper", "i"),
        ("count", "i"),
        ("sum", "i"),
        ("max", "i"),
        ("abs", "i"),
        ("length", "i"),
        ("extract", "i"),
        ("to_char", "s"),
        ("current_setting", "s"),
        ("generate_series", "i"),
        ("json_build_object", "s"),
        ("row_number", "i"),
        ("coalesce_fn", "i"),
        ("nextval", "v"),
        ("setval", "v"),
        ("set_config", "v"),
        ("pg_terminate_backend", "v"),
        ("pg_cancel_backend", "v"),
        ("lo_import", "v"),
        ("lo_export", "v"),
        ("pg_read_file", "v"),
        ("random", "v"),
        ("gen_random_uuid", "v"),
        ("clock_timestamp", "v"),
        ("txid_current", "s"),
        ("pg_advisory_lock", "v"),
    ] {
        rows.push(row("function", "pg_catalog", name, Some(vol)));
    }
    rows.push(row("function", "public", "dblink_exec", Some("v")));
    rows.push(row("function", "public", "dblink", Some("v")));
    rows.push(row("function", "app", "safe_fn", Some("s")));
    rows.push(row("function", "pg_catalog", "md5", Some("i")));
    rows.push(row("function", "app", "md5", Some("v"))); // shadows pg_catalog.md5
    rows.push(row("function", "evil", "random", Some("v"))); // shadows an allowlisted one
    for op in BUILTIN_OPERATORS {
        rows.push(row("operator", "pg_catalog", op, Some("i")));
    }
    rows.push(row("operator", "public", "===", Some("v")));
    rows.push(row("operator", "public", "+++", Some("s")));
    for ty in BUILTIN_TYPES {
        rows.push(row("cast", "pg_catalog", ty, Some("s")));
    }
    rows.push(row("cast", "public", "evil_t", Some("v")));
    rows.push(row("cast", "public", "nice_t", Some("i")));
    for (schema, table) in TABLES {
        for (i, col) in ["id", "a", "b", "x", "name", "owner"].iter().enumerate() {
            let detail = format!("{}:{col}", i + 1);
            rows.push(row("column", schema, table, Some(&detail)));
        }
    }
    rows.push(row(
        "view",
        "public",
        "safe_v",
        Some(" SELECT id, lower(name) AS n FROM t;"),
    ));
    rows.push(row(
        "view",
        "public",
        "bad_v",
        Some(" SELECT nextval('s') AS x;"),
    ));
    rows.push(row(
        "view",
        "public",
        "on_bad_v",
        Some(" SELECT x FROM bad_v;"),
    ));
    rows.push(row(
        "view",
        "app",
        "deep_v",
        Some(" SELECT x FROM public.on_bad_v;"),
    ));
    rows.push(row(
        "view",
        "public",
        "safe_on_safe_v",
        Some(" SELECT id FROM safe_v;"),
    ));
    rows.push(row(
        "policy",
        "public",
        "rls_t",
        Some("(nextval('s'::regclass) > 0)"),
    ));
    rows.push(row(
        "policy",
        "public",
        "rls_ok",
        Some("(owner = CURRENT_USER)"),
    ));
    match Catalog::from_rows(rows) {
        Ok(c) => c,
        Err(e) => panic!("test catalog: {e}"),
    }
}

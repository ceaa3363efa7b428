//! Table-driven cases: one SQL statement each, with the facts it must yield.
//!
//! Columns: SQL, kind, flags, tables read, tables written, functions.
//! Flags: `R` read_only, `W` writes, `D` ddl, `H` has_where; a flag not
//! listed must be false. Lists are comma-separated; `*` skips the check.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use vigil_sql::analyze;

type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const CASES: &[Case] = &[
    // --- plain reads
    ("SELECT 1", "select", "R", "", "", ""),
    ("select 1;", "select", "R", "", "", ""),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "select",
        "RH",
        "public.pgbench_accounts",
        "",
        "",
    ),
    ("SELECT * FROM t", "select", "R", "public.t", "", ""),
    ("SELECT * FROM app.t", "select", "R", "app.t", "", ""),
    (
        "SELECT * FROM \"App\".\"T\"",
        "select",
        "R",
        "App.T",
        "",
        "",
    ),
    (
        "SELECT * FROM \"weird table\"",
        "select",
        "R",
        "public.weird table",
        "",
        "",
    ),
    (
        "SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id)",
        "select",
        "R",
        "public.a,public.b,public.c",
        "",
        "",
    ),
    (
        "SELECT * FROM a, a AS a2, public.a",
        "select",
        "R",
        "public.a",
        "",
        "",
    ),
    (
        "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
        "select",
        "RH",
        "public.t,public.u",
        "",
        "",
    ),
    (
        "SELECT EXISTS (SELECT 1 FROM u WHERE u.x = 1)",
        "select",
        "R",
        "public.u",
        "",
        "",
    ),
    (
        "SELECT (SELECT max(x) FROM u) FROM t",
        "select",
        "R",
        "public.t,public.u",
        "",
        "max",
    ),
    (
        "SELECT * FROM (SELECT * FROM u) s",
        "select",
        "R",
        "public.u",
        "",
        "",
    ),
    (
        "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t = t.id) l",
        "select",
        "R",
        "public.t,public.u",
        "",
        "",
    ),
    (
        "SELECT a FROM t UNION SELECT b FROM u",
        "select",
        "R",
        "public.t,public.u",
        "",
        "",
    ),
    (
        "SELECT a FROM t INTERSECT SELECT b FROM u EXCEPT SELECT c FROM v",
        "select",
        "R",
        "public.t,public.u,public.v",
        "",
        "",
    ),
    ("VALUES (1, 'a'), (2, 'b')", "select", "R", "", "", ""),
    ("TABLE t", "select", "R", "public.t", "", ""),
    (
        "SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 1 LIMIT 10 OFFSET 5",
        "select",
        "R",
        "public.t",
        "",
        "count",
    ),
    (
        "SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t",
        "select",
        "R",
        "public.t",
        "",
        "row_number",
    ),
    (
        "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, COALESCE(a, 0), NULLIF(a, 1), GREATEST(a, 2) FROM t",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT a::text, CAST(b AS int), c IS NULL, d IS TRUE, e BETWEEN 1 AND 2, f LIKE 'x%' FROM t",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT ARRAY[1,2,3], (ARRAY[1,2])[1], ROW(1, 2), '{1}'::int[]",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT CURRENT_TIMESTAMP, CURRENT_USER, SESSION_USER, LOCALTIME",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT * FROM t WHERE a = ANY($1) AND b = ALL (SELECT b FROM u)",
        "select",
        "RH",
        "public.t,public.u",
        "",
        "",
    ),
    ("SELECT $1::int + $2", "select", "R", "", "", ""),
    (
        "SELECT * FROM t TABLESAMPLE SYSTEM (10)",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC NULLS LAST",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT a FROM t GROUP BY ROLLUP (a, b), CUBE (c)",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT 'it''s', E'\\n', $$dollar ' quoted$$, $tag$ SELECT nextval('x') $tag$",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT /* nextval('s') */ 1 -- set_config('a','b',false)\n",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT x FROM t WHERE y = 'DELETE FROM t'",
        "select",
        "RH",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT a COLLATE \"C\" FROM t",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT xmlelement(name foo, a) FROM t",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT JSON_OBJECT('a' VALUE 1), JSON_ARRAY(1, 2)",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT * FROM JSON_TABLE('[1]'::jsonb, '$[*]' COLUMNS (v int PATH '$')) jt",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT x.* FROM d, XMLTABLE('/r' PASSING d.doc COLUMNS a text PATH 'a') x",
        "select",
        "R",
        "public.d",
        "",
        "",
    ),
    (
        "SELECT a FROM t WINDOW w AS (ORDER BY a)",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM t FETCH FIRST 3 ROWS ONLY",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    // --- CTEs
    (
        "WITH c AS (SELECT * FROM t) SELECT * FROM c",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "WITH t AS (SELECT * FROM t) SELECT * FROM t",
        "select",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "WITH t AS (SELECT 1) SELECT * FROM app.t",
        "select",
        "R",
        "app.t",
        "",
        "",
    ),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b",
        "select",
        "R",
        "",
        "",
        "",
    ),
    (
        "SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) s, c",
        "select",
        "R",
        "public.c",
        "",
        "",
    ),
    (
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "select",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "WITH i AS (INSERT INTO log VALUES (1) RETURNING id) SELECT id FROM i",
        "select",
        "W",
        "",
        "public.log",
        "",
    ),
    (
        "WITH u AS (UPDATE t SET a = 1 WHERE b = 2 RETURNING *) SELECT count(*) FROM u",
        "select",
        "W",
        "",
        "public.t",
        "count",
    ),
    (
        "WITH m AS (MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.*) SELECT * FROM m",
        "select",
        "W",
        "public.s",
        "public.t",
        "",
    ),
    (
        "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) sub",
        "select",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "SELECT * FROM x WHERE id IN (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d)",
        "select",
        "WH",
        "public.x",
        "public.t",
        "",
    ),
    (
        "WITH a AS (SELECT 1), b AS (WITH c AS (UPDATE u SET x = 1 RETURNING x) SELECT * FROM c) SELECT * FROM a, b",
        "select",
        "W",
        "",
        "public.u",
        "",
    ),
    (
        "WITH d AS (DELETE FROM t) INSERT INTO log SELECT 1",
        "insert",
        "W",
        "",
        "public.log,public.t",
        "",
    ),
    // --- function calls and the catalog
    ("SELECT now()", "select", "R", "", "", "now"),
    (
        "SELECT lower(name), upper(name) FROM users",
        "select",
        "R",
        "public.users",
        "",
        "lower,upper",
    ),
    (
        "SELECT pg_catalog.lower('A')",
        "select",
        "R",
        "",
        "",
        "pg_catalog.lower",
    ),
    ("SELECT LOWER('A')", "select", "R", "", "", "lower"),
    ("SELECT nextval('s')", "select", "", "", "", "nextval"),
    ("SELECT setval('s', 1)", "select", "", "", "", "setval"),
    (
        "SELECT set_config('x', 'y', false)",
        "select",
        "",
        "",
        "",
        "set_config",
    ),
    (
        "SELECT pg_terminate_backend(123)",
        "select",
        "",
        "",
        "",
        "pg_terminate_backend",
    ),
    (
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity",
        "select",
        "",
        "public.pg_stat_activity",
        "",
        "pg_cancel_backend",
    ),
    (
        "SELECT lo_import('/etc/passwd')",
        "select",
        "",
        "",
        "",
        "lo_import",
    ),
    (
        "SELECT lo_export(1, '/tmp/x')",
        "select",
        "",
        "",
        "",
        "lo_export",
    ),
    (
        "SELECT pg_read_file('/etc/passwd')",
        "select",
        "",
        "",
        "",
        "pg_read_file",
    ),
    (
        "SELECT dblink_exec('conn', 'DROP TABLE t')",
        "select",
        "",
        "",
        "",
        "dblink_exec",
    ),
    (
        "SELECT * FROM dblink('conn', 'SELECT 1') AS x(a int)",
        "select",
        "",
        "",
        "",
        "dblink",
    ),
    (
        "SELECT my_user_function(1)",
        "select",
        "",
        "",
        "",
        "my_user_function",
    ),
    ("SELECT app.safe_fn()", "select", "R", "", "", "app.safe_fn"),
    ("SELECT safe_fn()", "select", "R", "", "", "safe_fn"),
    (
        "SELECT public.safe_fn()",
        "select",
        "",
        "",
        "",
        "public.safe_fn",
    ),
    ("SELECT md5('a')", "select", "", "", "", "md5"),
    (
        "SELECT pg_catalog.md5('a')",
        "select",
        "R",
        "",
        "",
        "pg_catalog.md5",
    ),
    ("SELECT app.md5('a')", "select", "", "", "", "app.md5"),
    ("SELECT random()", "select", "", "", "", "random"), // evil.random could shadow it
    (
        "SELECT pg_catalog.random()",
        "select",
        "R",
        "",
        "",
        "pg_catalog.random",
    ),
    ("SELECT evil.random()", "select", "", "", "", "evil.random"),
    (
        "SELECT gen_random_uuid(), clock_timestamp()",
        "select",
        "R",
        "",
        "",
        "clock_timestamp,gen_random_uuid",
    ),
    (
        "SELECT * FROM t WHERE a = (SELECT nextval('s'))",
        "select",
        "H",
        "public.t",
        "",
        "nextval",
    ),
    (
        "SELECT * FROM t ORDER BY nextval('s')",
        "select",
        "",
        "public.t",
        "",
        "nextval",
    ),
    (
        "SELECT count(*) FILTER (WHERE nextval('s') > 0) FROM t",
        "select",
        "",
        "public.t",
        "",
        "count,nextval",
    ),
    (
        "SELECT * FROM generate_series(1, 10) g",
        "select",
        "R",
        "",
        "",
        "generate_series",
    ),
    (
        "SELECT * FROM generate_series(1, nextval('s')) g",
        "select",
        "",
        "",
        "",
        "generate_series,nextval",
    ),
    (
        "SELECT * FROM ROWS FROM (generate_series(1, 2), my_srf()) r",
        "select",
        "",
        "",
        "",
        "generate_series,my_srf",
    ),
    (
        "SELECT EXTRACT(year FROM now())",
        "select",
        "R",
        "",
        "",
        "now,pg_catalog.extract",
    ),
    ("SELECT \"MyFunc\"(1)", "select", "", "", "", "myfunc"),
    (
        "SELECT pg_advisory_lock(1)",
        "select",
        "",
        "",
        "",
        "pg_advisory_lock",
    ),
    (
        "SELECT to_char(now(), 'YYYY')",
        "select",
        "R",
        "",
        "",
        "now,to_char",
    ),
    (
        "SELECT json_build_object('a', 1)",
        "select",
        "R",
        "",
        "",
        "json_build_object",
    ),
    (
        "SELECT current_setting('search_path')",
        "select",
        "R",
        "",
        "",
        "current_setting",
    ),
    (
        "SELECT CASE WHEN false THEN nextval('s') END",
        "select",
        "",
        "",
        "",
        "nextval",
    ),
    (
        "SELECT ARRAY(SELECT set_config('a', 'b', true))",
        "select",
        "",
        "",
        "",
        "set_config",
    ),
    // --- operators, casts, views, row security
    ("SELECT 1 === 2", "select", "", "", "", ""),
    ("SELECT 1 +++ 2", "select", "R", "", "", ""), // lexes as 1 + (+(+2)): +++ is no PostgreSQL operator
    ("SELECT 1 OPERATOR(public.===) 2", "select", "", "", "", ""),
    (
        "SELECT * FROM t ORDER BY a USING ===",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT 1 + 2 * 3 - 4 / 5 % 6 ^ 7 || 'x'",
        "select",
        "R",
        "",
        "",
        "",
    ),
    ("SELECT 'x'::evil_t", "select", "", "", "", ""),
    (
        "SELECT CAST(a AS public.evil_t) FROM t",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM safe_v",
        "select",
        "R",
        "public.safe_v",
        "",
        "",
    ),
    (
        "SELECT * FROM safe_on_safe_v",
        "select",
        "R",
        "public.safe_on_safe_v",
        "",
        "",
    ),
    ("SELECT * FROM bad_v", "select", "", "public.bad_v", "", ""),
    (
        "SELECT * FROM public.bad_v",
        "select",
        "",
        "public.bad_v",
        "",
        "",
    ),
    (
        "SELECT * FROM on_bad_v",
        "select",
        "",
        "public.on_bad_v",
        "",
        "",
    ),
    (
        "SELECT * FROM app.deep_v",
        "select",
        "",
        "app.deep_v",
        "",
        "",
    ),
    (
        "SELECT * FROM t WHERE id IN (SELECT x FROM bad_v)",
        "select",
        "H",
        "public.bad_v,public.t",
        "",
        "",
    ),
    ("SELECT * FROM rls_t", "select", "", "public.rls_t", "", ""),
    (
        "SELECT * FROM rls_ok",
        "select",
        "R",
        "public.rls_ok",
        "",
        "",
    ),
    (
        "WITH bad_v AS (SELECT 1) SELECT * FROM bad_v",
        "select",
        "R",
        "",
        "",
        "",
    ),
    // --- locking clauses
    (
        "SELECT * FROM t FOR UPDATE",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM t FOR SHARE",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM t FOR KEY SHARE NOWAIT",
        "select",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "SELECT * FROM t WHERE id IN (SELECT id FROM u FOR SHARE)",
        "select",
        "H",
        "public.t,public.u",
        "",
        "",
    ),
    (
        "SELECT * FROM (SELECT * FROM u FOR UPDATE) s",
        "select",
        "",
        "public.u",
        "",
        "",
    ),
    (
        "WITH l AS (SELECT * FROM u FOR UPDATE) SELECT * FROM l",
        "select",
        "",
        "public.u",
        "",
        "",
    ),
    // --- SELECT INTO, CREATE TABLE AS
    (
        "SELECT * INTO newt FROM t",
        "select_into",
        "W",
        "public.t",
        "public.newt",
        "",
    ),
    (
        "SELECT a INTO TEMP tmp FROM t WHERE b",
        "select_into",
        "WH",
        "public.t",
        "public.tmp",
        "",
    ),
    (
        "CREATE TABLE n AS SELECT * FROM t",
        "create_table_as",
        "WD",
        "public.t",
        "public.n",
        "",
    ),
    (
        "CREATE TABLE app.n AS SELECT 1 WITH NO DATA",
        "create_table_as",
        "WD",
        "",
        "app.n",
        "",
    ),
    (
        "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t",
        "create_materialized_view",
        "WD",
        "public.t",
        "public.mv",
        "",
    ),
    (
        "REFRESH MATERIALIZED VIEW mv",
        "refresh_materialized_view",
        "W",
        "",
        "public.mv",
        "",
    ),
    // --- DML
    (
        "INSERT INTO t (a) VALUES (1)",
        "insert",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "INSERT INTO app.t SELECT * FROM u",
        "insert",
        "W",
        "public.u",
        "app.t",
        "",
    ),
    (
        "INSERT INTO t VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a",
        "insert",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING RETURNING id",
        "insert",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "INSERT INTO t VALUES (nextval('s'))",
        "insert",
        "W",
        "",
        "public.t",
        "nextval",
    ),
    ("UPDATE t SET a = 1", "update", "W", "", "public.t", ""),
    (
        "UPDATE t SET a = 1 WHERE id = $1",
        "update",
        "WH",
        "",
        "public.t",
        "",
    ),
    (
        "UPDATE t SET a = u.a FROM u WHERE t.id = u.id RETURNING t.*",
        "update",
        "WH",
        "public.u",
        "public.t",
        "",
    ),
    (
        "UPDATE t SET (a, b) = (SELECT x, y FROM u) WHERE true",
        "update",
        "WH",
        "public.u",
        "public.t",
        "",
    ),
    (
        "UPDATE t SET a = 1 WHERE CURRENT OF c",
        "update",
        "WH",
        "",
        "public.t",
        "",
    ),
    ("DELETE FROM t", "delete", "W", "", "public.t", ""),
    (
        "DELETE FROM t WHERE id = 1",
        "delete",
        "WH",
        "",
        "public.t",
        "",
    ),
    (
        "DELETE FROM app.t USING u WHERE t.id = u.id",
        "delete",
        "WH",
        "public.u",
        "app.t",
        "",
    ),
    (
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
        "merge",
        "W",
        "public.s",
        "public.t",
        "",
    ),
    (
        "TRUNCATE t, app.u",
        "truncate",
        "W",
        "",
        "app.u,public.t",
        "",
    ),
    // --- COPY
    ("COPY t TO STDOUT", "copy", "R", "public.t", "", ""),
    (
        "COPY t (a, b) TO STDOUT WITH (FORMAT csv)",
        "copy",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "COPY (SELECT * FROM t WHERE a > 1) TO STDOUT",
        "copy",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "COPY (SELECT nextval('s')) TO STDOUT",
        "copy",
        "",
        "",
        "",
        "nextval",
    ),
    (
        "COPY (DELETE FROM t RETURNING *) TO STDOUT",
        "copy",
        "W",
        "",
        "public.t",
        "",
    ),
    ("COPY t FROM STDIN", "copy", "W", "", "public.t", ""),
    ("COPY t FROM '/etc/passwd'", "copy", "W", "", "public.t", ""),
    ("COPY t TO '/tmp/out.csv'", "copy", "", "public.t", "", ""),
    (
        "COPY t TO PROGRAM 'rm -rf /'",
        "copy",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "COPY t FROM PROGRAM 'curl evil'",
        "copy",
        "W",
        "",
        "public.t",
        "",
    ),
    ("COPY bad_v TO STDOUT", "copy", "", "public.bad_v", "", ""),
    // --- EXPLAIN
    (
        "EXPLAIN SELECT * FROM t",
        "explain",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN DELETE FROM t WHERE id = 1",
        "explain",
        "RH",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN ANALYZE DELETE FROM t",
        "explain",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "EXPLAIN (ANALYZE) UPDATE t SET a = 1",
        "explain",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "EXPLAIN (ANALYZE true, BUFFERS) INSERT INTO t VALUES (1)",
        "explain",
        "W",
        "",
        "public.t",
        "",
    ),
    (
        "EXPLAIN (ANALYZE false) DELETE FROM t",
        "explain",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN (ANALYZE off, VERBOSE) DELETE FROM t",
        "explain",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN ANALYZE SELECT * FROM t",
        "explain",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN ANALYZE SELECT nextval('s')",
        "explain",
        "",
        "",
        "",
        "nextval",
    ),
    (
        "EXPLAIN SELECT nextval('s')",
        "explain",
        "R",
        "",
        "",
        "nextval",
    ),
    (
        "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
        "explain",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1",
        "explain",
        "WD",
        "",
        "public.x",
        "",
    ),
    (
        "EXPLAIN CREATE TABLE x AS SELECT 1",
        "explain",
        "R",
        "public.x",
        "",
        "",
    ),
    ("EXPLAIN ANALYZE EXECUTE p", "explain", "", "", "", ""),
    // --- SET / SHOW / RESET
    // Settings are an allow-list: search_path changes what names resolve
    // to, a limit may be raised; neither is read-only.
    ("SET search_path = app, public", "set", "", "", "", ""),
    ("SET LOCAL statement_timeout = '5s'", "set", "", "", "", ""),
    ("SET log_statement = 'none'", "set", "", "", "", ""),
    ("SET application_name = 'psql'", "set", "R", "", "", ""),
    ("SET LOCAL extra_float_digits = 3", "set", "R", "", "", ""),
    ("SET TIME ZONE 'UTC'", "set", "R", "", "", ""),
    (
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "set",
        "R",
        "",
        "",
        "",
    ),
    ("SET ROLE admin", "set", "", "", "", ""),
    ("SET LOCAL ROLE admin", "set", "", "", "", ""),
    ("SET role = 'admin'", "set", "", "", "", ""),
    ("SET SESSION AUTHORIZATION postgres", "set", "", "", "", ""),
    (
        "SET session_preload_libraries = 'evil'",
        "set",
        "",
        "",
        "",
        "",
    ),
    ("RESET ROLE", "reset", "", "", "", ""),
    ("RESET search_path", "reset", "", "", "", ""),
    ("RESET ALL", "reset", "", "", "", ""),
    ("RESET datestyle", "reset", "R", "", "", ""),
    ("SHOW search_path", "show", "R", "", "", ""),
    ("SHOW ALL", "show", "R", "", "", ""),
    // --- transactions and cursors
    ("BEGIN", "begin", "R", "", "", ""),
    (
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        "begin",
        "R",
        "",
        "",
        "",
    ),
    ("START TRANSACTION", "begin", "R", "", "", ""),
    ("COMMIT", "commit", "R", "", "", ""),
    ("END", "commit", "R", "", "", ""),
    ("ROLLBACK", "rollback", "R", "", "", ""),
    ("SAVEPOINT sp1", "savepoint", "R", "", "", ""),
    ("RELEASE SAVEPOINT sp1", "release", "R", "", "", ""),
    ("ROLLBACK TO SAVEPOINT sp1", "rollback", "R", "", "", ""),
    (
        "PREPARE TRANSACTION 'x'",
        "prepare_transaction",
        "",
        "",
        "",
        "",
    ),
    ("COMMIT PREPARED 'x'", "commit_prepared", "", "", "", ""),
    ("ROLLBACK PREPARED 'x'", "rollback_prepared", "", "", "", ""),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t",
        "declare",
        "R",
        "public.t",
        "",
        "",
    ),
    (
        "DECLARE c SCROLL CURSOR WITH HOLD FOR SELECT * FROM t WHERE a",
        "declare",
        "RH",
        "public.t",
        "",
        "",
    ),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
        "declare",
        "",
        "public.t",
        "",
        "",
    ),
    (
        "DECLARE c CURSOR FOR SELECT nextval('s')",
        "declare",
        "",
        "",
        "",
        "nextval",
    ),
    ("FETCH 10 FROM c", "fetch", "R", "", "", ""),
    ("FETCH ALL IN c", "fetch", "R", "", "", ""),
    ("MOVE NEXT IN c", "move", "R", "", "", ""),
    ("CLOSE c", "close", "R", "", "", ""),
    ("CLOSE ALL", "close", "R", "", "", ""),
    // --- prepared statements
    (
        "PREPARE p AS SELECT * FROM t WHERE id = $1",
        "prepare",
        "RH",
        "public.t",
        "",
        "",
    ),
    (
        "PREPARE p (int) AS DELETE FROM t WHERE id = $1",
        "prepare",
        "WH",
        "",
        "public.t",
        "",
    ),
    (
        "PREPARE p AS SELECT nextval('s')",
        "prepare",
        "",
        "",
        "",
        "nextval",
    ),
    ("EXECUTE p", "execute", "", "", "", ""),
    (
        "EXECUTE p (1, nextval('s'))",
        "execute",
        "",
        "",
        "",
        "nextval",
    ),
    ("DEALLOCATE p", "deallocate", "R", "", "", ""),
    ("DEALLOCATE ALL", "deallocate", "R", "", "", ""),
    // --- session and server commands
    ("LISTEN ch", "listen", "R", "", "", ""),
    ("UNLISTEN *", "unlisten", "R", "", "", ""),
    ("NOTIFY ch, 'payload'", "notify", "", "", "", ""),
    ("DISCARD ALL", "discard", "", "", "", ""),
    ("DISCARD TEMP", "discard", "", "", "", ""),
    ("DISCARD PLANS", "discard", "R", "", "", ""),
    (
        "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
        "lock",
        "",
        "public.t",
        "",
        "",
    ),
    ("VACUUM t", "vacuum", "", "", "public.t", ""),
    (
        "VACUUM (FULL, ANALYZE) app.t",
        "vacuum",
        "",
        "",
        "app.t",
        "",
    ),
    ("ANALYZE t", "analyze", "", "", "public.t", ""),
    ("CLUSTER t USING t_pkey", "cluster", "", "", "", ""),
    ("REINDEX TABLE t", "reindex", "", "", "", ""),
    ("CHECKPOINT", "checkpoint", "", "", "", ""),
    ("LOAD 'plpgsql'", "load", "", "", "", ""),
    (
        "SET CONSTRAINTS ALL DEFERRED",
        "set_constraints",
        "",
        "",
        "",
        "",
    ),
    ("DO $$ BEGIN PERFORM 1; END $$", "do", "", "", "", ""),
    (
        "DO LANGUAGE plpgsql $body$ BEGIN DELETE FROM t; END $body$",
        "do",
        "",
        "",
        "",
        "",
    ),
    ("CALL my_proc(1, 'a')", "call", "", "", "", "my_proc"),
    ("CALL app.safe_fn()", "call", "", "", "", "app.safe_fn"),
    // --- DDL
    (
        "CREATE TABLE t (id int PRIMARY KEY, a text DEFAULT 'x')",
        "create_table",
        "D",
        "",
        "public.t",
        "",
    ),
    (
        "CREATE TABLE IF NOT EXISTS app.t (LIKE u)",
        "create_table",
        "D",
        "",
        "app.t",
        "",
    ),
    (
        "CREATE TEMP TABLE tmp (a int)",
        "create_table",
        "D",
        "",
        "public.tmp",
        "",
    ),
    (
        "CREATE UNLOGGED TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10)",
        "create_table",
        "D",
        "",
        "public.p1",
        "",
    ),
    (
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "create_index",
        "D",
        "",
        "public.t",
        "",
    ),
    (
        "CREATE VIEW v AS SELECT * FROM t",
        "create_view",
        "D",
        "public.t",
        "public.v",
        "",
    ),
    (
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ DELETE FROM t RETURNING 1 $$",
        "create_function",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$",
        "create_procedure",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE ROLE r LOGIN PASSWORD 'x'",
        "create_role",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE USER u WITH SUPERUSER",
        "create_role",
        "D",
        "",
        "",
        "",
    ),
    ("ALTER ROLE r SUPERUSER", "alter_role", "D", "", "", ""),
    ("DROP ROLE r", "drop_role", "D", "", "", ""),
    ("CREATE SCHEMA s", "create_schema", "D", "", "", ""),
    ("CREATE SEQUENCE s", "create_sequence", "D", "", "", ""),
    (
        "CREATE EXTENSION dblink",
        "create_extension",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE OPERATOR === (FUNCTION = f, LEFTARG = int, RIGHTARG = int)",
        "create_operator",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE TYPE mood AS ENUM ('a', 'b')",
        "create_type",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
        "create_trigger",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE POLICY p ON t USING (true)",
        "create_policy",
        "D",
        "",
        "",
        "",
    ),
    ("CREATE DATABASE d", "create_database", "D", "", "", ""),
    ("DROP TABLE t", "drop", "D", "", "public.t", ""),
    (
        "DROP TABLE IF EXISTS app.t, u CASCADE",
        "drop",
        "D",
        "",
        "app.t,public.u",
        "",
    ),
    ("DROP VIEW v", "drop", "D", "", "public.v", ""),
    ("DROP FUNCTION f(int)", "drop", "D", "", "", ""),
    ("DROP INDEX i", "drop", "D", "", "", ""),
    ("DROP SCHEMA s CASCADE", "drop", "D", "", "", ""),
    ("DROP DATABASE d", "drop_database", "D", "", "", ""),
    (
        "ALTER TABLE t ADD COLUMN b int",
        "alter_table",
        "D",
        "",
        "public.t",
        "",
    ),
    (
        "ALTER TABLE app.t DROP COLUMN b",
        "alter_table",
        "D",
        "",
        "app.t",
        "",
    ),
    (
        "ALTER TABLE t RENAME TO u",
        "rename",
        "D",
        "",
        "public.t",
        "",
    ),
    (
        "ALTER TABLE t OWNER TO r",
        "alter_table",
        "D",
        "",
        "public.t",
        "",
    ),
    (
        "ALTER INDEX i SET TABLESPACE ts",
        "alter_index",
        "D",
        "",
        "public.i",
        "",
    ),
    (
        "ALTER SYSTEM SET work_mem = '1GB'",
        "alter_system",
        "D",
        "",
        "",
        "",
    ),
    (
        "ALTER DATABASE d SET search_path = x",
        "alter_database",
        "D",
        "",
        "",
        "",
    ),
    (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r",
        "alter_default_privileges",
        "D",
        "",
        "",
        "",
    ),
    ("COMMENT ON TABLE t IS 'x'", "comment", "D", "", "", ""),
    ("GRANT SELECT ON t TO r", "grant", "D", "", "", ""),
    ("GRANT admin TO r", "grant", "D", "", "", ""),
    ("REVOKE ALL ON t FROM r", "revoke", "D", "", "", ""),
    ("REVOKE admin FROM r", "revoke", "D", "", "", ""),
    (
        "REASSIGN OWNED BY a TO b",
        "reassign_owned",
        "D",
        "",
        "",
        "",
    ),
    ("DROP OWNED BY a", "drop_owned", "D", "", "", ""),
    (
        "SECURITY LABEL ON TABLE t IS 'x'",
        "security_label",
        "D",
        "",
        "",
        "",
    ),
    (
        "CREATE RULE r AS ON SELECT TO t DO INSTEAD SELECT 1",
        "create_rule",
        "D",
        "",
        "",
        "",
    ),
];

fn list(spec: &str) -> Vec<String> {
    if spec.is_empty() {
        Vec::new()
    } else {
        spec.split(',').map(str::to_owned).collect()
    }
}

#[test]
fn table_driven_cases() {
    let catalog = common::catalog();
    let mut failures = Vec::new();
    for &(sql, kind, flags, read, written, funcs) in CASES {
        let facts = match analyze(sql, &catalog) {
            Ok(mut f) if f.len() == 1 => f.remove(0),
            other => {
                failures.push(format!("{sql}: expected one statement, got {other:?}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        if facts.kind != kind {
            problems.push(format!("kind {} != {kind}", facts.kind));
        }
        for (flag, value, name) in [
            ('R', facts.read_only, "read_only"),
            ('W', facts.writes, "writes"),
            ('D', facts.ddl, "ddl"),
            ('H', facts.has_where, "has_where"),
        ] {
            if flags.contains(flag) != value {
                problems.push(format!("{name} = {value}"));
            }
        }
        for (spec, got, name) in [
            (read, &facts.tables_read, "tables_read"),
            (written, &facts.tables_written, "tables_written"),
            (funcs, &facts.functions, "functions"),
        ] {
            if spec != "*" && list(spec) != *got {
                problems.push(format!("{name} = {got:?}, expected {spec:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{sql}\n    {}", problems.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn there_are_at_least_150_cases() {
    assert!(CASES.len() >= 150, "{}", CASES.len());
}

/// Statements whose numbers matter (or might), beyond the table above.
const NUMBER_CASES: &[&str] = &[
    "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
    "UPDATE pgbench_accounts SET abalance = abalance + -3451 WHERE aid = 23;",
    "SELECT * FROM t WHERE a = 1; DELETE FROM t WHERE b = 2",
    "EXPLAIN (ANALYZE -1) DELETE FROM t WHERE a = 1",
    "EXPLAIN (ANALYZE 0) DELETE FROM t WHERE a = 1",
    "EXPLAIN (ANALYZE 1, COSTS 0) UPDATE t SET a = a * 2 WHERE b >= 3",
    "COPY (SELECT * FROM t WHERE a = 1) TO STDOUT (HEADER 0)",
    "SELECT 1::float(5) WHERE 2 = 2",
    "SELECT x::float(25) FROM t WHERE a = 2",
    "SELECT x::numeric(10, 2) FROM t WHERE a <> 2.5 AND b != 3 AND c <= 4 AND d >= 5",
    "SET statement_timeout = 5",
    "SET session_replication_role = 1",
    "ALTER INDEX i ALTER COLUMN 1 SET STATISTICS 5",
    "FETCH 5 FROM c",
    "SELECT nextval('s') WHERE 1 = 1",
    "SELECT pg_sleep(1) WHERE 1 < 2",
    "SELECT a[1] FROM t WHERE a[2] = 3 ORDER BY 1 LIMIT 5 OFFSET 10",
    "SELECT * FROM t WHERE a = /* 5 */ 6 -- = 7\n",
    "SELECT * FROM t WHERE a = 0x1F OR b = 1_000 OR c = 1e5 OR d = .5",
    "SELECT * FROM t WHERE a = 2147483648 OR b = -2147483648",
    "CREATE TABLE t2 (a int) WITH (fillfactor = 70)",
    "SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1 + 2) WHERE a = 1",
];

/// Every number of `sql` as the lexer sees it, replaced (one at a time) by
/// each of a few other numbers.
fn number_variants(sql: &str) -> Vec<String> {
    let Ok(tokens) = pg_query::scan_tokens(sql) else {
        return Vec::new();
    };
    let numbers: Vec<(usize, usize)> = tokens
        .iter()
        .filter(|t| {
            matches!(
                pg_query::protobuf::Token::try_from(t.token),
                Ok(pg_query::protobuf::Token::Iconst | pg_query::protobuf::Token::Fconst)
            )
        })
        .map(|t| (t.start as usize, t.end as usize))
        .collect();
    let mut out = Vec::new();
    for &(start, end) in &numbers {
        for other in ["0", "1", "2", "7", "65536", "99999999999", "2.5", "1e3"] {
            out.push(format!("{}{other}{}", &sql[..start], &sql[end..]));
        }
    }
    // All at once, to 0 and to 1.
    for other in ["0", "1"] {
        let mut v = sql.to_owned();
        for &(start, end) in numbers.iter().rev() {
            v.replace_range(start..end, other);
        }
        out.push(v);
    }
    out
}

/// The caches share an entry between texts that differ only in numbers
/// (see vigil-sql's `literals`): whatever the corpus statement cached first,
/// the cached answer for every variant must be exactly `analyze`'s and
/// `output_lineage`'s for that variant (text included), and a variant the
/// parser refuses must be refused.
#[test]
fn the_number_keyed_cache_answers_like_the_parser() {
    let catalog = common::catalog();
    let mut failures = Vec::new();
    let mut shared = 0usize;
    let sources = CASES
        .iter()
        .map(|c| c.0)
        .chain(NUMBER_CASES.iter().copied());
    for sql in sources {
        for variant in number_variants(sql) {
            let cache = vigil_sql::AnalysisCache::new(64);
            let lineages = vigil_sql::LineageCache::new(64);
            let primed = cache.analyze(sql, &catalog);
            let _ = lineages.output_lineage(sql, &catalog);
            let got = cache.analyze(&variant, &catalog);
            let expected = analyze(&variant, &catalog);
            if let (Ok(p), Ok(g)) = (&primed, &got)
                && p.len() == 1
                && g.len() == 1
                && p[0].text != g[0].text
                && cache.len() == 1
            {
                shared += 1;
            }
            match (&got, &expected) {
                (Ok(g), Ok(e)) if **g == **e => {}
                (Err(_), Err(_)) => {}
                _ => failures.push(format!(
                    "{variant:?} (after {sql:?}): cached {got:?}, parser {expected:?}"
                )),
            }
            let got = lineages.output_lineage(&variant, &catalog);
            let expected = vigil_sql::output_lineage(&variant, &catalog);
            match (&got, &expected) {
                (Ok(g), Ok(e)) if **g == *e => {}
                (Err(_), Err(_)) => {}
                _ => failures.push(format!(
                    "lineage of {variant:?} (after {sql:?}): cached {got:?}, parser {expected:?}"
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cache does share entries (else this test proves nothing).
    assert!(shared > 50, "only {shared} variants shared an entry");
}

//! psql through the gateway, the way people use it: COPY both ways, `\copy`, large results,
//! TLS, refusals at login and mid-session, transactions, hostile nesting, and the soundness
//! of `sql.read_only` for functions whose volatility only the target's catalog knows.

use std::time::Instant;

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, config_with, pg_login, psql_conninfo,
    psql_through, psql_through_script, random_hex, stderr, stdout,
};

/// A cluster with database `shop` owned by `app` holding `items(id int, name text)` with
/// three rows, a sequence, and a volatile user function; and a gateway in front of it with:
/// `readers` (allow `sql.read_only`, deny deletes as `no-deletes`),
/// `writers` (allow everything but `DROP`, denied as `no-drops`),
/// and a policy for group `elsewhere` that only grants another connection.
fn shop() -> (PgCluster, Gateway) {
    let pg = PgCluster::start();
    let app_password = random_hex(12);
    pg.create_role("app", &app_password);
    pg.create_database("shop", "app");
    let setup = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); \
                 INSERT INTO items VALUES (1, 'apple'), (2, 'banana'), (3, 'cherry'); \
                 CREATE SEQUENCE some_seq; \
                 CREATE FUNCTION bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1';";
    assert_success(
        &pg.psql_as("app", Some(&app_password), "shop", setup),
        "creating the shop schema as app",
    );
    let config = config_with(&format!(
        r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "{addr}"
database = "shop"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[connection]]
name = "other"
kind = "postgres"
address = "{addr}"
database = "postgres"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[policy]]
name = "readers"
groups = ["readers"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "no-deletes"
  effect = "deny"
  when = 'sql.kind == "delete"'
  reason = "readers never delete"

[[policy]]
name = "writers"
groups = ["writers"]
connections = ["shop"]

  [[policy.rule]]
  name = "everything"
  effect = "allow"

  [[policy.rule]]
  name = "no-drops"
  effect = "deny"
  when = 'sql.kind == "drop"'
  reason = "nobody drops tables here"

[[policy]]
name = "elsewhere"
groups = ["elsewhere"]
connections = ["other"]

  [[policy.rule]]
  name = "other-reads"
  effect = "allow"
  when = "sql.read_only"
"#,
        addr = pg.address()
    ));
    let gw = Gateway::start(&config, &[("SHOP_PG_PASSWORD", &app_password)]);
    (pg, gw)
}

// ---- COPY ---------------------------------------------------------------------------------

#[test]
fn copy_to_stdout_as_csv_returns_the_rows() {
    let (_pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    let out = psql_through(
        &gw,
        "shop",
        &token,
        "COPY (SELECT id, name FROM items ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
    );
    assert_eq!(
        assert_success(&out, "COPY TO STDOUT"),
        "id,name\n1,apple\n2,banana\n3,cherry"
    );
}

#[test]
fn copy_from_stdin_lands_the_rows_on_the_target() {
    let (pg, gw) = shop();
    let token = gw.token("writer", &["writers"], "agent");
    let script = "COPY items (id, name) FROM STDIN WITH (FORMAT csv);\n\
                  10,kiwi\n11,\"lemon, sour\"\n12,mango\n\\.\n\
                  SELECT 'copied ' || count(*) FROM items WHERE id >= 10;\n";
    let out = psql_through_script(&gw, "shop", &token, script);
    let text = assert_success(&out, "COPY FROM STDIN through the gateway");
    assert!(text.contains("copied 3"), "{text}\n{}", stderr(&out));
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT string_agg(name, '|' ORDER BY id) FROM items WHERE id >= 10"
        ),
        "kiwi|lemon, sour|mango"
    );
}

#[test]
fn backslash_copy_round_trips_through_a_local_file() {
    let (pg, gw) = shop();
    let token = gw.token("writer", &["writers"], "agent");
    let dir = tempfile::tempdir().expect("tempdir");
    let exported = dir.path().join("items.csv");
    let out = psql_through(
        &gw,
        "shop",
        &token,
        &format!(
            "\\copy (SELECT id, name FROM items ORDER BY id) TO '{}' WITH (FORMAT csv)",
            exported.display()
        ),
    );
    assert_success(&out, "\\copy ... TO a file");
    let csv = std::fs::read_to_string(&exported).expect("the exported file exists");
    assert_eq!(csv, "1,apple\n2,banana\n3,cherry\n");

    let import = dir.path().join("more.csv");
    let rows: String = (100..200).map(|i| format!("{i},item {i}\n")).collect();
    std::fs::write(&import, rows).expect("write the import file");
    let out = psql_through(
        &gw,
        "shop",
        &token,
        &format!(
            "\\copy items (id, name) FROM '{}' WITH (FORMAT csv)",
            import.display()
        ),
    );
    let text = assert_success(&out, "\\copy ... FROM a file");
    assert!(text.contains("COPY 100"), "{text}");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT count(*) || ' ' || min(name) || ' ' || max(id) FROM items WHERE id >= 100"
        ),
        "100 item 100 199"
    );
}

// ---- large results ------------------------------------------------------------------------

#[test]
fn a_300_mb_result_streams_through_without_the_gateway_buffering_it() {
    let (_pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    let before = gw.peak_rss_bytes();
    let started = Instant::now();
    let out = psql_conninfo(
        &gw.conninfo("shop", ""),
        &token,
        &[
            "-o",
            "/dev/null",
            "-c",
            "SELECT repeat('x', 200) FROM generate_series(1, 1500000)",
            "-c",
            "\\echo rows :ROW_COUNT",
        ],
    );
    let text = assert_success(&out, "a 1.5M-row, ~300 MB result through the gateway");
    assert_eq!(text, "rows 1500000", "psql did not get every row");
    let peak = gw.peak_rss_bytes();
    eprintln!(
        "300 MB result in {:.1}s; gateway peak RSS {} MB before, {} MB after",
        started.elapsed().as_secs_f64(),
        before / (1 << 20),
        peak / (1 << 20)
    );
    assert!(
        peak < 100 * (1 << 20),
        "the gateway's peak RSS reached {} MB for a ~300 MB result: it buffers results",
        peak / (1 << 20)
    );
    // Still serving afterwards.
    let out = psql_through(&gw, "shop", &token, "SELECT count(*) FROM items");
    assert_eq!(assert_success(&out, "a query afterwards"), "3");
}

// ---- TLS to the gateway -------------------------------------------------------------------

#[test]
fn psql_with_sslmode_require_gets_tls_from_the_gateway() {
    let (_pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    let out = psql_conninfo(
        &gw.conninfo("shop", "sslmode=require"),
        &token,
        &[
            "-c",
            "\\conninfo",
            "-c",
            "SELECT name FROM items WHERE id = 2",
        ],
    );
    let text = assert_success(&out, "psql sslmode=require");
    assert!(
        text.contains("SSL connection (protocol: TLSv1."),
        "\\conninfo does not show TLS: {text}"
    );
    assert!(text.ends_with("banana"), "{text}");
}

#[test]
fn psql_verifies_the_generated_certificate_with_sslmode_verify_ca() {
    let (_pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    let cert = gw.data_dir().join("tls-cert.pem");
    assert!(
        cert.exists(),
        "no generated certificate at {}",
        cert.display()
    );
    let out = psql_conninfo(
        &gw.conninfo(
            "shop",
            &format!("sslmode=verify-ca sslrootcert={}", cert.display()),
        ),
        &token,
        &["-c", "\\conninfo", "-c", "SELECT 'verified'"],
    );
    let text = assert_success(&out, "psql sslmode=verify-ca");
    assert!(text.contains("SSL connection"), "{text}");
    assert!(text.ends_with("verified"), "{text}");

    // And a client that trusts some other CA refuses the gateway's certificate.
    let dir = tempfile::tempdir().expect("tempdir");
    let other = vigil_e2e::TestCa::new(dir.path(), "other");
    let out = psql_conninfo(
        &gw.conninfo(
            "shop",
            &format!("sslmode=verify-ca sslrootcert={}", other.cert().display()),
        ),
        &token,
        &["-c", "SELECT 1"],
    );
    let err = assert_failure(&out, "psql verify-ca against the wrong CA");
    assert!(err.contains("certificate verify failed"), "{err}");
}

// ---- refusals -----------------------------------------------------------------------------

#[test]
fn a_valid_token_without_a_policy_grant_is_refused_at_login_with_28000() {
    let (pg, gw) = shop();
    let token = gw.token("stranger", &["elsewhere"], "agent");
    let out = psql_through(&gw, "shop", &token, "SELECT 'should not run'");
    let err = assert_failure(&out, "psql without a grant for the connection");
    assert!(err.contains("FATAL:"), "{err}");
    assert!(
        err.contains("no policy grants") && err.contains("shop"),
        "the refusal should say no policy grants the connection: {err}"
    );
    let refused =
        pg_login(gw.pg_port(), "shop", "vigil-e2e", &token).expect_err("the login must be refused");
    assert_eq!(refused.severity, "FATAL", "{refused:?}");
    assert_eq!(refused.code, "28000", "{refused:?}");
    // The same token is good for the connection it is granted.
    assert_eq!(pg_login(gw.pg_port(), "other", "vigil-e2e", &token), Ok(()));
    assert!(
        !pg.log_text().contains("should not run"),
        "a statement of a refused login reached PostgreSQL"
    );
}

#[test]
fn a_denied_statement_mid_script_does_not_end_the_session() {
    let (pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    let script = "\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\n\
                  SELECT 'before';\n\
                  DELETE FROM items WHERE id = 1;\n\
                  SELECT 'after ' || count(*) FROM items;\n";
    let out = psql_through_script(&gw, "shop", &token, script);
    let err = stderr(&out);
    assert!(
        err.contains("42501") && err.contains("vigil: denied by rule 'no-deletes'"),
        "{err}"
    );
    assert_eq!(stdout(&out), "before\nafter 3", "stderr: {err}");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM items"), "3");
}

#[test]
fn a_denied_statement_inside_a_transaction_aborts_it_until_rollback() {
    let (pg, gw) = shop();
    let token = gw.token("writer", &["writers"], "agent");
    let script = "\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\n\
                  BEGIN;\n\
                  INSERT INTO items VALUES (50, 'in the aborted transaction');\n\
                  DROP TABLE items;\n\
                  SELECT 'inside ' || count(*) FROM items;\n\
                  ROLLBACK;\n\
                  SELECT 'after ' || count(*) FROM items;\n\
                  INSERT INTO items VALUES (51, 'after rollback');\n";
    let out = psql_through_script(&gw, "shop", &token, script);
    let err = stderr(&out);
    let text = stdout(&out);
    assert!(err.contains("vigil: denied by rule 'no-drops'"), "{err}");
    assert!(
        err.contains("current transaction is aborted"),
        "the statement after a denial inside BEGIN must fail like after any error:\n\
         stdout:\n{text}\nstderr:\n{err}"
    );
    assert!(
        !text.contains("inside"),
        "a statement ran in a transaction that should be aborted: {text}"
    );
    assert!(text.contains("after 3"), "stdout:\n{text}\nstderr:\n{err}");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"
        ),
        "1,2,3,51",
        "the insert before the denial must be rolled back, the one after ROLLBACK kept"
    );
}

#[test]
fn a_deeply_nested_statement_is_refused_and_the_gateway_keeps_serving() {
    let (pg, gw) = shop();
    let token = gw.token("writer", &["writers"], "agent");
    let depth = 100_000;
    let statement = format!(
        "SELECT {}1{} AS nested_marker_5e1c;\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    // Far above the 128 KiB argv limit, so fed on stdin.
    let out = psql_through_script(&gw, "shop", &token, &statement);
    let err = assert_failure(&out, "a statement nested 100000 deep");
    assert!(err.contains("ERROR:"), "{err}");
    assert!(
        !pg.log_text().contains("nested_marker_5e1c"),
        "the nested statement reached PostgreSQL"
    );
    let out = psql_through(&gw, "shop", &token, "SELECT 'still here'");
    assert_eq!(assert_success(&out, "a new connection"), "still here");
}

#[test]
fn volatile_functions_from_the_targets_catalog_are_not_read_only() {
    let (pg, gw) = shop();
    let token = gw.token("reader", &["readers"], "agent");
    for allowed in ["SELECT lower('X')", "SELECT now() IS NOT NULL"] {
        let out = psql_through(&gw, "shop", &token, allowed);
        let text = assert_success(&out, allowed);
        assert!(text == "x" || text == "t", "{allowed}: {text}");
    }
    let script = "\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\n\
                  SELECT bump();\n\
                  SELECT nextval('some_seq');\n\
                  SELECT 'done';\n";
    let out = psql_through_script(&gw, "shop", &token, script);
    let err = stderr(&out);
    assert_eq!(
        err.matches("42501").count(),
        2,
        "both the user function and nextval must be denied:\n{err}\nstdout: {}",
        stdout(&out)
    );
    assert_eq!(stdout(&out), "done", "{err}");
    // nextval never ran on the target.
    assert_eq!(
        pg.psql("shop", "SELECT is_called FROM some_seq"),
        "f",
        "the sequence advanced"
    );
}

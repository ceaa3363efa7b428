//! The quickstart a newcomer runs: `examples/quickstart/seed.sql`, `seed-mariadb.sql` and
//! `vigil.toml`, and `scripts/demo.sh` that shows them.

use std::process::{Command, Output, Stdio};

use vigil_e2e::mariadb::MariaDb;
use vigil_e2e::quickstart::{
    quickstart_config, quickstart_gateway, quickstart_gateway_with_mariadb, seed_mariadb,
    seeded_mariadb_shop, seeded_shop,
};
use vigil_e2e::{
    Gateway, assert_success, psql_through, psql_through_script, stderr, stdout, workspace_root,
};

fn luhn_valid(number: &str) -> bool {
    let sum: u32 = number
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).expect("card numbers are digits");
            if !i.is_multiple_of(2) {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[test]
fn seed_creates_a_shop_owned_by_app() {
    let (pg, app_password) = seeded_shop();
    let out = pg.psql_as(
        "app",
        Some(&app_password),
        "shop",
        "SELECT (SELECT count(*) FROM customers) || ',' || (SELECT count(*) FROM products) \
         || ',' || (SELECT count(*) FROM orders)",
    );
    assert_eq!(assert_success(&out, "psql as app"), "20,10,50");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "app"
    );
    let orphans = pg.psql(
        "shop",
        "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id \
         WHERE c.id IS NULL",
    );
    assert_eq!(orphans, "0");
}

#[test]
fn seed_card_numbers_pass_the_luhn_check_and_ssns_look_real() {
    let (pg, _) = seeded_shop();
    let cards = pg.psql("shop", "SELECT card_number FROM customers ORDER BY id");
    assert_eq!(cards.lines().count(), 20);
    for card in cards.lines() {
        assert!(luhn_valid(card), "{card} fails the Luhn check");
    }
    let bad_ssns = pg.psql(
        "shop",
        "SELECT count(*) FROM customers WHERE ssn !~ '^[0-9]{3}-[0-9]{2}-[0-9]{4}$'",
    );
    assert_eq!(bad_ssns, "0");
}

#[test]
fn seed_can_run_twice() {
    let (pg, app_password) = seeded_shop();
    pg.psql_file(
        "shop",
        &workspace_root().join("examples/quickstart/seed.sql"),
        &[("app_password", &app_password)],
    );
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM customers"), "20");
}

// ---- through the gateway -----------------------------------------------------------------

#[test]
fn quickstart_config_passes_policy_check() {
    let gw = Gateway::configure(&quickstart_config(), &[("SHOP_PG_PASSWORD", "unused")]);
    // The MariaDB connection's password may be left unset (PostgreSQL only).
    assert_success(
        &gw.vigil_with_config(&["policy", "check"]),
        "vigil policy check",
    );
}

#[test]
fn analyst_reads_customers_with_email_masked() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    let out = psql_through(
        &gw,
        "shop",
        &token,
        "SELECT name, email FROM customers ORDER BY id LIMIT 3",
    );
    let rows = assert_success(&out, "analyst read");
    assert!(rows.starts_with("Ada Lovelace|"), "{rows}");
    assert!(
        !rows.contains("ada.lovelace@example.com"),
        "email not masked: {rows}"
    );
}

#[test]
fn analyst_drop_is_denied_with_42501_and_session_stays_usable() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    let out = psql_through_script(
        &gw,
        "shop",
        &token,
        "\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\nDROP TABLE customers;\nSELECT 42;\n",
    );
    let err = stderr(&out);
    assert!(
        err.contains("42501") && err.contains("vigil: denied by rule 'no-drops'"),
        "unexpected error: {err}"
    );
    assert!(
        stdout(&out).contains("42"),
        "session unusable after a denial: {err}"
    );
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM customers"), "20");
}

#[test]
fn admin_cannot_drop_customers_but_reads_everything() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("alice", &["admins"], "human");
    let out = psql_through(&gw, "shop", &token, "DROP TABLE customers");
    assert!(
        stderr(&out).contains("admin-no-drop-customers"),
        "{}",
        stderr(&out)
    );
    let out = psql_through(&gw, "shop", &token, "SELECT count(*) FROM orders");
    assert_eq!(assert_success(&out, "admin read"), "50");
}

#[test]
fn upstream_password_never_appears_in_logs_or_client_output() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    let out = psql_through(&gw, "shop", &token, "SELECT current_user");
    assert_eq!(assert_success(&out, "analyst read"), "app");
    let out = psql_through(&gw, "shop", &token, "DROP TABLE customers");
    assert!(!stderr(&out).contains(&app_password));
    assert!(
        !gw.log_text().contains(&app_password),
        "upstream password in the gateway log"
    );
    assert!(
        !gw.log_text().contains(&token),
        "client token in the gateway log"
    );
}

#[test]
fn ledger_verifies_after_a_session_and_a_crash() {
    let (pg, app_password) = seeded_shop();
    let mut gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    assert_success(
        &psql_through(&gw, "shop", &token, "SELECT count(*) FROM products"),
        "analyst read",
    );
    gw.kill();
    assert_success(
        &gw.vigil_with_config(&["audit", "verify"]),
        "vigil audit verify",
    );
    gw.spawn();
    assert_success(
        &psql_through(&gw, "shop", &token, "SELECT 1"),
        "read after restart",
    );
}

// ---- MariaDB, as scripts/demo.sh shows it -------------------------------------------------

/// What the demo runs through the `mariadb` CLI as the analyst (the demo test checks that
/// `scripts/demo.sh` still runs exactly these).
const DEMO_MARIADB_READ: &str =
    "SELECT name, email, card_number FROM customers ORDER BY id LIMIT 3";
const DEMO_MARIADB_WRITE: &str = "DELETE FROM customers";

/// The demo's `analyst_mariadb`: the `mariadb` CLI through the gateway, the token as the
/// password, the connection as the database, then `args`.
fn mariadb_command(gw: &Gateway, user: &str, token: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--no-defaults",
        "--protocol=tcp",
        "-h",
        "127.0.0.1",
        "--skip-ssl",
    ])
    .arg(format!("-P{}", gw.mysql_port()))
    .args(["-u", user])
    .arg(format!("-p{token}"))
    .arg("shop-mariadb")
    .args(args);
    cmd
}

fn mariadb_through(gw: &Gateway, user: &str, token: &str, args: &[&str]) -> Output {
    mariadb_command(gw, user, token, args)
        .stdin(Stdio::null())
        .output()
        .expect("mariadb client")
}

/// A script on the CLI's stdin, one session; `--force` goes on after an error (with `-e`
/// the CLI stops at the first error whatever the flags).
fn mariadb_script(gw: &Gateway, user: &str, token: &str, script: &str) -> Output {
    use std::io::Write;
    let mut child = mariadb_command(gw, user, token, &["--force"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadb client");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(script.as_bytes())
        .expect("write the script");
    drop(stdin);
    child.wait_with_output().expect("mariadb client")
}

fn mariadb_customers(db: &MariaDb) -> String {
    db.exec("SELECT count(*) FROM shop.customers")
}

#[test]
fn mariadb_seed_creates_customers_for_app_and_can_run_twice() {
    let (db, app_password) = seeded_mariadb_shop();
    let sql = "SELECT count(*), count(DISTINCT email) FROM customers";
    let out = db.direct("app", &app_password, "shop", sql);
    assert_eq!(
        assert_success(&out, "mariadb as app"),
        "count(*)\tcount(DISTINCT email)\n20\t20"
    );
    // Again, with a new password: the old one stops working, the table is as new.
    seed_mariadb(&db, "another-secret");
    assert!(
        !db.direct("app", &app_password, "shop", "SELECT 1")
            .status
            .success()
    );
    let out = db.direct(
        "app",
        "another-secret",
        "shop",
        "SELECT count(*) FROM customers",
    );
    assert!(assert_success(&out, "after a second seed").ends_with("20"));
}

#[test]
fn analyst_reads_mariadb_customers_masked_and_is_denied_a_delete() {
    let (pg, pg_password) = seeded_shop();
    let (db, db_password) = seeded_mariadb_shop();
    let gw = quickstart_gateway_with_mariadb(&pg, &pg_password, &db, &db_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");

    let out = mariadb_through(
        &gw,
        "analyst-agent",
        &token,
        &["--table", "-e", DEMO_MARIADB_READ],
    );
    let rows = assert_success(&out, "the demo's MariaDB read");
    assert!(rows.contains("| Ada Lovelace "), "{rows}");
    // `style = "partial"`: the last four characters stay.
    assert_eq!(rows.matches("*.com ").count(), 3, "{rows}");
    assert!(rows.contains("*1111 ") && rows.contains("*4444 "), "{rows}");
    for secret in [
        "ada.lovelace@",
        "grace.hopper@",
        "4111111111111111",
        "5555555555554444",
    ] {
        assert!(!rows.contains(secret), "{secret} not masked: {rows}");
    }

    // The write is refused before MariaDB sees it, and the session goes on.
    let script = format!("{DEMO_MARIADB_WRITE};\nSELECT 42;\n");
    let out = mariadb_script(&gw, "analyst-agent", &token, &script);
    let err = stderr(&out);
    assert!(
        err.contains("ERROR 1227 (42000)")
            && err.contains(
                "vigil: denied by rule 'default-deny': no policy rule allows this statement"
            ),
        "{err}"
    );
    assert!(
        stdout(&out).ends_with("42"),
        "session unusable after a denial: {err}"
    );
    assert_eq!(mariadb_customers(&db), "20");
}

#[test]
fn admin_cannot_drop_mariadb_customers_but_reads_them() {
    let (pg, pg_password) = seeded_shop();
    let (db, db_password) = seeded_mariadb_shop();
    let gw = quickstart_gateway_with_mariadb(&pg, &pg_password, &db, &db_password);
    let token = gw.token("alice", &["admins"], "human");
    let out = mariadb_through(&gw, "alice", &token, &["-e", "DROP TABLE customers"]);
    assert!(
        stderr(&out).contains("admin-no-drop-customers"),
        "{}",
        stderr(&out)
    );
    let out = mariadb_through(
        &gw,
        "alice",
        &token,
        &["-N", "-e", "SELECT email FROM customers WHERE id = 1"],
    );
    assert_eq!(
        assert_success(&out, "admin read"),
        "ada.lovelace@example.com"
    );
    assert_eq!(mariadb_customers(&db), "20");
    assert!(
        !gw.log_text().contains(&db_password),
        "MariaDB password in the gateway log"
    );
}

#[test]
fn demo_script_shows_reads_masked_a_denied_drop_and_a_denied_delete() {
    let script = workspace_root().join("scripts/demo.sh");
    let source = std::fs::read_to_string(&script).expect("scripts/demo.sh");
    for sql in [DEMO_MARIADB_READ, DEMO_MARIADB_WRITE] {
        assert!(
            source.contains(sql),
            "scripts/demo.sh no longer runs {sql:?}: update this test"
        );
    }
    let out = Command::new("bash")
        .arg(&script)
        .env("DEMO_NO_WAIT", "1")
        .env("VIGIL_BIN", vigil_e2e::vigil_bin())
        .stdin(Stdio::null())
        .output()
        .expect("could not run scripts/demo.sh");
    let text = assert_success(&out, "scripts/demo.sh");
    let err = stderr(&out);
    // PostgreSQL: a masked read and a denied DROP.
    assert!(text.contains("Ada Lovelace"), "{text}");
    assert!(err.contains("denied by rule 'no-drops'"), "{err}");
    assert!(
        text.contains("(the DROP was refused; customers still has 20 rows)"),
        "{text}"
    );
    // MariaDB: a masked read (a table, as the CLI prints one) and a denied DELETE.
    assert!(text.contains("| Ada Lovelace "), "{text}");
    assert!(err.contains("ERROR 1227 (42000)"), "{err}");
    assert!(err.contains("denied by rule 'default-deny'"), "{err}");
    assert!(
        text.contains("(the DELETE was refused; MariaDB's customers still has 20 rows)"),
        "{text}"
    );
    for secret in ["ada.lovelace@", "grace.hopper@", "4111111111111111"] {
        assert!(!text.contains(secret), "{secret} not masked: {text}");
    }
}

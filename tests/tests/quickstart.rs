//! The quickstart a newcomer runs: `examples/quickstart/seed.sql` and `vigil.toml`.

use vigil_e2e::quickstart::{quickstart_config, quickstart_gateway, seeded_shop};
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

#[test]
fn demo_script_shows_a_read_and_a_denied_drop() {
    let out = std::process::Command::new("bash")
        .arg(workspace_root().join("scripts/demo.sh"))
        .env("DEMO_NO_WAIT", "1")
        .env("VIGIL_BIN", vigil_e2e::vigil_bin())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("could not run scripts/demo.sh");
    let text = assert_success(&out, "scripts/demo.sh");
    let err = stderr(&out);
    assert!(text.contains("Ada Lovelace"), "{text}");
    assert!(err.contains("denied by rule 'no-drops'"), "{err}");
    assert!(text.contains("customers still has 20 rows"), "{text}");
}

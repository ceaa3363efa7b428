//! The PostgreSQL front-end's contract with psql, pinned against the quickstart config:
//! authentication with Vigil tokens, fail-closed refusals, nothing forwarded undecided.

use vigil_e2e::quickstart::{quickstart_gateway, seeded_shop};
use vigil_e2e::{assert_failure, assert_success, psql_through};

#[test]
fn wrong_token_is_refused_at_login() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let real = gw.token("analyst-agent", &["analysts"], "agent");
    let forged = format!("{real}x");
    let err = assert_failure(
        &psql_through(&gw, "shop", &forged, "SELECT 1"),
        "psql with a forged token",
    );
    assert!(!err.contains(&app_password), "{err}");
    assert_failure(
        &psql_through(&gw, "shop", "", "SELECT 1"),
        "psql without a token",
    );
}

#[test]
fn unknown_connection_is_refused() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    assert_failure(
        &psql_through(&gw, "no_such_connection", &token, "SELECT 1"),
        "psql to an unknown connection",
    );
}

#[test]
fn unparseable_statement_is_refused_before_reaching_postgres() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    assert_failure(
        &psql_through(&gw, "shop", &token, "SELEC name FROM customers_marker_7f3a"),
        "an unparseable statement",
    );
    // PostgreSQL logs every statement that fails there; this one must never have arrived.
    assert!(
        !pg.log_text().contains("customers_marker_7f3a"),
        "the unparseable statement reached PostgreSQL:\n{}",
        pg.log_text()
    );
    let out = psql_through(&gw, "shop", &token, "SELECT count(*) FROM products");
    assert_eq!(assert_success(&out, "a read afterwards"), "10");
}

#[test]
fn denied_statement_in_a_multi_statement_message_refuses_the_whole_message() {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let token = gw.token("analyst-agent", &["analysts"], "agent");
    // psql -c sends this as one simple-query message.
    let err = assert_failure(
        &psql_through(&gw, "shop", &token, "SELECT 1; DROP TABLE orders; SELECT 2"),
        "a message with a denied statement",
    );
    assert!(err.contains("no-drops"), "{err}");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM orders"), "50");
}

//! The gateway's invariants as a psycopg 3 client meets them: a refusal leaves the session
//! usable and aborts a transaction exactly like a server error, a refused Parse poisons
//! nothing, cancel works through the gateway's own secret, the gateway fails closed when its
//! ledger cannot be written, drains idle sessions on shutdown, and records every statement
//! with its decision.
//!
//! Each test starts its own cluster and gateway ([`PsycopgEnv`]) and runs one scenario of
//! `tests/py/psycopg_invariants.py`, which asserts what it sees and prints a JSON summary;
//! the test adds what only it can check (the cluster directly, the ledger, the process).

use std::time::{Duration, Instant};

use vigil_e2e::assert_success;
use vigil_e2e::psycopg_env::{FORBIDDEN_RULE, PsycopgEnv, session_id_of};

const SCRIPT: &str = "py/psycopg_invariants.py";

#[test]
fn session_stays_usable_after_a_refusal_in_both_protocols() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "usable_after_refusal");
    assert!(json.contains(r#""sqlstate": "42501""#), "{json}");
}

#[test]
fn refusal_in_a_transaction_block_aborts_it_like_a_server_error() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "refusal_in_transaction");
    // The script checked the rows are absent; check on the cluster as well.
    assert_eq!(
        env.pg
            .psql("shop", "SELECT count(*) FROM log WHERE note LIKE 'txn-%'"),
        "0",
        "an INSERT of an aborted transaction was committed: {json}"
    );
}

#[test]
fn refused_parse_of_a_named_statement_then_other_statements_work() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "refused_named_parse");
}

#[test]
fn cancel_from_another_thread_stops_pg_sleep_quickly() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "cancel");
    assert!(json.contains("cancel_safe/simple"), "{json}");
}

/// The pid is the target's (see `pg_transparency.rs` for NOTIFY and terminate); the secret
/// is the gateway's, so the client's key does not work at the target.
#[test]
fn client_cancel_key_has_the_target_pid_and_a_secret_of_the_gateway() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "cancel_key");
}

#[test]
fn fails_closed_when_the_ledger_cannot_be_written() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "ledger_fail_closed");
    assert_eq!(
        env.pg.psql(
            "shop",
            "SELECT count(*) FROM log WHERE note LIKE 'ledger-down-%'"
        ),
        "0",
        "an INSERT was forwarded while the ledger was down: {json}"
    );
    for secret in [&env.app_password, &env.admin, &env.agent] {
        assert!(!json.contains(secret.as_str()), "a secret in {json}");
    }
}

#[test]
fn new_sessions_fail_closed_while_the_ledger_is_down_and_statements_pass_once_it_is_back() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "ledger_down_then_back");
    assert_eq!(
        env.pg.psql(
            "shop",
            "SELECT count(*) FROM log WHERE note LIKE 'ledger-back-%-late'"
        ),
        "0",
        "{json}"
    );
    eprintln!("{json}");
    // The chain still verifies after the failed batches.
    let verify = env.gw.vigil_with_config(&["audit", "verify"]);
    assert_success(&verify, "vigil audit verify after the ledger came back");
}

#[test]
fn idle_session_is_drained_on_shutdown() {
    let mut env = PsycopgEnv::start();
    let mut script = env.spawn(SCRIPT, "drain_idle");
    assert_eq!(script.expect_line(Duration::from_secs(30)), "ready");
    let started = Instant::now();
    env.gw.stop(); // SIGTERM, then SIGKILL after 10 s
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(9_500),
        "the gateway took {took:?} to exit after SIGTERM with an idle session open (killed at \
         10 s):\n{}",
        env.gw.log_text()
    );
    script.send_line("go");
    let json = script.finish(Duration::from_secs(30));
    assert!(json.contains("error"), "{json}");
}

#[test]
fn ledger_records_each_statement_with_its_decision() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "ledger_events");
    let id = session_id_of(&env.gw, &env.admin, "e2e-agent");
    let out = env
        .gw
        .vigil(&["sessions", "show", &id, "--token", &env.admin]);
    let shown = assert_success(&out, "vigil sessions show");
    let (status, api) = env
        .gw
        .http_get(&format!("/api/v1/sessions/{id}"), Some(&env.admin));
    assert_eq!(status, 200, "{api}");
    let statements = [
        ("SELECT name FROM items WHERE id = 11", "allow", "reads"),
        ("SELECT secret FROM forbidden", "deny", FORBIDDEN_RULE),
        (
            "SELECT count(*) FROM items WHERE price > $1",
            "allow",
            "reads",
        ),
        (
            "SELECT secret FROM forbidden WHERE id = $1",
            "deny",
            FORBIDDEN_RULE,
        ),
    ];
    for (text, verdict, rule) in statements {
        let line = shown
            .lines()
            .find(|l| l.contains(" statement ") && l.trim_end().ends_with(text))
            .unwrap_or_else(|| panic!("no statement event for {text:?} in:\n{shown}"));
        assert!(
            line.contains(&format!(" {verdict} ")) && line.contains(&format!("rule={rule} ")),
            "{text:?} should be recorded as {verdict} by rule {rule}: {line}"
        );
        assert!(
            api.contains(text),
            "{text:?} missing from the API's JSON:\n{api}"
        );
    }
    assert!(api.contains(r#""verdict":"deny""#) || api.contains(r#""verdict": "deny""#));
    // The token never appears in the recorded session.
    assert!(!api.contains(&env.agent) && !shown.contains(&env.agent));
    assert!(!api.contains(&env.app_password));
}

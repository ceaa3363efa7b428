//! Where policy does not intervene, a client sees through Vigil what a direct connection
//! shows: the backend pid psycopg reads at login is the one `pg_backend_pid()` returns, the
//! one a NOTIFY carries and the one `pg_terminate_backend` ends; the cancel secret is Vigil's
//! own, so the pid alone cancels nothing; and an admin without mask rules gets every field of
//! the target's errors and notices unchanged.
//!
//! Each test starts its own cluster and gateway ([`PsycopgEnv`]) and runs one scenario of
//! `tests/py/pg_transparency.py`, which asserts what it sees.

use vigil_e2e::psycopg_env::PsycopgEnv;

const SCRIPT: &str = "py/pg_transparency.py";

#[test]
fn backend_pid_is_the_targets_for_notify_and_terminate() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "backend_pid");
    assert!(json.contains(r#""from-self""#), "{json}");
}

#[test]
fn cancel_needs_vigils_secret_not_just_the_pid() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "cancel_key");
    // Three wrong secrets at the gateway, and the client's key straight at the target.
    assert!(json.contains(r#""wrong_keys_ignored": 4"#), "{json}");
}

#[test]
fn errors_and_notices_reach_an_unmasked_admin_unchanged() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "errors_and_notices");
    for code in ["23505", "23502", "22012", "P0099", "01999"] {
        assert!(json.contains(code), "{code} missing from {json}");
    }
}

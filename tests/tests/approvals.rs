//! Just-in-time approvals through psql and the `vigil approvals` / `vigil grants` CLI:
//! a held DELETE waits for a reviewer and then runs (or is denied, times out, is
//! cancelled); retry mode refuses with an approval id and lets exactly the approved
//! statement through once, also after a restart; reviewers are checked; grants open
//! a window that closes.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, config_with, pg_bin, psql_through,
    random_hex, stderr, stdout,
};

const CONFIG_BODY: &str = r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "${SHOP_PG_ADDR}"
database = "shop"
user = "app"
password = "${SHOP_PG_PASSWORD}"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "order-deletes"
  effect = "review"
  when = 'sql.kind == "delete" && "public.orders" in sql.tables_written'
  reason = "deleting orders needs a DBA"
  reviewers = ["dba"]
  mode = "hold"
  timeout = "60s"

  [[policy.rule]]
  name = "log-deletes"
  effect = "review"
  when = 'sql.kind == "delete" && "public.logs" in sql.tables_written'
  reviewers = ["dba"]
  mode = "hold"
  timeout = "2s"

  [[policy.rule]]
  name = "updates"
  effect = "review"
  when = 'sql.kind == "update"'
  reason = "updates need a DBA"
  reviewers = ["dba"]
  mode = "retry"
  timeout = "10m"

  [[policy.rule]]
  name = "inserts"
  effect = "review"
  when = 'sql.kind == "insert"'
  reviewers = ["dba"]
  mode = "retry"
"#;

struct Env {
    gw: Gateway,
    pg: PgCluster,
    /// `bot` (agents): asks.
    bot: String,
    /// `alice` (dba): reviews.
    alice: String,
    /// `mallory` (agents): no reviewer.
    mallory: String,
    /// `selfie` (agents and dba): may review, but not its own requests.
    selfie: String,
    /// `root` (admins).
    admin: String,
}

fn env() -> Env {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("shop", "app");
    assert_success(
        &pg.psql_as(
            "app",
            Some(&password),
            "shop",
            "CREATE TABLE orders (id int PRIMARY KEY, note text); \
             INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 10) AS g; \
             CREATE TABLE logs (id int); INSERT INTO logs VALUES (1), (2);",
        ),
        "creating the shop",
    );
    let addr = pg.address();
    let gw = Gateway::start(
        &config_with(CONFIG_BODY),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", &password)],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        alice: gw.token("alice", &["dba"], "human"),
        mallory: gw.token("mallory", &["agents"], "agent"),
        selfie: gw.token("selfie", &["agents", "dba"], "human"),
        admin: gw.token("root", &["admins"], "human"),
        gw,
        pg,
    }
}

impl Env {
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        self.gw.vigil_env(args, &[("VIGIL_TOKEN", token)])
    }

    /// The JSON of `vigil approvals list --all --json` as `token` sees it.
    fn approvals(&self, token: &str) -> Vec<serde_json::Value> {
        let out = self.cli(token, &["approvals", "list", "--all", "--json"]);
        let text = assert_success(&out, "vigil approvals list");
        let v: serde_json::Value = serde_json::from_str(&text).expect("approvals JSON");
        v["approvals"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for a pending request of `principal` and returns its id.
    fn pending_of(&self, principal: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(a) = self
                .approvals(&self.admin)
                .into_iter()
                .find(|a| a["principal"] == principal && a["status"] == "pending")
            {
                return a["id"].as_str().expect("id").to_string();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "no pending request of {principal} appeared\n{}",
            self.gw.log_text()
        );
    }

    fn status_of(&self, id: &str) -> String {
        let out = self.cli(&self.admin, &["approvals", "show", id, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&assert_success(&out, "vigil approvals show")).expect("JSON");
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// psql through the gateway, in the background.
    fn psql_spawn(&self, token: &str, sql: &str) -> Child {
        Command::new(pg_bin("psql"))
            .arg(format!(
                "host=127.0.0.1 port={} dbname=shop user=e2e sslmode=disable connect_timeout=10",
                self.gw.pg_port()
            ))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql")
    }
}

/// The approval id a retry-mode refusal names.
fn approval_id_in(text: &str) -> String {
    let at = text
        .find("approval ap_")
        .unwrap_or_else(|| panic!("no approval id in: {text}"));
    text[at + "approval ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn count(pg: &PgCluster, table: &str) -> String {
    pg.psql("shop", &format!("SELECT count(*) FROM {table}"))
        .trim()
        .to_string()
}

#[test]
fn held_delete_runs_after_approval_from_the_cli() {
    let env = env();
    let client = env.psql_spawn(&env.bot, "DELETE FROM orders WHERE id <= 3");
    let id = env.pending_of("bot");

    // What the reviewer sees.
    let out = env.cli(&env.alice, &["approvals", "show", &id]);
    let shown = assert_success(&out, "vigil approvals show");
    for want in [
        "DELETE FROM orders WHERE id <= 3",
        "bot (agent)",
        "order-deletes: deleting orders needs a DBA",
        "public.orders",
        "hold",
    ] {
        assert!(shown.contains(want), "{want:?} missing from:\n{shown}");
    }
    assert_eq!(
        count(&env.pg, "orders"),
        "10",
        "nothing runs before approval"
    );

    let out = env.cli(
        &env.alice,
        &["approvals", "approve", &id, "--reason", "cleanup ok"],
    );
    assert!(
        assert_success(&out, "vigil approvals approve").contains("approved"),
        "{}",
        stdout(&out)
    );
    let out = client.wait_with_output().expect("psql");
    let text = assert_success(&out, "held DELETE");
    assert_eq!(text.trim(), "DELETE 3");
    assert!(
        stderr(&out).contains(&format!("vigil approvals approve {id}")),
        "the notice says how to approve: {}",
        stderr(&out)
    );
    assert_eq!(count(&env.pg, "orders"), "7");
    assert_eq!(env.status_of(&id), "used");

    // The decision is in the ledger with the reviewer and reason.
    let out = env.gw.vigil_with_config(&["audit", "verify"]);
    assert_success(&out, "audit verify");
    let db = env.gw.data_dir().join("vigil.db");
    let ledger = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT body FROM ledger WHERE type = 'approval_decided'")
        .output();
    if let Ok(ledger) = ledger
        && ledger.status.success()
    {
        let text = stdout(&ledger);
        assert!(
            text.contains("alice") && text.contains("cleanup ok"),
            "{text}"
        );
    }
}

#[test]
fn denied_hold_returns_the_reviewers_reason_and_the_session_goes_on() {
    let env = env();
    let client = env.psql_spawn(
        &env.bot,
        "DELETE FROM orders WHERE id = 1; SELECT count(*) FROM orders",
    );
    let id = env.pending_of("bot");
    let out = env.cli(
        &env.alice,
        &[
            "approvals",
            "deny",
            &id,
            "--reason",
            "not during business hours",
        ],
    );
    assert_success(&out, "vigil approvals deny");
    let out = client.wait_with_output().expect("psql");
    let err = assert_failure(&out, "denied DELETE");
    assert!(err.contains("not during business hours"), "{err}");
    assert!(err.contains("denied by alice"), "{err}");
    assert_eq!(count(&env.pg, "orders"), "10");
    assert_eq!(env.status_of(&id), "denied");

    // Deciding twice is refused.
    let out = env.cli(&env.alice, &["approvals", "approve", &id]);
    assert!(assert_failure(&out, "second decision").contains("not pending"));
}

#[test]
fn held_statement_times_out_then_the_next_one_works() {
    let env = env();
    let started = Instant::now();
    let out = psql_through(&env.gw, "shop", &env.bot, "DELETE FROM logs");
    let err = assert_failure(&out, "held DELETE past its timeout");
    assert!(err.contains("no decision on approval"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&env.pg, "logs"), "2");
    let id = approval_id_in(&err);
    assert_eq!(env.status_of(&id), "expired");
    let out = env.cli(&env.alice, &["approvals", "approve", &id]);
    assert_failure(&out, "approving an expired request");
}

#[test]
fn cancel_while_held_withdraws_the_request() {
    let env = env();
    let client = env.psql_spawn(&env.bot, "DELETE FROM orders WHERE id = 2");
    let id = env.pending_of("bot");
    // psql turns SIGINT into a CancelRequest.
    let status = Command::new("kill")
        .args(["-INT", &client.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = client.wait_with_output().expect("psql");
    let err = assert_failure(&out, "cancelled held DELETE");
    assert!(err.contains("withdrawn"), "{err}");
    assert_eq!(env.status_of(&id), "withdrawn");
    let out = env.cli(&env.alice, &["approvals", "approve", &id]);
    assert_failure(&out, "approving a withdrawn request");
    assert_eq!(count(&env.pg, "orders"), "10");
}

#[test]
fn retry_mode_passes_once_after_approval_also_after_a_restart() {
    let mut env = env();
    let sql = "UPDATE orders SET note = 'x' WHERE id = 1";
    let out = psql_through(&env.gw, "shop", &env.bot, sql);
    let err = assert_failure(&out, "UPDATE before approval");
    assert!(
        err.contains("42501") || err.contains("denied by rule 'updates'"),
        "{err}"
    );
    let id = approval_id_in(&err);
    // Retrying before a decision names the same request.
    let again = assert_failure(&psql_through(&env.gw, "shop", &env.bot, sql), "second try");
    assert_eq!(approval_id_in(&again), id);

    assert_success(
        &env.cli(&env.alice, &["approvals", "approve", &id]),
        "approve",
    );
    // A changed statement is not covered.
    let other = assert_failure(
        &psql_through(
            &env.gw,
            "shop",
            &env.bot,
            "UPDATE orders SET note = 'x' WHERE id = 2",
        ),
        "a different UPDATE",
    );
    assert_ne!(approval_id_in(&other), id);
    // Another principal's identical statement is not covered either.
    let theirs = assert_failure(
        &psql_through(&env.gw, "shop", &env.mallory, sql),
        "mallory's identical UPDATE",
    );
    assert_ne!(approval_id_in(&theirs), id);

    let ok = assert_success(
        &psql_through(&env.gw, "shop", &env.bot, sql),
        "approved retry",
    );
    assert_eq!(ok.trim(), "UPDATE 1");
    assert_eq!(env.status_of(&id), "used");
    // Once only.
    let after = assert_failure(&psql_through(&env.gw, "shop", &env.bot, sql), "third run");
    let next = approval_id_in(&after);
    assert_ne!(next, id);

    // Durable: approve, restart, retry.
    assert_success(
        &env.cli(&env.alice, &["approvals", "approve", &next]),
        "approve again",
    );
    env.gw.restart();
    let ok = assert_success(
        &psql_through(&env.gw, "shop", &env.bot, sql),
        "approved retry after a restart",
    );
    assert_eq!(ok.trim(), "UPDATE 1");
}

#[test]
fn self_approval_and_non_reviewers_are_refused() {
    let env = env();
    let sql = "UPDATE orders SET note = 'self' WHERE id = 3";
    let err = assert_failure(&psql_through(&env.gw, "shop", &env.selfie, sql), "selfie");
    let id = approval_id_in(&err);
    let out = env.cli(&env.selfie, &["approvals", "approve", &id]);
    assert!(
        assert_failure(&out, "self-approval").contains("own request"),
        "{}",
        stderr(&out)
    );
    let out = env.cli(&env.mallory, &["approvals", "approve", &id]);
    assert!(
        assert_failure(&out, "non-reviewer").contains("only members of dba"),
        "{}",
        stderr(&out)
    );
    // A non-reviewer does not even see it; the reviewer and admins do.
    assert!(
        env.approvals(&env.mallory)
            .iter()
            .all(|a| a["id"] != id.as_str())
    );
    assert!(
        env.approvals(&env.alice)
            .iter()
            .any(|a| a["id"] == id.as_str())
    );
    let out = env.cli(&env.admin, &["approvals", "approve", &id]);
    assert_failure(&out, "an admin outside the reviewer groups");
    assert_eq!(env.status_of(&id), "pending");
    // Over REST, too.
    let (status, _) = env
        .gw
        .http_get(&format!("/api/v1/approvals/{id}"), Some(&env.mallory));
    assert_eq!(status, 404);
    let (status, _) = env.gw.http_get("/api/v1/approvals", None);
    assert_eq!(status, 401);
}

#[test]
fn a_grant_window_lets_the_rule_pass_until_it_expires_or_is_revoked() {
    let env = env();
    let err = assert_failure(
        &psql_through(&env.gw, "shop", &env.bot, "INSERT INTO logs VALUES (10)"),
        "first INSERT",
    );
    let id = approval_id_in(&err);
    let out = env.cli(&env.alice, &["approvals", "approve", &id, "--for", "4s"]);
    assert!(assert_success(&out, "approve --for").contains("grant gr_"));
    let listed = assert_success(&env.cli(&env.admin, &["grants", "list"]), "grants list");
    assert!(
        listed.contains("bot") && listed.contains("inserts"),
        "{listed}"
    );
    // Different statements hitting the same rule pass during the window.
    for n in [11, 12] {
        assert_success(
            &psql_through(
                &env.gw,
                "shop",
                &env.bot,
                &format!("INSERT INTO logs VALUES ({n})"),
            ),
            "INSERT inside the window",
        );
    }
    // Not for another principal.
    assert_failure(
        &psql_through(
            &env.gw,
            "shop",
            &env.mallory,
            "INSERT INTO logs VALUES (13)",
        ),
        "mallory inside bot's window",
    );
    std::thread::sleep(Duration::from_secs(5));
    let err = assert_failure(
        &psql_through(&env.gw, "shop", &env.bot, "INSERT INTO logs VALUES (14)"),
        "INSERT after the window",
    );
    let second = approval_id_in(&err);

    // Revoke ends a window early.
    let out = env.cli(
        &env.alice,
        &["approvals", "approve", &second, "--for", "1h"],
    );
    let text = assert_success(&out, "approve --for 1h");
    let grant: String = text[text.find("gr_").expect("grant id")..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_success(
        &psql_through(&env.gw, "shop", &env.bot, "INSERT INTO logs VALUES (15)"),
        "INSERT inside the second window",
    );
    let out = env.cli(&env.mallory, &["grants", "revoke", &grant]);
    assert_failure(&out, "a non-reviewer revoking");
    assert_success(
        &env.cli(&env.admin, &["grants", "revoke", &grant]),
        "revoke",
    );
    assert_failure(
        &psql_through(&env.gw, "shop", &env.bot, "INSERT INTO logs VALUES (16)"),
        "INSERT after revoke",
    );
}

#[test]
fn stopping_the_gateway_refuses_held_statements() {
    let mut env = env();
    let client = env.psql_spawn(&env.bot, "DELETE FROM orders WHERE id = 5");
    let id = env.pending_of("bot");
    let started = Instant::now();
    env.gw.stop();
    let out = client.wait_with_output().expect("psql");
    let err = assert_failure(&out, "held DELETE at shutdown");
    assert!(err.contains("shutting down"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    env.gw.spawn();
    assert_eq!(env.status_of(&id), "withdrawn");
    assert_eq!(count(&env.pg, "orders"), "10");
}

/// The `preview` of `approvals show --json`, once the gateway stored one.
fn preview_of(env: &Env, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = env.cli(&env.alice, &["approvals", "show", id, "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&assert_success(&out, "vigil approvals show")).expect("JSON");
        if !v["preview"].is_null() {
            return v["preview"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no preview stored for {id}\n{}",
            env.gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn held_delete_shows_the_targets_row_estimate_before_approval() {
    let env = env();
    let client = env.psql_spawn(&env.bot, "DELETE FROM orders WHERE id <= 3");
    let id = env.pending_of("bot");
    let preview = preview_of(&env, &id);
    let rows = preview["estimated_rows"]
        .as_u64()
        .unwrap_or_else(|| panic!("no estimate: {preview}"));
    assert!(rows >= 1, "{preview}");
    assert!(preview["plan_node"].as_str().is_some(), "{preview}");
    // The CLI shows it, and EXPLAIN ran nothing.
    let shown = assert_success(
        &env.cli(&env.alice, &["approvals", "show", &id]),
        "vigil approvals show",
    );
    assert!(
        shown.contains(&format!("about {rows} rows")),
        "preview missing from:\n{shown}"
    );
    assert_eq!(count(&env.pg, "orders"), "10");
    assert_eq!(env.status_of(&id), "pending");
    // Over REST as well.
    let (status, body) = env
        .gw
        .http_get(&format!("/api/v1/approvals/{id}"), Some(&env.alice));
    assert_eq!(status, 200);
    assert!(body.contains("estimated_rows"), "{body}");

    assert_success(
        &env.cli(&env.alice, &["approvals", "approve", &id]),
        "approve",
    );
    let out = client.wait_with_output().expect("psql");
    assert_eq!(assert_success(&out, "held DELETE").trim(), "DELETE 3");
}

#[test]
fn retry_requests_are_previewed_and_multi_statement_messages_are_not_explained() {
    let env = env();
    // A retry-mode INSERT is DML: previewed. Its estimate is one row.
    let err = assert_failure(
        &psql_through(&env.gw, "shop", &env.bot, "INSERT INTO logs VALUES (7)"),
        "INSERT before approval",
    );
    let id = approval_id_in(&err);
    assert_eq!(preview_of(&env, &id)["estimated_rows"], 1);
    // Several statements in one message are not explained.
    let err = assert_failure(
        &psql_through(
            &env.gw,
            "shop",
            &env.bot,
            "INSERT INTO logs VALUES (8); INSERT INTO logs VALUES (9)",
        ),
        "two INSERTs",
    );
    let two = approval_id_in(&err);
    assert!(preview_of(&env, &two)["error"].is_string());
    assert_eq!(count(&env.pg, "logs"), "2");
}

#[test]
fn killing_a_held_client_withdraws_its_request() {
    let env = env();
    let mut client = env.psql_spawn(&env.bot, "DELETE FROM orders WHERE id = 4");
    let id = env.pending_of("bot");
    // SIGKILL: no CancelRequest, no Terminate; the socket just closes.
    client.kill().expect("kill psql");
    let _ = client.wait();
    let killed = Instant::now();
    while env.status_of(&id) != "withdrawn" {
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "still {} {:?} after the client died\n{}",
            env.status_of(&id),
            killed.elapsed(),
            env.gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = assert_success(
        &env.cli(&env.alice, &["approvals", "show", &id]),
        "vigil approvals show",
    );
    assert!(shown.contains("withdrawn"), "{shown}");
    assert_failure(
        &env.cli(&env.alice, &["approvals", "approve", &id]),
        "approving a withdrawn request",
    );
    assert_eq!(count(&env.pg, "orders"), "10");
}

//! The web console in a real browser (Debian's chromium driven by playwright-core, scripts in
//! `tests/browser/`), in front of the quickstart: a reviewer signs in with a token or through
//! the loopback OIDC issuer, approves or denies what an agent's psql is waiting on, someone who
//! is not a reviewer sees the request without buttons, forged POSTs are refused, and an auditor
//! reads a session's timeline and replays an SSH recording. Every page must keep to its
//! Content-Security-Policy (a violation fails the script).

mod ssh_common;

use std::process::Output;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_e2e::browser::browse;
use vigil_e2e::oidc_issuer::TestIssuer;
use vigil_e2e::quickstart::{quickstart_config, seeded_shop};
use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, psql_conninfo, psql_through_script,
    ssh_exec, stderr,
};

const HELD: &str = "UPDATE products SET price = price + 1 WHERE id = 3";
/// An agent's statement that would read differently on screen if rendered as is: a
/// right-to-left override, a newline and a tab.
const TRICKY: &str = "UPDATE products SET name = 'gnp.\u{202e}exe'\n\tWHERE id = 4";

struct Shop {
    gw: Gateway,
    _pg: PgCluster,
    /// `crew-analyst` (analysts, agent): its writes wait for a DBA.
    agent: String,
    /// `dana` (dba, human): reviews them.
    dba: String,
    /// `audrey` (admins, human): sees everything, reviews nothing.
    admin: String,
}

fn shop_with(extra: &str, env: &[(&str, &str)]) -> Shop {
    let (pg, app_password) = seeded_shop();
    let addr = pg.address();
    let mut all = vec![
        ("SHOP_PG_ADDR", addr.as_str()),
        ("SHOP_PG_PASSWORD", app_password.as_str()),
    ];
    all.extend_from_slice(env);
    let gw = Gateway::start(&format!("{}\n{extra}", quickstart_config()), &all);
    Shop {
        agent: gw.token("crew-analyst", &["analysts"], "agent"),
        dba: gw.token("dana", &["dba"], "human"),
        admin: gw.token("audrey", &["admins"], "human"),
        gw,
        _pg: pg,
    }
}

fn shop() -> Shop {
    shop_with("", &[])
}

impl Shop {
    fn base(&self) -> String {
        self.gw.http_url()
    }

    /// `sql` through psql as the agent, in a background thread (a held statement blocks it).
    fn psql_in_background(&self, sql: &str) -> JoinHandle<Output> {
        let conninfo = self.gw.conninfo("shop", "");
        let (token, sql) = (self.agent.clone(), sql.to_string());
        std::thread::spawn(move || psql_conninfo(&conninfo, &token, &["-c", &sql]))
    }

    /// The id of the pending request for `statement`, once the gateway holds it.
    fn pending(&self, statement: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.gw.http_get("/api/v1/approvals", Some(&self.admin));
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).expect("approvals JSON");
            let found =
                v["approvals"].as_array().into_iter().flatten().find(|a| {
                    a["status"] == "pending" && a["statement"].as_str() == Some(statement)
                });
            if let Some(a) = found {
                return a["id"].as_str().expect("id").to_string();
            }
            assert!(
                Instant::now() < deadline,
                "nothing held: {body}\n{}",
                self.gw.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn status_of(&self, id: &str) -> String {
        let (status, body) = self
            .gw
            .http_get(&format!("/api/v1/approvals/{id}"), Some(&self.admin));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("approval JSON");
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// Denies `id` from the CLI as the DBA (to release a psql the test no longer needs).
    fn deny_from_cli(&self, id: &str) {
        let out = self.gw.vigil_env(
            &["approvals", "deny", id, "--reason", "released by the test"],
            &[("VIGIL_TOKEN", &self.dba)],
        );
        assert_success(&out, "vigil approvals deny");
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn a_reviewer_signs_in_with_a_token_and_with_sso() {
    let idp = TestIssuer::start();
    let extra = format!(
        r#"
[[identity.oidc]]
issuer = "{}"
audience = "vigil"
groups_claim = "realm_access.roles"

[console]
oidc_client_id = "vigil"
redirect_url = "${{VIGIL_SERVER}}/console/oidc/callback"
"#,
        idp.url()
    );
    let s = shop_with(&extra, &[]);
    idp.sign_in_as(&json!({"sub": "sso-dana", "realm_access": {"roles": ["dba"]}}));

    let r = browse(
        "signin",
        &[("BASE", &s.base()), ("TOKEN", &s.dba), ("SSO", "1")],
    );
    assert!(text(&r, "refused").contains("Sign-in refused"), "{r}");
    assert!(text(&r, "who").contains("dana"), "{r}");
    assert_eq!(r["nav"], json!(["Approvals", "Sessions", "Audit"]), "{r}");
    // The session cookie is HttpOnly and SameSite=Strict: script in the page cannot read it.
    let cookies = r["cookie_http_only"].as_array().expect("cookies");
    assert!(
        cookies
            .iter()
            .any(|c| c[0] == "vigil_console" && c[1] == true && c[2] == "Strict"),
        "{r}"
    );
    assert_eq!(r["cookie_visible_to_script"], "", "{r}");
    assert_eq!(r["after_logout"], 401, "{r}");
    // "Sign in with SSO": the code flow with PKCE, the ID token through the gate.
    assert!(text(&r, "sso_who").contains("sso-dana"), "{r}");
    assert_eq!(idp.code_exchanges(), 1);
    assert!(
        idp.token_refusals().is_empty(),
        "{:?}",
        idp.token_refusals()
    );
}

#[test]
fn without_an_oidc_client_there_is_no_sso_button() {
    let s = shop();
    let r = browse("signin", &[("BASE", &s.base()), ("TOKEN", &s.admin)]);
    assert!(text(&r, "who").contains("audrey"), "{r}");
    assert_eq!(r["sso_link"], 0, "{r}");
}

#[test]
fn a_held_update_runs_once_the_reviewer_clicks_approve() {
    let s = shop();
    let psql = s.psql_in_background(HELD);
    let id = s.pending(HELD);
    let r = browse(
        "approve",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.dba),
            ("STATEMENT", HELD),
            ("WINDOW", "30m"),
        ],
    );
    let card = text(&r, "card");
    for want in [
        "crew-analyst (agent)",
        "writes-need-a-dba",
        "shop",
        "pending",
    ] {
        assert!(
            card.to_lowercase().contains(&want.to_lowercase()),
            "{want} not on the card: {card}"
        );
    }
    // Approved, and (a held statement runs at once) used.
    let after = text(&r, "after").to_lowercase();
    assert!(after == "approved" || after == "used", "{r}");
    let out = psql.join().expect("psql thread");
    assert_eq!(assert_success(&out, "the held UPDATE"), "UPDATE 1");
    assert_eq!(s.status_of(&id), "used");
    // The grant window typed next to "Approve" opened a window for the same rule.
    let (status, body) = s.gw.http_get("/api/v1/grants", Some(&s.admin));
    assert_eq!(status, 200, "{body}");
    let grants: Value = serde_json::from_str(&body).expect("grants JSON");
    let grant = &grants["grants"][0];
    assert_eq!(grant["principal"], "crew-analyst", "{body}");
    assert_eq!(grant["rule"], "writes-need-a-dba", "{body}");
    assert_eq!(grant["granted_by"], "dana", "{body}");
}

#[test]
fn a_denial_reason_typed_in_the_console_reaches_psql() {
    let s = shop();
    let psql = s.psql_in_background(HELD);
    s.pending(HELD);
    let reason = "not during the sale, ask again on Monday";
    let r = browse(
        "deny",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.dba),
            ("STATEMENT", HELD),
            ("REASON", reason),
        ],
    );
    assert!(text(&r, "empty").contains("Give a reason"), "{r}");
    assert_eq!(
        r["kept"], reason,
        "the queue's refresh lost what was typed: {r}"
    );
    assert!(text(&r, "after").contains(reason), "{r}");
    let out = psql.join().expect("psql thread");
    let err = assert_failure(&out, "the denied UPDATE");
    assert!(err.contains(reason), "psql did not get the reason: {err}");
}

#[test]
fn someone_who_is_not_a_reviewer_sees_the_request_but_no_buttons() {
    let s = shop();
    let psql = s.psql_in_background(TRICKY);
    let id = s.pending(TRICKY);
    // An admin sees every request, but only the rule's reviewers (dba) decide.
    let shown = "UPDATE products SET name = 'gnp.";
    let r = browse(
        "observer",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.admin),
            ("STATEMENT", shown),
        ],
    );
    let card = text(&r, "card");
    assert!(card.contains("crew-analyst"), "{r}");
    assert_eq!(r["approve_buttons"], 0, "{r}");
    assert_eq!(r["deny_buttons"], 0, "{r}");
    // What the agent wrote is shown as it would run: the override, the newline and the tab
    // are visible escapes, not interpreted.
    assert!(
        card.contains("gnp.\\u{202e}exe'⏎") && card.contains("→WHERE id = 4"),
        "{card}"
    );
    assert!(!card.contains('\u{202e}'), "{card}");
    // The agent that asked sees its own request, and cannot decide it either.
    let r = browse(
        "observer",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.agent),
            ("STATEMENT", shown),
        ],
    );
    assert_eq!(r["approve_buttons"], 0, "{r}");
    assert_eq!(s.status_of(&id), "pending");
    s.deny_from_cli(&id);
    assert_failure(&psql.join().expect("psql thread"), "the released UPDATE");
}

#[test]
fn a_post_without_the_csrf_header_is_refused() {
    let s = shop();
    let psql = s.psql_in_background(HELD);
    let id = s.pending(HELD);
    // The reviewer's own browser: a missing check would approve for real.
    let r = browse(
        "csrf",
        &[("BASE", &s.base()), ("TOKEN", &s.dba), ("APPROVAL", &id)],
    );
    assert_eq!(r["forged"], 403, "{r}");
    assert_eq!(r["from_page"]["status"], 403, "{r}");
    assert_eq!(r["wrong_token"], 403, "{r}");
    assert_eq!(r["logout_without_token"], 403, "{r}");
    assert_eq!(
        r["me_after"], 200,
        "a refused logout must not end the session: {r}"
    );
    assert_eq!(
        s.status_of(&id),
        "pending",
        "a forged POST changed the request"
    );
    s.deny_from_cli(&id);
    assert_failure(&psql.join().expect("psql thread"), "the released UPDATE");
}

/// The id of the only session of `principal`, as the admin lists them.
fn session_of(s: &Shop, principal: &str) -> String {
    let (status, body) = s.gw.http_get("/api/v1/sessions?limit=100", Some(&s.admin));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("sessions JSON");
    let ids: Vec<&str> = v["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["principal"] == principal)
        .filter_map(|x| x["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{body}");
    ids[0].to_string()
}

#[test]
fn a_session_timeline_shows_statements_decisions_masking_and_timings() {
    let s = shop();
    let out = psql_through_script(
        &s.gw,
        "shop",
        &s.agent,
        "\\set ON_ERROR_STOP 0\nSELECT name, email FROM customers ORDER BY id LIMIT 3;\nDROP TABLE orders;\n",
    );
    assert!(stderr(&out).contains("no-drops"), "{}", stderr(&out));
    let id = session_of(&s, "crew-analyst");
    let r = browse(
        "timeline",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.admin),
            ("SESSION", &id),
            ("EXPECT", "DROP TABLE orders"),
        ],
    );
    let timeline = text(&r, "timeline");
    for want in [
        "SELECT name, email FROM customers",
        "ALLOW",
        "reads",
        "DENY",
        "no-drops",
        "analysts never drop or truncate tables",
        "masked",
        "done in",
        "session start",
    ] {
        assert!(
            timeline.contains(want),
            "{want} not in the timeline:\n{timeline}"
        );
    }
    assert!(text(&r, "summary").contains("crew-analyst"), "{r}");
    // The export is the session's events, one JSON object a line.
    assert!(r["export_lines"].as_u64().unwrap_or(0) >= 4, "{r}");
    let first: Value = serde_json::from_str(&text(&r, "export_first")).expect("a JSON line");
    assert!(first.get("seq").is_some(), "{first}");
}

#[test]
fn an_agent_run_is_found_by_its_id_followed_across_sessions_and_exported() {
    let s = shop();
    let run = format!("crew-run-{}", vigil_e2e::random_hex(4));
    let url = format!("{}/mcp", s.gw.http_url());
    for sql in ["SELECT count(*) FROM products", "DROP TABLE orders"] {
        let args = json!({ "connection": "shop", "sql": sql }).to_string();
        let out = vigil_e2e::python(
            "py/mcp_client.py",
            &[&url, &s.agent, "call", "query", &args, "--run", &run],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let r = browse(
        "run",
        &[
            ("BASE", &s.base()),
            ("TOKEN", &s.admin),
            ("RUN", &run),
            ("EXPECT", "DROP TABLE orders"),
        ],
    );
    // One session per tool call, both in the run's timeline, in order.
    assert_eq!(r["listed"], 2, "{r}");
    let timeline = text(&r, "timeline");
    let first = timeline.find("SELECT count(*) FROM products");
    let second = timeline.find("DROP TABLE orders");
    assert!(
        first.is_some() && second.is_some() && first < second,
        "{timeline}"
    );
    assert!(timeline.contains("no-drops"), "{timeline}");
    assert!(r["export_lines"].as_u64().unwrap_or(0) >= 4, "{r}");
    assert_eq!(r["export_runs"], json!([run]), "{r}");
    assert!(text(&r, "audit").contains("The ledger verifies."), "{r}");
}

#[test]
fn an_ssh_recording_replays_in_the_browser() {
    let e = ssh_common::env();
    let admin = e.gw.token("root", &["admins"], "human");
    let out = ssh_exec(e.port, "web1", &e.bot, "echo 'hello from the replay'");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    ssh_common::ledger_with(&e, &admin, "sha256");
    let (status, body) = e.gw.http_get("/api/v1/sessions", Some(&admin));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("sessions JSON");
    let id = v["sessions"][0]["id"]
        .as_str()
        .expect("a session")
        .to_string();
    let r = browse(
        "replay",
        &[
            ("BASE", &e.gw.http_url()),
            ("TOKEN", &admin),
            ("SESSION", &id),
            ("EXPECT", "hello from the replay"),
        ],
    );
    assert!(
        text(&r, "terminal").contains("hello from the replay"),
        "{r}"
    );
    assert!(text(&r, "channels").contains("Channel"), "{r}");
}

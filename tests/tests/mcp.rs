//! Vigil's `/mcp` endpoint through the official MCP Python SDK (`tests/py/mcp_client.py`),
//! in front of the quickstart database: tools per principal, the ok / denied /
//! pending_approval outcomes, approval from the CLI and the retry that then runs,
//! approval_status long-polling, masked results, and a run id across calls that
//! `vigil sessions list --run` shows.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_e2e::quickstart::{quickstart_gateway, seeded_shop};
use vigil_e2e::{Gateway, PgCluster, assert_success, python, random_hex, stdout};

fn url(gw: &Gateway) -> String {
    format!("{}/mcp", gw.http_url())
}

/// Runs `mcp_client.py URL TOKEN ARGS...` and parses its JSON.
#[track_caller]
fn mcp(gw: &Gateway, token: &str, args: &[&str]) -> Value {
    let url = url(gw);
    let mut all = vec![url.as_str(), token];
    all.extend_from_slice(args);
    let out = python("py/mcp_client.py", &all);
    let text = stdout(&out);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "mcp_client.py {args:?} printed no JSON ({e}):\n{text}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            gw.log_text()
        )
    })
}

/// One tool call; returns its structured result.
#[track_caller]
fn call(gw: &Gateway, token: &str, tool: &str, args: Value, extra: &[&str]) -> Value {
    let args = args.to_string();
    let mut all = vec!["call", tool, args.as_str()];
    all.extend_from_slice(extra);
    let r = mcp(gw, token, &all);
    assert!(
        r.get("transport_error").is_none(),
        "{tool} failed in transport: {r}"
    );
    r["structured"].clone()
}

fn count(pg: &PgCluster, sql: &str) -> i64 {
    pg.psql("shop", sql).trim().parse().unwrap_or(-1)
}

struct Shop {
    pg: PgCluster,
    gw: Gateway,
    agent: String,
    dba: String,
    admin: String,
}

fn shop() -> Shop {
    let (pg, app_password) = seeded_shop();
    let gw = quickstart_gateway(&pg, &app_password);
    let agent = gw.token("crew-analyst", &["analysts"], "agent");
    let dba = gw.token("dba-on-call", &["dba"], "human");
    let admin = gw.token("admin", &["admins"], "human");
    Shop {
        pg,
        gw,
        agent,
        dba,
        admin,
    }
}

const OLD_ORDERS_DELETE: &str = "DELETE FROM orders WHERE created_at < $1";

#[test]
fn tools_are_listed_per_principal_and_every_request_needs_a_bearer() {
    let s = shop();
    let tools = mcp(&s.gw, &s.agent, &["tools"]);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "list_connections",
            "describe_connection",
            "query",
            "approval_status"
        ]
    );
    let query = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "query")
        .unwrap();
    // The quickstart's MariaDB connection is granted too (its server is not running here).
    assert_eq!(
        query["input_schema"]["properties"]["connection"]["enum"],
        json!(["shop", "shop-mariadb"])
    );
    for outcome in ["pending_approval", "denied", "truncated"] {
        assert!(
            query["description"].as_str().unwrap().contains(outcome),
            "the query tool's description should explain {outcome}"
        );
    }

    // A principal no policy grants anything sees no tools, and cannot call them.
    let nobody = s.gw.token("stranger", &["visitors"], "agent");
    assert_eq!(mcp(&s.gw, &nobody, &["tools"]), json!({ "tools": [] }));
    let r = mcp(&s.gw, &nobody, &["call", "list_connections", "{}"]);
    assert!(
        r.get("transport_error").is_some() || r["is_error"] == true,
        "an ungranted principal must not get a result: {r}"
    );

    let listed = call(&s.gw, &s.agent, "list_connections", json!({}), &[]);
    assert_eq!(
        listed,
        json!({ "status": "ok", "connections": [
            { "name": "shop", "kind": "postgres" },
            { "name": "shop-mariadb", "kind": "mysql" },
        ] })
    );

    // No bearer, or a bad one: 401 before any MCP handling.
    let (status, _) = s.gw.http_get("/mcp", None);
    assert_eq!(status, 401);
    let (status, _) = s.gw.http_get("/mcp", Some("not-a-token"));
    assert_eq!(status, 401);
    let r = mcp(&s.gw, "", &["tools"]);
    assert!(
        r["transport_error"]
            .as_str()
            .is_some_and(|e| e.contains("401")),
        "the SDK client should see 401 without a bearer: {r}"
    );
}

#[test]
fn describe_flags_masked_columns_and_query_results_are_masked() {
    let s = shop();
    let d = call(
        &s.gw,
        &s.agent,
        "describe_connection",
        json!({ "connection": "shop" }),
        &[],
    );
    assert_eq!(d["status"], "ok", "{d}");
    let customers = d["relations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "customers")
        .expect("customers is readable");
    let masked: Vec<&str> = customers["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["masked"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(masked, ["email", "ssn", "card_number"]);

    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({
            "connection": "shop",
            "sql": "SELECT name, email AS contact, lower(ssn) FROM customers WHERE id = $1",
            "parameters": [1],
        }),
        &[],
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["columns"], json!(["name", "contact", "lower"]));
    let row = &r["rows"][0];
    assert_eq!(row[0], "Ada Lovelace");
    let text = r.to_string();
    for secret in [
        "ada.lovelace@example.com",
        "250-98-9899",
        "4111111111111111",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(
        row[1].as_str().unwrap().contains('*'),
        "email is masked: {row}"
    );

    // A content detector catches an email in a column no rule names.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT 'write to grace.hopper@example.com' AS note" }),
        &[],
    );
    assert!(
        !r.to_string().contains("grace.hopper@example.com"),
        "detected email leaked: {r}"
    );

    // The row limit, and the truncated flag.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT id, total FROM orders ORDER BY id", "max_rows": 5 }),
        &[],
    );
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["truncated"], true);
    assert_eq!(r["rows"][0], json!([1, "29.50"]));
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT count(*) FROM products" }),
        &[],
    );
    assert_eq!(r["rows"], json!([[10]]));
    assert_eq!(r["truncated"], false);
}

#[test]
fn denied_statements_are_results_and_never_reach_the_database() {
    let s = shop();
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "DROP TABLE orders" }),
        &[],
    );
    assert_eq!(
        r,
        json!({ "status": "denied", "rule": "no-drops", "reason": "analysts never drop or truncate tables" })
    );
    assert_eq!(count(&s.pg, "SELECT count(*) FROM orders"), 50);

    // An unparsable statement is refused by the analyser, fail closed.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELEC nonsense" }),
        &[],
    );
    assert_eq!(r["status"], "denied");
    assert_eq!(r["rule"], "analysis");

    // Two statements in one call are refused whole.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT 1; DELETE FROM orders" }),
        &[],
    );
    assert_eq!(r["status"], "denied", "{r}");
    assert_eq!(count(&s.pg, "SELECT count(*) FROM orders"), 50);

    // A database error is a result too.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT missing_column FROM orders" }),
        &[],
    );
    assert_eq!(r["status"], "error");
    assert_eq!(r["sqlstate"], "42703");
}

#[test]
fn held_delete_is_pending_at_once_then_runs_once_after_cli_approval() {
    let s = shop();
    let args =
        json!({ "connection": "shop", "sql": OLD_ORDERS_DELETE, "parameters": ["2025-01-10"] });
    let started = Instant::now();
    let r = call(&s.gw, &s.agent, "query", args.clone(), &[]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a hold rule must not make the tool call wait"
    );
    assert_eq!(r["status"], "pending_approval", "{r}");
    assert_eq!(r["reviewers"], json!(["dba"]));
    assert_eq!(r["rule"], "writes-need-a-dba");
    assert!(r["retry_after_seconds"].as_u64().unwrap() > 0);
    let id = r["approval_id"].as_str().unwrap().to_string();
    assert_eq!(count(&s.pg, "SELECT count(*) FROM orders"), 50);

    // Asking again before a decision names the same request and runs nothing.
    let again = call(&s.gw, &s.agent, "query", args.clone(), &[]);
    assert_eq!(again["approval_id"], id.as_str());
    let status = call(
        &s.gw,
        &s.agent,
        "approval_status",
        json!({ "approval_id": id }),
        &[],
    );
    assert_eq!(status["status"], "pending");

    // Different parameters are a different statement: not covered by this approval.
    let out =
        s.gw.vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &s.dba)]);
    assert_success(&out, "vigil approvals approve");
    let other = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": OLD_ORDERS_DELETE, "parameters": ["2026-01-01"] }),
        &[],
    );
    assert_eq!(other["status"], "pending_approval");
    assert_ne!(other["approval_id"], id.as_str());
    assert_eq!(count(&s.pg, "SELECT count(*) FROM orders"), 50);

    let ran = call(&s.gw, &s.agent, "query", args.clone(), &[]);
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(ran["command"], "DELETE 4");
    assert_eq!(count(&s.pg, "SELECT count(*) FROM orders"), 46);

    // Once: the same statement again asks for a new approval.
    let third = call(&s.gw, &s.agent, "query", args, &[]);
    assert_eq!(third["status"], "pending_approval");
    assert_ne!(third["approval_id"], id.as_str());
    let used = call(
        &s.gw,
        &s.agent,
        "approval_status",
        json!({ "approval_id": id }),
        &[],
    );
    assert_eq!(used["status"], "used");
    assert_eq!(used["decided_by"], "dba-on-call");

    // A denial from the CLI, with its reason, reaches the agent.
    let third_id = third["approval_id"].as_str().unwrap();
    let out = s.gw.vigil_env(
        &["approvals", "deny", third_id, "--reason", "already cleaned"],
        &[("VIGIL_TOKEN", &s.dba)],
    );
    assert_success(&out, "vigil approvals deny");
    let denied = call(
        &s.gw,
        &s.agent,
        "approval_status",
        json!({ "approval_id": third_id }),
        &[],
    );
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decision_reason"], "already cleaned");

    // Another principal cannot read the agent's request.
    let other_agent = s.gw.token("crew-other", &["analysts"], "agent");
    let hidden = call(
        &s.gw,
        &other_agent,
        "approval_status",
        json!({ "approval_id": id }),
        &[],
    );
    assert_eq!(hidden["status"], "error");
}

#[test]
fn approval_status_long_polls_until_a_reviewer_decides() {
    let s = shop();
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "UPDATE products SET in_stock = 0 WHERE sku = $1", "parameters": ["CO-010"] }),
        &[],
    );
    let id = r["approval_id"].as_str().unwrap().to_string();

    // Nobody decides: the poll ends at its bound, still pending.
    let args = json!({ "approval_id": id, "wait_seconds": 2 }).to_string();
    let waited = mcp(&s.gw, &s.agent, &["timed-call", "approval_status", &args]);
    assert_eq!(waited["structured"]["status"], "pending");
    let elapsed = waited["elapsed"].as_f64().unwrap();
    assert!((1.8..15.0).contains(&elapsed), "waited {elapsed}s");

    // A reviewer decides while the agent waits: the poll returns soon after. The approver
    // starts its 2 s only once the client has sent the call (the client creates `started`
    // just before), so the interpreter's start-up time cannot eat into the wait.
    let started = s.gw.data_dir().join("approval-poll-started");
    let approver = {
        let id = id.clone();
        let dba = s.dba.clone();
        let vigil = vigil_e2e::vigil_bin();
        let server = s.gw.http_url();
        let started = started.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !started.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_secs(2));
            std::process::Command::new(vigil)
                .args(["approvals", "approve", &id])
                .env("VIGIL_SERVER", server)
                .env("VIGIL_TOKEN", dba)
                .output()
                .unwrap()
        })
    };
    let args = json!({ "approval_id": id, "wait_seconds": 60 }).to_string();
    let started_arg = started.to_string_lossy().into_owned();
    let waited = mcp(
        &s.gw,
        &s.agent,
        &[
            "timed-call",
            "approval_status",
            &args,
            "--started-file",
            &started_arg,
        ],
    );
    assert_success(&approver.join().unwrap(), "vigil approvals approve");
    assert_eq!(waited["structured"]["status"], "approved", "{waited}");
    let elapsed = waited["elapsed"].as_f64().unwrap();
    assert!(
        (1.9..30.0).contains(&elapsed),
        "the poll should end when the reviewer decided (2 s after the call was sent), after {elapsed}s"
    );
}

#[test]
fn a_held_request_names_the_agent_run_that_asked() {
    let s = shop();
    let run = format!("crew-run-{}", random_hex(4));
    let args =
        json!({ "connection": "shop", "sql": OLD_ORDERS_DELETE, "parameters": ["2025-01-10"] });
    let r = call(&s.gw, &s.agent, "query", args, &["--meta-run", &run]);
    assert_eq!(r["status"], "pending_approval", "{r}");
    let id = r["approval_id"].as_str().unwrap_or_default();
    let (status, body) =
        s.gw.http_get(&format!("/api/v1/approvals/{id}"), Some(&s.dba));
    assert_eq!(status, 200, "{body}");
    let record: Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(record["run_id"], run.as_str(), "{record}");
    assert_eq!(record["can_decide"], true, "{record}");
    // The preview shows the reviewer the values the approval is bound to.
    let deadline = Instant::now() + Duration::from_secs(15);
    let preview = loop {
        let (_, body) =
            s.gw.http_get(&format!("/api/v1/approvals/{id}"), Some(&s.dba));
        let record: Value = serde_json::from_str(&body).unwrap_or_default();
        if !record["preview"].is_null() || Instant::now() > deadline {
            break record["preview"].clone();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(preview["parameters"], json!(["2025-01-10"]), "{preview}");
}

#[test]
fn a_run_id_ties_calls_together_in_sessions_list() {
    let s = shop();
    let run = format!("crew-run-{}", random_hex(4));
    // The header on every request of one MCP session...
    let calls = json!([
        ["list_connections", {}],
        ["query", { "connection": "shop", "sql": "SELECT count(*) FROM customers" }],
        ["query", { "connection": "shop", "sql": "DROP TABLE customers" }],
    ])
    .to_string();
    let results = mcp(&s.gw, &s.agent, &["calls", &calls, "--run", &run]);
    assert_eq!(results[2]["structured"]["status"], "denied");
    // ...or the tool call's _meta.vigil_run.
    let r = call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT name FROM products WHERE id = 1" }),
        &["--meta-run", &run],
    );
    assert_eq!(r["status"], "ok");
    // Another run, and no run at all, stay out of it.
    call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT 'other run'" }),
        &["--run", "another-run"],
    );
    call(
        &s.gw,
        &s.agent,
        "query",
        json!({ "connection": "shop", "sql": "SELECT 'no run'" }),
        &[],
    );
    // A malformed run id is refused.
    let bad = mcp(
        &s.gw,
        &s.agent,
        &["call", "list_connections", "{}", "--meta-run", "not ok"],
    );
    assert_eq!(bad["structured"]["status"], "error");

    let out = s.gw.vigil_env(
        &["sessions", "list", "--run", &run],
        &[("VIGIL_TOKEN", &s.admin)],
    );
    let text = assert_success(&out, "vigil sessions list --run");
    let sessions = text
        .lines()
        .filter(|l| l.contains("crew-analyst") && l.contains("shop"))
        .count();
    assert_eq!(sessions, 3, "one session per query call:\n{text}");
    assert!(text.contains(&format!("run {run}")), "{text}");
    let order = [
        "SELECT count(*) FROM customers",
        "DROP TABLE customers",
        "SELECT name FROM products WHERE id = 1",
    ];
    let mut at = 0;
    for statement in order {
        let found = text[at..]
            .find(statement)
            .unwrap_or_else(|| panic!("{statement} missing or out of order:\n{text}"));
        at += found;
    }
    assert!(text.contains("deny   rule=no-drops"), "{text}");
    assert!(
        !text.contains("other run") && !text.contains("no run"),
        "{text}"
    );

    // Every event of the run carries the run id, in the ledger.
    let out = s.gw.vigil_env(
        &["sessions", "list", "--run", &run, "--json"],
        &[("VIGIL_TOKEN", &s.admin)],
    );
    let body: Value = serde_json::from_str(&assert_success(&out, "sessions --json")).unwrap();
    let events = body["events"].as_array().unwrap();
    assert!(events.len() >= 9, "{body}");
    assert!(events.iter().all(|e| e["body"]["run_id"] == run.as_str()));
}

#[test]
fn an_oidc_jwt_is_a_bearer_for_mcp_too() {
    use vigil_e2e::oidc_issuer::TestIssuer;
    use vigil_e2e::quickstart::quickstart_config;

    let (pg, app_password) = seeded_shop();
    let idp = TestIssuer::start();
    let config = format!(
        r#"{}

[[identity.oidc]]
issuer = "{}"
audience = "vigil"
groups_claim = "roles"
"#,
        quickstart_config(),
        idp.url()
    );
    let gw = Gateway::start(
        &config,
        &[
            ("SHOP_PG_ADDR", &pg.address()),
            ("SHOP_PG_PASSWORD", &app_password),
        ],
    );
    let analyst = idp.token(&json!({ "sub": "crew-oidc", "roles": ["analysts"] }));
    let tools = mcp(&gw, &analyst, &["tools"]);
    assert_eq!(tools["tools"].as_array().unwrap().len(), 4, "{tools}");
    let r = call(
        &gw,
        &analyst,
        "query",
        json!({ "connection": "shop", "sql": "SELECT email FROM customers WHERE id = 2" }),
        &[],
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert!(!r.to_string().contains("grace.hopper@example.com"), "{r}");

    // Another issuer's token, or an expired one, never gets past the gate.
    let forged = vigil_e2e::oidc_issuer::SigningKey::rsa("other", "RS256")
        .token(&idp.claims(&json!({ "sub": "crew-oidc", "roles": ["analysts"] })));
    let r = mcp(&gw, &forged, &["tools"]);
    assert!(
        r["transport_error"]
            .as_str()
            .is_some_and(|e| e.contains("401")),
        "{r}"
    );
    let expired = idp.token(&json!({ "sub": "crew-oidc", "roles": ["analysts"], "exp": 1 }));
    let (status, _) = gw.http_get("/mcp", Some(&expired));
    assert_eq!(status, 401);
}

#[test]
fn copy_through_query_returns_no_data_and_never_hangs() {
    let s = shop();
    let copy_in = call(
        &s.gw,
        &s.admin,
        "query",
        json!({ "connection": "shop", "sql": "COPY products (name, sku, price) FROM STDIN" }),
        &[],
    );
    assert_eq!(copy_in["status"], "error", "{copy_in}");
    assert_eq!(count(&s.pg, "SELECT count(*) FROM products"), 10);
    let copy_out = call(
        &s.gw,
        &s.admin,
        "query",
        json!({ "connection": "shop", "sql": "COPY customers TO STDOUT" }),
        &[],
    );
    assert_eq!(copy_out["rows"], json!([]), "{copy_out}");
    assert!(!copy_out.to_string().contains("@example.com"), "{copy_out}");
}

#[test]
fn errors_of_the_query_tool_quote_no_masked_value() {
    let s = shop();
    for sql in [
        "SELECT current_setting(string_agg(email, ' ')) FROM customers",
        "SELECT email::int FROM customers",
    ] {
        let r = call(
            &s.gw,
            &s.agent,
            "query",
            json!({ "connection": "shop", "sql": sql }),
            &[],
        );
        let text = r.to_string();
        assert!(!text.contains("@example.com"), "{sql}: {text}");
        assert_ne!(r["status"], "ok", "{sql}: {text}");
    }
}

//! What an operator sees after agents worked through the gateway: `vigil sessions`,
//! `vigil audit verify` (and what it says after tampering), `/metrics` and `/healthz`,
//! `vigil token create/list/revoke`, and `vigil policy check`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, config_with, pg_bin, psql_through,
    psql_through_script, random_hex, stderr, stdout,
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
"#;

/// A cluster with `shop.items` (3 rows) and a gateway: group `readers` may read and is
/// denied deletes (rule `no-deletes`); group `admins` is the config's admin group.
fn shop() -> (PgCluster, Gateway) {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("shop", "app");
    assert_success(
        &pg.psql_as(
            "app",
            Some(&password),
            "shop",
            "CREATE TABLE items (id int PRIMARY KEY, name text); \
             INSERT INTO items VALUES (1, 'apple'), (2, 'banana'), (3, 'cherry')",
        ),
        "creating items",
    );
    let addr = pg.address();
    let gw = Gateway::start(
        &config_with(CONFIG_BODY),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", &password)],
    );
    (pg, gw)
}

/// One session of `reader`: an allowed SELECT and a denied DELETE.
const ALLOWED: &str = "SELECT name FROM items WHERE id = 2";
const DENIED: &str = "DELETE FROM items WHERE id = 1";

fn allowed_and_denied_session(gw: &Gateway, token: &str) {
    let out = psql_through_script(
        gw,
        "shop",
        token,
        &format!("\\set ON_ERROR_STOP 0\n{ALLOWED};\n{DENIED};\n"),
    );
    assert_eq!(stdout(&out), "banana", "{}", stderr(&out));
    assert!(stderr(&out).contains("no-deletes"), "{}", stderr(&out));
}

fn sessions(gw: &Gateway, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["sessions"];
    all.extend_from_slice(args);
    gw.vigil_env(&all, &[("VIGIL_TOKEN", token)])
}

/// Polls `vigil sessions list` until `principal`'s session shows as ended; returns its
/// row's columns (ID PRINCIPAL CONNECTION STARTED STMTS DENIED STATE).
#[track_caller]
fn ended_session_row(gw: &Gateway, admin: &str, principal: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = assert_success(&sessions(gw, admin, &["list"]), "vigil sessions list");
        let row = text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|cols| cols.get(1).map(String::as_str) == Some(principal));
        if let Some(cols) = row {
            if cols.last().map(String::as_str) == Some("ended") || Instant::now() > deadline {
                return cols;
            }
        } else if Instant::now() > deadline {
            panic!("no session of {principal} in `vigil sessions list`:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---- sessions -----------------------------------------------------------------------------

#[test]
fn sessions_list_counts_statements_and_denials_and_show_prints_each_decision() {
    let (_pg, gw) = shop();
    let admin = gw.token("ops", &["admins"], "human");
    let reader = gw.token("reader-agent", &["readers"], "agent");
    allowed_and_denied_session(&gw, &reader);

    let row = ended_session_row(&gw, &admin, "reader-agent");
    assert_eq!(row.get(2).map(String::as_str), Some("shop"), "{row:?}");
    let n = row.len();
    assert!(n >= 7, "{row:?}");
    assert_eq!(
        (&row[n - 3][..], &row[n - 2][..], &row[n - 1][..]),
        ("2", "1", "ended"),
        "expected 2 statements, 1 denied, ended: {row:?}"
    );

    let id = &row[0];
    let text = assert_success(&sessions(&gw, &admin, &["show", id]), "vigil sessions show");
    let allow_line = text
        .lines()
        .find(|l| l.contains(" statement ") && l.contains(ALLOWED))
        .unwrap_or_else(|| panic!("the allowed statement is missing:\n{text}"));
    assert!(
        allow_line.contains("allow") && allow_line.contains("rule=reads"),
        "{allow_line}"
    );
    let deny_line = text
        .lines()
        .find(|l| l.contains(" statement ") && l.contains(DENIED))
        .unwrap_or_else(|| panic!("the denied statement is missing:\n{text}"));
    assert!(
        deny_line.contains("deny") && deny_line.contains("rule=no-deletes"),
        "{deny_line}"
    );
    let done: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("statement_done"))
        .collect();
    assert!(
        !done.is_empty() && done.iter().all(|l| l.contains(" ms")),
        "statement_done events with timings are missing:\n{text}"
    );
    assert!(text.contains("session_start"), "{text}");
    assert!(text.contains("session_end"), "{text}");
}

#[test]
fn sessions_api_refuses_a_non_admin_token_with_403() {
    let (_pg, gw) = shop();
    let reader = gw.token("reader-agent", &["readers"], "agent");
    allowed_and_denied_session(&gw, &reader);
    let out = sessions(&gw, &reader, &["list"]);
    let err = assert_failure(&out, "vigil sessions list with a non-admin token");
    assert!(
        err.contains("403") && err.contains("admin"),
        "the error should say 403 and why: {err}"
    );
    assert!(!stdout(&out).contains("reader-agent"), "{}", stdout(&out));
    let out = sessions(&gw, "not-a-token", &["list"]);
    let err = assert_failure(&out, "vigil sessions list with a bogus token");
    assert!(err.contains("401"), "{err}");
}

// ---- ledger -------------------------------------------------------------------------------

#[test]
fn audit_verify_passes_after_a_clean_stop_and_names_the_tampered_event() {
    let (_pg, mut gw) = shop();
    let reader = gw.token("reader-agent", &["readers"], "agent");
    allowed_and_denied_session(&gw, &reader);

    // An idle psql session is open when the gateway is asked to stop.
    let mut idle = std::process::Command::new(pg_bin("psql"))
        .env("PGPASSWORD", &reader)
        .env("PGPASSFILE", "/dev/null")
        .args(["-X", "-At", "-d", &gw.conninfo("shop", "")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start psql");
    let mut idle_in = idle.stdin.take().expect("piped stdin");
    writeln!(idle_in, "SELECT 'idle ' || count(*) FROM items;").expect("write to psql");
    idle_in.flush().expect("flush psql's stdin");
    let mut line = String::new();
    BufReader::new(idle.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read psql's output");
    assert_eq!(line.trim(), "idle 3");

    let status = gw.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM with an idle session should drain and exit 0, got {status:?}:\n{}",
        gw.log_text()
    );
    drop(idle_in);
    let _ = idle.wait();

    let out = gw.vigil_with_config(&["audit", "verify"]);
    let text = assert_success(&out, "vigil audit verify on an intact ledger");
    assert!(text.contains("intact"), "{text}");

    // Change the recorded SELECT into a DELETE in the ledger log itself.
    let seq =
        rewrite_logged_statement(&gw.data_dir().join("ledger"), ALLOWED, b"SELECT", b"DELETE");
    let out = gw.vigil_with_config(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "vigil audit verify on a tampered ledger: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let said = format!("{}\n{}", stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!("event {seq}")),
        "audit verify should name event {seq}: {said}"
    );
}

/// Rewrites `from` into `to` (same length) inside the first logged statement
/// whose record holds `text`, in place; returns that statement's seq.
/// Frames are `len u32 | crc u32 | kind u8 | seq i64 | ...` after a 16-byte
/// segment header.
fn rewrite_logged_statement(dir: &std::path::Path, text: &str, from: &[u8], to: &[u8]) -> i64 {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .expect("the ledger log directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    for path in segments {
        let mut bytes = std::fs::read(&path).expect("a segment");
        let mut at = 16;
        while at + 17 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
            let end = (at + 8 + len).min(bytes.len());
            let frame = &bytes[at..end];
            let holds = |needle: &[u8]| frame.windows(needle.len()).position(|w| w == needle);
            if let (Some(_), Some(_), Some(i)) = (
                holds(text.as_bytes()),
                holds(b"\"type\":\"statement\""),
                holds(from),
            ) {
                let seq = i64::from_le_bytes(bytes[at + 9..at + 17].try_into().expect("8 bytes"));
                bytes[at + i..at + i + to.len()].copy_from_slice(to);
                std::fs::write(&path, &bytes).expect("rewrite the segment");
                return seq;
            }
            at = end;
        }
    }
    panic!("no logged statement holds {text:?}");
}

// ---- metrics and health -------------------------------------------------------------------

#[test]
fn metrics_count_statements_by_verdict_and_time_decisions() {
    let (_pg, gw) = shop();
    let reader = gw.token("reader-agent", &["readers"], "agent");
    allowed_and_denied_session(&gw, &reader);
    let (status, body) = gw.http_get("/healthz", None);
    assert_eq!(status, 200, "{body}");
    let (status, metrics) = gw.http_get("/metrics", None);
    assert_eq!(status, 200, "{metrics}");
    let value = |series: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{metrics}"))
    };
    assert!(
        value("vigil_statements_total{verdict=\"allow\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("vigil_statements_total{verdict=\"deny\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_decision_seconds_bucket{le="),
        "{metrics}"
    );
    assert!(value("vigil_decision_seconds_count") >= 2.0, "{metrics}");
}

// ---- tokens -------------------------------------------------------------------------------

#[test]
fn token_create_prints_exactly_one_line() {
    let gw = Gateway::configure(
        &config_with(CONFIG_BODY),
        &[("SHOP_PG_ADDR", "127.0.0.1:1"), ("SHOP_PG_PASSWORD", "x")],
    );
    let out = gw.vigil_with_config(&[
        "token", "create", "--name", "one-line", "--groups", "readers", "--kind", "agent", "--ttl",
        "1h",
    ]);
    assert_success(&out, "vigil token create");
    let raw = String::from_utf8(out.stdout.clone()).expect("utf-8");
    assert_eq!(raw.lines().count(), 1, "{raw:?}");
    assert!(raw.ends_with('\n'), "{raw:?}");
    let token = raw.trim_end_matches('\n');
    assert!(
        token.len() >= 20 && !token.contains(char::is_whitespace),
        "{token:?}"
    );
}

#[test]
fn token_list_shows_tokens_and_a_revoked_token_is_refused_within_the_cache_ttl() {
    let (_pg, gw) = shop();
    let token = gw.token("short-lived", &["readers"], "agent");
    let _other = gw.token("stays", &["readers"], "human");
    let out = psql_through(&gw, "shop", &token, "SELECT count(*) FROM items");
    assert_eq!(assert_success(&out, "login before revocation"), "3");

    let list = assert_success(
        &gw.vigil_with_config(&["token", "list"]),
        "vigil token list",
    );
    let row = |name: &str, list: &str| -> String {
        list.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from vigil token list:\n{list}"))
            .to_string()
    };
    let short = row("short-lived", &list);
    assert!(
        short.contains("agent") && short.contains("readers") && short.contains("active"),
        "{short}"
    );
    assert!(row("stays", &list).contains("human"), "{list}");
    assert!(
        !list.contains(&token),
        "token list printed a token:\n{list}"
    );

    let out = gw.vigil_with_config(&["token", "revoke", "short-lived"]);
    assert_success(&out, "vigil token revoke");
    let list = assert_success(
        &gw.vigil_with_config(&["token", "list"]),
        "vigil token list",
    );
    assert!(row("short-lived", &list).contains("revoked"), "{list}");
    assert!(row("stays", &list).contains("active"), "{list}");

    // The gateway keeps running; its credential cache may hold the token for up to 30 s.
    let revoked_at = Instant::now();
    loop {
        let out = psql_through(&gw, "shop", &token, "SELECT 1");
        if !out.status.success() {
            let err = stderr(&out);
            assert!(err.contains("password authentication failed"), "{err}");
            eprintln!(
                "revoked token refused after {:.1}s",
                revoked_at.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(35),
            "a revoked token still logs in after 35 s"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let out = gw.vigil_with_config(&["token", "revoke", "short-lived"]);
    assert_failure(&out, "revoking an already revoked token");
}

// ---- policy check -------------------------------------------------------------------------

#[test]
fn policy_check_names_file_line_and_column_of_an_unknown_key() {
    let body = CONFIG_BODY.replace(
        "database = \"shop\"\n",
        "database = \"shop\"\ncolour = \"blue\"\n",
    );
    let config = config_with(&body);
    let line = config
        .lines()
        .position(|l| l.starts_with("colour"))
        .expect("the unknown key is in the config")
        + 1;
    let gw = Gateway::configure(
        &config,
        &[("SHOP_PG_ADDR", "127.0.0.1:1"), ("SHOP_PG_PASSWORD", "x")],
    );
    let out = gw.vigil_with_config(&["policy", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("vigil.toml:{line}:1")),
        "expected vigil.toml:{line}:1 in: {err}"
    );
    assert!(err.contains("colour"), "{err}");
}

//! The gateway holds under abuse: an agent cannot hold more sessions than its cap (so it
//! cannot exhaust the target's own `max_connections`), a source that keeps failing to log
//! in is refused at once and recorded once, the ledger's signed head lives outside the
//! database so a cut tail is found, and the HTTP listener speaks TLS.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, pg_bin, pg_login, psql_through, random_hex,
    stderr, stdout,
};

/// `[server]` with the limits under test; the rest as the harness expects.
fn config(server_extra: &str, ledger: &str) -> String {
    format!(
        r#"[server]
data_dir = "${{VIGIL_DATA}}"
admin_groups = ["admins"]
{server_extra}

[listen]
postgres = "${{VIGIL_PG_LISTEN}}"
http = "${{VIGIL_HTTP_LISTEN}}"

[ledger]
{ledger}

[[connection]]
name = "shop"
kind = "postgres"
address = "${{SHOP_PG_ADDR}}"
database = "shop"
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
"#
    )
}

fn shop(server_extra: &str, ledger: &str) -> (PgCluster, Gateway) {
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
             INSERT INTO items VALUES (1, 'apple'), (2, 'banana')",
        ),
        "creating items",
    );
    let addr = pg.address();
    let gw = Gateway::start(
        &config(server_extra, ledger),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", &password)],
    );
    (pg, gw)
}

/// An open psql session that has run one statement (so it holds its slot).
struct Idle {
    child: Child,
    stdin: std::process::ChildStdin,
}

impl Idle {
    #[track_caller]
    fn open(gw: &Gateway, token: &str) -> Idle {
        let mut child = Command::new(pg_bin("psql"))
            .env("PGPASSWORD", token)
            .env("PGPASSFILE", "/dev/null")
            .args(["-X", "-At", "-d", &gw.conninfo("shop", "")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not start psql");
        let mut stdin = child.stdin.take().expect("piped stdin");
        writeln!(stdin, "SELECT 'in ' || count(*) FROM items;").expect("write to psql");
        stdin.flush().expect("flush psql's stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read psql's output");
        assert_eq!(line.trim(), "in 2", "an idle session did not open");
        Idle { child, stdin }
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "\\q");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Python's sqlite3 on the gateway's store (read while it runs: WAL).
#[track_caller]
fn sqlite(gw: &Gateway, sql: &str) -> String {
    let db = gw.data_dir().join("vigil.db");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             for row in c.execute(sys.argv[2]):\n    print('|'.join(str(v) for v in row))\n\
             c.commit()\n",
        ])
        .arg(&db)
        .arg(sql)
        .output()
        .expect("could not run python3");
    assert_success(&out, &format!("python3 sqlite3 `{sql}`"))
}

/// Polls the ledger until `sql` (a count) reaches at least `n` (failed logins are
/// recorded without waiting for the commit).
#[track_caller]
fn ledger_count_reaches(gw: &Gateway, sql: &str, n: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got: u64 = sqlite(gw, sql).trim().parse().unwrap_or(0);
        if got >= n || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- connection caps ----------------------------------------------------------------------

#[test]
fn a_third_session_of_one_agent_gets_53300_and_another_agent_still_gets_in() {
    let (_pg, gw) = shop("max_connections_per_principal = 2", "");
    let agent = gw.token("busy-agent", &["readers"], "agent");
    let other = gw.token("other-agent", &["readers"], "agent");
    let _one = Idle::open(&gw, &agent);
    let _two = Idle::open(&gw, &agent);

    let out = psql_through(&gw, "shop", &agent, "SELECT 1");
    let err = assert_failure(&out, "a third session of the same agent");
    assert!(err.contains("too many connections"), "{err}");
    let refused = pg_login(gw.pg_port(), "shop", "vigil-e2e", &agent)
        .expect_err("a third session over the raw protocol");
    assert_eq!(refused.code, "53300", "{refused:?}");

    let out = psql_through(&gw, "shop", &other, "SELECT count(*) FROM items");
    assert_eq!(
        assert_success(&out, "another agent while the first is at its cap"),
        "2"
    );

    let recorded = ledger_count_reaches(
        &gw,
        "SELECT count(*) FROM ledger WHERE type = 'auth_failure' \
         AND body LIKE '%too many connections for busy-agent%'",
        1,
    );
    assert!(recorded >= 1, "the refused session is not in the ledger");

    // A slot is given back when a session ends.
    drop(_two);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = psql_through(&gw, "shop", &agent, "SELECT 1");
        if out.status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---- failed logins ------------------------------------------------------------------------

#[test]
fn a_source_that_keeps_failing_is_refused_at_once_and_recorded_once() {
    let (_pg, gw) = shop("login_failures_per_minute = 3", "");
    let good = gw.token("good-agent", &["readers"], "agent");
    let long_db = "x".repeat(5000);
    let mut limited = 0;
    for _ in 0..8 {
        let out = psql_through(&gw, &long_db, "not-a-token", "SELECT 1");
        let err = assert_failure(&out, "a login with a bad token");
        if err.contains("too many failed logins") {
            limited += 1;
        } else {
            assert!(err.contains("password authentication failed"), "{err}");
        }
    }
    assert!(
        limited >= 5,
        "only {limited} of 8 attempts were rate-limited"
    );
    // The budget is per source, not per credential: a good token from here waits too.
    let out = psql_through(&gw, "shop", &good, "SELECT 1");
    assert!(
        stderr(&out).contains("too many failed logins"),
        "{}",
        stderr(&out)
    );

    let limits = ledger_count_reaches(
        &gw,
        "SELECT count(*) FROM ledger WHERE type = 'auth_failure' AND body LIKE '%rate-limited%'",
        1,
    );
    assert_eq!(
        limits, 1,
        "one record when the limit starts, not one per attempt"
    );
    let failures = sqlite(
        &gw,
        "SELECT count(*) FROM ledger WHERE type = 'auth_failure' AND body LIKE '%invalid credential%'",
    );
    assert_eq!(
        failures.trim(),
        "3",
        "each failure within the budget is recorded"
    );
    // Client strings are cut before they are recorded.
    let longest = sqlite(
        &gw,
        "SELECT max(length(body)) FROM ledger WHERE type = 'auth_failure'",
    );
    let longest: usize = longest.trim().parse().expect("a length");
    assert!(longest < 1000, "an auth_failure body of {longest} bytes");
}

// ---- the ledger's head outside the database -----------------------------------------------

#[test]
fn audit_verify_fails_when_the_last_events_are_cut_with_their_checkpoint() {
    let (_pg, mut gw) = shop("", "");
    let agent = gw.token("reader", &["readers"], "agent");
    for _ in 0..3 {
        assert_success(
            &psql_through(&gw, "shop", &agent, "SELECT 1"),
            "a statement",
        );
    }
    assert!(gw.stop().is_some_and(|s| s.success()), "{}", gw.log_text());
    let head = std::fs::read_to_string(gw.data_dir().join("ledger-head"))
        .expect("a clean stop writes data_dir/ledger-head");
    let last = sqlite(&gw, "SELECT max(seq) FROM ledger");
    assert!(
        head.contains(&format!("\"seq\":{}", last.trim())),
        "{head} vs {last}"
    );
    assert!(
        gw.log_text().contains("ledger head"),
        "no `ledger head` log line:\n{}",
        gw.log_text()
    );
    let out = gw.vigil_with_config(&["audit", "verify"]);
    assert!(assert_success(&out, "verify an intact ledger").contains("intact"));

    // Cut the last two events and every checkpoint that would cover them,
    // from the log (the ledger) and from its SQLite index.
    let last: i64 = last.trim().parse().expect("a seq");
    cut_log_after(&gw.data_dir().join("ledger"), last - 2);
    sqlite(&gw, &format!("DELETE FROM ledger WHERE seq > {}", last - 2));
    sqlite(
        &gw,
        &format!("DELETE FROM checkpoints WHERE seq > {}", last - 2),
    );
    let out = gw.vigil_with_config(&["audit", "verify"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("event {}", last - 1)) && said.contains("ledger-head"),
        "{said}"
    );
}

/// Cuts the ledger log's last segment right after event `seq` (frames are
/// `len u32 | crc u32 | kind u8 | seq i64 | ...` after a 16-byte header).
fn cut_log_after(dir: &std::path::Path, seq: i64) {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .expect("the ledger log directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let path = segments.pop().expect("a segment");
    let bytes = std::fs::read(&path).expect("the segment");
    let (mut at, mut keep) = (16, 16);
    while at + 17 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let record_seq = i64::from_le_bytes(bytes[at + 9..at + 17].try_into().expect("8 bytes"));
        at += 8 + len;
        if record_seq <= seq {
            keep = at;
        }
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("the segment, for writing");
    file.set_len(keep as u64).expect("cut");
}

#[test]
fn audit_verify_fails_when_a_checkpoint_at_the_cadence_is_deleted() {
    let (_pg, mut gw) = shop("", "checkpoint_every = 4");
    let agent = gw.token("reader", &["readers"], "agent");
    for _ in 0..5 {
        assert_success(
            &psql_through(&gw, "shop", &agent, "SELECT 1"),
            "a statement",
        );
    }
    assert!(gw.stop().is_some_and(|s| s.success()), "{}", gw.log_text());
    let out = gw.vigil_with_config(&["audit", "verify"]);
    assert!(assert_success(&out, "verify an intact ledger").contains("intact"));
    sqlite(&gw, "DELETE FROM checkpoints WHERE seq = 8");
    let out = gw.vigil_with_config(&["audit", "verify"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("event 8") && said.contains("missing checkpoint"),
        "{said}"
    );
}

// ---- HTTP over TLS ------------------------------------------------------------------------

#[test]
fn the_http_listener_serves_tls_with_the_generated_certificate_and_plain_http_on_loopback() {
    let (_pg, gw) = shop("", "");
    let cert = gw.data_dir().join("tls-cert.pem");
    let https = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&cert)
        .arg(format!("https://localhost:{}/healthz", gw.http_port()))
        .output()
        .expect("could not run curl");
    assert_eq!(
        assert_success(&https, "curl https with the generated CA"),
        "ok"
    );
    // Without the CA, the certificate is not trusted: it is TLS, not plaintext.
    let untrusted = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("https://localhost:{}/healthz", gw.http_port()))
        .output()
        .expect("could not run curl");
    assert!(!untrusted.status.success());
    let plain = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("{}/healthz", gw.http_url()))
        .output()
        .expect("could not run curl");
    assert_eq!(assert_success(&plain, "curl http on loopback"), "ok");
}

/// A local address that is not loopback, to connect from (clients from it are "remote").
fn non_loopback_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    stdout(&out)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}

#[test]
fn plaintext_http_from_a_remote_address_is_refused_and_https_from_it_is_served() {
    let Some(source) = non_loopback_address() else {
        eprintln!("skipped: this host has no non-loopback IPv4 address to connect from");
        return;
    };
    let (_pg, gw) = shop("", "");
    let plain = Command::new("curl")
        .args(["-sS", "--interface", &source, "-w", "%{http_code}"])
        .arg(format!("{}/healthz", gw.http_url()))
        .output()
        .expect("could not run curl");
    let said = stdout(&plain);
    assert!(
        said.contains("requires TLS") && said.ends_with("400"),
        "plain http from {source}: {said} {}",
        stderr(&plain)
    );
    let https = Command::new("curl")
        .args(["-sS", "--fail", "--interface", &source, "--cacert"])
        .arg(gw.data_dir().join("tls-cert.pem"))
        .arg(format!("https://127.0.0.1:{}/healthz", gw.http_port()))
        .output()
        .expect("could not run curl");
    assert_eq!(assert_success(&https, "https from a remote address"), "ok");
}

/// Answers each HTTP POST on `listener` with 200 and passes its body on.
fn webhook(listener: std::net::TcpListener, tx: std::sync::mpsc::Sender<String>) {
    use std::io::Read;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    let mut out = &stream;
                    let _ = out.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
                    );
                    let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
                    length = 0;
                    continue;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().expect("length");
                }
            }
        }
    });
}

#[test]
fn a_webhook_that_asks_for_ledger_head_gets_each_signed_head() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    webhook(listener, tx);
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("shop", "app");
    let addr = pg.address();
    let toml = format!(
        "{}\n[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\nevents = [\"ledger_head\"]\n",
        config("", "checkpoint_every = 4")
    );
    let gw = Gateway::start(
        &toml,
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", &password)],
    );
    let agent = gw.token("reader", &["readers"], "agent");
    for _ in 0..2 {
        assert_success(
            &psql_through(&gw, "shop", &agent, "SELECT 1"),
            "a statement",
        );
    }
    let body = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("no ledger_head delivery within 15 s");
    let head: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(head["event"], "ledger_head", "{body}");
    let seq = head["seq"].as_i64().expect("a seq");
    assert_eq!(seq % 4, 0, "{body}");
    let stored = sqlite(
        &gw,
        &format!("SELECT hex(hash) FROM ledger WHERE seq = {seq}"),
    );
    assert_eq!(
        stored.trim().to_ascii_lowercase(),
        head["hash"].as_str().expect("a hash"),
        "{body}"
    );
    assert_eq!(
        head["signature"].as_str().map(str::len),
        Some(128),
        "{body}"
    );
}

#[test]
fn bad_bearers_over_http_spend_the_same_budget_and_then_get_429() {
    let (_pg, gw) = shop("login_failures_per_minute = 3", "");
    let statuses: Vec<u16> = (0..6)
        .map(|_| gw.http_get("/api/v1/sessions", Some("not-a-token")).0)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    let limits = ledger_count_reaches(
        &gw,
        "SELECT count(*) FROM ledger WHERE type = 'auth_failure' AND body LIKE '%rate-limited%'",
        1,
    );
    assert_eq!(limits, 1);
    // Each refused bearer within the budget went through the one gate, which
    // records it like a refused psql password: protocol, peer, no credential.
    let refused = sqlite(
        &gw,
        "SELECT count(*) FROM ledger WHERE type = 'auth_failure' \
         AND body LIKE '%\"protocol\":\"rest\"%' \
         AND body LIKE '%invalid credential%' AND body LIKE '%127.0.0.1:%'",
    );
    assert_eq!(
        refused.trim(),
        "3",
        "every refused REST credential is recorded"
    );
    let leaked = sqlite(
        &gw,
        "SELECT count(*) FROM ledger WHERE body LIKE '%not-a-token%'",
    );
    assert_eq!(
        leaked.trim(),
        "0",
        "the credential itself is never recorded"
    );
    // Health checks are not logins.
    assert_eq!(gw.http_get("/healthz", None).0, 200);
}

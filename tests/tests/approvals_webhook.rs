//! `[[notify]]`: a webhook receiver (a loopback HTTP server in the test) gets each
//! approval request and decision, signed with HMAC-SHA256; a dead webhook next to it
//! blocks nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, config_with, free_port, psql_through,
    random_hex,
};

struct Delivery {
    signature: String,
    body: String,
}

/// Accepts HTTP/1.1 POSTs on `listener`, answers 200, and sends each one to `tx`.
fn receiver(listener: TcpListener, tx: mpsc::Sender<Delivery>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let (mut length, mut signature) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).expect("header");
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').expect("header line");
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => length = v.trim().parse().expect("length"),
                            "x-vigil-signature" => signature = v.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    let mut out = &stream;
                    let _ = out.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
                    );
                    let _ = tx.send(Delivery {
                        signature,
                        body: String::from_utf8(body).expect("utf-8 body"),
                    });
                }
            });
        }
    });
}

fn hmac_hex(secret: &str, body: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, body.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn webhook_receives_signed_requests_and_decisions() {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("shop", "app");
    assert_success(
        &pg.psql_as(
            "app",
            Some(&password),
            "shop",
            "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2)",
        ),
        "schema",
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    receiver(listener, tx);
    let dead = free_port();
    let secret = random_hex(16);
    let config = format!(
        r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "${{SHOP_PG_ADDR}}"
database = "shop"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[notify]]
url = "http://127.0.0.1:{dead}/nobody-here"

[[notify]]
url = "http://127.0.0.1:{port}/hook"
secret = "${{HOOK_SECRET}}"
events = ["approval_requested", "approval_decided"]

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["shop"]

  [[policy.rule]]
  name = "updates"
  effect = "review"
  when = 'sql.kind == "update"'
  reason = "updates need a DBA"
  reviewers = ["dba"]
  mode = "retry"
"#
    );
    let addr = pg.address();
    let gw = Gateway::start(
        &config_with(&config),
        &[
            ("SHOP_PG_ADDR", &addr),
            ("SHOP_PG_PASSWORD", &password),
            ("HOOK_SECRET", &secret),
        ],
    );
    let bot = gw.token("bot", &["agents"], "agent");
    let alice = gw.token("alice", &["dba"], "human");

    let sql = "UPDATE orders SET id = 3 WHERE id = 2";
    let err = assert_failure(&psql_through(&gw, "shop", &bot, sql), "UPDATE");
    let at = err.find("approval ap_").expect("approval id");
    let id: String = err[at + 9..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();

    let first = rx
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("no webhook delivery\n{}", gw.log_text()));
    assert_eq!(
        first.signature,
        format!("sha256={}", hmac_hex(&secret, &first.body))
    );
    let v: serde_json::Value = serde_json::from_str(&first.body).expect("JSON");
    assert_eq!(v["event"], "approval_requested");
    assert_eq!(v["approval"]["id"], id.as_str());
    assert_eq!(v["approval"]["statement"], sql);
    let text = v["text"].as_str().expect("text");
    assert!(
        text.contains("bot") && text.contains(&format!("vigil approvals approve {id}")),
        "{text}"
    );

    let out = gw.vigil_env(
        &["approvals", "approve", &id, "--reason", "fine"],
        &[("VIGIL_TOKEN", &alice)],
    );
    assert_success(&out, "approve");
    let second = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("decision delivery");
    assert_eq!(
        second.signature,
        format!("sha256={}", hmac_hex(&secret, &second.body))
    );
    let v: serde_json::Value = serde_json::from_str(&second.body).expect("JSON");
    assert_eq!(v["event"], "approval_decided");
    assert_eq!(v["approval"]["status"], "approved");
    assert_eq!(v["approval"]["decided_by"], "alice");
    assert!(
        v["text"]
            .as_str()
            .expect("text")
            .contains("approved by alice: fine")
    );

    // The dead webhook blocked nothing: the approved retry runs.
    let ok = assert_success(&psql_through(&gw, "shop", &bot, sql), "approved UPDATE");
    assert_eq!(ok.trim(), "UPDATE 1");
}

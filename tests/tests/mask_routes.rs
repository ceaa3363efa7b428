//! Masking on every route besides the leak corpus (tests/tests/mask_leaks.rs):
//!
//! - ordinary reads of unmasked columns return exactly what a direct connection returns, and
//!   a masked column used only in WHERE or ORDER BY does not mask the output;
//! - NOTIFY payloads are hidden from a session with column rules; unique-violation DETAIL
//!   lines and notices are masked;
//! - the ledger records what was masked (columns, counts), never the values;
//! - the `hash` style is stable across sessions and across a gateway restart (its key lives
//!   in `data_dir/mask.key`).

use std::time::{Duration, Instant};

use vigil_e2e::psycopg_env::session_id_of;
use vigil_e2e::{
    Gateway, PgCluster, assert_success, config_with, psql_through, psql_through_script, python,
    random_hex, stderr, stdout,
};

const EMAILS: &[&str] = &[
    "ada.lovelace@example.com",
    "grace.hopper@navy-mail.org",
    "alan.turing@bletchley.co.uk",
];
const SSNS: &[&str] = &["123-45-6789", "219-09-9999", "536-22-8714"];
const CARDS: &[&str] = &["4111111111111111", "5105105105105100", "378282246310005"];
const NOTE_EMAIL: &str = "ada.backup@analytical-engines.com";

fn all_secrets() -> Vec<&'static str> {
    let mut all: Vec<&str> = EMAILS.iter().chain(SSNS).chain(CARDS).copied().collect();
    all.push(NOTE_EMAIL);
    all
}

/// Panics naming every secret (any case) found in `text`.
#[track_caller]
fn assert_no_secret(text: &str, what: &str) {
    let lower = text.to_lowercase();
    let found: Vec<&str> = all_secrets()
        .into_iter()
        .filter(|s| lower.contains(&s.to_lowercase()))
        .collect();
    assert!(found.is_empty(), "{what} shows {found:?}:\n{text}");
}

const SCHEMA: &str = "SET ROLE app;
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE,
  ssn text NOT NULL, card_number text NOT NULL, notes text);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada.lovelace@example.com', '123-45-6789', '4111111111111111',
   'Call back at ada.backup@analytical-engines.com'),
  (2, 'Grace Hopper', 'grace.hopper@navy-mail.org', '219-09-9999', '5105105105105100',
   'prefers the phone'),
  (3, 'Alan Turing', 'alan.turing@bletchley.co.uk', '536-22-8714', '378282246310005', NULL);
CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL,
  sku text NOT NULL, added date NOT NULL, tags text[] NOT NULL, attrs jsonb NOT NULL);
INSERT INTO products VALUES
  (1, 'Widget', 9.99, 'W-100', '2024-01-02', '{a,b}', '{\"color\": \"red\"}'),
  (2, 'Gadget', 24.50, 'G-200', '2024-02-29', '{}', '{\"size\": [1, 2]}'),
  (3, 'Doohickey', 3.25, 'D-300', '2023-12-31', '{\"with space\",NULL}', '{}'),
  (4, 'Sprocket, large', 120.00, 'S-400', '2022-06-15', '{x}', '{\"n\": null}'),
  (5, 'Gizmo ünïcode', 45.00, 'Z-500', '2021-03-01', '{y,z}', '{\"k\": \"v|w\"}');
";

const MASK_RULES: &str = r#"
  [[policy.mask]]
  columns = ["customers.email", "*.ssn", "customers.card_number"]
  detectors = ["email", "credit_card", "ssn"]
  style = "STYLE"
"#;

struct Env {
    gw: Gateway,
    pg: PgCluster,
    app_password: String,
}

impl Env {
    fn start() -> Env {
        let pg = PgCluster::start();
        let app_password = random_hex(12);
        pg.create_role("app", &app_password);
        pg.create_database("shop", "app");
        pg.psql("shop", SCHEMA);
        let mut config = format!(
            r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "{addr}"
database = "shop"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["*"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
{mask}"#,
            addr = pg.address(),
            mask = MASK_RULES.replace("STYLE", "redact")
        );
        for (group, style) in [("analysts", "redact"), ("hashers", "hash")] {
            config.push_str(&format!(
                r#"
[[policy]]
name = "{group}"
groups = ["{group}"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "listen"
  effect = "allow"
  when = 'sql.kind == "listen" || sql.kind == "unlisten"'
{mask}"#,
                mask = MASK_RULES.replace("STYLE", style)
            ));
        }
        let gw = Gateway::start(
            &config_with(&config),
            &[("SHOP_PG_PASSWORD", &app_password)],
        );
        Env {
            gw,
            pg,
            app_password,
        }
    }

    /// psql straight to the cluster as `app`, with the gateway's flags (`-At`).
    fn direct(&self, sql: &str) -> String {
        let out = self
            .pg
            .psql_as("app", Some(&self.app_password), "shop", sql);
        assert_success(&out, &format!("direct `{sql}`"))
    }
}

// ---- unmasked reads equal a direct connection ----------------------------------------------

const UNMASKED: &[&str] = &[
    "SELECT id, name FROM customers ORDER BY id",
    "SELECT * FROM products ORDER BY id",
    "SELECT count(*), sum(price), avg(price)::numeric(10,4) FROM products",
    "SELECT name, length(name), upper(name) FROM customers ORDER BY name",
    "SELECT json_agg(p ORDER BY id) FROM products p",
    "SELECT p.name, c.name FROM products p JOIN customers c ON c.id = p.id ORDER BY p.id",
    "SELECT tags, attrs->>'color', added + 1 FROM products ORDER BY id",
    "SELECT id, notes FROM customers WHERE id > 1 ORDER BY id",
    "SELECT count(*) FROM customers WHERE email LIKE '%example%'",
    "SELECT id FROM customers ORDER BY ssn DESC",
    "SELECT name FROM products UNION ALL SELECT name FROM customers ORDER BY 1",
    "SELECT row_to_json(p) FROM products p ORDER BY id",
    "SELECT generate_series(1, 5), 'plain text with 12345 digits'",
    "SELECT c.id, p.sku FROM customers c, products p WHERE p.id = c.id AND c.ssn <> '' ORDER BY 1",
];

#[test]
fn unmasked_columns_read_exactly_as_on_a_direct_connection() {
    let env = Env::start();
    let token = env.gw.token("analyst", &["analysts"], "agent");
    let mut diffs = Vec::new();
    for sql in UNMASKED {
        let direct = env.direct(sql);
        let through = assert_success(&psql_through(&env.gw, "shop", &token, sql), sql);
        if direct != through {
            diffs.push(format!(
                "`{sql}`\n  direct:  {direct:?}\n  gateway: {through:?}"
            ));
        }
    }
    // COPY of unmasked data too.
    let copy = "COPY (SELECT * FROM products ORDER BY id) TO STDOUT WITH CSV HEADER";
    let direct = env.direct(copy);
    let through = assert_success(&psql_through(&env.gw, "shop", &token, copy), copy);
    if direct != through {
        diffs.push(format!(
            "`{copy}`\n  direct:  {direct:?}\n  gateway: {through:?}"
        ));
    }
    assert!(
        diffs.is_empty(),
        "the gateway changed unmasked output:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn masked_column_only_in_where_and_order_by_does_not_mask_the_output() {
    let env = Env::start();
    let token = env.gw.token("analyst", &["analysts"], "agent");
    for sql in [
        "SELECT name FROM customers WHERE email LIKE '%@%' ORDER BY ssn",
        "SELECT id, name FROM customers WHERE card_number LIKE '4%' OR ssn > '2' ORDER BY email",
        "SELECT name FROM customers GROUP BY name, email HAVING count(ssn) > 0 ORDER BY name",
        "SELECT c.name FROM customers c WHERE EXISTS (SELECT 1 FROM customers d WHERE d.email = c.email)",
    ] {
        let direct = env.direct(sql);
        let out = psql_through(&env.gw, "shop", &token, sql);
        let through = assert_success(&out, sql);
        assert_eq!(through, direct, "`{sql}` through the gateway");
        assert!(
            through.contains("Ada Lovelace") || through.contains("Grace Hopper"),
            "`{sql}`: {through}"
        );
        assert!(!through.contains("REDACTED"), "`{sql}`: {through}");
    }
    // While the masked column itself is masked in the same session.
    let out = psql_through(
        &env.gw,
        "shop",
        &token,
        "SELECT name, email FROM customers ORDER BY id",
    );
    let rows = assert_success(&out, "name, email");
    assert!(rows.starts_with("Ada Lovelace|[REDACTED"), "{rows}");
    assert_no_secret(&rows, "SELECT name, email");
}

// ---- NOTIFY, errors, notices ---------------------------------------------------------------

#[test]
fn notify_payloads_are_hidden_from_a_listener_whose_policy_masks_columns() {
    let env = Env::start();
    let analyst = env.gw.token("analyst", &["analysts"], "agent");
    let admin = env.gw.token("admin", &["admins"], "human");
    let cfg = serde_json::json!({
        "gw_port": env.gw.pg_port(),
        "analyst": analyst,
        "admin": admin,
        "secrets": all_secrets(),
    });
    let out = python("py/mask_routes.py", &["notify", &cfg.to_string()]);
    let json = assert_success(&out, "mask_routes.py notify");
    assert_no_secret(
        &format!("{json}\n{}", stderr(&out)),
        "the listener's notifications",
    );
    assert!(json.contains("payload hidden by vigil"), "{json}");
}

#[test]
fn unique_violation_detail_does_not_reveal_the_email() {
    let env = Env::start();
    let admin = env.gw.token("admin", &["admins"], "human");
    let script = "\\set ON_ERROR_STOP 0\n\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n\
        INSERT INTO customers VALUES (9, 'Copycat', 'ada.lovelace@example.com', '001-01-0001', '0', NULL);\n\
        UPDATE customers SET email = (SELECT email FROM customers WHERE id = 2) WHERE id = 3;\n\
        SELECT 'still usable';\n";
    let out = psql_through_script(&env.gw, "shop", &admin, script);
    let err = stderr(&out);
    assert_eq!(
        err.matches("23505").count(),
        2,
        "both statements should fail with a unique violation:\n{err}"
    );
    assert!(stdout(&out).contains("still usable"), "{}", stdout(&out));
    assert_no_secret(&format!("{}\n{err}", stdout(&out)), "the unique violations");
    // The direct error does name the value (so the check above means something).
    let direct = env.pg.psql_as(
        "app",
        Some(&env.app_password),
        "shop",
        "UPDATE customers SET email = (SELECT email FROM customers WHERE id = 2) WHERE id = 3",
    );
    assert!(
        stderr(&direct).contains("grace.hopper@navy-mail.org"),
        "{}",
        stderr(&direct)
    );
    assert_eq!(
        env.pg.psql("shop", "SELECT count(*) FROM customers"),
        "3",
        "nothing was inserted"
    );
}

#[test]
fn notices_of_a_do_block_keep_only_their_sqlstate_when_columns_are_masked() {
    let env = Env::start();
    let admin = env.gw.token("admin", &["admins"], "human");
    let script = "\\set VERBOSITY verbose\n\\set SHOW_CONTEXT always\n\
        DO $$BEGIN RAISE NOTICE 'card 4111111111111111'; END$$;\n\
        DO $$BEGIN RAISE NOTICE 'plain notice' USING DETAIL = 'mail ada.lovelace@example.com', HINT = 'ssn 123-45-6789'; END$$;\n\
        SELECT 'done';\n";
    let out = psql_through_script(&env.gw, "shop", &admin, script);
    let err = stderr(&out);
    assert_eq!(stdout(&out), "DO\nDO\ndone", "{err}");
    assert_eq!(err.matches("NOTICE:").count(), 2, "{err}");
    // A DO block can read any column: with column rules its notices keep only their
    // SQLSTATE (a detector would miss a masked value it does not recognise).
    assert_eq!(err.matches("its text is hidden").count(), 2, "{err}");
    assert_no_secret(&err, "the notices");
}

// ---- the ledger --------------------------------------------------------------------------

/// Every object with a `masking` key in the session's events.
fn masking_summaries(json: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    match json {
        serde_json::Value::Object(map) => {
            if let Some(m) = map.get("masking")
                && !m.is_null()
            {
                out.push(m.clone());
            }
            map.values().for_each(|v| masking_summaries(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| masking_summaries(v, out)),
        _ => {}
    }
}

#[test]
fn ledger_records_what_was_masked_and_never_the_values() {
    let env = Env::start();
    let analyst = env.gw.token("ledger-analyst", &["analysts"], "agent");
    let admin = env.gw.token("admin", &["admins"], "human");
    let out = psql_through_script(
        &env.gw,
        "shop",
        &analyst,
        "SELECT name, email FROM customers ORDER BY id;\n\
         SELECT notes FROM customers ORDER BY id;\n\
         SELECT id, name FROM products ORDER BY id;\n",
    );
    let text = assert_success(&out, "analyst session");
    assert_no_secret(&text, "the analyst's session");

    let id = session_id_of(&env.gw, &admin, "ledger-analyst");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (body, summaries) = loop {
        let (status, body) = env
            .gw
            .http_get(&format!("/api/v1/sessions/{id}"), Some(&admin));
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let mut summaries = Vec::new();
        masking_summaries(&json, &mut summaries);
        if summaries.len() >= 2 || Instant::now() > deadline {
            break (body, summaries);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        body.contains("statement_done"),
        "no statement_done event: {body}"
    );
    assert_eq!(
        summaries.len(),
        2,
        "the two masked SELECTs (not the products one) should record masking: {body}"
    );
    let columns = &summaries[0]["columns"];
    assert!(
        columns.to_string().contains("public.customers.email"),
        "the email column is not named: {}",
        summaries[0]
    );
    assert_eq!(
        summaries[0]["column_values"], 3,
        "three emails masked: {}",
        summaries[0]
    );
    let hits = &summaries[1]["detector_hits"];
    assert_eq!(hits["email"], 1, "one email in the notes: {}", summaries[1]);
    assert_no_secret(&body, "the ledger JSON");
    // Nor in the store's files or the server's log.
    for entry in std::fs::read_dir(env.gw.data_dir())
        .expect("data dir")
        .flatten()
    {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap_or_default();
            assert_no_secret(
                &String::from_utf8_lossy(&bytes),
                &format!("{}", entry.path().display()),
            );
        }
    }
    assert_no_secret(&env.gw.log_text(), "the gateway log");
}

// ---- the hash style ------------------------------------------------------------------------

fn hashed(gw: &Gateway, token: &str) -> String {
    let out = psql_through(
        gw,
        "shop",
        token,
        "SELECT email, ssn FROM customers ORDER BY id",
    );
    assert_success(&out, "hasher read")
}

#[test]
fn hash_style_is_stable_across_sessions_and_a_restart() {
    let mut env = Env::start();
    let token = env.gw.token("hasher", &["hashers"], "agent");
    let first = hashed(&env.gw, &token);
    assert_no_secret(&first, "hashed output");
    let values: Vec<&str> = first.lines().flat_map(|l| l.split('|')).collect();
    assert_eq!(values.len(), 6, "{first}");
    assert!(values.iter().all(|v| v.starts_with("hmac:")), "{first}");
    let mut distinct = values.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        6,
        "different values hash differently: {first}"
    );

    let second = hashed(&env.gw, &token);
    assert_eq!(
        first, second,
        "the same values hash alike in a second session"
    );
    // A join on hashed values still works: the same email in another query hashes alike.
    let out = psql_through(
        &env.gw,
        "shop",
        &token,
        "SELECT email FROM customers WHERE id = 1",
    );
    assert_eq!(
        assert_success(&out, "one email"),
        values[0],
        "a single email hashes as in the full read"
    );

    let key = env.gw.data_dir().join("mask.key");
    assert!(key.exists(), "no {}", key.display());
    let key_bytes = std::fs::read(&key).expect("mask.key");
    env.gw.restart();
    assert_eq!(
        std::fs::read(&key).expect("mask.key"),
        key_bytes,
        "the key changed on restart"
    );
    let third = hashed(&env.gw, &token);
    assert_eq!(first, third, "hashes changed across a restart");
}

//! Issue 11, PostgreSQL: Vigil reads every byte as the server does, follows the server's
//! confirmed state, and leaks nothing masked through errors.
//!
//! A private cluster with the quickstart's shop (its `app` login a superuser, like the
//! seed's over-privileged service account); an analyst may run what is `sql.read_only`, with
//! `customers.email`, `*.ssn` and `customers.card_number` masked; an admin may run anything.
//! Raw-protocol sessions ([`PgSession`]) send what psql cannot: pipelines, reused names.

use vigil_e2e::quickstart::seeded_shop;
use vigil_e2e::{
    Answer, Gateway, PgCluster, PgSession, Rng, config_with, psql_through, stderr, stdout,
};

const EMAILS: &[&str] = &[
    "ada.lovelace@example.com",
    "grace.hopper@example.com",
    "alan.turing@example.com",
    "linus.torvalds@example.com",
    "margaret.hamilton@example.com",
    "dennis.ritchie@example.com",
];

const POLICY: &str = r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "${SHOP_PG_ADDR}"
database = "shop"
user = "app"
password = "${SHOP_PG_PASSWORD}"

[[policy]]
name = "analysts"
groups = ["analysts"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.mask]]
  columns = ["customers.email", "*.ssn", "customers.card_number"]
  style = "partial"

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["*"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
"#;

struct Shop {
    pg: PgCluster,
    gw: Gateway,
    analyst: String,
    admin: String,
}

fn shop() -> Shop {
    let (pg, app_password) = seeded_shop();
    let gw = Gateway::start(
        &config_with(POLICY),
        &[
            ("SHOP_PG_ADDR", &pg.address()),
            ("SHOP_PG_PASSWORD", &app_password),
        ],
    );
    let analyst = gw.token("analyst", &["analysts"], "agent");
    let admin = gw.token("root", &["admins"], "human");
    Shop {
        pg,
        gw,
        analyst,
        admin,
    }
}

impl Shop {
    fn session(&self, token: &str) -> PgSession {
        PgSession::connect(self.gw.pg_port(), "shop", token, &[])
            .unwrap_or_else(|e| panic!("login refused: {e:?}"))
    }

    fn customers(&self) -> usize {
        let n = self.pg.psql("shop", "SELECT count(*) FROM customers");
        n.parse().unwrap_or_else(|_| panic!("count: {n}"))
    }

    #[track_caller]
    fn orders_exist(&self) {
        assert_eq!(
            self.pg.psql("shop", "SELECT count(*) > 0 FROM orders"),
            "t",
            "the orders table must survive"
        );
    }
}

/// Everything the client received, as one text, for leak checks.
fn all_text(answers: &[Answer]) -> String {
    format!("{answers:?}")
}

#[track_caller]
fn assert_no_email(answers: &[Answer]) {
    let text = all_text(answers);
    for e in EMAILS {
        assert!(!text.contains(e), "{e} reached the client: {text}");
    }
}

fn errors(answers: &[Answer]) -> Vec<&vigil_e2e::PgError> {
    answers
        .iter()
        .filter_map(|a| match a {
            Answer::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn rows(answers: &[Answer]) -> Vec<Vec<Option<String>>> {
    answers
        .iter()
        .filter_map(|a| match a {
            Answer::Row(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

// ---- class 1: lexing settings ----------------------------------------------------------------

#[test]
fn standard_conforming_strings_off_cannot_smuggle_a_drop_past_a_read_only_analyst() {
    let s = shop();
    let out = psql_through(
        &s.gw,
        "shop",
        &s.analyst,
        "SET standard_conforming_strings = off",
    );
    assert!(
        !out.status.success(),
        "the SET must be refused: {}",
        stdout(&out)
    );
    // psql's -c list runs in one session; the second statement is the smuggling one.
    let conninfo = s.gw.conninfo("shop", "sslmode=disable");
    let out = vigil_e2e::psql_conninfo(
        &conninfo,
        &s.analyst,
        &[
            "-c",
            "SET standard_conforming_strings = off",
            "-c",
            r"SELECT 'a\''; DROP TABLE orders CASCADE; --'",
        ],
    );
    assert!(!out.status.success());
    s.orders_exist();
}

#[test]
fn once_the_target_reads_strings_differently_every_statement_is_refused() {
    let s = shop();
    let mut session = s.session(&s.admin);
    let answers = session
        .query("SET standard_conforming_strings = off")
        .query(r"SELECT 'a\''; DROP TABLE orders CASCADE; --'")
        .query("SELECT 1")
        .run(3);
    let errs = errors(&answers);
    assert_eq!(errs.len(), 2, "{answers:?}");
    for e in errs {
        assert!(
            e.message.contains("standard_conforming_strings"),
            "{answers:?}"
        );
    }
    s.orders_exist();
}

#[test]
fn a_pipelined_client_encoding_change_is_seen_before_the_next_statement() {
    let s = shop();
    let mut session = s.session(&s.admin);
    let answers = session
        .query("SET client_encoding = 'SJIS'")
        .query("SELECT 1")
        .run(2);
    let errs = errors(&answers);
    assert_eq!(errs.len(), 1, "{answers:?}");
    assert!(errs[0].message.contains("client_encoding"), "{answers:?}");
}

#[test]
fn set_in_an_extended_batch_refuses_a_parse_after_it_in_the_same_batch() {
    let s = shop();
    let mut session = s.session(&s.admin);
    let answers = session
        .parse("", "SET standard_conforming_strings = off")
        .bind("", "", &[])
        .execute("", 0)
        .parse("", r"SELECT 'a\''; DROP TABLE orders CASCADE; --'")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .run(1);
    assert_eq!(errors(&answers).len(), 1, "{answers:?}");
    s.orders_exist();
}

#[test]
fn a_role_default_cannot_turn_standard_strings_off_for_the_gateway() {
    let s = shop();
    s.pg.psql(
        "shop",
        "ALTER ROLE app SET standard_conforming_strings = off; \
         ALTER ROLE app SET client_encoding = 'SJIS'",
    );
    let out = psql_through(&s.gw, "shop", &s.admin, "SHOW standard_conforming_strings");
    assert_eq!(stdout(&out), "on", "{}", stderr(&out));
    let out = psql_through(&s.gw, "shop", &s.admin, "SHOW client_encoding");
    assert_eq!(stdout(&out), "UTF8", "{}", stderr(&out));
}

#[test]
fn a_client_encoding_vigil_does_not_reproduce_is_refused_at_login() {
    let s = shop();
    for enc in ["SJIS", "BIG5", "GBK", "GB18030", "LATIN9"] {
        let err = PgSession::connect(
            s.gw.pg_port(),
            "shop",
            &s.admin,
            &[("client_encoding", enc)],
        )
        .err()
        .unwrap_or_else(|| panic!("{enc} was accepted"));
        assert_eq!(err.code, "0A000", "{err:?}");
        assert!(err.message.contains("client_encoding"), "{err:?}");
    }
    assert!(
        PgSession::connect(
            s.gw.pg_port(),
            "shop",
            &s.admin,
            &[("client_encoding", "UTF8")]
        )
        .is_ok()
    );
}

// ---- class 3: names follow the server's confirmations ------------------------------------------

#[test]
fn a_second_parse_of_an_existing_name_cannot_unmask_it() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .parse("s1", "SELECT email FROM customers ORDER BY id")
        .sync()
        // Refused by the server (42P05): s1 keeps its first text.
        .parse("s1", "SELECT 'plain'::text")
        .sync()
        .bind("", "s1", &[])
        .execute("", 0)
        .sync()
        .run(3);
    assert_eq!(errors(&answers).len(), 1, "{answers:?}");
    assert_eq!(rows(&answers).len(), s.customers(), "{answers:?}");
    assert_no_email(&answers);
}

#[test]
fn a_failed_parse_does_not_hide_the_statement_that_stays() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .parse("s1", "SELECT 'plain'::text")
        .sync()
        .parse("s1", "SELECT email FROM customers ORDER BY id")
        .sync()
        .bind("", "s1", &[])
        .execute("", 0)
        .sync()
        .run(3);
    assert_eq!(rows(&answers), vec![vec![Some("plain".to_string())]]);
}

#[test]
fn deallocate_and_sql_prepare_cannot_reuse_a_protocol_name() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .parse("s1", "SELECT 'plain'::text")
        .sync()
        .query("DEALLOCATE s1")
        .query("PREPARE s1 AS SELECT email FROM customers ORDER BY id")
        .bind("", "s1", &[])
        .execute("", 0)
        .sync()
        .run(4);
    assert_no_email(&answers);
}

#[test]
fn declare_cannot_take_over_a_stale_portal_name() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("BEGIN")
        .parse("s", "SELECT 'plain'::text")
        .bind("p1", "s", &[])
        .sync()
        .query("COMMIT")
        .query("BEGIN")
        .query("DECLARE p1 CURSOR FOR SELECT email FROM customers ORDER BY id")
        .execute("p1", 0)
        .sync()
        .query("FETCH ALL FROM p1")
        .query("COMMIT")
        .run(7);
    assert_no_email(&answers);
}

#[test]
fn an_empty_statement_in_a_pipeline_shifts_no_mask() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .parse("", "")
        .bind("", "", &[])
        .execute("", 0)
        .parse("", "SELECT email FROM customers ORDER BY id")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .query("")
        .query("SELECT email FROM customers ORDER BY id")
        .run(3);
    assert_eq!(rows(&answers).len(), 2 * s.customers(), "{answers:?}");
    assert_no_email(&answers);
}

// ---- class 5: catalog facts ----------------------------------------------------------------

#[test]
fn a_table_created_through_the_gateway_is_known_to_the_next_session() {
    let s = shop();
    let out = psql_through(
        &s.gw,
        "shop",
        &s.admin,
        "CREATE TABLE notes_after_start (id int); INSERT INTO notes_after_start VALUES (7)",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A relation the catalog does not list is never read-only; the DDL's completion makes
    // the next session load the catalog again, so the analyst can read it.
    let out = psql_through(
        &s.gw,
        "shop",
        &s.analyst,
        "SELECT id FROM notes_after_start",
    );
    assert_eq!(stdout(&out), "7", "{}", stderr(&out));
}

#[test]
fn statistics_and_password_catalogs_are_not_read_only() {
    let s = shop();
    for sql in [
        "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'",
        "SELECT stavalues1::text FROM pg_statistic",
        "SELECT rolpassword FROM pg_authid",
        "SELECT passwd FROM pg_catalog.pg_shadow",
    ] {
        let out = psql_through(&s.gw, "shop", &s.analyst, sql);
        assert!(!out.status.success(), "{sql}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("42501") || stderr(&out).contains("denied"),
            "{sql}: {}",
            stderr(&out)
        );
    }
}

// ---- class 7: per-session budgets ----------------------------------------------------------

#[test]
fn prepared_statements_have_a_byte_budget_and_messages_a_statement_budget() {
    let s = shop();
    let mut session = s.session(&s.admin);
    let mut refused = None;
    for i in 0..80 {
        let text = format!("SELECT '{}{}'", i, "x".repeat(1_000_000));
        let answers = session.parse(&format!("s{i}"), &text).sync().run(1);
        if let Some(e) = errors(&answers).first() {
            refused = Some((i, e.code.clone(), e.message.clone()));
            break;
        }
    }
    let (at, code, message) = refused.expect("80 MB of prepared statements were accepted");
    assert!((60..=70).contains(&at), "refused at {at}");
    assert_eq!(code, "53400", "{message}");
    assert!(message.contains("MiB"), "{message}");
    // Closing statements gives the budget back.
    for i in 0..at {
        session.close_statement(&format!("s{i}"));
    }
    let answers = session.sync().parse("again", "SELECT 1").sync().run(2);
    assert!(errors(&answers).is_empty(), "{answers:?}");

    let many = "SELECT 1;".repeat(1001);
    let answers = session.query(&many).run(1);
    assert_eq!(errors(&answers).len(), 1, "{:?}", &answers[..2]);
    assert!(rows(&answers).is_empty());
}

// ---- class 4: errors quote nothing masked ------------------------------------------------------

#[test]
fn errors_of_statements_reading_masked_columns_quote_no_value() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("SELECT current_setting(string_agg(email, ' ')) FROM customers")
        .query("SELECT email::int FROM customers")
        .query("SELECT 1 FROM customers WHERE ssn::int = 1")
        .query("SELECT convert_from(convert_to(email, 'UTF8') || '\\xff'::bytea, 'UTF8') FROM customers")
        .run(4);
    assert_eq!(errors(&answers).len(), 4, "{answers:?}");
    assert_no_email(&answers);
    let text = all_text(&answers);
    assert!(!text.contains("250-98-9899"), "{text}");
    // The SQLSTATE stays.
    assert!(
        errors(&answers).iter().any(|e| e.code == "42704"),
        "{answers:?}"
    );
}

#[test]
fn copy_to_stdout_with_an_encoding_or_an_unknown_option_is_refused_when_masking() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("COPY customers TO STDOUT WITH (ENCODING 'LATIN1')")
        .query("COPY (SELECT email FROM customers) TO STDOUT WITH (FORMAT csv, ENCODING 'UTF16')")
        .run(2);
    assert_eq!(errors(&answers).len(), 2, "{answers:?}");
    assert!(
        errors(&answers)
            .iter()
            .all(|e| e.message.contains("cannot be masked")),
        "{answers:?}"
    );
    assert_no_email(&answers);
}

// ---- found by an adversarial review ---------------------------------------------------------

#[test]
fn ordered_set_aggregates_return_masked_values_masked() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("SELECT mode() WITHIN GROUP (ORDER BY email) FROM customers")
        .query(
            "SELECT name, percentile_disc(0) WITHIN GROUP (ORDER BY ssn) FROM customers GROUP BY name",
        )
        .run(2);
    assert!(!rows(&answers).is_empty(), "{answers:?}");
    assert_no_email(&answers);
    assert!(!all_text(&answers).contains("250-98-9899"));
}

#[test]
fn a_portal_dropped_by_rollback_to_savepoint_is_not_trusted_again() {
    let s = shop();
    // A read-only user function that opens a cursor under the name its caller gives.
    s.pg.psql(
        "shop",
        "CREATE FUNCTION open_report(n text) RETURNS refcursor LANGUAGE plpgsql STABLE AS $$          DECLARE c refcursor := n;          BEGIN OPEN c FOR SELECT email, ssn, card_number FROM customers; RETURN c; END $$",
    );
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("BEGIN; SAVEPOINT a")
        .parse("s1", "SELECT name, name, name FROM customers")
        .bind("p", "s1", &[])
        .sync()
        .query("ROLLBACK TO a")
        .query("SELECT open_report('p')")
        .execute("p", 3)
        .sync()
        .query("COMMIT")
        .run(6);
    assert_no_email(&answers);
    assert!(!all_text(&answers).contains("250-98-9899"), "{answers:?}");
}

#[test]
fn an_error_at_commit_quotes_no_masked_value() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("BEGIN")
        .query(
            "DECLARE c CURSOR WITH HOLD FOR              SELECT current_setting(string_agg(email || ' ' || ssn, ' ')) FROM customers",
        )
        .query("COMMIT")
        .query(
            "BEGIN; DECLARE d CURSOR WITH HOLD FOR              SELECT current_setting(string_agg(email, ' ')) FROM customers; COMMIT",
        )
        .run(4);
    assert!(!errors(&answers).is_empty(), "{answers:?}");
    assert_no_email(&answers);
}

#[test]
fn a_view_or_function_changed_through_the_gateway_is_seen_by_open_sessions() {
    let s = shop();
    let out = psql_through(
        &s.gw,
        "shop",
        &s.admin,
        "CREATE VIEW customer_names AS SELECT id, name FROM customers; \
         CREATE FUNCTION stock_of(i int) RETURNS int LANGUAGE sql STABLE AS 'SELECT 1'",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut analyst = s.session(&s.analyst);
    let before = analyst
        .query("SELECT name FROM customer_names ORDER BY id")
        .query("SELECT stock_of(1)")
        .run(2);
    assert!(errors(&before).is_empty(), "{before:?}");
    let out = psql_through(
        &s.gw,
        "shop",
        &s.admin,
        "CREATE OR REPLACE VIEW customer_names AS SELECT id, email AS name FROM customers",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = psql_through(
        &s.gw,
        "shop",
        &s.admin,
        "CREATE OR REPLACE FUNCTION stock_of(i int) RETURNS int LANGUAGE sql VOLATILE          AS 'UPDATE products SET price = price RETURNING 1'",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = analyst
        .query("SELECT name FROM customer_names ORDER BY id")
        .query("SELECT stock_of(1)")
        .run(2);
    assert_no_email(&after);
    assert_eq!(
        errors(&after).len(),
        1,
        "the now volatile function is refused: {after:?}"
    );
}

#[test]
fn other_sessions_statement_text_is_not_read_only() {
    let s = shop();
    for sql in [
        "SELECT query FROM pg_stat_activity",
        "SELECT pg_stat_get_backend_activity(1)",
    ] {
        let out = psql_through(&s.gw, "shop", &s.analyst, sql);
        assert!(!out.status.success(), "{sql}: {}", stdout(&out));
    }
}

#[test]
fn errors_while_planning_at_bind_quote_no_masked_value() {
    let s = shop();
    let mut session = s.session(&s.analyst);
    let answers = session
        .parse(
            "",
            "SELECT name FROM customers \
             WHERE name = current_setting(table_to_xml('customers', true, true, '')::text)",
        )
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .run(1);
    assert_eq!(errors(&answers).len(), 1, "{answers:?}");
    assert_no_email(&answers);
    assert!(!all_text(&answers).contains("328-78-9873"), "{answers:?}");
}

#[test]
fn a_user_function_run_while_planning_makes_every_portal_untrusted() {
    let s = shop();
    s.pg.psql(
        "shop",
        "CREATE FUNCTION reopen_report(c refcursor) RETURNS refcursor LANGUAGE plpgsql STABLE AS $$ \
         BEGIN BEGIN CLOSE c; EXCEPTION WHEN OTHERS THEN NULL; END; \
         OPEN c FOR SELECT email, ssn, card_number FROM customers; RETURN c; END $$",
    );
    let mut session = s.session(&s.analyst);
    let answers = session
        .query("BEGIN")
        .parse("s1", "SELECT name, name, name FROM customers")
        .bind("p", "s1", &[])
        .sync()
        .parse(
            "",
            "SELECT 1 FROM customers WHERE name = reopen_report('p')::text",
        )
        .bind("", "", &[])
        .execute("p", 3)
        .sync()
        .query("COMMIT")
        .run(4);
    assert_no_email(&answers);
    assert!(!all_text(&answers).contains("250-98-9899"), "{answers:?}");
}

#[test]
fn copy_from_stdin_in_the_extended_protocol_does_not_stall_the_session() {
    let s = shop();
    let mut session = s.session(&s.admin);
    let answers = session
        .query("BEGIN")
        .parse("", "COPY products (name, sku, price, in_stock) FROM STDIN")
        .bind("", "", &[])
        .execute("", 0)
        // Ignored by the target: it is reading copy data by then.
        .sync()
        .copy_data(b"Widget\tW-999\t1.00\t3\n")
        .copy_done()
        .sync()
        .parse("", "SELECT count(*) FROM products WHERE sku = 'W-999'")
        .bind("", "", &[])
        .execute("", 0)
        .sync()
        .query("COMMIT")
        .run(4);
    assert!(errors(&answers).is_empty(), "{answers:?}");
    assert_eq!(
        rows(&answers),
        vec![vec![Some("1".to_string())]],
        "{answers:?}"
    );
}

// ---- class 3, model-based: random pipelines against the real server -----------------------------

/// Random pipelines of protocol and SQL-level messages over a few shared names: whatever the
/// order, no clear email reaches the analyst, every plain value arrives unchanged, and no
/// write the policy refuses ever runs (the server's own table is checked after).
#[test]
fn random_pipelines_never_unmask_and_never_run_a_refused_write() {
    let seed: u64 = std::env::var("VIGIL_PIPELINE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd);
    let rounds: usize = std::env::var("VIGIL_PIPELINE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let s = shop();
    let mut rng = Rng(seed);
    let statements = [
        "SELECT email FROM customers ORDER BY id",
        "SELECT name, ssn FROM customers WHERE id = 1",
        "SELECT 'plain'::text",
        "",
        "UPDATE customers SET name = 'pwned' WHERE id = 1",
        "DEALLOCATE ALL",
        "CLOSE ALL",
    ];
    let names = ["", "a", "b"];
    let portals = ["", "p", "q"];
    let mut session = s.session(&s.analyst);
    // Evidence that the pipelines do reach the data: plain values and masked ones both arrive.
    let (mut plain_rows, mut masked_rows) = (0usize, 0usize);
    for round in 0..rounds {
        let mut batches = 0;
        // A simple Query must follow a Sync (Vigil ends a session that mixes them).
        let mut mid_batch = false;
        for _ in 0..(1 + rng.next() % 12) {
            let choice = rng.next() % 11;
            if choice >= 9 && mid_batch {
                session.sync();
                batches += 1;
            }
            mid_batch = choice < 8;
            match choice {
                0 | 1 => {
                    let (n, t) = (*rng.pick(&names), *rng.pick(&statements));
                    session.parse(n, t);
                }
                2 | 3 => {
                    let (p, n) = (*rng.pick(&portals), *rng.pick(&names));
                    session.bind(p, n, &[]);
                }
                4 | 5 => {
                    let p = *rng.pick(&portals);
                    session.execute(p, (rng.next() % 3) as i32);
                }
                6 => {
                    let n = *rng.pick(&names);
                    session.close_statement(n);
                }
                7 => {
                    let p = *rng.pick(&portals);
                    session.close_portal(p);
                }
                8 => {
                    session.sync();
                    batches += 1;
                }
                9 => {
                    let q = *rng.pick(&[
                        "BEGIN",
                        "COMMIT",
                        "DEALLOCATE a",
                        "PREPARE a AS SELECT email FROM customers",
                        "DECLARE p CURSOR FOR SELECT email FROM customers",
                        "DECLARE q CURSOR WITH HOLD FOR SELECT ssn FROM customers",
                        "CLOSE p",
                        "FETCH 2 FROM q",
                        "DISCARD ALL",
                    ]);
                    session.query(q);
                    batches += 1;
                }
                _ => {
                    let t = *rng.pick(&statements);
                    session.query(t);
                    batches += 1;
                }
            }
        }
        session.sync();
        batches += 1;
        let answers = session.run(batches);
        let text = all_text(&answers);
        for e in EMAILS {
            assert!(
                !text.contains(e),
                "seed {seed:#x} round {round}: {e} reached the client: {text}"
            );
        }
        for r in rows(&answers) {
            for v in r.iter().flatten() {
                if v == "plain" {
                    plain_rows += 1;
                } else if v.contains("***") {
                    masked_rows += 1;
                }
                assert!(
                    !v.contains("-98-9899"),
                    "seed {seed:#x} round {round}: an SSN reached the client"
                );
            }
        }
        // Leave any transaction, so the next round starts clean.
        session.query("ROLLBACK").run(1);
    }
    assert!(
        plain_rows > rounds / 20 && masked_rows > rounds / 20,
        "the pipelines reached too little data: {plain_rows} plain, {masked_rows} masked rows"
    );
    assert_eq!(
        s.pg.psql(
            "shop",
            "SELECT count(*) FROM customers WHERE name = 'pwned'"
        ),
        "0",
        "a write the policy refuses ran"
    );
}

//! Differential fuzzing of the statement split (issue 11, class 1): random texts built from
//! the pieces where lexers disagree (quotes, backslashes, E'' and U&'' strings, dollar
//! quotes, nested comments, quoted identifiers, semicolons inside all of them) are split by
//! pg_query, as Vigil's analyser does, and run on a real server under the settings Vigil
//! accepts (UTF8, standard_conforming_strings on). When both accept a text, the server
//! must have run exactly as many statements as pg_query found; a text pg_query rejects is
//! refused by Vigil, which is safe whatever the server would do.
//!
//! Fixed seed and a bounded number of texts in CI; `VIGIL_SPLIT_SEED` and
//! `VIGIL_SPLIT_TEXTS` run it longer by hand.

use vigil_e2e::{Answer, PgCluster, PgSession, Rng};

/// Whole values: each is one expression on its own.
const VALUES: &[&str] = &[
    "'a''b'",
    r"'a\'",
    r"E'a\'b'",
    r"E'\\'",
    r"E'\\\''",
    "$$x;y$$",
    "$q$;'$q$",
    "$q$ $$ ; $q$",
    "\"id;\"",
    "U&'\\0041;'",
    "';'",
    "1",
    "b'01'",
    "x'0F'",
    "e'\\x3b'",
    "'\u{00e9};'",
    "'\u{5c0f}\\'",
    "0x1F",
    "1_000",
    "'a' 'b'",
    "'a'\n'b'",
];

/// Things between or inside values: comments, and pieces that leave a quote or a comment
/// open, which one lexer may close where the other does not.
const BETWEEN: &[&str] = &[
    " ",
    ", ",
    " || ",
    "-- c ; '\n",
    "/* ; /* nested ; */ ' */",
    "'",
    "\\",
    "/*",
    "$$",
    "E'",
    "\"",
];

fn text(rng: &mut Rng) -> String {
    let pick =
        |rng: &mut Rng, from: &[&'static str]| from[(rng.next() % from.len() as u64) as usize];
    let mut sql = String::new();
    for s in 0..(1 + rng.next() % 3) {
        if s > 0 {
            sql.push(';');
        }
        sql.push_str("SELECT ");
        for v in 0..(1 + rng.next() % 4) {
            if v > 0 {
                // Mostly a plain separator; now and then something that may open a quote.
                let between = if rng.next().is_multiple_of(5) {
                    pick(rng, BETWEEN)
                } else {
                    ", "
                };
                sql.push_str(between);
            }
            sql.push_str(pick(rng, VALUES));
        }
    }
    sql
}

#[test]
fn pg_query_splits_statements_exactly_as_the_server_runs_them() {
    let seed: u64 = std::env::var("VIGIL_SPLIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee);
    let texts: usize = std::env::var("VIGIL_SPLIT_TEXTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let pg = PgCluster::builder().trust_user("splitter").start();
    let mut session = PgSession::connect_as(
        pg.port(),
        "splitter",
        "postgres",
        "",
        &[
            ("client_encoding", "UTF8"),
            ("standard_conforming_strings", "on"),
        ],
    )
    .unwrap_or_else(|e| panic!("login: {e:?}"));
    let mut rng = Rng(seed);
    let (mut both, mut refused) = (0, 0);
    for i in 0..texts {
        let sql = text(&mut rng);
        let ours = vigil_sql::session_ops(&sql);
        let answers = session.query(&sql).run(1);
        let ran = answers
            .iter()
            .filter(|a| matches!(a, Answer::Complete(_)))
            .count();
        let failed = answers.iter().any(|a| matches!(a, Answer::Error(_)));
        match ours {
            Ok(ops) if !failed => {
                both += 1;
                assert_eq!(
                    ops.len(),
                    ran,
                    "seed {seed:#x} text {i}: pg_query split {sql:?} into {} statements, \
                     the server ran {ran}",
                    ops.len()
                );
            }
            Ok(ops) => {
                // The server failed part-way: it cannot have run more than pg_query found.
                assert!(
                    ran < ops.len().max(1),
                    "seed {seed:#x} text {i}: {sql:?}: server ran {ran} of {} then failed",
                    ops.len()
                );
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        both > texts / 10,
        "too few texts both accepted: {both} (refused {refused})"
    );
}

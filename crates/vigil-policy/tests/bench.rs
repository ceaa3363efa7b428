//! Cost of one `evaluate` for a 3-rule policy, the proxy's per-statement price,
//! evaluated afresh and answered from the verdict cache (budget: 1 µs).
//! Run: `cargo test --release -p vigil-policy --test bench -- --ignored --nocapture`
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use std::hint::black_box;
use std::time::Instant;

#[test]
#[ignore = "timing; run in release"]
fn evaluate_three_rule_policy() {
    let specs = vec![policy(
        "analysts",
        &["analysts"],
        &["shop"],
        vec![
            rule("reads", Allow, Some("sql.read_only")),
            rule(
                "writes-need-a-dba",
                Review,
                Some("sql.writes && sql.has_where"),
            ),
            rule(
                "no-unbounded-delete",
                Deny,
                Some("sql.kind == 'delete' && !sql.has_where"),
            ),
        ],
    )];
    let alice = agent("alice", &["analysts"]);
    let read = sql_on("shop", select("orders"));
    let write = sql_on("shop", delete("orders", true));
    let n = 200_000u32;
    let fresh = compile(specs.clone()).with_verdict_cache(0);
    let cached = compile(specs);
    for ((label, action), (how, set)) in [("select (allow)", &read), ("delete (review)", &write)]
        .into_iter()
        .flat_map(|a| [("afresh", &fresh), ("cached", &cached)].map(|s| (a, s)))
    {
        for _ in 0..10_000 {
            black_box(eval(set, &alice, action));
        }
        let start = Instant::now();
        for _ in 0..n {
            black_box(eval(set, black_box(&alice), black_box(action)));
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        println!("evaluate, 3-rule policy, {label}, {how}: {per:.2} µs");
    }
}

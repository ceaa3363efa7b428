//! Cost of `analyze` on a pgbench-like statement. Ignored by default; run with
//! `cargo test -p vigil-sql --release --test bench -- --ignored --nocapture`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;
use vigil_sql::analyze;

#[test]
#[ignore = "measurement, not a check"]
fn pgbench_select_cost() {
    let catalog = common::catalog();
    let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    for _ in 0..2_000 {
        let _ = analyze(sql, &catalog);
    }
    let n = 50_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let facts = analyze(std::hint::black_box(sql), &catalog);
        std::hint::black_box(facts).ok();
    }
    let per_call = start.elapsed() / n;
    println!(
        "analyze(pgbench select): {:.2} us/call",
        per_call.as_secs_f64() * 1e6
    );
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(pg_query::parse(std::hint::black_box(sql), 0)).ok();
    }
    println!(
        "of which pg_query::parse alone: {:.2} us/call",
        (start.elapsed() / n).as_secs_f64() * 1e6
    );
    let update = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(analyze(std::hint::black_box(update), &catalog)).ok();
    }
    println!(
        "analyze(pgbench update): {:.2} us/call",
        (start.elapsed() / n).as_secs_f64() * 1e6
    );
    let start = Instant::now();
    for _ in 0..n {
        stacker::grow(1024 * 1024, || std::hint::black_box(1));
    }
    println!(
        "stacker::grow(1 MiB) alone (inputs past the in-place threshold): {:.2} us/call",
        (start.elapsed() / n).as_secs_f64() * 1e6
    );
}

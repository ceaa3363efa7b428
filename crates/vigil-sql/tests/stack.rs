//! Measures how much stack the deep paths need: libpg_query's C side, the
//! Rust protobuf decode (and drop) of the tree it returns, and `analyze` as a
//! caller sees it. Ignored by default; run with
//! `cargo test -p vigil-sql [--release] --test stack -- --ignored --nocapture measure`.
//!
//! A stack overflow aborts the process, so each probe runs in a child process
//! (this same test binary, re-run on the `probe_child` test).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use prost::Message;
use vigil_sql::{Catalog, analyze};

const PROBE: &str = "VIGIL_SQL_STACK_PROBE";

/// A statement of the given shape, nested `depth` deep.
fn shape(name: &str, depth: usize) -> String {
    match name {
        "plus" => format!("SELECT 1{}", "+1".repeat(depth)),
        "concat" => format!("SELECT a{}", " || a".repeat(depth)),
        "cast" => format!("SELECT 1{}", "::t".repeat(depth)),
        "collate" => format!("SELECT a{}", " COLLATE c".repeat(depth)),
        "union" => format!("SELECT 1{}", " UNION SELECT 1".repeat(depth)),
        "join" => format!("SELECT 1 FROM a{}", " JOIN a ON true".repeat(depth)),
        "calls" => format!("SELECT {}1{}", "f(".repeat(depth), ")".repeat(depth)),
        "array" => format!("SELECT ARRAY{}1{}", "[".repeat(depth), "]".repeat(depth)),
        "subquery" => format!("{}1{}", "SELECT (".repeat(depth), ")".repeat(depth)),
        "not" => format!("SELECT {}a", "NOT ".repeat(depth)),
        "neg" => format!("SELECT {}a", "- ".repeat(depth)),
        // One byte per level: the scanner splits `+-+-` into one-character
        // prefix operators (depth counts characters here).
        "pm" => format!("SELECT {}a", "+-".repeat(depth / 2)),
        _ => panic!("unknown shape {name}"),
    }
}

fn on_thread<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// The child side: one probe, described by the environment, printed on stdout.
#[test]
#[ignore = "run by `measure` in a child process"]
fn probe_child() {
    let Ok(spec) = std::env::var(PROBE) else {
        return;
    };
    let parts: Vec<&str> = spec.split(' ').collect();
    let (op, name, depth, stack) = (
        parts[0],
        parts[1],
        parts[2].parse::<usize>().unwrap(),
        parts[3].parse::<usize>().unwrap(),
    );
    let sql = shape(name, depth);
    let outcome = match op {
        // pg_query::parse (C parse, C protobuf output, Rust decode) and drop.
        "parse" => on_thread(stack, move || match pg_query::parse(&sql, 0) {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("err {}", e.to_string().chars().take(60).collect::<String>()),
        }),
        // pg_query::parse on a stacker-grown stack, as `analyze` runs it for
        // longer inputs: libpg_query cannot size its budget there.
        "parse-grown" => on_thread(stack, move || {
            stacker::grow(1 << 30, move || match pg_query::parse(&sql, 0) {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("err {}", e.to_string().chars().take(60).collect::<String>()),
            })
        }),
        // The Rust decode and drop alone, of a tree produced on a huge stack.
        "decode" => {
            let bytes = on_thread(1 << 30, move || {
                pg_query::parse(&sql, 0)
                    .map(|r| r.protobuf.encode_to_vec())
                    .ok()
            });
            match bytes {
                Some(bytes) => on_thread(stack, move || {
                    let tree = pg_query::protobuf::ParseResult::decode(bytes.as_slice());
                    format!("ok {}", tree.is_ok())
                }),
                None => "c-refused".to_owned(),
            }
        }
        // `analyze` as its caller sees it.
        "analyze" => on_thread(stack, move || {
            format!("ok {:?}", analyze(&sql, &Catalog::empty()).map(|f| f.len()))
        }),
        _ => panic!("unknown op {op}"),
    };
    println!("PROBE-RESULT {outcome}");
}

/// Runs one probe; `None` when the child crashed (stack overflow).
fn probe(op: &str, name: &str, depth: usize, stack: usize) -> Option<String> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--ignored", "--exact", "probe_child", "--nocapture"])
        .env(PROBE, format!("{op} {name} {depth} {stack}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("PROBE-RESULT ").map(str::to_owned))
}

/// The smallest stack (to 16 KiB) on which the probe does not crash.
fn min_stack(op: &str, name: &str, depth: usize) -> (usize, Option<String>) {
    let (mut lo, mut hi) = (16 * 1024, 1024 * 1024 * 1024);
    let top = probe(op, name, depth, hi);
    while hi - lo > 16 * 1024 {
        let mid = (lo + hi) / 2 / 4096 * 4096;
        if probe(op, name, depth, mid).is_some() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (hi, top)
}

/// The deepest nesting of a shape that libpg_query accepts on a large stack
/// (its budget is capped at 2 MiB), or `limit` when it accepts that much.
fn deepest_accepted(op: &str, name: &str, limit: usize) -> usize {
    let accepted =
        |d: usize| probe(op, name, d, 512 * 1024 * 1024).is_some_and(|r| r.starts_with("ok"));
    if accepted(limit) {
        return limit;
    }
    let (mut lo, mut hi) = (1, limit);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if accepted(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[test]
#[ignore = "measurement, not a check"]
fn measure_c_limits_and_decode_stack() {
    let shapes = std::env::var("SHAPES").unwrap_or_else(|_| {
        "plus concat cast collate union join calls array subquery not neg".to_owned()
    });
    for name in shapes.split(' ') {
        let deepest = deepest_accepted("parse", name, 200_000);
        let (decode, outcome) = min_stack("decode", name, deepest);
        println!(
            "{name}: deepest accepted by C {deepest} ({} bytes); decode+drop needs {} KiB ({outcome:?}) = {} B/level",
            shape(name, deepest).len(),
            decode / 1024,
            decode / deepest.max(1)
        );
    }
}

#[test]
#[ignore = "measurement, not a check"]
fn measure_analyze_stack() {
    let shapes = std::env::var("SHAPES").unwrap_or_else(|_| "plus cast neg array".to_owned());
    let depths: Vec<usize> = std::env::var("DEPTHS")
        .unwrap_or_else(|_| "100 300 500".to_owned())
        .split(' ')
        .map(|d| d.parse().unwrap())
        .collect();
    for name in shapes.split(' ') {
        for &depth in &depths {
            let (need, outcome) = min_stack("analyze", name, depth);
            println!(
                "{name} x{depth} ({} bytes): analyze needs {} KiB on the caller's stack ({outcome:?})",
                shape(name, depth).len(),
                need / 1024
            );
        }
    }
}

#[test]
#[ignore = "measurement, not a check"]
fn measure_c_limits_on_grown_stacks() {
    let shapes = std::env::var("SHAPES").unwrap_or_else(|_| {
        "plus concat cast collate union join calls array subquery not neg".to_owned()
    });
    for name in shapes.split(' ') {
        let deepest = deepest_accepted("parse-grown", name, 20_000);
        println!("{name}: deepest accepted by C on a grown stack {deepest}");
    }
}

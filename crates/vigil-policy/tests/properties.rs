//! Property: for any facts and any mix of rules, the verdict is what the
//! documented precedence says (deny or failure > review > allow > default deny).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use proptest::prelude::*;
use vigil_core::SqlFacts;
use vigil_policy::Effect;

/// Conditions with a reference meaning in Rust; `None` means the CEL errors.
const CONDITIONS: &[&str] = &[
    "sql.read_only",
    "sql.writes",
    "sql.has_where",
    "!sql.ddl",
    "sql.kind == 'delete'",
    "sql.tables_written[0] == 'public.a'",
    "'public.a' in sql.tables_read",
];

fn reference(condition: usize, f: &SqlFacts) -> Option<bool> {
    Some(match condition {
        0 => f.read_only,
        1 => f.writes,
        2 => f.has_where,
        3 => !f.ddl,
        4 => f.kind == "delete",
        5 => return f.tables_written.first().map(|t| t == "public.a"),
        _ => f.tables_read.iter().any(|t| t == "public.a"),
    })
}

fn facts() -> impl Strategy<Value = SqlFacts> {
    let table = prop::sample::select(vec!["public.a", "public.b"]);
    (
        prop::sample::select(vec!["select", "delete", "update", "drop"]),
        any::<[bool; 4]>(),
        prop::collection::vec(table.clone(), 0..3),
        prop::collection::vec(table, 0..3),
    )
        .prop_map(|(kind, b, read, written)| SqlFacts {
            kind: kind.to_owned(),
            read_only: b[0],
            writes: b[1],
            ddl: b[2],
            has_where: b[3],
            tables_read: read.into_iter().map(str::to_owned).collect(),
            tables_written: written.into_iter().map(str::to_owned).collect(),
            ..SqlFacts::default()
        })
}

fn effect() -> impl Strategy<Value = Effect> {
    prop::sample::select(vec![Effect::Allow, Effect::Deny, Effect::Review])
}

proptest! {
    #[test]
    fn verdict_follows_precedence(
        f in facts(),
        rules in prop::collection::vec((effect(), prop::option::of(0..CONDITIONS.len())), 0..6),
    ) {
        let specs = rules
            .iter()
            .enumerate()
            .map(|(i, (e, c))| rule(&format!("r{i}"), *e, c.map(|c| CONDITIONS[c])))
            .collect();
        let set = compile(vec![policy("p", &[], &[], specs)]);
        let outcomes: Vec<(Effect, Option<bool>)> = rules
            .iter()
            .map(|(e, c)| (*e, c.map_or(Some(true), |c| reference(c, &f))))
            .collect();
        let expected = if outcomes.iter().any(|(e, o)| o.is_none() || (*e == Effect::Deny && *o == Some(true))) {
            "deny"
        } else if outcomes.iter().any(|(e, o)| *e == Effect::Review && *o == Some(true)) {
            "review"
        } else if outcomes.iter().any(|(e, o)| *e == Effect::Allow && *o == Some(true)) {
            "allow"
        } else {
            "deny"
        };
        let verdict = eval(&set, &agent("a", &[]), &sql_on("shop", f)).verdict;
        prop_assert_eq!(verdict.label(), expected, "{:?}", verdict);
    }
}

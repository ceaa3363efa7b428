//! Property: a policy set with its verdict cache answers exactly as one
//! without, over any sequence of principals, connections, statements and
//! times, whatever mix of rules (some reading the text, the clock or
//! claims, some only the statement's shape) it holds.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod common;

use common::*;
use proptest::prelude::*;
use std::time::Duration;
use vigil_core::{ActionKind, ConnectionKind, ConnectionRef, PrincipalRecord, SqlFacts, SshFacts};
use vigil_policy::{Effect, EvalInput, MaskSpec, PolicySpec};

/// Conditions over stable inputs and over volatile ones, and ones that fail.
const CONDITIONS: &[&str] = &[
    "sql.read_only",
    "sql.writes && sql.has_where",
    "sql.kind == 'delete'",
    "'public.a' in sql.tables_read",
    "sql.tables_written[0] == 'public.b'",
    "principal.name == 'alice'",
    "'ops' in principal.groups",
    "principal.kind == 'agent'",
    "connection.name == 'shop' && connection.kind == 'postgres'",
    "sql.text.contains('secret')",
    "sql['text'].size() > 12",
    "now.getHours() < 12",
    "principal.claims.team == 'red'",
    "ssh.command == 'ls'",
];

fn spec() -> impl Strategy<Value = PolicySpec> {
    let a_rule = (
        prop::sample::select(vec![Effect::Allow, Effect::Deny, Effect::Review]),
        prop::option::weighted(0.9, 0..CONDITIONS.len()),
    );
    (
        prop::sample::subsequence(vec!["analysts", "ops"], 0..=2),
        prop::sample::subsequence(vec!["shop", "crm"], 0..=2),
        prop::collection::vec(a_rule, 0..4),
        any::<bool>(),
    )
        .prop_map(|(groups, connections, rules, masked)| {
            let rules = rules
                .into_iter()
                .enumerate()
                .map(|(i, (effect, c))| rule(&format!("r{i}"), effect, c.map(|c| CONDITIONS[c])))
                .collect();
            let mut p = policy("p", &groups, &connections, rules);
            if masked {
                p.masks = vec![MaskSpec {
                    columns: vec!["public.a.email".into()],
                    ..MaskSpec::default()
                }];
            }
            p
        })
}

fn specs() -> impl Strategy<Value = Vec<PolicySpec>> {
    prop::collection::vec(spec(), 1..4).prop_map(|mut specs| {
        for (i, s) in specs.iter_mut().enumerate() {
            s.name = format!("p{i}");
        }
        specs
    })
}

fn principal() -> impl Strategy<Value = PrincipalRecord> {
    (
        prop::sample::select(vec!["alice", "bob"]),
        prop::sample::subsequence(vec!["analysts", "ops"], 0..=2),
        prop::option::of(prop::sample::select(vec!["red", "blue"])),
    )
        .prop_map(|(name, groups, team)| {
            let mut p = agent(name, &groups);
            p.claims = team.map(|t| serde_json::json!({ "team": t }));
            p
        })
}

fn connection() -> impl Strategy<Value = ConnectionRef> {
    (
        prop::sample::select(vec!["shop", "crm"]),
        prop::sample::select(vec![ConnectionKind::Postgres, ConnectionKind::Mysql]),
    )
        .prop_map(|(name, kind)| ConnectionRef {
            name: name.into(),
            kind,
        })
}

/// A few statement shapes, so that a sequence repeats keys and hits the
/// cache; each with one of a few texts.
fn action() -> impl Strategy<Value = ActionKind> {
    let shape = |kind: &str, b: [bool; 4], read: &[&str], written: &[&str]| SqlFacts {
        kind: kind.into(),
        read_only: b[0],
        writes: b[1],
        ddl: b[2],
        has_where: b[3],
        tables_read: read.iter().map(|t| t.to_string()).collect(),
        tables_written: written.iter().map(|t| t.to_string()).collect(),
        ..SqlFacts::default()
    };
    let shapes = vec![
        shape("select", [true, false, false, true], &["public.a"], &[]),
        shape("select", [true, false, false, false], &["public.b"], &[]),
        shape("delete", [false, true, false, true], &[], &["public.b"]),
        shape("delete", [false, true, false, false], &[], &["public.a"]),
        // Differs from the one above only in `has_where`.
        shape("delete", [false, true, false, true], &[], &["public.a"]),
        shape(
            "update",
            [false, true, false, true],
            &["public.a"],
            &["public.b"],
        ),
        shape("drop", [false, false, true, false], &[], &["public.a"]),
    ];
    let sql = (
        prop::sample::select(shapes),
        prop::sample::select(vec!["SELECT 1", "SELECT secret", "SELECT a_longer_text"]),
    )
        .prop_map(|(mut facts, text)| {
            facts.text = text.into();
            ActionKind::Sql(facts)
        });
    let ssh = prop::sample::select(vec!["ls", "rm"]).prop_map(|c| {
        ActionKind::Ssh(SshFacts {
            command: c.into(),
            ..SshFacts::default()
        })
    });
    prop_oneof![9 => sql, 1 => ssh]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_cached_set_answers_as_an_uncached_one(
        specs in specs(),
        capacity in prop::sample::select(vec![1usize, 4096]),
        steps in prop::collection::vec((principal(), connection(), action(), 0u64..24), 1..80),
    ) {
        let cached = compile(specs.clone()).with_verdict_cache(capacity);
        let fresh = compile(specs).with_verdict_cache(0);
        for (who, on, action, hour) in &steps {
            let input = EvalInput {
                principal: who,
                connection: on,
                action,
                now: noon() + Duration::from_secs(hour * 3600),
            };
            let expected = fresh.evaluate(&input);
            prop_assert_eq!(cached.evaluate(&input), expected.clone());
            prop_assert_eq!(cached.verdict(&input), expected.verdict);
        }
    }
}

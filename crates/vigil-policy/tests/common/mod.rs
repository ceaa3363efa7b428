//! Builders shared by the integration tests.
#![allow(dead_code, unused_imports, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigil_core::{Action, ActionKind, ConnectionRef, PrincipalKind, PrincipalRecord, SqlFacts};
use vigil_policy::{EvalInput, Evaluation, PolicySet, PolicySpec, RuleSpec};

pub use vigil_policy::Effect::{Allow, Deny, Review};

pub fn agent(name: &str, groups: &[&str]) -> PrincipalRecord {
    PrincipalRecord {
        name: name.to_owned(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        kind: PrincipalKind::Agent,
        issuer: "vigil".to_owned(),
        run_id: None,
        ..PrincipalRecord::default()
    }
}

pub fn select(table: &str) -> SqlFacts {
    SqlFacts {
        kind: "select".into(),
        read_only: true,
        tables_read: vec![format!("public.{table}")],
        text: format!("SELECT * FROM {table}"),
        ..SqlFacts::default()
    }
}

pub fn delete(table: &str, has_where: bool) -> SqlFacts {
    SqlFacts {
        kind: "delete".into(),
        writes: true,
        has_where,
        tables_written: vec![format!("public.{table}")],
        text: format!(
            "DELETE FROM {table}{}",
            if has_where { " WHERE id = 1" } else { "" }
        ),
        ..SqlFacts::default()
    }
}

pub fn sql_on(connection: &str, facts: SqlFacts) -> Action {
    Action {
        connection: ConnectionRef {
            name: connection.to_owned(),
            kind: vigil_core::ConnectionKind::Postgres,
        },
        kind: ActionKind::Sql(facts),
    }
}

/// 2024-01-01T12:00:00Z, a Monday.
pub fn noon() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_110_400)
}

pub fn rule(name: &str, effect: vigil_policy::Effect, when: Option<&str>) -> RuleSpec {
    let mut rule = RuleSpec::new(name, effect, when);
    if effect == Review {
        rule.reviewers = vec!["dba".into()];
    }
    rule
}

pub fn policy(
    name: &str,
    groups: &[&str],
    connections: &[&str],
    rules: Vec<RuleSpec>,
) -> PolicySpec {
    PolicySpec {
        name: name.to_owned(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        connections: connections.iter().map(|c| c.to_string()).collect(),
        rules,
        ..PolicySpec::default()
    }
}

pub fn compile(specs: Vec<PolicySpec>) -> PolicySet {
    match PolicySet::compile(specs) {
        Ok(set) => set,
        Err(e) => panic!("policy should compile: {e}"),
    }
}

pub fn eval(set: &PolicySet, principal: &PrincipalRecord, action: &Action) -> Evaluation {
    set.evaluate(&EvalInput {
        principal,
        connection: &action.connection,
        action: &action.kind,
        now: noon(),
    })
}

/// Whether a single `when` matches a select on `shop` by `alice` (analysts).
pub fn condition_holds(when: &str, action: &Action) -> bool {
    let set = compile(vec![policy(
        "p",
        &[],
        &[],
        vec![rule("r", Allow, Some(when))],
    )]);
    let alice = agent("alice", &["analysts", "eu"]);
    match eval(&set, &alice, action).verdict {
        vigil_core::Verdict::Allow { .. } => true,
        vigil_core::Verdict::Deny { rule, reason } => {
            assert_eq!(rule, "default-deny", "condition `{when}` failed: {reason}");
            false
        }
        other => panic!("unexpected {other:?}"),
    }
}

//! The guard over a policy set that caches verdicts: a rule on the
//! statement's text still sees every statement, and a cached review still
//! goes through the review step each time.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use crate::approvals::tests::refused;
use crate::{Binding, Decision, Guard, Metrics, SessionCtx};
use std::sync::Arc;
use std::time::Duration;
use vigil_core::{ActionKind, ConnectionRef, PrincipalKind, ReviewMode, SqlFacts};
use vigil_identity::Principal;
use vigil_policy::{Effect, PolicySet, PolicySpec, RuleSpec};
use vigil_store::{SqliteStore, Store, StoreOptions};

fn guard(dir: &std::path::Path, rules: Vec<RuleSpec>) -> Guard {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir, StoreOptions::default()).expect("store"));
    let policies = PolicySet::compile(vec![PolicySpec {
        name: "p".into(),
        rules,
        ..PolicySpec::default()
    }])
    .expect("policy");
    let shop = ConnectionRef {
        name: "shop".into(),
        kind: vigil_core::ConnectionKind::Postgres,
    };
    Guard::new(store, policies, [shop], Arc::new(Metrics::new()))
}

async fn session(g: &Guard) -> SessionCtx {
    let principal = Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: "bot".into(),
            groups: vec!["agents".into()],
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        },
        None,
    );
    let request = crate::SessionRequest {
        protocol: vigil_core::Protocol::Postgres,
        connection: "shop",
        client_addr: "test",
        run_id: None,
    };
    g.open_session(principal, &request).await.expect("session")
}

fn select(text: &str) -> Vec<ActionKind> {
    vec![ActionKind::Sql(SqlFacts {
        kind: "select".into(),
        read_only: true,
        tables_read: vec!["public.users".into()],
        text: text.into(),
        ..SqlFacts::default()
    })]
}

#[tokio::test]
async fn a_rule_on_the_text_sees_each_statement_of_the_same_shape() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(
        dir.path(),
        vec![
            RuleSpec::new(
                "no-password",
                Effect::Deny,
                Some("sql.text.contains('password')"),
            ),
            RuleSpec::new("reads", Effect::Allow, Some("sql.read_only")),
        ],
    );
    let s = session(&g).await;
    for (text, allowed) in [
        ("SELECT name FROM users", true),
        ("SELECT password FROM users", false),
        ("SELECT name FROM users", true),
    ] {
        let d = g
            .decide(&s, &select(text), Binding::NONE)
            .await
            .expect("decide");
        assert_eq!(matches!(d, Decision::Allowed(_)), allowed, "{text}");
        assert_eq!(
            g.would_refuse(&s, &select(text)).is_none(),
            allowed,
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_cached_review_verdict_still_asks_for_an_approval_each_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut review = RuleSpec::new("reads-need-review", Effect::Review, Some("sql.read_only"));
    review.reviewers = vec!["dba".into()];
    review.mode = ReviewMode::Retry;
    review.timeout = Duration::from_secs(60);
    let g = guard(dir.path(), vec![review]);
    let s = session(&g).await;
    // The same shape twice: the second verdict comes from the cache, and the
    // review step still refuses it pending a reviewer.
    for text in ["SELECT 1 FROM users", "SELECT 2 FROM users"] {
        assert!(g.would_review(&s, &select(text)));
        let d = g
            .decide(&s, &select(text), Binding::NONE)
            .await
            .expect("decide");
        let r = refused(d);
        assert_eq!(r.rule, "reads-need-review", "{text}: {r:?}");
    }
}

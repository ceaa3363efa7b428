//! The review step against a real SQLite store: retry approvals bind the
//! operation and pass once, reviewers are checked, the pending limit holds,
//! held statements wake on a decision and time out.

use super::*;
use crate::{Decision, Guard, Metrics, SessionCtx};
use std::sync::Arc;
use vigil_core::{ConnectionRef, PrincipalKind};
use vigil_policy::{Effect, PolicySet, PolicySpec, RuleSpec};
use vigil_store::{SqliteStore, Store, StoreOptions};

fn principal(name: &str, groups: &[&str]) -> Principal {
    Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        },
        None,
    )
}

pub(crate) fn guard(dir: &std::path::Path, mode: ReviewMode, timeout: Duration) -> Guard {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir, StoreOptions::default()).expect("store"));
    let mut review = RuleSpec::new("deletes", Effect::Review, Some("sql.kind == 'delete'"));
    review.reviewers = vec!["dba".into()];
    review.mode = mode;
    review.timeout = timeout;
    let policies = PolicySet::compile(vec![PolicySpec {
        name: "p".into(),
        rules: vec![review, RuleSpec::new("rest", Effect::Allow, None)],
        ..PolicySpec::default()
    }])
    .expect("policy");
    let shop = ConnectionRef {
        name: "shop".into(),
        kind: vigil_core::ConnectionKind::Postgres,
    };
    Guard::new(store, policies, [shop], Arc::new(Metrics::new()))
}

pub(crate) fn delete(text: &str) -> Vec<ActionKind> {
    vec![ActionKind::Sql(vigil_core::SqlFacts {
        kind: "delete".into(),
        writes: true,
        tables_written: vec!["public.t".into()],
        text: text.into(),
        ..vigil_core::SqlFacts::default()
    })]
}

async fn session(g: &Guard, who: &str) -> SessionCtx {
    let request = crate::SessionRequest {
        protocol: vigil_core::Protocol::Postgres,
        connection: "shop",
        client_addr: "test",
        run_id: None,
    };
    g.open_session(principal(who, &["agents"]), &request)
        .await
        .expect("session")
}

pub(crate) fn refused(d: Decision) -> Refusal {
    match d {
        Decision::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub(crate) fn id_in(r: &Refusal) -> String {
    let at = r.reason.find("ap_").expect("approval id");
    r.reason[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[tokio::test]
async fn retry_approval_binds_the_operation_and_passes_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session(&g, "bot").await;
    let stmt = delete("DELETE FROM t WHERE id = 1");
    let first = refused(g.decide(&s, &stmt, Binding::NONE).await.expect("decide"));
    let id = id_in(&first);
    // Pending: the same operation names the same request.
    let again = refused(g.decide(&s, &stmt, Binding::NONE).await.expect("decide"));
    assert_eq!(id_in(&again), id);

    let yes = ReviewDecision {
        approve: true,
        ..ReviewDecision::default()
    };
    let own = g
        .decide_approval(&principal("bot", &["dba"]), &id, yes.clone())
        .await;
    assert!(matches!(own, Err(ApprovalError::OwnRequest)));
    let outsider = g
        .decide_approval(&principal("eve", &["agents"]), &id, yes.clone())
        .await;
    assert!(matches!(outsider, Err(ApprovalError::NotReviewer(_))));
    let decided = g
        .decide_approval(&principal("alice", &["dba"]), &id, yes.clone())
        .await
        .expect("approve");
    assert_eq!(decided.status, ApprovalStatus::Approved);

    // Other parameters, other text: not covered.
    let params = refused(
        g.decide(&s, &stmt, Binding::new(b"\x00\x01"))
            .await
            .expect("decide"),
    );
    assert_ne!(id_in(&params), id);
    let other = refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = 2"), Binding::NONE)
            .await
            .expect("decide"),
    );
    assert_ne!(id_in(&other), id);
    // Exactly this one passes, once.
    assert!(matches!(
        g.decide(&s, &stmt, Binding::NONE).await.expect("decide"),
        Decision::Allowed(_)
    ));
    let after = refused(g.decide(&s, &stmt, Binding::NONE).await.expect("decide"));
    assert_ne!(id_in(&after), id);
}

#[tokio::test]
async fn pending_requests_per_principal_are_bounded() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session(&g, "bot").await;
    for n in 0..MAX_PENDING_PER_PRINCIPAL {
        let r = refused(
            g.decide(
                &s,
                &delete(&format!("DELETE FROM t WHERE id = {n}")),
                Binding::NONE,
            )
            .await
            .expect("decide"),
        );
        assert!(r.reason.contains("ap_"), "{}", r.reason);
    }
    let r = refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = -1"), Binding::NONE)
            .await
            .expect("decide"),
    );
    assert!(r.reason.contains("already has 20"), "{}", r.reason);
    // Another principal is not affected.
    let s2 = session(&g, "other").await;
    let r = refused(
        g.decide(&s2, &delete("DELETE FROM t WHERE id = -1"), Binding::NONE)
            .await
            .expect("decide"),
    );
    assert!(r.reason.contains("ap_"), "{}", r.reason);
}

#[tokio::test]
async fn held_statement_wakes_on_approval_and_times_out_without_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = Arc::new(guard(dir.path(), ReviewMode::Hold, Duration::from_secs(1)));
    let s = session(&g, "bot").await;
    let Decision::Held(hold) = g
        .decide(&s, &delete("DELETE FROM t"), Binding::NONE)
        .await
        .expect("decide")
    else {
        panic!("expected a hold");
    };
    assert!(hold.notice().contains("vigil approvals approve ap_"));
    let id = hold.approval.id.clone();
    let reviewer = g.clone();
    let approve = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reviewer
            .decide_approval(
                &principal("alice", &["dba"]),
                &id,
                ReviewDecision {
                    approve: true,
                    ..ReviewDecision::default()
                },
            )
            .await
    });
    let started = std::time::Instant::now();
    let d = g
        .await_approval(&s, hold, std::future::pending())
        .await
        .expect("wait");
    assert!(matches!(d, Decision::Allowed(_)), "{d:?}");
    assert!(started.elapsed() < Duration::from_millis(900));
    approve.await.expect("join").expect("approve");

    let Decision::Held(hold) = g
        .decide(&s, &delete("DELETE FROM t WHERE true"), Binding::NONE)
        .await
        .expect("decide")
    else {
        panic!("expected a hold");
    };
    let id = hold.approval.id.clone();
    let r = refused(
        g.await_approval(&s, hold, std::future::pending())
            .await
            .expect("wait"),
    );
    assert!(r.reason.contains("no decision"), "{}", r.reason);
    let store = g.store().approvals().expect("approvals");
    let a = store.approval(&id).await.expect("read").expect("row");
    assert_eq!(a.status, ApprovalStatus::Expired);

    // A withdrawn hold is closed as such.
    let Decision::Held(hold) = g
        .decide(&s, &delete("DELETE FROM t WHERE 1 = 1"), Binding::NONE)
        .await
        .expect("decide")
    else {
        panic!("expected a hold");
    };
    let id = hold.approval.id.clone();
    let r = refused(
        g.await_approval(&s, hold, async { Withdrawal::Cancelled })
            .await
            .expect("wait"),
    );
    assert!(r.reason.contains("withdrawn"), "{}", r.reason);
    let a = store.approval(&id).await.expect("read").expect("row");
    assert_eq!(a.status, ApprovalStatus::Withdrawn);
}

#[tokio::test]
async fn a_hold_dropped_mid_wait_is_withdrawn() {
    let dir = tempfile::tempdir().expect("dir");
    let g = guard(dir.path(), ReviewMode::Hold, Duration::from_secs(60));
    let s = session(&g, "bot").await;
    let Decision::Held(hold) = g
        .decide(&s, &delete("DELETE FROM t WHERE id = 9"), Binding::NONE)
        .await
        .expect("decide")
    else {
        panic!("expected a hold");
    };
    let id = hold.approval.id.clone();
    // The session ends under the waiting statement: its future is dropped.
    let waited = tokio::time::timeout(
        Duration::from_millis(50),
        g.await_approval(&s, hold, std::future::pending()),
    )
    .await;
    assert!(waited.is_err(), "the hold ended on its own");
    let store = g.store().approvals().expect("approvals");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = store.approval(&id).await.expect("read").expect("row");
        if a.status == ApprovalStatus::Withdrawn {
            assert!(
                a.decision_reason
                    .unwrap_or_default()
                    .contains("session ended")
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {:?}", a.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

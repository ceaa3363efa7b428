//! Approvals, grants and the self-approval check key on issuer and subject:
//! an OIDC "alice" and a Vigil token named "alice" are different people.

use super::tests::{delete, guard, id_in, refused};
use super::*;
use crate::{Decision, SessionCtx};
use vigil_core::{IdentityKey, PrincipalKind};

const IDP: &str = "https://idp.example";

fn token_principal(name: &str, groups: &[&str]) -> Principal {
    Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: name.into(),
            subject: Some(name.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        },
        None,
    )
}

fn oidc_principal(name: &str, sub: &str, groups: &[&str]) -> Principal {
    Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: name.into(),
            subject: Some(sub.into()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            kind: PrincipalKind::Human,
            issuer: IDP.into(),
            ..Default::default()
        },
        None,
    )
}

async fn session_of(g: &Guard, p: Principal) -> SessionCtx {
    g.open_session(
        p,
        &crate::SessionRequest {
            protocol: vigil_core::Protocol::Postgres,
            connection: "shop",
            client_addr: "test",
            run_id: None,
        },
    )
    .await
    .expect("session")
}

fn approve() -> ReviewDecision {
    ReviewDecision {
        approve: true,
        ..ReviewDecision::default()
    }
}

#[tokio::test]
async fn a_namesake_from_another_issuer_is_not_the_requester() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session_of(&g, token_principal("alice", &["agents"])).await;
    let id = id_in(&refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = 1"), Binding::NONE)
            .await
            .expect("decide"),
    ));
    let stored = g
        .approval_for(&token_principal("alice", &[]), false, &id)
        .await
        .expect("read")
        .expect("the requester sees its request");
    assert_eq!(
        stored.principal_id,
        Some(IdentityKey {
            issuer: "vigil".into(),
            subject: "alice".into()
        })
    );
    // The requester itself, even in the reviewers' group: no.
    let own = g
        .decide_approval(&token_principal("alice", &["dba"]), &id, approve())
        .await;
    assert!(matches!(own, Err(ApprovalError::OwnRequest)), "{own:?}");
    // An OIDC user who is also called alice is someone else.
    let decided = g
        .decide_approval(&oidc_principal("alice", "u-17", &["dba"]), &id, approve())
        .await
        .expect("a different identity may decide");
    assert_eq!(
        decided.decided_by_id,
        Some(IdentityKey {
            issuer: IDP.into(),
            subject: "u-17".into()
        })
    );
    // And the namesake cannot read the request as its own.
    assert!(
        g.approval_for(&oidc_principal("alice", "u-17", &[]), false, &id)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn the_same_oidc_subject_under_another_name_is_still_the_requester() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session_of(&g, oidc_principal("alice@example.com", "u-1", &["agents"])).await;
    let id = id_in(&refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = 1"), Binding::NONE)
            .await
            .expect("decide"),
    ));
    // The IdP's name claim changed; the subject did not.
    let renamed = oidc_principal("alice.smith@example.com", "u-1", &["dba"]);
    let own = g.decide_approval(&renamed, &id, approve()).await;
    assert!(matches!(own, Err(ApprovalError::OwnRequest)), "{own:?}");
}

#[tokio::test]
async fn an_approval_covers_only_the_identity_that_asked() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let stmt = delete("DELETE FROM t WHERE id = 1");
    let bot = session_of(&g, token_principal("bot", &["agents"])).await;
    let id = id_in(&refused(
        g.decide(&bot, &stmt, Binding::NONE).await.expect("decide"),
    ));
    g.decide_approval(&oidc_principal("dana", "u-2", &["dba"]), &id, approve())
        .await
        .expect("approve");
    // An OIDC "bot" sending the very same statement gets its own request.
    let namesake = session_of(&g, oidc_principal("bot", "u-9", &["agents"])).await;
    let theirs = refused(
        g.decide(&namesake, &stmt, Binding::NONE)
            .await
            .expect("decide"),
    );
    assert_ne!(id_in(&theirs), id);
    // The one who asked passes, once.
    assert!(matches!(
        g.decide(&bot, &stmt, Binding::NONE).await.expect("decide"),
        Decision::Allowed(_)
    ));
}

#[tokio::test]
async fn a_grant_covers_only_its_identity() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let bot = session_of(&g, token_principal("bot", &["agents"])).await;
    let id = id_in(&refused(
        g.decide(&bot, &delete("DELETE FROM t WHERE id = 1"), Binding::NONE)
            .await
            .expect("decide"),
    ));
    let window = ReviewDecision {
        approve: true,
        window: Some(Duration::from_secs(600)),
        ..ReviewDecision::default()
    };
    let decided = g
        .decide_approval(&oidc_principal("dana", "u-2", &["dba"]), &id, window)
        .await
        .expect("approve with a window");
    assert!(decided.grant_id.is_some());
    let other = delete("DELETE FROM t WHERE id = 2");
    assert!(matches!(
        g.decide(&bot, &other, Binding::NONE).await.expect("decide"),
        Decision::Allowed(_)
    ));
    let namesake = session_of(&g, oidc_principal("bot", "u-9", &["agents"])).await;
    assert!(matches!(
        g.decide(&namesake, &other, Binding::NONE)
            .await
            .expect("decide"),
        Decision::Refused(_)
    ));
}

#[test]
fn a_record_without_an_identity_is_owned_by_every_namesake() {
    let legacy: ApprovalRecord = serde_json::from_value(serde_json::json!({
        "id": "ap_1", "status": "pending", "created_at_ms": 0, "expires_at_ms": 1,
        "principal": "alice", "principal_kind": "agent", "session": null,
        "connection": "shop", "rule": "r", "reason": "", "reviewers": ["dba"],
        "mode": "retry", "statement": "x", "params_sha256": "", "kind": "delete",
        "tables_written": [], "valid_for_ms": 0
    }))
    .expect("an old record still reads");
    assert!(is_own_request(
        &legacy,
        &oidc_principal("alice", "u-1", &[])
    ));
    assert!(is_own_request(&legacy, &token_principal("alice", &[])));
    assert!(!is_own_request(&legacy, &token_principal("bob", &[])));
}

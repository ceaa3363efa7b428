//! The one decision entry point: refusals policy did not make are recorded
//! with their class, and an approval binds a binding's values while its
//! hint goes, unread, to the previewer.

use super::tests::{delete, guard, refused};
use super::*;
use crate::{RefusalClass, Unpolicied};
use std::sync::Arc;
use vigil_core::PrincipalKind;

async fn session(g: &Guard) -> SessionCtx {
    let bot = Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: "bot".into(),
            groups: vec!["agents".into()],
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        },
        None,
    );
    g.open_session(
        bot,
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

#[tokio::test]
async fn an_unpolicied_refusal_is_recorded_with_its_class_and_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session(&g).await;
    let r = g
        .refuse(
            &s,
            Unpolicied::step(RefusalClass::Limit, "bind", "bind", "too many portals"),
        )
        .await
        .expect("recorded");
    assert_eq!(r.class, RefusalClass::Limit);
    assert_eq!(
        r.message(),
        "vigil: denied by rule 'limits': too many portals"
    );
    let r = g
        .refuse(&s, Unpolicied::unanalysable("SELEC 1", "syntax error"))
        .await
        .expect("recorded");
    assert_eq!(r.class, RefusalClass::Analysis);
    assert_eq!(
        r.message(),
        "vigil: denied by rule 'analysis': the statement could not be analysed: syntax error"
    );
}

#[tokio::test]
async fn a_review_refusal_is_of_the_policy_class() {
    let dir = tempfile::tempdir().expect("tmp");
    let g = guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60));
    let s = session(&g).await;
    let r = refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = 1"), Binding::NONE)
            .await
            .expect("decide"),
    );
    assert_eq!(r.class, RefusalClass::Policy);
    assert_eq!(r.rule, "deletes");
}

/// One preview request: the approval's kinds, the binding's values and hint.
type Asked = (Vec<String>, Vec<u8>, Vec<u8>);

/// Keeps what each preview was asked with.
#[derive(Default)]
struct Seen(Mutex<Vec<Asked>>);

impl Previewer for Seen {
    fn preview(&self, approval: &ApprovalRecord, binding: Binding<'_>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((
                approval.kinds.clone(),
                binding.values.to_vec(),
                binding.hint.to_vec(),
            ));
        }
    }
}

#[tokio::test]
async fn the_binding_hint_reaches_the_previewer_unread() {
    let dir = tempfile::tempdir().expect("tmp");
    let seen = Arc::new(Seen::default());
    let g =
        guard(dir.path(), ReviewMode::Retry, Duration::from_secs(60)).with_previewer(seen.clone());
    let s = session(&g).await;
    let binding = Binding::new(b"\x00\x01").with_hint(&[0, 0, 0, 20]);
    let first = refused(
        g.decide(&s, &delete("DELETE FROM t WHERE id = $1"), binding)
            .await
            .expect("decide"),
    );
    // The same statement with other values is another operation.
    let other = refused(
        g.decide(
            &s,
            &delete("DELETE FROM t WHERE id = $1"),
            Binding::new(b"\x00\x02").with_hint(&[0, 0, 0, 20]),
        )
        .await
        .expect("decide"),
    );
    assert_ne!(first.reason, other.reason);
    let seen = seen.0.lock().expect("lock");
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0],
        (
            vec!["delete".to_string()],
            b"\x00\x01".to_vec(),
            vec![0, 0, 0, 20]
        )
    );
}

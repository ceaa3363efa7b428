//! Holding a statement until its approval is decided, times out or is
//! withdrawn; requests left held by a stopped gateway.

use super::*;

impl Guard {
    /// Waits for a reviewer's decision on a held statement, its timeout, or
    /// `withdrawn` (the client's cancel, the gateway's shutdown). Approved:
    /// the statements are recorded as allowed and may be forwarded once.
    pub async fn await_approval(
        &self,
        session: &SessionCtx,
        mut hold: Box<Hold>,
        withdrawn: impl Future<Output = Withdrawal>,
    ) -> Result<crate::Decision, GuardError> {
        let id = hold.approval.id.clone();
        let mut abandoned = Abandoned {
            store: Some(self.store.clone()),
            id: id.clone(),
        };
        let result = self.wait(session, &mut hold, withdrawn).await;
        abandoned.store = None;
        self.approvals.unsubscribe(&id);
        result
    }

    pub(super) async fn wait(
        &self,
        session: &SessionCtx,
        hold: &mut Hold,
        withdrawn: impl Future<Output = Withdrawal>,
    ) -> Result<crate::Decision, GuardError> {
        let store = self.store.approvals().ok_or_else(|| {
            GuardError::Ledger(StoreError::Internal("approvals unsupported".into()))
        })?;
        let a = hold.approval.clone();
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(u64::try_from(a.expires_at_ms - now_ms()).unwrap_or(0));
        tokio::pin!(withdrawn);
        let refuse = |reason: String| {
            Ok(crate::Decision::Refused(Refusal::policy(
                a.rule.clone(),
                reason,
            )))
        };
        loop {
            let current = store.approval(&a.id).await.map_err(GuardError::Ledger)?;
            match current.as_ref().map(|c| c.status) {
                Some(ApprovalStatus::Pending) => {}
                Some(ApprovalStatus::Approved) => {
                    // The credential may have ended while the statement waited.
                    if let Some(ended) = self.credential_refusal(session).await {
                        return self.refuse_all(session, &hold.actions, ended).await;
                    }
                    let Some(used) = self.use_approval(store, &a.id).await? else {
                        return refuse(format!("approval {} could not be used", a.id));
                    };
                    let reason = format!(
                        "approval {} by {}",
                        used.id,
                        used.decided_by.as_deref().unwrap_or("?")
                    );
                    return self
                        .record_covered(session, &hold.actions, &a.rule, &reason)
                        .await;
                }
                Some(ApprovalStatus::Denied) => {
                    let c = current.as_ref();
                    let by = c.and_then(|c| c.decided_by.as_deref()).unwrap_or("?");
                    let why = c
                        .and_then(|c| c.decision_reason.as_deref())
                        .unwrap_or("no reason given");
                    return refuse(format!("approval {} denied by {by}: {why}", a.id));
                }
                Some(other) => {
                    return refuse(format!("approval {} is {}", a.id, other.as_str()));
                }
                None => return refuse(format!("approval {} vanished", a.id)),
            }
            tokio::select! {
                _ = hold.wake.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    let why = format!("no decision on approval {} within {}s", a.id, (a.expires_at_ms - a.created_at_ms) / 1000);
                    match self.close_pending(store, &a.id, ApprovalStatus::Expired, &why).await {
                        Ok(Some(_)) => return refuse(why),
                        Ok(None) => {} // decided at the last moment: look again
                        Err(e) => return Err(GuardError::Ledger(e)),
                    }
                }
                w = &mut withdrawn => {
                    let why = match w {
                        Withdrawal::Cancelled => format!("approval {} withdrawn: the client cancelled the statement", a.id),
                        Withdrawal::ClientGone => format!("approval {} withdrawn: the client disconnected", a.id),
                        Withdrawal::Shutdown => format!("approval {} withdrawn: the gateway is shutting down", a.id),
                    };
                    self.close_pending(store, &a.id, ApprovalStatus::Withdrawn, &why)
                        .await
                        .map_err(GuardError::Ledger)?;
                    // Whatever was decided meanwhile, the client is gone or going.
                    return refuse(why);
                }
            }
        }
    }

    /// Closes pending hold-mode requests left by a previous run: nobody
    /// waits on them any more. Retry-mode requests stay pending.
    pub async fn recover_approvals(&self) -> Result<usize, GuardError> {
        let Some(store) = self.store.approvals() else {
            return Ok(0);
        };
        let held = store.pending_holds().await.map_err(GuardError::Ledger)?;
        let mut closed = 0;
        for a in held {
            if self
                .close_pending(
                    store,
                    &a.id,
                    ApprovalStatus::Withdrawn,
                    "the gateway restarted while the statement was held",
                )
                .await
                .map_err(GuardError::Ledger)?
                .is_some()
            {
                closed += 1;
            }
        }
        Ok(closed)
    }
}

/// Withdraws a held request whose waiter was dropped mid-wait (its session
/// ended under it, e.g. the target closed the connection): nobody can run
/// it any more, so it must not stay pending, approvable, until it lapses.
struct Abandoned {
    store: Option<std::sync::Arc<dyn vigil_store::Store>>,
    id: String,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        let (Some(store), Ok(runtime)) = (self.store.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let id = std::mem::take(&mut self.id);
        runtime.spawn(async move {
            let Some(approvals) = store.approvals() else {
                return;
            };
            let reason = "the client's session ended while the statement was held".to_string();
            let closed = approvals
                .transition(Transition {
                    id: id.clone(),
                    from: ApprovalStatus::Pending,
                    to: ApprovalStatus::Withdrawn,
                    at_ms: now_ms(),
                    by: None,
                    by_id: None,
                    reason: Some(reason.clone()),
                    usable_until_ms: None,
                    grant: None,
                    events: vec![system_event(EventBody::ApprovalDecided {
                        id: id.clone(),
                        status: ApprovalStatus::Withdrawn,
                        reviewer: None,
                        reason: Some(reason),
                    })],
                })
                .await;
            if let Err(e) = closed {
                tracing::warn!(approval = %id, error = %e, "could not withdraw an abandoned hold");
            }
        });
    }
}

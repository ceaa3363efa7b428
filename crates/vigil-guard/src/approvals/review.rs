//! Reviewing a statement that a `review` rule matched: grants, retry-mode
//! approvals used once, new requests and the pending limit.

use super::*;

impl Guard {
    /// The review step of [`Guard::decide`]: `review` is the first
    /// review verdict of the message, `rules` every review rule in it.
    pub(crate) async fn review(
        &self,
        session: &SessionCtx,
        actions: &[ActionKind],
        review: &Verdict,
        rules: &[&str],
        binding: Binding<'_>,
    ) -> Result<Reviewed, GuardError> {
        let Verdict::Review {
            rule,
            reason,
            reviewers,
            mode,
            timeout,
            valid_for,
        } = review
        else {
            return Ok(Reviewed::Covered {
                reason: String::new(),
            });
        };
        // A client that cannot wait gets retry semantics, whatever the rule says.
        let mode = if session.can_hold {
            mode
        } else {
            &ReviewMode::Retry
        };
        let Some(store) = self.store.approvals() else {
            return Ok(Reviewed::Refused(Refusal::policy(
                rule.clone(),
                format!(
                    "{reason} (approval required from: {})",
                    reviewers.join(", ")
                ),
            )));
        };
        let now = now_ms();
        let principal = &session.principal.name;
        // Requests and grants are matched on who asked, never on the name.
        let identity = session.principal.identity();
        let connection = &session.connection.name;
        // A window the reviewer opened for every rule this message hits.
        let mut grants = Vec::new();
        for r in rules {
            match store
                .active_grant(&identity, connection, r, now)
                .await
                .map_err(GuardError::Ledger)?
            {
                Some(g) => grants.push(g),
                None => break,
            }
        }
        if grants.len() == rules.len() {
            let g = &grants[0];
            return Ok(Reviewed::Covered {
                reason: format!("grant {} by {}", g.id, g.granted_by),
            });
        }
        let text = bound_text(actions);
        let params_sha256 = sha256_hex(binding.values);
        // Retry mode: the approved identical operation passes once.
        if let Some(a) = store
            .usable_approval(&identity, connection, &text, &params_sha256, now)
            .await
            .map_err(GuardError::Ledger)?
            && let Some(used) = self.use_approval(store, &a.id).await?
        {
            return Ok(Reviewed::Covered {
                reason: format!(
                    "approval {} by {}",
                    used.id,
                    used.decided_by.as_deref().unwrap_or("?")
                ),
            });
        }
        let record = ApprovalRecord {
            id: new_id("ap_"),
            status: ApprovalStatus::Pending,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ms(*timeout)),
            principal: principal.clone(),
            principal_id: Some(identity),
            principal_kind: session.principal.kind,
            session: Some(session.id.clone()),
            run_id: session.run_id.as_ref().map(|r| r.as_str().to_string()),
            connection: connection.clone(),
            rule: rule.clone(),
            reason: reason.clone(),
            reviewers: reviewers.clone(),
            mode: *mode,
            statement: text,
            params_sha256,
            kinds: actions
                .iter()
                .map(|a| crate::ledger::Recorded::of(a).kind.to_string())
                .collect(),
            tables_written: actions
                .iter()
                .flat_map(|a| {
                    crate::ledger::Recorded::of(a)
                        .tables_written
                        .iter()
                        .cloned()
                })
                .collect(),
            valid_for_ms: ms(*valid_for),
            preview: None,
            decided_at_ms: None,
            decided_by: None,
            decided_by_id: None,
            decision_reason: None,
            usable_until_ms: None,
            used_at_ms: None,
            grant_id: None,
        };
        // Subscribe first, so a decision right after the insert is not missed.
        let wake = (*mode == ReviewMode::Hold).then(|| self.approvals.subscribe(&record.id));
        let event = session.event(EventBody::ApprovalRequested(Box::new(record.clone())));
        let outcome = store
            .insert_approval(record.clone(), event, MAX_PENDING_PER_PRINCIPAL)
            .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.approvals.unsubscribe(&record.id);
                return Err(GuardError::Ledger(e));
            }
        };
        let approval = match outcome {
            InsertOutcome::TooMany(limit) => {
                self.approvals.unsubscribe(&record.id);
                return Ok(Reviewed::Refused(Refusal::policy(
                    rule.clone(),
                    format!(
                        "{reason}; {principal} already has {limit} approval requests pending, the most allowed: wait for a decision on them"
                    ),
                )));
            }
            InsertOutcome::Existing(a) => a,
            InsertOutcome::Created(a) => {
                tracing::info!(approval = %a.id, principal = %a.principal, rule = %a.rule, mode = ?a.mode, "approval requested");
                self.approvals.notify(ApprovalNotice {
                    event: NoticeKind::ApprovalRequested,
                    approval: Some(a.clone()),
                    grant: None,
                });
                if let Some(p) = &self.approvals.previewer
                    && actions.iter().all(writes)
                {
                    p.preview(&a, binding);
                }
                a
            }
        };
        Ok(match wake {
            Some(wake) => Reviewed::Held(Box::new(Hold {
                approval,
                actions: actions.to_vec(),
                wake,
            })),
            // Answered at once with the request (never awaited: no waker).
            None if !session.can_hold => Reviewed::Held(Box::new(Hold {
                approval,
                actions: actions.to_vec(),
                wake: watch::channel(()).1,
            })),
            None => Reviewed::Refused(Refusal::policy(
                rule.clone(),
                format!(
                    "{reason}: approval {id} is pending; a member of {who} can approve it with `vigil approvals approve {id}`, then retry the same statement",
                    id = approval.id,
                    who = approval.reviewers.join(", "),
                ),
            )),
        })
    }

    /// Marks an approved request used; `None` if someone else used it first.
    pub(super) async fn use_approval(
        &self,
        store: &dyn ApprovalStore,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, GuardError> {
        store
            .transition(Transition {
                id: id.to_string(),
                from: ApprovalStatus::Approved,
                to: ApprovalStatus::Used,
                at_ms: now_ms(),
                by: None,
                by_id: None,
                reason: None,
                usable_until_ms: None,
                grant: None,
                events: vec![],
            })
            .await
            .map_err(GuardError::Ledger)
    }

    /// Closes a pending request nobody decided; records it and notifies.
    pub(super) async fn close_pending(
        &self,
        store: &dyn ApprovalStore,
        id: &str,
        to: ApprovalStatus,
        reason: &str,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let now = now_ms();
        let closed = store
            .transition(Transition {
                id: id.to_string(),
                from: ApprovalStatus::Pending,
                to,
                at_ms: now,
                by: None,
                by_id: None,
                reason: Some(reason.to_string()),
                usable_until_ms: None,
                grant: None,
                events: vec![system_event(EventBody::ApprovalDecided {
                    id: id.to_string(),
                    status: to,
                    reviewer: None,
                    reason: Some(reason.to_string()),
                })],
            })
            .await?;
        if let Some(a) = &closed {
            self.approvals.notify(ApprovalNotice {
                event: NoticeKind::ApprovalDecided,
                approval: Some(a.clone()),
                grant: None,
            });
        }
        Ok(closed)
    }
}

/// Whether an action writes (only writes are previewed).
fn writes(action: &ActionKind) -> bool {
    match action {
        ActionKind::Sql(f) => f.writes,
        ActionKind::Ssh(_) | ActionKind::Http(_) | ActionKind::K8s(_) => false,
    }
}

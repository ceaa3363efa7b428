//! What reviewers and readers do: decide, list, read, revoke grants, and
//! record previews.

use super::*;

impl Guard {
    /// Whether `reviewer` may decide `a` now: one of its reviewer groups,
    /// not its own request, still pending. What the console shows buttons
    /// for; [`Guard::decide_approval`] checks the same again.
    pub fn may_decide(&self, reviewer: &Principal, a: &ApprovalRecord) -> bool {
        a.reviewable_by(&reviewer.groups)
            && !is_own_request(a, reviewer)
            && effective_status(a, now_ms()) == ApprovalStatus::Pending
    }

    /// Applies a reviewer's decision. Only members of the request's reviewer
    /// groups may decide, and never on their own request.
    pub async fn decide_approval(
        &self,
        reviewer: &Principal,
        id: &str,
        decision: ReviewDecision,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let store = self.approval_store()?;
        let a = store.approval(id).await?.ok_or(ApprovalError::NotFound)?;
        if !a.reviewable_by(&reviewer.groups) {
            return Err(ApprovalError::NotReviewer(a.reviewers.join(", ")));
        }
        if is_own_request(&a, reviewer) {
            return Err(ApprovalError::OwnRequest);
        }
        let now = now_ms();
        let status = effective_status(&a, now);
        if status != ApprovalStatus::Pending {
            return Err(ApprovalError::NotPending(status.as_str()));
        }
        let to = if decision.approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Denied
        };
        let grant = match (decision.approve, decision.window) {
            (true, Some(window)) => Some(GrantRecord {
                id: new_id("gr_"),
                created_at_ms: now,
                expires_at_ms: now.saturating_add(ms(window)),
                principal: a.principal.clone(),
                principal_id: a.principal_id.clone(),
                connection: a.connection.clone(),
                rule: a.rule.clone(),
                reviewers: a.reviewers.clone(),
                approval_id: Some(a.id.clone()),
                granted_by: reviewer.name.clone(),
                granted_by_id: Some(reviewer.identity()),
                reason: decision.reason.clone(),
                revoked_at_ms: None,
                revoked_by: None,
            }),
            _ => None,
        };
        let mut events = vec![reviewer_event(
            reviewer,
            EventBody::ApprovalDecided {
                id: a.id.clone(),
                status: to,
                reviewer: Some(reviewer.name.clone()),
                reason: decision.reason.clone(),
            },
        )];
        if let Some(g) = &grant {
            events.push(reviewer_event(reviewer, EventBody::GrantCreated(g.clone())));
        }
        let decided = store
            .transition(Transition {
                id: a.id.clone(),
                from: ApprovalStatus::Pending,
                to,
                at_ms: now,
                by: Some(reviewer.name.clone()),
                by_id: Some(reviewer.identity()),
                reason: decision.reason.clone(),
                usable_until_ms: decision.approve.then(|| now.saturating_add(a.valid_for_ms)),
                grant: grant.clone(),
                events,
            })
            .await?
            .ok_or(ApprovalError::NotPending("no longer pending"))?;
        tracing::info!(approval = %a.id, reviewer = %reviewer.name, status = to.as_str(), "approval decided");
        self.approvals.wake(&a.id);
        self.approvals.notify(ApprovalNotice {
            event: NoticeKind::ApprovalDecided,
            approval: Some(decided.clone()),
            grant: grant.clone(),
        });
        if grant.is_some() {
            self.approvals.notify(ApprovalNotice {
                event: NoticeKind::GrantCreated,
                approval: Some(decided.clone()),
                grant,
            });
        }
        Ok(decided)
    }

    /// One request, as its reader should see it; `None` when `reader` may not
    /// see it (admins see all; reviewers theirs; a principal its own).
    pub async fn approval_for(
        &self,
        reader: &Principal,
        admin: bool,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .approval(id)
            .await?
            .filter(|a| admin || visible_to(a, reader))
            .map(with_effective_status))
    }

    /// The requests `reader` may see, newest first.
    pub async fn approvals_for(
        &self,
        reader: &Principal,
        admin: bool,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .list_approvals(limit)
            .await?
            .into_iter()
            .filter(|a| admin || visible_to(a, reader))
            .map(with_effective_status)
            .collect())
    }

    /// Grants `reader` may see (admins: all; reviewers: their rules').
    pub async fn grants_for(
        &self,
        reader: &Principal,
        admin: bool,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, ApprovalError> {
        let store = self.approval_store()?;
        Ok(store
            .list_grants(limit)
            .await?
            .into_iter()
            .filter(|g| admin || g.reviewers.iter().any(|r| reader.groups.contains(r)))
            .collect())
    }

    /// Revokes a grant: admins, or members of the grant's reviewer groups.
    pub async fn revoke_grant(
        &self,
        by: &Principal,
        admin: bool,
        id: &str,
    ) -> Result<GrantRecord, ApprovalError> {
        let store = self.approval_store()?;
        let g = store.grant(id).await?.ok_or(ApprovalError::GrantNotFound)?;
        if !admin && !g.reviewers.iter().any(|r| by.groups.contains(r)) {
            return Err(ApprovalError::NotAllowed);
        }
        let event = reviewer_event(
            by,
            EventBody::GrantRevoked {
                id: g.id.clone(),
                by: by.name.clone(),
            },
        );
        let revoked = store
            .revoke_grant(id, &by.name, now_ms(), event)
            .await?
            .ok_or(ApprovalError::GrantInactive)?;
        self.approvals.notify(ApprovalNotice {
            event: NoticeKind::GrantRevoked,
            approval: None,
            grant: Some(revoked.clone()),
        });
        Ok(revoked)
    }

    /// Stores the target's estimate for a request (from a [`Previewer`]).
    pub async fn set_approval_preview(
        &self,
        id: &str,
        preview: serde_json::Value,
    ) -> Result<(), ApprovalError> {
        Ok(self.approval_store()?.set_preview(id, preview).await?)
    }
}

//! The approval state machine (DESIGN §5) and the review rules (invariants 3 and 4).
//!
//! ```text
//! pending ─▶ approved ─▶ executed | failed
//!    └────▶ denied | expired | cancelled
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::action::{Action, Fingerprint};
use crate::classification::Classification;
use crate::decision::ApprovalRequirement;
use crate::principal::{Caller, Principal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,
    Executed,
    Failed,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 7] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Denied,
        ApprovalStatus::Expired,
        ApprovalStatus::Cancelled,
        ApprovalStatus::Executed,
        ApprovalStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
            ApprovalStatus::Executed => "executed",
            ApprovalStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalStatus> {
        ApprovalStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether reviewers are still being asked.
    pub fn is_pending(self) -> bool {
        self == ApprovalStatus::Pending
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// One human's review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: String,
    pub verdict: Verdict,
    pub comment: String,
    /// The window the reviewer granted, if any (reusable grant for this long).
    #[serde(default, with = "crate::decision::opt_secs")]
    pub window: Option<Duration>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Who is reviewing, as established by authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewer {
    pub principal: Principal,
    pub groups: BTreeSet<String>,
}

impl From<&Caller> for Reviewer {
    fn from(caller: &Caller) -> Self {
        Reviewer {
            principal: caller.principal.clone(),
            groups: caller.groups.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum GrantMode {
    /// One execution.
    Once,
    /// Any number of identical executions until the grant expires.
    Window,
}

/// What an approval yields: permission to run the action with this fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub fingerprint: Fingerprint,
    pub mode: GrantMode,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub uses: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("request is {0}, not pending: it can no longer be reviewed")]
    NotPending(ApprovalStatus),
    #[error("request expired at {0}; the caller must ask again")]
    Expired(String),
    #[error("agents cannot review requests; `{0}` is an agent")]
    AgentCannotReview(String),
    #[error("`{reviewer}` cannot review this request: it was made by or on behalf of them")]
    SelfApproval { reviewer: String },
    #[error("`{reviewer}` is not in any reviewer group of this request ({groups})")]
    NotAReviewer { reviewer: String, groups: String },
    #[error("`{0}` has already reviewed this request")]
    AlreadyReviewed(String),
    #[error("a deny needs a comment saying why")]
    DenyNeedsComment,
    #[error("the policy for this request allows single-use approval only; drop the window")]
    WindowNotPermitted,
    #[error("a window of {requested} exceeds the {max} this policy allows")]
    WindowTooLong { requested: String, max: String },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("request is {0}: there is no grant to use")]
    NotApproved(ApprovalStatus),
    #[error("the grant was single-use and has been used")]
    Used,
    #[error("the grant expired at {0}")]
    Expired(String),
    #[error("the grant is for a different action")]
    FingerprintMismatch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewOutcome {
    pub status: ApprovalStatus,
    pub approvals_received: u32,
    pub approvals_required: u32,
}

/// Annotations as one line for reviewers (`destructiveHint: true, title:
/// Delete a file`); `None` for anything but a non-empty object.
pub fn annotations_line(said: &serde_json::Value) -> Option<String> {
    let parts: Vec<String> = said
        .as_object()?
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A pending decision that humans review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: Uuid,
    pub fingerprint: Fingerprint,
    /// The action as reviewers see it: its payload is masked before it gets here.
    pub action: Action,
    pub classification: Classification,
    pub requirement: ApprovalRequirement,
    pub policies: Vec<String>,
    pub reason: Option<String>,
    /// What the target says of the action: an MCP tool's `annotations`
    /// (`destructiveHint`, `readOnlyHint`, …), masked. Shown to reviewers.
    // INVARIANT: never an input to a decision or the fingerprint: the
    // upstream wrote them and nothing vouches for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Value>,
    pub status: ApprovalStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub reviews: Vec<Review>,
    pub grant: Option<Grant>,
}

/// Everything needed to open a request.
pub struct NewRequest {
    pub id: Uuid,
    pub fingerprint: Fingerprint,
    pub action: Action,
    pub classification: Classification,
    pub requirement: ApprovalRequirement,
    pub policies: Vec<String>,
    pub reason: Option<String>,
    /// See [`ApprovalRequest::annotations`].
    pub annotations: Option<serde_json::Value>,
}

impl ApprovalRequest {
    pub fn open(new: NewRequest, now: OffsetDateTime) -> ApprovalRequest {
        let expires_at = now + new.requirement.ttl;
        ApprovalRequest {
            id: new.id,
            fingerprint: new.fingerprint,
            action: new.action,
            classification: new.classification,
            requirement: new.requirement,
            policies: new.policies,
            reason: new.reason,
            annotations: new.annotations,
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at,
            resolved_at: None,
            reviews: Vec::new(),
            grant: None,
        }
    }

    pub fn approvals_received(&self) -> u32 {
        // INVARIANT: one review per reviewer (enforced in `review`), so counting
        // approving reviews counts distinct humans, whatever groups they are in.
        self.reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve)
            .count() as u32
    }

    /// The annotations as one line for reviewers (`destructiveHint: true,
    /// title: Delete a file`), or `None` when the target said nothing.
    pub fn annotations_line(&self) -> Option<String> {
        annotations_line(self.annotations.as_ref()?)
    }

    /// Whether `principal` is the requester or the human the request was made for.
    pub fn is_requester(&self, principal: &Principal) -> bool {
        *principal == self.action.principal
            || matches!(principal, Principal::User(u) if *u == self.action.on_behalf_of)
    }

    /// Whether `reviewer` may review now; the reason if not. Used to decide
    /// whether to show an approve button as much as to accept a review.
    pub fn check_reviewer(
        &self,
        reviewer: &Reviewer,
        now: OffsetDateTime,
    ) -> Result<(), ReviewError> {
        if self.status != ApprovalStatus::Pending {
            return Err(ReviewError::NotPending(self.status));
        }
        if now >= self.expires_at {
            return Err(ReviewError::Expired(rfc3339(self.expires_at)));
        }
        // INVARIANT 4: agents never review, whatever groups they were put in.
        if reviewer.principal.is_agent() {
            return Err(ReviewError::AgentCannotReview(
                reviewer.principal.to_string(),
            ));
        }
        // INVARIANT 4: neither the requester nor its accountable human reviews.
        if self.is_requester(&reviewer.principal) {
            return Err(ReviewError::SelfApproval {
                reviewer: reviewer.principal.to_string(),
            });
        }
        let groups = &self.requirement.reviewer_groups;
        if !groups.is_empty() && !groups.iter().any(|g| reviewer.groups.contains(g)) {
            return Err(ReviewError::NotAReviewer {
                reviewer: reviewer.principal.to_string(),
                groups: groups.join(", "),
            });
        }
        let name = reviewer.principal.name();
        if self.reviews.iter().any(|r| r.reviewer == name) {
            return Err(ReviewError::AlreadyReviewed(reviewer.principal.to_string()));
        }
        Ok(())
    }

    /// Applies one review. Any deny denies; the quorum-th approval approves and
    /// issues a grant bound to the fingerprint.
    pub fn review(
        &mut self,
        reviewer: &Reviewer,
        verdict: Verdict,
        comment: &str,
        window: Option<Duration>,
        now: OffsetDateTime,
    ) -> Result<ReviewOutcome, ReviewError> {
        self.check_reviewer(reviewer, now)?;
        let comment = comment.trim();
        match verdict {
            Verdict::Deny if comment.is_empty() => return Err(ReviewError::DenyNeedsComment),
            Verdict::Approve => {
                if let Some(requested) = window {
                    let max = self
                        .requirement
                        .max_window
                        .ok_or(ReviewError::WindowNotPermitted)?;
                    if requested > max {
                        return Err(ReviewError::WindowTooLong {
                            requested: crate::duration::format(requested),
                            max: crate::duration::format(max),
                        });
                    }
                }
            }
            Verdict::Deny => {}
        }
        self.reviews.push(Review {
            reviewer: reviewer.principal.name().to_owned(),
            verdict,
            comment: comment.to_owned(),
            window: if verdict == Verdict::Approve {
                window
            } else {
                None
            },
            at: now,
        });
        match verdict {
            // INVARIANT: any deny denies, however many approvals came before.
            Verdict::Deny => self.resolve(ApprovalStatus::Denied, now),
            Verdict::Approve if self.approvals_received() >= self.requirement.approvals => {
                self.grant = Some(self.issue_grant(now));
                self.resolve(ApprovalStatus::Approved, now);
            }
            Verdict::Approve => {}
        }
        Ok(ReviewOutcome {
            status: self.status,
            approvals_received: self.approvals_received(),
            approvals_required: self.requirement.approvals,
        })
    }

    /// A window only if every approver granted one; then the shortest.
    fn issue_grant(&self, now: OffsetDateTime) -> Grant {
        let windows: Option<Vec<Duration>> = self
            .reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve)
            .map(|r| r.window)
            .collect();
        match windows.and_then(|w| w.into_iter().min()) {
            Some(window) => Grant {
                fingerprint: self.fingerprint.clone(),
                mode: GrantMode::Window,
                expires_at: now + window,
                uses: 0,
            },
            None => Grant {
                fingerprint: self.fingerprint.clone(),
                mode: GrantMode::Once,
                expires_at: now + self.requirement.ttl,
                uses: 0,
            },
        }
    }

    fn resolve(&mut self, status: ApprovalStatus, now: OffsetDateTime) {
        self.status = status;
        self.resolved_at = Some(now);
    }

    /// Uses the grant for an action with `fingerprint`.
    pub fn consume_grant(
        &mut self,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
    ) -> Result<(), GrantError> {
        let status = self.status;
        let grant = self.grant.as_mut().ok_or(GrantError::NotApproved(status))?;
        // INVARIANT 3: a grant approves one exact action.
        if grant.fingerprint != *fingerprint {
            return Err(GrantError::FingerprintMismatch);
        }
        if now >= grant.expires_at {
            return Err(GrantError::Expired(rfc3339(grant.expires_at)));
        }
        match grant.mode {
            GrantMode::Once if grant.uses > 0 => return Err(GrantError::Used),
            GrantMode::Once if status != ApprovalStatus::Approved => {
                return Err(GrantError::NotApproved(status))
            }
            _ => {}
        }
        grant.uses += 1;
        Ok(())
    }

    /// Whether an identical action could run on this grant right now.
    pub fn grant_usable(&self, now: OffsetDateTime) -> bool {
        self.clone().consume_grant(&self.fingerprint, now).is_ok()
    }

    /// Records how the approved action went. Only the first outcome moves the status.
    pub fn record_outcome(&mut self, succeeded: bool) {
        if self.status == ApprovalStatus::Approved {
            self.status = if succeeded {
                ApprovalStatus::Executed
            } else {
                ApprovalStatus::Failed
            };
        }
    }

    /// Expires a pending request whose time is up. Returns whether it changed.
    pub fn expire_if_due(&mut self, now: OffsetDateTime) -> bool {
        if self.status == ApprovalStatus::Pending && now >= self.expires_at {
            self.resolve(ApprovalStatus::Expired, now);
            true
        } else {
            false
        }
    }

    /// Cancels a pending request; only its requester may.
    pub fn cancel(&mut self, by: &Principal, now: OffsetDateTime) -> Result<(), CancelError> {
        if !self.is_requester(by) {
            return Err(CancelError::NotRequester(by.to_string()));
        }
        if self.status != ApprovalStatus::Pending {
            return Err(CancelError::NotPending(self.status));
        }
        self.resolve(ApprovalStatus::Cancelled, now);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("only the requester can cancel a request; `{0}` is not")]
    NotRequester(String),
    #[error("request is {0}, not pending: nothing to cancel")]
    NotPending(ApprovalStatus),
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests;

//! What a review request shows in every channel (DESIGN §7): who asked, what
//! exactly, where, why, which rule fired, approvals needed and received, and
//! when it expires. The payload was masked before it was stored.

use std::collections::BTreeMap;

use signoff_core::audit::timestamp;
use signoff_core::{ApprovalRequest, ApprovalStatus, Payload, Verdict};

/// A request as reviewers read it, channel-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestView {
    pub id: String,
    pub status: ApprovalStatus,
    pub who: String,
    pub what: String,
    pub summary: String,
    pub effects: Vec<String>,
    pub target: String,
    pub labels: String,
    pub why: String,
    /// What the tool says of itself (`destructiveHint: true`), unverified;
    /// empty when it said nothing.
    pub annotations: String,
    pub rules: String,
    pub approvals: String,
    pub expires: String,
    pub reviews: Vec<String>,
    pub link: String,
}

impl RequestView {
    pub fn new(
        r: &ApprovalRequest,
        labels: Option<&BTreeMap<String, String>>,
        review_url: &str,
    ) -> RequestView {
        let action = &r.action;
        let who = if action.principal.to_string() == format!("user:{}", action.on_behalf_of) {
            format!("`{}`", action.principal)
        } else {
            format!(
                "`{}` on behalf of `{}`",
                action.principal, action.on_behalf_of
            )
        };
        let received = r
            .reviews
            .iter()
            .filter(|v| v.verdict == Verdict::Approve)
            .count();
        let groups = if r.requirement.reviewer_groups.is_empty() {
            "any human but the requester".to_owned()
        } else {
            r.requirement.reviewer_groups.join(", ")
        };
        RequestView {
            id: r.id.to_string(),
            status: r.status,
            who,
            what: payload_text(&action.payload),
            summary: r.classification.summary.clone(),
            effects: r
                .classification
                .effects
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            target: action.target.to_string(),
            labels: labels
                .map(|l| {
                    l.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            why: r
                .reason
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "(no reason given)".into()),
            annotations: r.annotations_line().unwrap_or_default(),
            rules: r.policies.join(", "),
            approvals: format!("{received} of {} (from {groups})", r.requirement.approvals),
            expires: timestamp(r.expires_at),
            reviews: r.reviews.iter().map(review_line).collect(),
            link: review_url.to_owned(),
        }
    }

    /// One line on where the request stands.
    pub fn status_line(&self) -> String {
        match self.status {
            ApprovalStatus::Pending => format!(
                "Pending, approvals {}, expires {}",
                self.approvals, self.expires
            ),
            other => format!(
                "{}, approvals {}",
                capitalized(other.as_str()),
                self.approvals
            ),
        }
    }
}

pub fn review_line(r: &signoff_core::approval::Review) -> String {
    let verb = match r.verdict {
        Verdict::Approve => "approved",
        Verdict::Deny => "denied",
    };
    let mut line = format!("`{}` {verb}", r.reviewer);
    if let Some(w) = r.window {
        line.push_str(&format!(
            " for a window of {}",
            signoff_core::duration::format(w)
        ));
    }
    if !r.comment.trim().is_empty() {
        line.push_str(&format!(": {}", r.comment.trim()));
    }
    line
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The payload as a reviewer reads it: SQL and commands as written, the rest
/// as pretty JSON.
fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Sql(s) if s.params.is_empty() => s.sql.clone(),
        Payload::Sql(s) => format!(
            "{}\n-- parameters: {}",
            s.sql,
            serde_json::to_string(&s.params).unwrap_or_default()
        ),
        Payload::Exec(signoff_core::action::ExecPayload::Shell { command }) => command.clone(),
        Payload::Exec(signoff_core::action::ExecPayload::Argv { argv }) => argv.join(" "),
        other => serde_json::to_string_pretty(&other.body_json()).unwrap_or_default(),
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, saying so
/// visibly when it does.
pub fn truncated(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let note = format!(
        "\n… truncated: {} more bytes; the review page shows all of it",
        text.len()
    );
    let keep = max.saturating_sub(note.len());
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let shown = &text[..end];
    format!(
        "{shown}\n… truncated: {} more bytes; the review page shows all of it",
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use signoff_core::testing::held_mcp_call as held_call;

    use super::*;

    #[test]
    fn every_channel_shows_what_the_tool_says_as_its_own_claim() {
        let said = serde_json::json!({ "destructiveHint": true, "readOnlyHint": false });
        let view = RequestView::new(&held_call(Some(said)), None, "http://signoff/ui/requests/1");
        assert_eq!(
            view.annotations,
            "destructiveHint: true, readOnlyHint: false"
        );
        let slack = crate::slack::blocks::message(&view).to_string();
        assert!(
            slack.contains(
                "*The tool says (not verified):* destructiveHint: true, readOnlyHint: false"
            ),
            "{slack}"
        );
        let teams = crate::teams::message(&view, true);
        assert!(
            teams.contains("\"title\":\"The tool says (not verified)\""),
            "{teams}"
        );
        assert!(
            teams.contains("destructiveHint: true, readOnlyHint: false"),
            "{teams}"
        );
        // A tool that said nothing gets no line at all.
        let quiet = RequestView::new(&held_call(None), None, "http://signoff/ui/requests/1");
        assert!(quiet.annotations.is_empty());
        assert!(!crate::slack::blocks::message(&quiet)
            .to_string()
            .contains("The tool says"));
        assert!(!crate::teams::message(&quiet, true).contains("The tool says"));
    }

    #[test]
    fn truncation_is_visible_and_bounded() {
        let text = "é".repeat(5000);
        let cut = truncated(&text, 1000);
        assert!(cut.len() <= 1000, "{}", cut.len());
        assert!(cut.contains("truncated"));
        assert_eq!(truncated("short", 1000), "short");
    }
}

//! The web inbox's HTML, rendered on the server with maud (escaped by
//! default). Pages work without JavaScript; `app.js` only keeps lists live.

use maud::{html, Markup, DOCTYPE};
use signoff_core::approval::rfc3339;
use signoff_core::{ApprovalRequest, AuditEvent, AuditKind, Caller};
use signoff_store::VerifyReport;

pub const STYLE: &str = include_str!("style.css");
pub const SCRIPT: &str = include_str!("app.js");

/// What every signed-in page needs: who is looking and their CSRF token.
pub struct Frame<'a> {
    pub viewer: &'a Caller,
    pub csrf: &'a str,
}

fn layout(title: &str, frame: Option<&Frame>, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · signoff" }
                link rel="stylesheet" href="/ui/style.css";
                script src="/ui/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "signoff" }
                    @if let Some(f) = frame {
                        nav aria-label="Main" {
                            @for (href, label) in [("/ui/requests", "Pending"), ("/ui/history", "History"), ("/ui/audit", "Audit log")] {
                                @if href == current {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                        form.logout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(f.csrf);
                            span.who { (f.viewer.principal.to_string()) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

pub fn login(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        "",
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form.card method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input #key type="password" name="key" autocomplete="current-password" required placeholder="so_…";
                p.hint { "Use a key made with " code { "signoff keys create --principal user:YOU" } ". Agents cannot sign in here." }
                button.primary type="submit" { "Sign in" }
            }
        },
    )
}

fn status_badge(r: &ApprovalRequest) -> Markup {
    html! { span class={"badge " (r.status.as_str())} { (r.status.as_str()) } }
}

fn received(r: &ApprovalRequest) -> usize {
    r.reviews
        .iter()
        .filter(|v| v.verdict == signoff_core::Verdict::Approve)
        .count()
}

/// The rows of a request list; also served alone for live updates.
pub fn request_rows(list: &[ApprovalRequest], empty: &str) -> Markup {
    html! {
        @if list.is_empty() {
            p.empty { (empty) }
        } @else {
            ul.requests {
                @for r in list {
                    li {
                        a href={"/ui/requests/" (r.id)} {
                            span.summary { (r.classification.summary) }
                            span.meta {
                                (status_badge(r)) " "
                                code { (r.action.principal.to_string()) } " on " code { (r.action.target.as_str()) }
                                " · " (received(r)) "/" (r.requirement.approvals) " approvals"
                                " · expires " time datetime=(rfc3339(r.expires_at)) { (rfc3339(r.expires_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn pending(frame: &Frame, list: &[ApprovalRequest]) -> Markup {
    layout(
        "Pending requests",
        Some(frame),
        "/ui/requests",
        html! {
            h1 { "Pending requests" }
            p.hint { "This list updates by itself." }
            div #pending aria-live="polite" data-live="/ui/requests/list" {
                (request_rows(list, "Nothing is waiting for a review."))
            }
        },
    )
}

pub fn history(frame: &Frame, list: &[ApprovalRequest]) -> Markup {
    layout(
        "History",
        Some(frame),
        "/ui/history",
        html! {
            h1 { "Resolved requests" }
            (request_rows(list, "No request has been resolved yet."))
        },
    )
}

/// Why the viewer may not review, or `None` when they may.
pub struct DetailState<'a> {
    pub refusal: Option<String>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    pub labels: String,
    pub review_windows: Vec<(&'static str, &'static str)>,
}

pub fn detail(frame: &Frame, r: &ApprovalRequest, payload: &str, state: &DetailState) -> Markup {
    let a = &r.action;
    layout(
        "Request",
        Some(frame),
        "",
        html! {
            p { a href="/ui/requests" { "← Pending requests" } }
            h1 { (r.classification.summary) }
            @if let Some(n) = state.notice { p.notice role="status" { (n) } }
            @if let Some(e) = state.error { p.error role="alert" { (e) } }
            div #request data-request=(r.id) {
                dl.facts {
                    dt { "Status" } dd { (status_badge(r)) }
                    dt { "Who" } dd { code { (a.principal.to_string()) } " on behalf of " code { (a.on_behalf_of) } }
                    dt { "Where" } dd { code { (a.target.as_str()) } @if !state.labels.is_empty() { " (" (state.labels) ")" } }
                    dt { "Why" } dd { (r.reason.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or("(no reason given)")) }
                    @if let Some(said) = r.annotations_line() {
                        dt { "The tool says" } dd #annotations { (said) " " span.hint { "(the upstream's own claim, not verified; it did not decide anything)" } }
                    }
                    dt { "Rule" } dd { (r.policies.join(", ")) }
                    dt { "Approvals" } dd {
                        (received(r)) " of " (r.requirement.approvals)
                        " from " (if r.requirement.reviewer_groups.is_empty() { "any human but the requester".to_owned() } else { r.requirement.reviewer_groups.join(", ") })
                    }
                    dt { "Expires" } dd { time datetime=(rfc3339(r.expires_at)) { (rfc3339(r.expires_at)) } }
                    dt { "Effects" } dd { @for e in &r.classification.effects { span.effect { (e.as_str()) } " " } }
                    dt { "Request id" } dd { code { (r.id) } }
                }
                h2 { "What, exactly" }
                p.hint { "As the reviewer sees it: secrets and personal data are masked. The approval covers this exact action only." }
                pre.payload { code { (payload) } }
                details {
                    summary { "Classification facts" }
                    pre { code { (serde_json::to_string_pretty(&r.classification.facts).unwrap_or_default()) } }
                }
                @if !r.reviews.is_empty() {
                    h2 { "Reviews" }
                    ul.reviews {
                        @for v in &r.reviews {
                            li { code { (v.reviewer) } " " strong { (v.verdict.as_str()) } " at " (rfc3339(v.at))
                                @if !v.comment.is_empty() { ": " (v.comment) } }
                        }
                    }
                }
                @match &state.refusal {
                    None => {
                        h2 { "Your review" }
                        form.card method="post" action={"/ui/requests/" (r.id) "/review"} {
                            input type="hidden" name="csrf" value=(frame.csrf);
                            label for="comment" { "Comment " span.hint { "(required to deny)" } }
                            textarea #comment name="comment" rows="3" maxlength="2000" {}
                            @if !state.review_windows.is_empty() {
                                label for="window" { "Approve for" }
                                select #window name="window" {
                                    option value="" { "this one execution" }
                                    @for (value, label) in &state.review_windows {
                                        option value=(value) { (label) }
                                    }
                                }
                            }
                            div.actions {
                                button.primary type="submit" name="verdict" value="approve" { "Approve" }
                                button.danger type="submit" name="verdict" value="deny" { "Deny" }
                            }
                        }
                    }
                    Some(why) => { p.hint #no-review { (why) } }
                }
            }
        },
    )
}

pub struct AuditQuery<'a> {
    pub kind: &'a str,
    pub actor: &'a str,
    pub approval_id: &'a str,
    pub since: &'a str,
}

pub fn audit(
    frame: &Frame,
    events: &[AuditEvent],
    report: &Result<VerifyReport, String>,
    q: &AuditQuery,
) -> Markup {
    layout(
        "Audit log",
        Some(frame),
        "/ui/audit",
        html! {
            h1 { "Audit log" }
            @match report {
                Ok(r) if r.ok() => p.notice role="status" #chain {
                    "Chain verified: " (r.events) " events, " (r.checkpoints) " signed checkpoints"
                    @if let Some((seq, hash)) = &r.head { ", head #" (seq) " " code { (hash.get(..16).unwrap_or(hash)) "…" } }
                },
                Ok(r) => p.error role="alert" #chain { "Chain broken: " (r.problem.as_deref().unwrap_or("")) },
                Err(e) => p.error role="alert" #chain { "Could not verify the chain: " (e) },
            }
            form.filters method="get" action="/ui/audit" {
                label { "Kind " select name="kind" {
                    option value="" { "any" }
                    @for k in signoff_core::AuditKind::ALL {
                        option value=(k.as_str()) selected[q.kind == k.as_str()] { (k.as_str()) }
                    }
                } }
                label { "Actor " input type="text" name="actor" value=(q.actor) placeholder="user:rita"; }
                label { "Request " input type="text" name="approval_id" value=(q.approval_id) placeholder="request id"; }
                label { "Since " input type="text" name="since" value=(q.since) placeholder="2026-11-01T00:00:00Z"; }
                button type="submit" { "Filter" }
            }
            div.scroll {
                table {
                    caption { "Newest last, at most 500 events" }
                    thead { tr { th scope="col" { "#" } th scope="col" { "At" } th scope="col" { "Kind" } th scope="col" { "Actor" } th scope="col" { "Target" } th scope="col" { "Details" } } }
                    tbody {
                        @for e in events {
                            tr {
                                td { (e.seq) }
                                td { (e.at) }
                                td { (e.kind.as_str()) }
                                td { code { (e.actor) } }
                                td { (e.target.as_deref().unwrap_or("")) }
                                td {
                                    @if let Some(id) = e.approval_id { a href={"/ui/requests/" (id)} { "request" } " " }
                                    @if e.kind == AuditKind::ReadsBatched { (read_batch(&e.details)) } @else { (e.details.to_string()) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// How many reads of a `reads.batched` event the audit page lists.
const READS_SHOWN: usize = 20;

/// A `reads.batched` event's reads as statement → outcome, folded, since one
/// event can hold a thousand of them.
fn read_batch(details: &serde_json::Value) -> Markup {
    let reads = details["reads"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let statement = |r: &serde_json::Value| match &r["payload"]["sql"] {
        serde_json::Value::String(sql) => sql.clone(),
        _ => r["payload"].to_string(),
    };
    html! {
        details {
            summary { (reads.len()) " allowed reads, the last at " (details["until"].as_str().unwrap_or("-")) }
            ul {
                @for r in reads.iter().take(READS_SHOWN) {
                    li {
                        code { (statement(r)) }
                        " → " (r["details"]["outcome"]["detail"].as_str().unwrap_or("no outcome recorded"))
                    }
                }
                @if reads.len() > READS_SHOWN {
                    li { "and " (reads.len() - READS_SHOWN) " more: " code { "signoff audit export" } " lists every one" }
                }
            }
        }
    }
}

pub fn not_found(frame: &Frame, what: &str) -> Markup {
    layout(
        "Not found",
        Some(frame),
        "",
        html! { h1 { "Not found" } p { (what) } p { a href="/ui/requests" { "Back to pending requests" } } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use signoff_core::testing::held_mcp_call as request;
    use signoff_core::{AuthMethod, Principal};

    #[test]
    fn the_review_page_shows_what_the_tool_says_as_its_claim() {
        let viewer = Caller {
            principal: Principal::User("rita".into()),
            on_behalf_of: "rita".into(),
            groups: Default::default(),
            auth: AuthMethod::ApiKey { key_id: "k".into() },
        };
        let frame = Frame {
            viewer: &viewer,
            csrf: "t",
        };
        let state = DetailState {
            refusal: None,
            notice: None,
            error: None,
            labels: String::new(),
            review_windows: vec![],
        };
        let said = Some(json!({ "destructiveHint": true, "title": "<Delete>" }));
        let html = detail(&frame, &request(said), "{}", &state).into_string();
        assert!(html.contains("<dt>The tool says</dt>"), "{html}");
        assert!(
            html.contains("destructiveHint: true, title: &lt;Delete&gt;"),
            "escaped: {html}"
        );
        assert!(html.contains("not verified"), "{html}");
        let quiet = detail(&frame, &request(None), "{}", &state).into_string();
        assert!(!quiet.contains("The tool says"), "{quiet}");
    }

    #[test]
    fn a_read_batch_is_folded_and_bounded() {
        let reads: Vec<_> = (0..25)
            .map(|i| {
                json!({
                    "payload": { "sql": format!("SELECT <{i}>") },
                    "details": { "outcome": { "detail": "SELECT 1" } },
                })
            })
            .collect();
        let details =
            json!({ "count": 25, "until": "2026-12-02T10:00:00.000000Z", "reads": reads });
        let html = read_batch(&details).into_string();
        assert!(
            html.contains("25 allowed reads, the last at 2026-12-02T10:00:00.000000Z"),
            "{html}"
        );
        assert!(
            html.contains("SELECT &lt;19&gt;</code> → SELECT 1"),
            "escaped: {html}"
        );
        assert!(!html.contains("SELECT &lt;20&gt;"), "{html}");
        assert!(html.contains("and 5 more"), "{html}");
    }
}

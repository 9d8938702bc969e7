//! `/ui`: the web inbox. Reviewers sign in, see pending requests live, read
//! one in full and approve or deny it; auditors read the log and its
//! verification status.
//!
//! Sign-in is by API key for the embedded default. Any other method (OIDC)
//! only has to authenticate the human and call [`start_session`]: sessions,
//! CSRF and every page are independent of how the caller signed in.

mod pages;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::Markup;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use signoff_core::approval::Reviewer;
use signoff_core::{ApprovalStatus, AuditKind, AuthMethod, Caller, Principal, Verdict};
use signoff_gateway::{Gateway, GatewayEvent};
use signoff_store::sessions::{ui_session, UiSession};
use signoff_store::AuditFilter;
use time::OffsetDateTime;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use uuid::Uuid;

use pages::Frame;

const SESSION_COOKIE: &str = "signoff_session";
const LOGIN_COOKIE: &str = "signoff_login";
const SESSION_HOURS: i64 = 12;

#[derive(Clone)]
pub struct UiState {
    gateway: Gateway,
    /// `Secure` on cookies when the public URL is https.
    secure: bool,
}

pub fn routes(gateway: Gateway, public_url: &str) -> Router {
    let state = UiState {
        gateway,
        secure: public_url.starts_with("https://"),
    };
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/requests") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/requests") }))
        .route("/ui/style.css", get(style))
        .route("/ui/app.js", get(script))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/requests", get(pending))
        .route("/ui/requests/list", get(pending_rows))
        .route("/ui/requests/{id}", get(detail))
        .route("/ui/requests/{id}/review", post(review))
        .route("/ui/history", get(history))
        .route("/ui/audit", get(audit))
        .route("/ui/events", get(events))
        .with_state(state)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Compares secrets without leaking where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Security headers for every page.
fn page(markup: Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        markup.into_string(),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        pages::STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        pages::SCRIPT,
    )
        .into_response()
}

/// A signed-in human: the caller and the session's CSRF token.
pub struct Viewer {
    caller: Caller,
    csrf: String,
    token_hash: String,
}

impl Viewer {
    fn frame(&self) -> Frame<'_> {
        Frame {
            viewer: &self.caller,
            csrf: &self.csrf,
        }
    }

    /// `None` when the form carries this session's CSRF token, else the refusal.
    fn csrf_refusal(&self, sent: &str) -> Option<Response> {
        (!same(sent, &self.csrf)).then(|| {
            (
                StatusCode::FORBIDDEN,
                "the form's CSRF token does not match your session; reload the page and try again",
            )
                .into_response()
        })
    }
}

impl FromRequestParts<UiState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &UiState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/ui/requests");
            let next = form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
            Redirect::to(&format!("/ui/login?next={next}")).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let hash = token_hash(&token);
        let h = hash.clone();
        let session = state
            .gateway
            .store()
            .read(move |c| ui_session(c, &h, OffsetDateTime::now_utc()))
            .await
            .map_err(|e| {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cannot read sessions: {e}"),
                )
                    .into_response()
            })?;
        let Some(session) = session else {
            return Err(to_login());
        };
        let (Ok(principal), Ok(auth)) = (
            session.principal.parse::<Principal>(),
            serde_json::from_str::<AuthMethod>(&session.auth),
        ) else {
            return Err(to_login());
        };
        // The directory is read again on every request: a user removed from
        // the config loses their session.
        let caller = state
            .gateway
            .caller_for(principal, auth)
            .map_err(|_| to_login())?;
        Ok(Viewer {
            caller,
            csrf: session.csrf,
            token_hash: hash,
        })
    }
}

/// Starts a session for an authenticated human and returns its cookie. The
/// seam for every sign-in method.
pub async fn start_session(state: &UiState, caller: &Caller) -> Result<HeaderValue, String> {
    let token = random_token();
    let session = UiSession {
        principal: caller.principal.to_string(),
        auth: serde_json::to_string(&caller.auth).map_err(|e| e.to_string())?,
        csrf: random_token(),
    };
    let hash = token_hash(&token);
    let now = OffsetDateTime::now_utc();
    state
        .gateway
        .store()
        .write(move |tx| {
            tx.start_ui_session(
                &hash,
                &session,
                now,
                now + time::Duration::hours(SESSION_HOURS),
            )
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(set_cookie(
        SESSION_COOKIE,
        &token,
        SESSION_HOURS * 3600,
        state.secure,
    ))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths inside the inbox: never an open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/ui/requests".to_owned(),
    }
}

async fn login_page(State(s): State<UiState>, Query(q): Query<NextQuery>) -> Response {
    login_form(&s, &safe_next(q.next.as_deref()), None, StatusCode::OK)
}

/// The login form with a fresh double-submit token against login CSRF.
fn login_form(s: &UiState, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let token = random_token();
    let mut response = page(pages::login(&token, next, error));
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, 600, s.secure),
    );
    response
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
    csrf: String,
    next: Option<String>,
}

async fn login(State(s): State<UiState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&f.csrf, &expected) {
        return login_form(
            &s,
            &next,
            Some("The sign-in form expired; try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let caller = match s
        .gateway
        .authenticate(Some(&format!("Bearer {}", f.key.trim())))
        .await
    {
        Ok(c) => c,
        Err(_) => {
            return login_form(
                &s,
                &next,
                Some("That API key is not valid."),
                StatusCode::UNAUTHORIZED,
            )
        }
    };
    if matches!(caller.principal, Principal::Agent(_)) {
        return login_form(
            &s,
            &next,
            Some("Agents cannot sign in to the inbox; sign in with your own user key."),
            StatusCode::FORBIDDEN,
        );
    }
    match start_session(&s, &caller).await {
        Ok(cookie) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", 0, s.secure),
            );
            response
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot start a session: {e}"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(s): State<UiState>, viewer: Viewer, Form(f): Form<CsrfForm>) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&f.csrf) {
        return refused;
    }
    let hash = viewer.token_hash.clone();
    if let Err(e) = s
        .gateway
        .store()
        .write(move |tx| tx.end_ui_session(&hash))
        .await
    {
        tracing::warn!(error = %e, "could not end a web session");
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, s.secure),
    );
    response
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("signoff cannot read its store: {e}"),
    )
        .into_response()
}

async fn pending(State(s): State<UiState>, viewer: Viewer) -> Response {
    match s
        .gateway
        .approvals(Some(ApprovalStatus::Pending), 200)
        .await
    {
        Ok(list) => page(pages::pending(&viewer.frame(), &list)),
        Err(e) => unavailable(e),
    }
}

async fn pending_rows(State(s): State<UiState>, _viewer: Viewer) -> Response {
    match s
        .gateway
        .approvals(Some(ApprovalStatus::Pending), 200)
        .await
    {
        Ok(list) => page(pages::request_rows(
            &list,
            "Nothing is waiting for a review.",
        )),
        Err(e) => unavailable(e),
    }
}

async fn history(State(s): State<UiState>, viewer: Viewer) -> Response {
    match s.gateway.approvals(None, 300).await {
        Ok(list) => {
            let resolved: Vec<_> = list
                .into_iter()
                .filter(|r| !r.status.is_pending())
                .take(200)
                .collect();
            page(pages::history(&viewer.frame(), &resolved))
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
struct DetailQuery {
    done: Option<String>,
    error: Option<String>,
}

/// Windows offered to a reviewer, within what the policy allows.
const WINDOWS: [(&str, &str, u64); 4] = [
    ("15m", "15 minutes", 15 * 60),
    ("1h", "1 hour", 3600),
    ("8h", "8 hours", 8 * 3600),
    ("24h", "24 hours", 24 * 3600),
];

async fn detail(
    State(s): State<UiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found(&viewer, "That is not a request id.");
    };
    let r = match s.gateway.approval(id).await {
        Ok(r) => r,
        Err(signoff_gateway::GatewayError::NotFound(_)) => {
            return not_found(&viewer, "No request has this id.")
        }
        Err(e) => return unavailable(e),
    };
    // The same rules the gateway enforces decide whether the form shows;
    // the gateway checks again when the form is sent.
    let refusal = r
        .check_reviewer(&Reviewer::from(&viewer.caller), OffsetDateTime::now_utc())
        .err()
        .map(|e| format!("You cannot review this request: {e}."));
    let labels = s
        .gateway
        .decider()
        .directory()
        .target(r.action.target.as_str())
        .map(|t| {
            t.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let review_windows = match r.requirement.max_window {
        Some(max) => WINDOWS
            .iter()
            .filter(|w| w.2 <= max.as_secs())
            .map(|w| (w.0, w.1))
            .collect(),
        None => Vec::new(),
    };
    let payload = payload_text(&r);
    let notice = q.done.as_deref().map(|d| match d {
        "approve" => "Your approval is recorded.",
        _ => "Your denial is recorded.",
    });
    let state = pages::DetailState {
        refusal,
        notice,
        error: q.error.as_deref(),
        labels,
        review_windows,
    };
    page(pages::detail(&viewer.frame(), &r, &payload, &state))
}

fn payload_text(r: &signoff_core::ApprovalRequest) -> String {
    use signoff_core::action::ExecPayload;
    use signoff_core::Payload;
    match &r.action.payload {
        Payload::Sql(s) if s.params.is_empty() => s.sql.clone(),
        Payload::Exec(ExecPayload::Shell { command }) => command.clone(),
        Payload::Exec(ExecPayload::Argv { argv }) => {
            serde_json::to_string(argv).unwrap_or_default()
        }
        other => serde_json::to_string_pretty(&other.body_json()).unwrap_or_default(),
    }
}

fn not_found(viewer: &Viewer, what: &str) -> Response {
    let mut r = page(pages::not_found(&viewer.frame(), what));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[derive(Deserialize)]
struct ReviewForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    window: String,
}

async fn review(
    State(s): State<UiState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<ReviewForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&f.csrf) {
        return refused;
    }
    let back = |query: String| Redirect::to(&format!("/ui/requests/{id}?{query}")).into_response();
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let verdict = match f.verdict.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        other => {
            return back(format!(
                "error={}",
                encode(&format!("unknown verdict `{other}`"))
            ))
        }
    };
    let window = match f.window.trim() {
        "" => None,
        w => match WINDOWS.iter().find(|x| x.0 == w) {
            Some(x) => Some(Duration::from_secs(x.2)),
            None => {
                return back(format!(
                    "error={}",
                    encode(&format!("unknown window `{w}`"))
                ))
            }
        },
    };
    match s
        .gateway
        .review(
            &viewer.caller,
            id,
            verdict,
            f.comment.trim().to_owned(),
            window,
        )
        .await
    {
        Ok(_) => back(format!("done={}", verdict.as_str())),
        Err(e) => back(format!("error={}", encode(&e.to_string()))),
    }
}

#[derive(Deserialize)]
struct AuditParams {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    approval_id: String,
    #[serde(default)]
    since: String,
}

async fn audit(State(s): State<UiState>, viewer: Viewer, Query(q): Query<AuditParams>) -> Response {
    let filter = AuditFilter {
        kind: AuditKind::parse(q.kind.trim()),
        actor: Some(q.actor.trim().to_owned()).filter(|a| !a.is_empty()),
        approval_id: Uuid::parse_str(q.approval_id.trim()).ok(),
        since: Some(q.since.trim().to_owned()).filter(|a| !a.is_empty()),
        limit: Some(500),
        ..AuditFilter::default()
    };
    let store = s.gateway.store();
    let events = match store
        .read(move |c| signoff_store::read::events(c, &filter))
        .await
    {
        Ok(e) => e,
        Err(e) => return unavailable(e),
    };
    let report = store
        .read(|c| signoff_store::verify(c, None, |_| {}))
        .await
        .map_err(|e| e.to_string());
    let query = pages::AuditQuery {
        kind: &q.kind,
        actor: &q.actor,
        approval_id: &q.approval_id,
        since: &q.since,
    };
    page(pages::audit(&viewer.frame(), &events, &report, &query))
}

/// Server-sent events: `changed` with the request id whenever a request is
/// created, reviewed or resolved.
async fn events(
    State(s): State<UiState>,
    _viewer: Viewer,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(s.gateway.subscribe()).filter_map(|e| {
        let id = match e {
            Ok(
                GatewayEvent::RequestCreated(r)
                | GatewayEvent::ReviewSubmitted(r)
                | GatewayEvent::RequestResolved(r),
            ) => r.id.to_string(),
            Ok(GatewayEvent::ActionExecuted {
                approval_id: Some(id),
                ..
            }) => id.to_string(),
            Ok(GatewayEvent::ActionExecuted { .. }) => return None,
            // Missed some: tell the page to refresh anyway.
            Err(_) => String::new(),
        };
        Some(Ok(Event::default().event("changed").data(id)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

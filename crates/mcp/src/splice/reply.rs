//! The answers signoff writes itself, rather than relaying the upstream's.

use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Value};

use super::session::Session;
use super::{Answer, SESSION};
use crate::jsonrpc;

/// signoff's own answer to a call it does not run: a tool result with
/// `isError`, which the model reads (not a transport error).
pub(super) fn refusal(session: &Session, id: Value, text: String) -> Value {
    let mut result = json!({ "content": [{ "type": "text", "text": text }], "isError": true });
    if session.stateless {
        // Required on the 2026-07-28 wire; the older revisions have no such field.
        result["resultType"] = Value::from("complete");
    }
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub(super) fn error(status: StatusCode, id: Value, code: i64, message: &str) -> Answer {
    let mut r = json_message(&jsonrpc::error_response(id, code, message));
    *r.status_mut() = status;
    r
}

/// 404 for a session that ended, was never started or is another
/// principal's: the client starts a new one (streamable HTTP's rule).
pub(super) fn no_session(headers: &HeaderMap, id: Value) -> Answer {
    match headers.contains_key(SESSION) {
        true => error(
            StatusCode::NOT_FOUND,
            id,
            jsonrpc::INVALID_REQUEST,
            "session not found: it ended, or it is not yours; start a new one with `initialize`",
        ),
        false => error(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::INVALID_REQUEST,
            "invalid request: no `Mcp-Session-Id` header; start the session with `initialize`",
        ),
    }
}

pub(super) fn only_post() -> Answer {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "MCP 2026-07-28 has no sessions: send each request as a POST",
    );
    r.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    r
}

pub(super) fn json_message(message: &Value) -> Answer {
    let mut r = Response::new(Body::from(message.to_string()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn plain(code: StatusCode, text: &'static str) -> Answer {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r
}

pub(super) fn status(code: StatusCode) -> Answer {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

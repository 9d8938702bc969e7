//! MCP 2026-07-28's per-request envelope. That revision has no `initialize`
//! and no session: every request names its protocol version and the
//! client's capabilities in `params._meta`, and mirrors its method and name
//! in HTTP headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) so
//! intermediaries can route without reading the body.
//!
//! signoff decides on the body. A header that disagrees with it could route
//! the call somewhere the decision never looked, so a request is checked
//! the way that revision's servers must check it before anything is
//! forwarded.

use base64::Engine;
use http::{HeaderMap, HeaderName};
use serde_json::{json, Value};

use crate::jsonrpc::{self, INVALID_PARAMS, INVALID_REQUEST};
use crate::PendingReview;

/// The first revision without sessions.
pub const STATELESS_SINCE: &str = "2026-07-28";
/// The stateless revisions signoff understands; a later one might change
/// what the gate reads, so it is refused rather than guessed at.
pub const SUPPORTED: [&str; 1] = ["2026-07-28"];
/// The revisions served through `initialize` instead, named when a
/// stateless request is refused so that the client can fall back to them.
pub const HANDSHAKE: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

pub const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
pub const CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";

pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
pub const METHOD: HeaderName = HeaderName::from_static("mcp-method");
pub const NAME: HeaderName = HeaderName::from_static("mcp-name");
/// `Mcp-Param-{token}`: argument values a tool's schema asks to be mirrored.
pub const PARAM_PREFIX: &str = "mcp-param-";

/// signoff's key in a call's `inputRequests`/`inputResponses`: the review
/// page, offered as an input request since this revision sends clients no
/// requests of their own.
pub const REVIEW_INPUT: &str = "signoff-review";

/// A header that disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Why a stateless request was refused, as a JSON-RPC error (HTTP 400).
#[derive(Clone, Debug, PartialEq)]
pub struct EnvelopeError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl EnvelopeError {
    /// The JSON-RPC error response for the request `id`.
    pub fn response(&self, id: Value) -> Value {
        let mut response = jsonrpc::error_response(id, self.code, &self.message);
        if let Some(data) = &self.data {
            response["error"]["data"] = data.clone();
        }
        response
    }

    fn new(code: i64, message: impl Into<String>) -> EnvelopeError {
        EnvelopeError {
            code,
            message: message.into(),
            data: None,
        }
    }
}

/// A key of the request's `params._meta` (whose keys hold `/`, so no pointer).
pub fn meta<'a>(message: &'a Value, key: &str) -> Option<&'a Value> {
    message.pointer("/params/_meta")?.get(key)
}

/// Whether a message without a session speaks a stateless revision: its
/// envelope or its `MCP-Protocol-Version` says so.
pub fn is_stateless(headers: &HeaderMap, message: &Value) -> bool {
    // Revisions are dates, so they order as strings.
    meta(message, VERSION_META).is_some()
        || headers
            .get(&PROTOCOL_VERSION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v >= STATELESS_SINCE)
}

/// Checks a stateless request or notification the way MCP 2026-07-28 has
/// servers check one, first failure first: routing headers given once; a
/// request's envelope; the headers equal to the body; a supported revision.
pub fn check(headers: &HeaderMap, message: &Value) -> Result<(), EnvelopeError> {
    for name in [&PROTOCOL_VERSION, &METHOD, &NAME] {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(EnvelopeError::new(
                HEADER_MISMATCH,
                format!("header mismatch: `{name}` is given more than once"),
            ));
        }
    }
    let method = message.get("method").and_then(Value::as_str);
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(method) = method else {
        return Err(EnvelopeError::new(
            INVALID_REQUEST,
            "invalid request: a 2026-07-28 server sends the client no requests, so it takes no responses",
        ));
    };
    if message.get("id").is_none() {
        // A notification needs no envelope; its header names the revision.
        let in_meta = meta(message, VERSION_META).and_then(Value::as_str);
        return supported(header(&PROTOCOL_VERSION).or(in_meta).unwrap_or_default());
    }
    let meta = message.pointer("/params/_meta").and_then(Value::as_object);
    let missing: Vec<&str> = [VERSION_META, CAPABILITIES_META]
        .into_iter()
        .filter(|key| !meta.is_some_and(|m| m.contains_key(*key)))
        .collect();
    if !missing.is_empty() {
        return Err(EnvelopeError::new(
            INVALID_PARAMS,
            format!(
                "invalid params: `params._meta` needs `{}` on every 2026-07-28 request",
                missing.join("` and `")
            ),
        ));
    }
    let version = meta.and_then(|m| m.get(VERSION_META));
    if header(&PROTOCOL_VERSION).map(Value::from).as_ref() != version {
        return Err(EnvelopeError::new(
            HEADER_MISMATCH,
            format!("header mismatch: `{PROTOCOL_VERSION}` must equal `params._meta[\"{VERSION_META}\"]`"),
        ));
    }
    if header(&METHOD) != Some(method) {
        return Err(EnvelopeError::new(
            HEADER_MISMATCH,
            format!("header mismatch: `{METHOD}` must equal the body's method `{method}`"),
        ));
    }
    if let Some(key) = name_param(method) {
        let body = message.get("params").and_then(|p| p.get(key));
        let named = header(&NAME).and_then(decode_header_value);
        if body.is_some_and(|b| !b.is_null()) && named.map(Value::from).as_ref() != body {
            return Err(EnvelopeError::new(
                HEADER_MISMATCH,
                format!("header mismatch: `{NAME}` must equal the body's `params.{key}`"),
            ));
        }
    }
    match version {
        Some(Value::String(v)) => supported(v),
        _ => Err(EnvelopeError::new(
            INVALID_PARAMS,
            format!("invalid params: `{VERSION_META}` must be a string"),
        )),
    }
}

fn supported(requested: &str) -> Result<(), EnvelopeError> {
    if SUPPORTED.contains(&requested) {
        return Ok(());
    }
    let all: Vec<&str> = HANDSHAKE.iter().chain(&SUPPORTED).copied().collect();
    Err(EnvelopeError {
        code: UNSUPPORTED_PROTOCOL_VERSION,
        message: format!(
            "unsupported protocol version `{requested}`: use one of {}",
            all.join(", ")
        ),
        data: Some(json!({ "supported": all, "requested": requested })),
    })
}

/// The param that `Mcp-Name` mirrors for a method, if it has one.
fn name_param(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A held call's first answer (`input_required`): the review page as a
/// URL-mode elicitation for the client to show, then retry with its answer.
/// The requester can watch the page and never approve from it.
pub fn review_input_required(review: &PendingReview) -> Value {
    json!({
        "resultType": "input_required",
        "inputRequests": {
            REVIEW_INPUT: {
                "method": "elicitation/create",
                "params": review.elicitation_params(),
            },
        },
    })
}

/// A header value as sent: verbatim, or UTF-8 wrapped as `=?base64?…?=`.
/// A malformed wrapping is `None`, so it never matches a body by accident.
pub fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(payload).ok()?;
    // Canonical only: the encoding is unique, so two readers agree on it.
    if engine.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn call(name: &str) -> Value {
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {
                "name": name, "arguments": {},
                "_meta": { VERSION_META: "2026-07-28", CAPABILITIES_META: {} },
            },
        })
    }

    fn good(name: &str) -> HeaderMap {
        headers(&[
            (&PROTOCOL_VERSION, "2026-07-28"),
            (&METHOD, "tools/call"),
            (&NAME, name),
        ])
    }

    #[test]
    fn envelopes_are_checked_in_the_revisions_order() {
        let cases: Vec<(&str, HeaderMap, Value, Option<i64>)> = vec![
            ("good", good("echo"), call("echo"), None),
            (
                "name in base64",
                good("=?base64?ZWNobw==?="),
                call("echo"),
                None,
            ),
            (
                "another tool in the header",
                good("delete_repo"),
                call("echo"),
                Some(HEADER_MISMATCH),
            ),
            (
                "no name header",
                headers(&[(&PROTOCOL_VERSION, "2026-07-28"), (&METHOD, "tools/call")]),
                call("echo"),
                Some(HEADER_MISMATCH),
            ),
            (
                "another method in the header",
                headers(&[
                    (&PROTOCOL_VERSION, "2026-07-28"),
                    (&METHOD, "tools/list"),
                    (&NAME, "echo"),
                ]),
                call("echo"),
                Some(HEADER_MISMATCH),
            ),
            (
                "version header differs",
                headers(&[
                    (&PROTOCOL_VERSION, "2025-11-25"),
                    (&METHOD, "tools/call"),
                    (&NAME, "echo"),
                ]),
                call("echo"),
                Some(HEADER_MISMATCH),
            ),
            (
                "name header twice",
                {
                    let mut h = good("echo");
                    h.append(NAME, HeaderValue::from_static("delete_repo"));
                    h
                },
                call("echo"),
                Some(HEADER_MISMATCH),
            ),
            (
                "no envelope",
                good("echo"),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}),
                Some(INVALID_PARAMS),
            ),
            (
                "a later revision",
                headers(&[
                    (&PROTOCOL_VERSION, "2027-01-01"),
                    (&METHOD, "tools/call"),
                    (&NAME, "echo"),
                ]),
                {
                    let mut c = call("echo");
                    c["params"]["_meta"][VERSION_META] = json!("2027-01-01");
                    c
                },
                Some(UNSUPPORTED_PROTOCOL_VERSION),
            ),
            (
                "a notification",
                headers(&[(&PROTOCOL_VERSION, "2026-07-28")]),
                json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {}}),
                None,
            ),
            (
                "a response",
                headers(&[(&PROTOCOL_VERSION, "2026-07-28")]),
                json!({"jsonrpc": "2.0", "id": 1, "result": {}}),
                Some(INVALID_REQUEST),
            ),
        ];
        for (what, headers, message, expected) in cases {
            let got = check(&headers, &message).err().map(|e| e.code);
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn an_unsupported_revision_names_the_supported_ones() {
        let mut c = call("echo");
        c["params"]["_meta"][VERSION_META] = json!("2027-01-01");
        let h = headers(&[
            (&PROTOCOL_VERSION, "2027-01-01"),
            (&METHOD, "tools/call"),
            (&NAME, "echo"),
        ]);
        let e = check(&h, &c).unwrap_err();
        let supported = json!([
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            "2026-07-28"
        ]);
        assert_eq!(
            e.data,
            Some(json!({"supported": supported, "requested": "2027-01-01"}))
        );
    }

    #[test]
    fn stateless_requests_are_told_from_session_ones() {
        let legacy = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        assert!(!is_stateless(&HeaderMap::new(), &legacy));
        assert!(!is_stateless(
            &headers(&[(&PROTOCOL_VERSION, "2025-11-25")]),
            &legacy
        ));
        assert!(is_stateless(
            &headers(&[(&PROTOCOL_VERSION, "2026-07-28")]),
            &legacy
        ));
        assert!(is_stateless(&HeaderMap::new(), &call("echo")));
    }

    #[test]
    fn header_values_decode_only_when_canonical() {
        assert_eq!(decode_header_value("echo").as_deref(), Some("echo"));
        assert_eq!(
            decode_header_value("=?base64?w6ljaG8=?=").as_deref(),
            Some("écho")
        );
        assert_eq!(decode_header_value("=?base64?not base64?="), None);
        // Non-zero trailing bits: valid to a lax decoder, not canonical.
        assert_eq!(decode_header_value("=?base64?ZWNobx==?="), None);
    }
}

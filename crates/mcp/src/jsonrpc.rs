//! What a front door accepts as one JSON-RPC 2.0 message, and the error it
//! answers otherwise (JSON-RPC 2.0 §5.1), before rmcp parses it: rmcp
//! answers malformed input with HTTP 415 or a bare `-32600`, and drops a
//! message without `method` silently.

use serde_json::{json, Value};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON, but not a JSON-RPC message.
pub const INVALID_REQUEST: i64 = -32600;
/// A method's params that cannot be used.
pub const INVALID_PARAMS: i64 = -32602;

/// The JSON-RPC error response to the message `id` (null if unknown).
pub fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// Why a message was refused, and the id to answer with (null if unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl Rejection {
    /// The JSON-RPC error response.
    pub fn response(&self) -> Value {
        error_response(self.id.clone(), self.code, &self.message)
    }

    pub fn too_large(limit: usize) -> Rejection {
        Rejection {
            id: Value::Null,
            code: INVALID_REQUEST,
            message: format!("invalid request: the message is over the {limit}-byte limit"),
        }
    }
}

/// `bytes` as one JSON-RPC 2.0 request, notification or response.
pub fn check_message(bytes: &[u8]) -> Result<Value, Rejection> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Rejection {
        id: Value::Null,
        code: PARSE_ERROR,
        message: format!("parse error: {e}"),
    })?;
    let invalid = |id: &Value, why: &str| Rejection {
        id: id.clone(),
        code: INVALID_REQUEST,
        message: format!("invalid request: {why}"),
    };
    let m = match &value {
        Value::Object(m) => m,
        Value::Array(_) => {
            return Err(invalid(
                &Value::Null,
                "JSON-RPC batches are not accepted (MCP removed them in 2025-06-18); send one message at a time",
            ))
        }
        _ => return Err(invalid(&Value::Null, "a JSON-RPC message is a JSON object")),
    };
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Err(invalid(&Value::Null, "`id` must be a string or a number"));
    }
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(&id, "`jsonrpc` must be \"2.0\""));
    }
    let answers = m.contains_key("result") || m.contains_key("error");
    let checked = match (m.get("method"), answers) {
        // INVARIANT: a tool call is gated and answered, so it is never let
        // through in a notification's shape, which an upstream might still run.
        (Some(Value::String(method)), false) if method == "tools/call" && !m.contains_key("id") => {
            Err(invalid(
                &id,
                "`tools/call` needs an `id`; send it as a request",
            ))
        }
        (Some(Value::String(_)), false) => Ok(()),
        (Some(_), _) => Err(invalid(&id, "`method` must be a string")),
        (None, true) if m.contains_key("id") => Ok(()),
        _ => Err(invalid(
            &id,
            "a request needs `method`; a response needs `id` and `result` or `error`",
        )),
    };
    checked.map(|()| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_their_errors() {
        let ok = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}}"#,
        ];
        for text in ok {
            let parsed: Value = serde_json::from_str(text).unwrap();
            assert_eq!(check_message(text.as_bytes()), Ok(parsed), "{text}");
        }
        let refused: &[(&str, i64, Value)] = &[
            ("{not json", PARSE_ERROR, Value::Null),
            ("", PARSE_ERROR, Value::Null),
            ("\u{0}", PARSE_ERROR, Value::Null),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            ("42", INVALID_REQUEST, Value::Null),
            (r#"{"jsonrpc":"2.0","id":3}"#, INVALID_REQUEST, json!(3)),
            (
                r#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#,
                INVALID_REQUEST,
                json!(4),
            ),
            (r#"{"id":5,"method":"ping"}"#, INVALID_REQUEST, json!(5)),
            (
                r#"{"jsonrpc":"2.0","id":6,"method":7}"#,
                INVALID_REQUEST,
                json!(6),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","result":{}}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repo"}}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
        ];
        for (text, code, id) in refused {
            let r = check_message(text.as_bytes()).expect_err(text);
            assert_eq!((r.code, &r.id), (*code, id), "{text}: {}", r.message);
            assert_eq!(r.response()["error"]["code"], *code);
        }
    }
}

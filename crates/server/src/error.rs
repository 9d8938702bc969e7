//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use signoff_api::{ErrorBody, ErrorDetail};
use signoff_core::approval::CancelError;
use signoff_core::ReviewError;
use signoff_gateway::GatewayError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            GatewayError::Auth(_) => ApiError::new(S::UNAUTHORIZED, "unauthenticated", message),
            GatewayError::NotFound(_) | GatewayError::UnknownAction(_) => {
                ApiError::new(S::NOT_FOUND, "not_found", message)
            }
            GatewayError::Review(r) => {
                let status = match r {
                    ReviewError::AgentCannotReview(_)
                    | ReviewError::SelfApproval { .. }
                    | ReviewError::NotAReviewer { .. } => S::FORBIDDEN,
                    ReviewError::NotPending(_)
                    | ReviewError::Expired(_)
                    | ReviewError::AlreadyReviewed(_) => S::CONFLICT,
                    ReviewError::DenyNeedsComment
                    | ReviewError::WindowNotPermitted
                    | ReviewError::WindowTooLong { .. } => S::BAD_REQUEST,
                };
                ApiError::new(status, "review_refused", message)
            }
            GatewayError::Cancel(CancelError::NotRequester(_)) => {
                ApiError::new(S::FORBIDDEN, "forbidden", message)
            }
            GatewayError::Cancel(CancelError::NotPending(_)) => {
                ApiError::new(S::CONFLICT, "conflict", message)
            }
            GatewayError::Store(_) => {
                tracing::error!(error = %message, "store failure; refusing the request (fail closed)");
                ApiError::new(S::SERVICE_UNAVAILABLE, "unavailable", message)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "payload_too_large", "request body is larger than this server accepts (`max_body_bytes` in signoff.toml)");
        }
        let code = match r {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ => "invalid_request",
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

//! Sending to a channel's HTTP API and sorting failures into retryable or not.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::DeliveryError;

/// Every channel request gives up after this long and is retried later.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("signoff/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends and checks the status: 2xx is success; 429, 408 and 5xx are
/// retried (honouring `Retry-After`); other statuses will not get better.
pub async fn send(request: RequestBuilder, what: &str) -> Result<Response, DeliveryError> {
    let response = request.send().await.map_err(|e| DeliveryError::Retry {
        message: format!("{what}: {e}"),
        after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let after = retry_after(&response);
    let body = response.text().await.unwrap_or_default();
    let message = format!("{what}: HTTP {status}: {}", snippet(&body));
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Err(DeliveryError::Retry { message, after })
    } else {
        Err(DeliveryError::Permanent(message))
    }
}

/// `Retry-After` in seconds (the form Slack and most APIs send).
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub fn snippet(body: &str) -> &str {
    let mut end = body.len().min(300);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

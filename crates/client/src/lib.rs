//! A typed client for signoff's HTTP API.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::time::Duration;

use signoff_api::{
    ApprovalList, ApprovalView, CheckRequest, CheckResponse, ErrorBody, OutcomeRequest,
    ReviewRequest,
};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach signoff at {url}: {message}; is `signoff serve` running, and is SIGNOFF_URL right?")]
    Unreachable { url: String, message: String },
    #[error("signoff refused the request ({status} {code}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected response from signoff: {0}")]
    Protocol(String),
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base_url: &str, token: &str) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("signoff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp =
            req.bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: self.base.clone(),
                    message: e.to_string(),
                })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if status.is_success() {
            if bytes.is_empty() {
                return serde_json::from_str("null")
                    .map_err(|e| ClientError::Protocol(e.to_string()));
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(format!("{e}")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
            }),
            Err(_) => Err(ClientError::Api {
                status: status.as_u16(),
                code: "unknown".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            }),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /v1/actions`, optionally held up to `wait`.
    pub async fn check(
        &self,
        req: &CheckRequest,
        wait: Option<Duration>,
    ) -> Result<CheckResponse, ClientError> {
        let mut b = self.http.post(self.url("/v1/actions")).json(req);
        if let Some(w) = wait {
            b = b
                .query(&[("wait", format!("{}s", w.as_secs()))])
                .timeout(w + Duration::from_secs(30));
        }
        self.send(b).await
    }

    pub async fn approval(
        &self,
        id: Uuid,
        wait: Option<Duration>,
    ) -> Result<ApprovalView, ClientError> {
        let mut b = self.http.get(self.url(&format!("/v1/approvals/{id}")));
        if let Some(w) = wait {
            b = b
                .query(&[("wait", format!("{}s", w.as_secs()))])
                .timeout(w + Duration::from_secs(30));
        }
        self.send(b).await
    }

    pub async fn approvals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<ApprovalList, ClientError> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(s) = status {
            q.push(("status", s.to_owned()));
        }
        self.send(self.http.get(self.url("/v1/approvals")).query(&q))
            .await
    }

    pub async fn review(&self, id: Uuid, req: &ReviewRequest) -> Result<ApprovalView, ClientError> {
        self.send(
            self.http
                .post(self.url(&format!("/v1/approvals/{id}/reviews")))
                .json(req),
        )
        .await
    }

    pub async fn cancel(&self, id: Uuid) -> Result<ApprovalView, ClientError> {
        self.send(
            self.http
                .post(self.url(&format!("/v1/approvals/{id}/cancel"))),
        )
        .await
    }

    pub async fn outcome(&self, action_id: Uuid, req: &OutcomeRequest) -> Result<(), ClientError> {
        let _: Option<serde_json::Value> = self
            .send(
                self.http
                    .post(self.url(&format!("/v1/actions/{action_id}/outcome")))
                    .json(req),
            )
            .await?;
        Ok(())
    }
}

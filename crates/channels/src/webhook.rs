//! Outgoing webhooks signed per the Standard Webhooks spec
//! (<https://www.standardwebhooks.com/>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use signoff_config::WebhookConfig;
use signoff_core::audit::timestamp;

use crate::{http, ChannelError, Delivery, DeliveryError};

/// A webhook signing secret: the bytes after `whsec_`, base64-decoded.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let b64 = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
        let bytes = BASE64
            .decode(b64)
            .map_err(|e| format!("not `whsec_` followed by base64 ({e})"))?;
        if bytes.len() < 16 {
            return Err("shorter than 16 bytes; generate 32 random bytes".into());
        }
        Ok(WebhookSecret(bytes))
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, unix_seconds: i64, body: &[u8]) -> String {
        // INVARIANT: HMAC-SHA256 accepts keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("hmac accepts any key length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(unix_seconds.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

pub struct Webhook {
    config: WebhookConfig,
    secret: WebhookSecret,
    client: reqwest::Client,
}

impl Webhook {
    pub fn new(config: WebhookConfig, secret: &str) -> Result<Webhook, ChannelError> {
        let secret = WebhookSecret::parse(secret).map_err(|m| ChannelError::Secret {
            channel: format!("webhook `{}`", config.name),
            env: config.secret_env.clone(),
            message: m,
        })?;
        Ok(Webhook {
            config,
            secret,
            client: http::client()?,
        })
    }

    pub fn name(&self) -> String {
        format!("webhook:{}", self.config.name)
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.config.events.iter().any(|e| e == kind)
    }

    pub async fn deliver(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&json!({
            "type": d.event.kind.as_str(),
            "timestamp": d.event.at,
            "data": {
                "event": d.event,
                "request": d.request,
                "review_url": d.review_url,
            },
        }))
        .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        // The event id stays the same across retries, so receivers can
        // de-duplicate.
        let id = format!("msg_{}", d.event.id.simple());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = self.secret.sign(&id, now, &body);
        let request = self
            .client
            .post(&self.config.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body);
        http::send(request, &format!("webhook `{}`", self.config.name)).await?;
        tracing::debug!(webhook = %self.config.name, event = %d.event.kind, at = %timestamp(time::OffsetDateTime::now_utc()), "webhook delivered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::WebhookSecret;

    /// The example in the Standard Webhooks reference implementations' tests.
    #[test]
    fn signs_like_the_reference() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
    }
}

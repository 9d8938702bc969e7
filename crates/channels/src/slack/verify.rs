//! Slack's request signing: `v0=` + hex HMAC-SHA256 over `v0:{timestamp}:{body}`
//! with the app's signing secret, within five minutes, each signature once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Slack's window: older or newer requests are refused.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing `X-Slack-Request-Timestamp` or `X-Slack-Signature` header")]
    Missing,
    #[error("`X-Slack-Request-Timestamp` is not a number of seconds")]
    BadTimestamp,
    #[error("the request timestamp is {0} seconds away from now, over the 300-second window")]
    Stale(i64),
    #[error("the signature does not match the signing secret")]
    Mismatch,
    #[error("this signed request was already received; replays are refused")]
    Replayed,
}

/// Checks one request's signature against `secret`.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<i64, SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale(skew));
    }
    let expected = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Mismatch)?;
    // INVARIANT: HMAC-SHA256 accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("hmac accepts any key length")
    };
    mac.update(b"v0:");
    mac.update(timestamp.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(ts)
}

/// Remembers the signatures seen within the window, so a captured request
/// cannot be sent again.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    by_signature: HashMap<String, i64>,
    order: VecDeque<(i64, String)>,
}

impl ReplayGuard {
    /// Records `signature` (sent at `ts`); false when it was seen before.
    pub fn first_time(&self, signature: &str, ts: i64, now: i64) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        while let Some((at, _)) = seen.order.front() {
            if now - at <= MAX_SKEW_SECS * 2 {
                break;
            }
            if let Some((_, sig)) = seen.order.pop_front() {
                seen.by_signature.remove(&sig);
            }
        }
        if seen.by_signature.contains_key(signature) {
            return false;
        }
        seen.by_signature.insert(signature.to_owned(), ts);
        seen.order.push_back((now, signature.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    /// The slash-command body from Slack's "Verifying requests from Slack".
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW: i64 = 1531420618 + 10;

    #[test]
    fn slacks_published_vector_verifies() {
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIGNATURE), BODY, NOW),
            Ok(1531420618)
        );
    }

    /// (case, timestamp, signature, body, now, expected error)
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a [u8],
        i64,
        SignatureError,
    );

    #[test]
    fn refusals() {
        let cases: [Case; 6] = [
            ("no headers", None, None, BODY, NOW, SignatureError::Missing),
            (
                "timestamp not a number",
                Some("soon"),
                Some(SIGNATURE),
                BODY,
                NOW,
                SignatureError::BadTimestamp,
            ),
            (
                "six minutes late",
                Some(TS),
                Some(SIGNATURE),
                BODY,
                1531420618 + 360,
                SignatureError::Stale(360),
            ),
            (
                "from the future",
                Some(TS),
                Some(SIGNATURE),
                BODY,
                1531420618 - 301,
                SignatureError::Stale(-301),
            ),
            (
                "body changed",
                Some(TS),
                Some(SIGNATURE),
                b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3K",
                NOW,
                SignatureError::Mismatch,
            ),
            (
                "not v0",
                Some(TS),
                Some("v1=a2114d57"),
                BODY,
                NOW,
                SignatureError::Mismatch,
            ),
        ];
        for (name, ts, sig, body, now, want) in cases {
            assert_eq!(verify(SECRET, ts, sig, body, now), Err(want), "{name}");
        }
        assert_eq!(
            verify(b"another-secret", Some(TS), Some(SIGNATURE), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_is_accepted_once() {
        let guard = ReplayGuard::default();
        assert!(guard.first_time(SIGNATURE, 1531420618, NOW));
        assert!(!guard.first_time(SIGNATURE, 1531420618, NOW + 5));
        assert!(guard.first_time("v0=other", 1531420618, NOW + 5));
        // Forgotten only once it is far outside the window (then too stale to verify).
        assert!(guard.first_time(SIGNATURE, 1531420618, NOW + 700));
    }
}

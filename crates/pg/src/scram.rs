//! The server side of a SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as
//! PostgreSQL clients speak it: no channel binding, the user name taken from
//! the startup packet rather than from `n=`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use signoff_core::ScramVerifier;

pub const MECHANISM: &str = "SCRAM-SHA-256";

/// Why an exchange failed. The client only ever hears "authentication failed".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("the client asked for mechanism `{0}`; only SCRAM-SHA-256 is offered")]
    Mechanism(String),
    #[error("the client asked for channel binding, which is not offered")]
    ChannelBinding,
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("the client's nonce does not continue the server's")]
    Nonce,
    #[error("wrong password")]
    Proof,
}

/// After the server-first message: what the final check needs.
pub struct Exchange {
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// Handles the client-first message; returns the server-first message.
pub fn server_first(
    mechanism: &str,
    client_first: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Exchange, ScramError> {
    if mechanism != MECHANISM {
        return Err(ScramError::Mechanism(mechanism.to_owned()));
    }
    let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    // gs2 header: `n,,` (no binding) or `y,,` (client could, server does not).
    let bare = match text.get(..3) {
        Some("n,," | "y,,") => &text[3..],
        _ if text.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed("bad gs2 header")),
    };
    let client_nonce = bare
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty())
        .ok_or(ScramError::Malformed("no client nonce"))?;
    let mut ours = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut ours);
    let nonce = format!("{client_nonce}{}", B64.encode(ours));
    let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
    Ok(Exchange {
        client_first_bare: bare.to_owned(),
        server_first,
        nonce,
    })
}

impl Exchange {
    pub fn server_first_message(&self) -> &str {
        &self.server_first
    }

    /// Checks the client-final message against each candidate verifier;
    /// returns the index of the one that matched and the server-final message.
    pub fn finish(
        &self,
        client_final: &[u8],
        candidates: &[ScramVerifier],
    ) -> Result<(usize, String), ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let channel = without_proof
            .split(',')
            .find_map(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding attribute"))?;
        // `biws` is base64 of `n,,`, `eSws` of `y,,`.
        if channel != "biws" && channel != "eSws" {
            return Err(ScramError::ChannelBinding);
        }
        let nonce = without_proof
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if nonce != self.nonce {
            return Err(ScramError::Nonce);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let matched = candidates
            .iter()
            .position(|v| v.verify_proof(auth_message.as_bytes(), &proof))
            .ok_or(ScramError::Proof)?;
        let signature = candidates[matched].server_signature(auth_message.as_bytes());
        Ok((matched, format!("v={}", B64.encode(signature))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
    use signoff_core::scram::{principal_salt, ITERATIONS};

    /// The client is rust-postgres's, so both sides are checked against
    /// an implementation nobody here wrote.
    fn run(password: &str, keys: &[&str]) -> Result<usize, ScramError> {
        let salt = principal_salt("agent:x");
        let candidates: Vec<_> = keys
            .iter()
            .map(|k| ScramVerifier::derive(k, &salt, ITERATIONS))
            .collect();
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let exchange = server_first(MECHANISM, client.message(), &salt, ITERATIONS)?;
        client
            .update(exchange.server_first_message().as_bytes())
            .unwrap();
        let (i, server_final) = exchange.finish(client.message(), &candidates)?;
        client.finish(server_final.as_bytes()).unwrap();
        Ok(i)
    }

    #[test]
    fn a_real_client_logs_in_with_any_of_its_keys() {
        assert_eq!(run("so_b", &["so_a", "so_b"]), Ok(1));
        assert_eq!(run("so_c", &["so_a", "so_b"]), Err(ScramError::Proof));
        assert_eq!(run("so_a", &[]), Err(ScramError::Proof));
    }

    #[test]
    fn malformed_exchanges_are_refused() {
        let salt = [0u8; 16];
        for (first, want) in [
            (
                &b"p=tls-server-end-point,,n=,r=abc"[..],
                ScramError::ChannelBinding,
            ),
            (b"x,,n=,r=abc", ScramError::Malformed("bad gs2 header")),
            (b"n,,n=", ScramError::Malformed("no client nonce")),
            (b"\xff\xfe", ScramError::Malformed("not UTF-8")),
        ] {
            assert_eq!(
                server_first(MECHANISM, first, &salt, 4096).err(),
                Some(want)
            );
        }
        assert!(matches!(
            server_first("SCRAM-SHA-256-PLUS", b"n,,n=,r=a", &salt, 4096),
            Err(ScramError::Mechanism(_))
        ));
        let ex = server_first(MECHANISM, b"n,,n=,r=abc", &salt, 4096).unwrap();
        assert_eq!(
            ex.finish(b"c=biws,r=abc", &[]).err(),
            Some(ScramError::Malformed("no proof"))
        );
        assert_eq!(
            ex.finish(b"c=biws,r=wrong,p=AAAA", &[]).err(),
            Some(ScramError::Nonce)
        );
    }
}

//! SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677), as PostgreSQL stores them.
//!
//! A verifier lets a server check a client's proof without knowing its password.
//! signoff derives one from each API key when the key is created, so an agent can
//! log in to the PostgreSQL front door with its key as the password.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// PostgreSQL's default; keys are random, so more rounds buy nothing.
pub const ITERATIONS: u32 = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SCRAM-SHA-256 verifier (expected `SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>`)")]
pub struct ScramParseError;

/// The salt for every key of `principal`. The server names the salt before it
/// knows which key the client holds, so all of a principal's keys share one.
/// INVARIANT: keys are 240-bit random, so a shared, predictable salt gives an
/// attacker no precomputation advantage.
pub fn principal_salt(principal: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("signoff scram salt\0{principal}").as_bytes());
    digest[..16].to_vec()
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // An HMAC key may have any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("hmac accepts keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

impl ScramVerifier {
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Whether `proof` shows knowledge of the password for this `auth_message`.
    pub fn verify_proof(&self, auth_message: &[u8], proof: &[u8]) -> bool {
        if proof.len() != 32 {
            return false;
        }
        let signature = hmac(&self.stored_key, auth_message);
        let mut client_key = [0u8; 32];
        for (i, k) in client_key.iter_mut().enumerate() {
            *k = proof[i] ^ signature[i];
        }
        let candidate: [u8; 32] = Sha256::digest(client_key).into();
        // Constant time: every byte is compared whatever the first mismatch.
        candidate
            .iter()
            .zip(self.stored_key.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    pub fn server_signature(&self, auth_message: &[u8]) -> [u8; 32] {
        hmac(&self.server_key, auth_message)
    }
}

impl fmt::Display for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

impl FromStr for ScramVerifier {
    type Err = ScramParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or(ScramParseError)?;
        let (params, keys) = rest.split_once('$').ok_or(ScramParseError)?;
        let (iterations, salt) = params.split_once(':').ok_or(ScramParseError)?;
        let (stored, server) = keys.split_once(':').ok_or(ScramParseError)?;
        let key = |k: &str| -> Result<[u8; 32], ScramParseError> {
            B64.decode(k)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(ScramParseError)
        };
        Ok(ScramVerifier {
            iterations: iterations.parse().map_err(|_| ScramParseError)?,
            salt: B64.decode(salt).map_err(|_| ScramParseError)?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: user `user`, password `pencil`.
    #[test]
    fn rfc7677_exchange_verifies() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = ScramVerifier::derive("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
            r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
            c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = B64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert!(v.verify_proof(auth_message.as_bytes(), &proof));
        assert_eq!(
            B64.encode(v.server_signature(auth_message.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let mut bad = proof.clone();
        bad[0] ^= 1;
        assert!(!v.verify_proof(auth_message.as_bytes(), &bad));
        assert!(!v.verify_proof(auth_message.as_bytes(), &proof[..31]));
    }

    #[test]
    fn verifiers_round_trip_in_postgres_format() {
        let v = ScramVerifier::derive("so_key", &principal_salt("agent:x"), ITERATIONS);
        let text = v.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        assert_eq!(text.parse::<ScramVerifier>().unwrap(), v);
        assert!("md5abc".parse::<ScramVerifier>().is_err());
        assert!("SCRAM-SHA-256$x:AA==$AA==:AA=="
            .parse::<ScramVerifier>()
            .is_err());
    }
}

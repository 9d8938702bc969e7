//! Signed checkpoints: every so often the writer signs (seq, hash) of the chain
//! head with an Ed25519 key kept beside the database. An auditor holding the
//! public key can then detect a rewritten or truncated chain, which the hash
//! links alone cannot.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rusqlite::{params, Connection, Transaction};
use signoff_core::audit::{timestamp, ChainVerifier};
use signoff_core::{AuditEvent, ChainBreak};

use crate::StoreError;

pub struct CheckpointSigner {
    key: SigningKey,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub public_key: String,
    pub signature: String,
}

fn message(seq: i64, hash: &str) -> String {
    format!("signoff-audit-checkpoint:v1:{seq}:{hash}")
}

impl CheckpointSigner {
    /// Loads the key, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<CheckpointSigner, StoreError> {
        let io = |e: std::io::Error| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let key = match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).map_err(|e| {
                    StoreError::Corrupt(format!("audit signing key `{}`: {e}", path.display()))
                })?;
                let seed: [u8; 32] = bytes.try_into().map_err(|_| {
                    StoreError::Corrupt(format!(
                        "audit signing key `{}` must be 32 bytes of hex",
                        path.display()
                    ))
                })?;
                SigningKey::from_bytes(&seed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(&mut rand::rngs::OsRng);
                write_private(path, &hex::encode(key.to_bytes())).map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        Ok(CheckpointSigner { key })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub(crate) fn sign_into(
        &self,
        tx: &Transaction<'_>,
        seq: i64,
        hash: &str,
    ) -> Result<(), StoreError> {
        let sig = self.key.sign(message(seq, hash).as_bytes());
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (seq, hash, at, public_key, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, hash, timestamp(time::OffsetDateTime::now_utc()), self.public_key_hex(), hex::encode(sig.to_bytes())],
        )?;
        Ok(())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// The outcome of `signoff audit verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub checkpoints: u64,
    pub head: Option<(i64, String)>,
    pub problem: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies the whole chain, then every checkpoint against it. `trusted_key`
/// pins the signer (hex); without it the key recorded with each checkpoint is
/// used, which proves consistency but not authorship.
pub fn verify(
    conn: &Connection,
    trusted_key: Option<&str>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let mut verifier = ChainVerifier::default();
    let mut problem: Option<String> = None;
    crate::read::for_each_event(conn, |e: &AuditEvent| {
        if let Err(b) = verifier.push(e) {
            problem = Some(describe(&b));
            return false;
        }
        if verifier.verified % 10_000 == 0 {
            progress(verifier.verified);
        }
        true
    })?;
    let head = verifier.head().cloned();
    let mut checkpoints = 0;
    if problem.is_none() {
        let mut stmt =
            conn.prepare("SELECT seq, hash, public_key, signature FROM checkpoints ORDER BY seq")?;
        let rows: Vec<(i64, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        for (seq, hash, public_key, signature) in rows {
            if let Some(p) =
                check_checkpoint(conn, trusted_key, seq, &hash, &public_key, &signature)?
            {
                problem = Some(p);
                break;
            }
            checkpoints += 1;
        }
    }
    Ok(VerifyReport {
        events: verifier.verified,
        checkpoints,
        head,
        problem,
    })
}

fn describe(b: &ChainBreak) -> String {
    b.to_string()
}

fn check_checkpoint(
    conn: &Connection,
    trusted_key: Option<&str>,
    seq: i64,
    hash: &str,
    public_key: &str,
    signature: &str,
) -> Result<Option<String>, StoreError> {
    let key_hex = trusted_key.unwrap_or(public_key);
    if trusted_key.is_some_and(|k| !k.eq_ignore_ascii_case(public_key)) {
        return Ok(Some(format!(
            "checkpoint at event #{seq} was signed by key {public_key}, not the trusted key"
        )));
    }
    let bad = |why: &str| Ok(Some(format!("checkpoint at event #{seq}: {why}")));
    let Ok(key_bytes) = hex::decode(key_hex) else {
        return bad("the public key is not hex");
    };
    let Ok(key_arr) = <[u8; 32]>::try_from(key_bytes.as_slice()) else {
        return bad("the public key is not 32 bytes");
    };
    let Ok(key) = VerifyingKey::from_bytes(&key_arr) else {
        return bad("the public key is invalid");
    };
    let Ok(sig_bytes) = hex::decode(signature) else {
        return bad("the signature is not hex");
    };
    let Ok(sig) = Signature::from_slice(&sig_bytes) else {
        return bad("the signature is malformed");
    };
    if key.verify(message(seq, hash).as_bytes(), &sig).is_err() {
        return bad("the signature does not verify");
    }
    let stored: Option<String> = conn
        .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
        .ok();
    match stored {
        None => bad("the event it signed is missing: the log was truncated"),
        Some(h) if h != hash => {
            bad("the event it signed has a different hash: the log was rewritten")
        }
        Some(_) => Ok(None),
    }
}

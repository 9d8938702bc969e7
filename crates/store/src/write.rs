//! The writer thread and what a write job can do.

use std::sync::mpsc;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use signoff_core::approval::rfc3339;
use signoff_core::audit::timestamp;
use signoff_core::{ApprovalRequest, AuditEvent, Principal, GENESIS_HASH};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::checkpoint::CheckpointSigner;
use crate::read::{approval_from_row, APPROVAL_COLUMNS};
use crate::{Completion, Job, StoreError, MAX_BATCH};

/// Sign a checkpoint after this many events.
const CHECKPOINT_EVERY: i64 = 1000;

/// A write transaction, shared by the jobs of one group commit.
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
    /// (seq, hash) of the last event in the chain.
    head: (i64, String),
}

impl Tx<'_> {
    /// For reads inside the transaction.
    pub fn connection(&self) -> &Connection {
        self.tx
    }

    /// Appends an event to the chain and returns it sealed.
    pub fn append(&mut self, mut event: AuditEvent) -> Result<AuditEvent, StoreError> {
        let seq = self.head.0 + 1;
        event.seal(seq, &self.head.1);
        let payload = signoff_core::canonical::to_string(&event.payload);
        let details = signoff_core::canonical::to_string(&event.details);
        self.tx
            .prepare_cached(
                "INSERT INTO audit (seq, id, at, kind, actor, on_behalf_of, target, action_id, approval_id, \
                 fingerprint, reason, payload, details, trace_id, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                event.seq,
                event.id.to_string(),
                event.at,
                event.kind.as_str(),
                event.actor,
                event.on_behalf_of,
                event.target,
                event.action_id.map(|u| u.to_string()),
                event.approval_id.map(|u| u.to_string()),
                event.fingerprint,
                event.reason,
                payload,
                details,
                event.trace_id,
                event.prev_hash,
                event.hash,
            ])?;
        self.head = (seq, event.hash.clone());
        Ok(event)
    }

    /// Inserts or replaces an approval request.
    pub fn put_approval(&mut self, r: &ApprovalRequest) -> Result<(), StoreError> {
        let doc = serde_json::to_string(r)?;
        self.tx
            .prepare_cached(
                "INSERT INTO approvals (id, fingerprint, status, principal, created_at, expires_at, grant_expires_at, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, expires_at = excluded.expires_at, grant_expires_at = excluded.grant_expires_at, doc = excluded.doc",
            )?
            .execute(params![
                r.id.to_string(),
                r.fingerprint.0,
                r.status.as_str(),
                r.action.principal.to_string(),
                timestamp(r.created_at),
                timestamp(r.expires_at),
                r.grant.as_ref().map(|g| timestamp(g.expires_at)),
                doc,
            ])?;
        Ok(())
    }

    pub fn approval(&self, id: Uuid) -> Result<Option<ApprovalRequest>, StoreError> {
        crate::read::approval(self.tx, id)
    }

    /// The live request for a fingerprint: one still pending, or one whose grant
    /// has not expired. Newest first.
    pub fn live_approvals_for(
        &self,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE fingerprint = ?1 \
             AND (status = 'pending' OR grant_expires_at > ?2) ORDER BY created_at DESC LIMIT 16"
        ))?;
        let rows = stmt.query_map(params![fingerprint, timestamp(now)], approval_from_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
            .collect()
    }

    /// Pending requests whose time is up.
    pub fn due_for_expiry(&self, now: OffsetDateTime) -> Result<Vec<ApprovalRequest>, StoreError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE status = 'pending' AND expires_at <= ?1 LIMIT 512"
        ))?;
        let rows = stmt.query_map(params![timestamp(now)], approval_from_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
            .collect()
    }

    pub fn insert_key(
        &mut self,
        hash: &str,
        key_id: &str,
        principal: &Principal,
        label: Option<&str>,
        scram: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO api_keys (hash, key_id, principal, label, created_at, scram) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![hash, key_id, principal.to_string(), label, rfc3339(now), scram],
        )?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

fn head(tx: &Transaction<'_>) -> Result<(i64, String), StoreError> {
    Ok(tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS_HASH.to_owned())))
}

pub(crate) fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>, signer: CheckpointSigner) {
    let mut last_checkpoint: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM checkpoints", [], |r| {
            r.get(0)
        })
        .unwrap_or(0);
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
        let result = commit_group(
            &mut conn,
            batch,
            &mut completions,
            &signer,
            &mut last_checkpoint,
        );
        if let Err(e) = &result {
            tracing::error!(error = %e, jobs = completions.len(), "group commit failed; every job in it is refused");
        }
        for c in completions {
            c(result.clone());
        }
    }
    // The channel closed: sign where the chain ends, so truncation is detectable.
    let _ = commit_group(
        &mut conn,
        Vec::new(),
        &mut Vec::new(),
        &signer,
        &mut (last_checkpoint - CHECKPOINT_EVERY),
    );
}

fn commit_group(
    conn: &mut Connection,
    batch: Vec<Job>,
    completions: &mut Vec<Completion>,
    signer: &CheckpointSigner,
    last_checkpoint: &mut i64,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // INVARIANT: the head is read inside the write lock, so an offline writer
    // (`signoff keys create`) and the server never fork the chain.
    let mut w = Tx {
        head: head(&tx)?,
        tx: &tx,
    };
    for job in batch {
        w.tx.execute_batch("SAVEPOINT job")?;
        let saved_head = w.head.clone();
        let (ok, completion) = job(&mut w);
        if ok {
            w.tx.execute_batch("RELEASE job")?;
        } else {
            w.tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
            w.head = saved_head;
        }
        completions.push(completion);
    }
    let (seq, hash) = w.head.clone();
    if seq > 0 && seq - *last_checkpoint >= CHECKPOINT_EVERY {
        signer.sign_into(&tx, seq, &hash)?;
        *last_checkpoint = seq;
    }
    tx.commit()?;
    Ok(())
}

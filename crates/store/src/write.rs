//! The writer thread and what a write job can do.

use std::sync::mpsc;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use signoff_core::approval::rfc3339;
use signoff_core::audit::{render_batch, same_batch, timestamp};
use signoff_core::{ApprovalRequest, AuditEvent, Principal, ReadRecord, GENESIS_HASH};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::checkpoint::CheckpointSigner;
use crate::read::{approval_from_row, APPROVAL_COLUMNS};
use crate::{Completion, Detached, Observer, Queued, StoreError, Wake, DETACHED_LINGER, MAX_BATCH};

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
        let (payload, details) = event.seal_texts(seq, &self.head.1);
        self.insert(&event, payload, details)?;
        Ok(event)
    }

    /// Appends a `reads.batched` event from [`render_batch`]'s parts.
    fn append_rendered(
        &mut self,
        mut event: AuditEvent,
        details: String,
    ) -> Result<(), StoreError> {
        let seq = self.head.0 + 1;
        let (payload, details) = event.seal_rendered(seq, &self.head.1, details);
        self.insert(&event, payload, details)
    }

    fn insert(
        &mut self,
        event: &AuditEvent,
        payload: String,
        details: String,
    ) -> Result<(), StoreError> {
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
        self.head = (event.seq, event.hash.clone());
        Ok(())
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

    /// Marks the live key `key_id` revoked; returns its principal, or `None`
    /// when no live key has that id.
    pub fn revoke_key(
        &mut self,
        key_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL RETURNING principal",
                params![key_id, rfc3339(now)],
                |r| r.get(0),
            )
            .optional()?)
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
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, GENESIS_HASH.to_owned())))
}

pub(crate) fn run(
    mut conn: Connection,
    jobs: mpsc::Receiver<Wake>,
    detached: Detached,
    signer: CheckpointSigner,
    observer: Observer,
) {
    let mut last_checkpoint: i64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM checkpoints", [], |r| {
            r.get(0)
        })
        .unwrap_or(0);
    let mut open = true;
    while open {
        let first = match jobs.recv() {
            Ok(w) => w,
            Err(_) => break,
        };
        let (batch, still_open) = gather(first, &jobs, &detached);
        open = still_open;
        // Empty when a wake raced with the previous batch taking its job.
        if !batch.is_empty() {
            commit_and_answer(&mut conn, batch, &signer, &mut last_checkpoint, &observer);
        }
    }
    // The channel closed: commit what is still queued, and sign where the
    // chain ends, so truncation is detectable.
    let rest = take_detached(&detached);
    if !rest.is_empty() {
        commit_and_answer(&mut conn, rest, &signer, &mut last_checkpoint, &observer);
    }
    let _ = commit_group(
        &mut conn,
        Vec::new(),
        &mut Vec::new(),
        &signer,
        &mut (last_checkpoint - CHECKPOINT_EVERY),
    );
}

fn commit_and_answer(
    conn: &mut Connection,
    batch: Vec<Queued>,
    signer: &CheckpointSigner,
    last_checkpoint: &mut i64,
    observer: &Observer,
) {
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let jobs = batch.len();
    let started = std::time::Instant::now();
    let result = commit_group(conn, batch, &mut completions, signer, last_checkpoint);
    if let Some(observe) = observer.get() {
        observe(started.elapsed(), jobs);
    }
    if let Err(e) = &result {
        tracing::error!(error = %e, jobs, "group commit failed; every job in it is refused");
    }
    for c in completions {
        c(result.clone());
    }
}

fn take_detached(detached: &Detached) -> Vec<Queued> {
    detached
        .lock()
        .map(|mut q| std::mem::take(&mut q.jobs))
        .unwrap_or_default()
}

/// The jobs of one group commit, and whether the channel is still open.
/// Woken for detached jobs, the writer lingers up to `DETACHED_LINGER` for
/// more, and no longer once an awaited job arrives or the buffer fills.
/// Detached jobs go first: they were queued before the writer woke.
fn gather(first: Wake, jobs: &mpsc::Receiver<Wake>, detached: &Detached) -> (Vec<Queued>, bool) {
    let mut awaited = Vec::new();
    let mut open = true;
    match first {
        Wake::Awaited(w) => awaited.push(w),
        Wake::Detached => match jobs.recv_timeout(DETACHED_LINGER) {
            Ok(Wake::Awaited(w)) => awaited.push(w),
            Ok(Wake::Detached) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
        },
    }
    while awaited.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(Wake::Awaited(w)) => awaited.push(w),
            Ok(Wake::Detached) => {}
            Err(mpsc::TryRecvError::Empty) => break,
            Err(mpsc::TryRecvError::Disconnected) => {
                open = false;
                break;
            }
        }
    }
    let mut batch = take_detached(detached);
    batch.extend(awaited);
    (batch, open)
}

/// The most reads one `reads.batched` event holds, which bounds its row.
const MAX_READS_PER_EVENT: usize = 1024;

/// Queued reads grouped by caller and target, in queue order, and the rest.
pub(crate) fn split_reads(batch: Vec<Queued>) -> (Vec<Vec<ReadRecord>>, Vec<Queued>) {
    let mut groups: Vec<Vec<ReadRecord>> = Vec::new();
    let mut rest = Vec::with_capacity(batch.len());
    for job in batch {
        let Queued::Read(read) = job else {
            rest.push(job);
            continue;
        };
        let open = groups.iter_mut().rev().find(|g| {
            g.len() < MAX_READS_PER_EVENT
                && g.first()
                    .is_some_and(|f| same_batch(&f.read.event, &read.read.event))
        });
        match open {
            Some(g) => g.push(*read),
            None => groups.push(vec![*read]),
        }
    }
    (groups, rest)
}

fn commit_group(
    conn: &mut Connection,
    batch: Vec<Queued>,
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
    let (reads, batch) = split_reads(batch);
    for group in reads {
        // A lone read stays a plain event.
        let appended = match <[ReadRecord; 1]>::try_from(group) {
            Ok([one]) => w.append(one.into_event()).map(drop),
            Err(group) => {
                let (event, details) = render_batch(&group);
                w.append_rendered(event, details)
            }
        };
        if let Err(e) = appended {
            tracing::error!(error = %e, "queued audit events could not be written");
        }
    }
    for job in batch {
        let job = match job {
            Queued::Work(job) => job,
            Queued::Append(event, waiter) => {
                let appended = w.append(*event).map(drop);
                match waiter {
                    Some(done) => completions.push(Box::new(move |commit| {
                        let _ = done.send(commit.and(appended));
                    })),
                    None => {
                        if let Err(e) = appended {
                            tracing::error!(error = %e, "a queued audit event could not be written");
                        }
                    }
                }
                continue;
            }
            // Taken out by `split_reads` above.
            Queued::Read(_) => continue,
        };
        w.tx.prepare_cached("SAVEPOINT job")?.execute([])?;
        let saved_head = w.head.clone();
        let (ok, completion) = job(&mut w);
        if !ok {
            w.tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
            w.head = saved_head;
        }
        w.tx.prepare_cached("RELEASE job")?.execute([])?;
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

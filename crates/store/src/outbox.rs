//! The notification outbox: which audit events each channel still has to
//! deliver, and what channels remember about a request.
//!
//! The audit log is the source of truth. `enqueue` reads events after the
//! cursor and records one row per interested channel, moving the cursor in
//! the same transaction; a crash before the commit re-reads the same events.

use rusqlite::{params, Connection, OptionalExtension};
use signoff_core::audit::timestamp;
use signoff_core::{AuditEvent, AuditKind};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::read::{scan, AuditFilter};
use crate::{StoreError, Tx};

const CURSOR: &str = "outbox_cursor";

/// One delivery still owed.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub event_seq: i64,
    pub approval_id: Option<Uuid>,
    pub attempts: u32,
}

/// Counts for metrics and `signoff` status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub dead: i64,
}

impl Tx<'_> {
    /// Moves the cursor over up to `limit` new audit events, adding a row for
    /// every channel for which `wants(channel, kind)` holds. Returns how many
    /// events were read.
    pub fn enqueue_outbox(
        &mut self,
        channels: &[String],
        wants: impl Fn(&str, AuditKind, Option<Uuid>) -> bool,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let cursor: i64 = self.meta(CURSOR)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let filter = AuditFilter {
            after_seq: Some(cursor),
            limit: Some(limit),
            ..AuditFilter::default()
        };
        let mut events = Vec::new();
        scan(self.connection(), &filter, |e| {
            events.push((e.seq, e.kind, e.approval_id));
            true
        })?;
        let due = timestamp(now);
        for (seq, kind, approval) in &events {
            for channel in channels.iter().filter(|c| wants(c, *kind, *approval)) {
                self.connection()
                    .prepare_cached(
                        "INSERT OR IGNORE INTO outbox (channel, event_seq, approval_id, next_at) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![channel, seq, approval.map(|a| a.to_string()), due])?;
            }
        }
        if let Some((last, _, _)) = events.last() {
            self.set_meta(CURSOR, &last.to_string())?;
        }
        Ok(events.len())
    }

    /// Starts the cursor at the current end of the log, so a channel added to
    /// an existing deployment does not replay its whole history.
    pub fn init_outbox_cursor(&mut self) -> Result<(), StoreError> {
        if self.meta(CURSOR)?.is_none() {
            let end: i64 = self.connection().query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM audit",
                [],
                |r| r.get(0),
            )?;
            self.set_meta(CURSOR, &end.to_string())?;
        }
        Ok(())
    }

    pub fn outbox_delivered(&mut self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached(
                "UPDATE outbox SET state = 'done', done_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, timestamp(now)])?;
        Ok(())
    }

    /// Records a failed attempt: retried at `next`, or given up on (`dead`)
    /// when `next` is `None`.
    pub fn outbox_failed(
        &mut self,
        id: i64,
        error: &str,
        next: Option<OffsetDateTime>,
    ) -> Result<(), StoreError> {
        let (state, next_at) = match next {
            Some(t) => ("pending", Some(timestamp(t))),
            None => ("dead", None),
        };
        self.connection()
            .prepare_cached(
                "UPDATE outbox SET state = ?2, next_at = COALESCE(?3, next_at), attempts = attempts + 1, last_error = ?4 WHERE id = ?1",
            )?
            .execute(params![id, state, next_at, error])?;
        Ok(())
    }

    pub fn set_channel_ref(
        &mut self,
        channel: &str,
        approval: Uuid,
        name: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached(
                "INSERT INTO channel_refs (channel, approval_id, name, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (channel, approval_id, name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![channel, approval.to_string(), name, value])?;
        Ok(())
    }
}

/// Rows due at `now`, oldest first. A row waits while an earlier row for the
/// same channel and request is undelivered, so a request's messages arrive in
/// order (a Slack update never precedes its post).
pub fn outbox_due(
    conn: &Connection,
    channel: &str,
    now: OffsetDateTime,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.channel, o.event_seq, o.approval_id, o.attempts FROM outbox o \
         WHERE o.channel = ?3 AND o.state = 'pending' AND o.next_at <= ?1 \
         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = o.channel AND p.approval_id = o.approval_id \
                         AND p.state = 'pending' AND p.event_seq < o.event_seq) \
         ORDER BY o.event_seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![timestamp(now), limit, channel], |r| {
        let approval: Option<String> = r.get(3)?;
        Ok(OutboxRow {
            id: r.get(0)?,
            channel: r.get(1)?,
            event_seq: r.get(2)?,
            approval_id: approval.and_then(|a| Uuid::parse_str(&a).ok()),
            attempts: r.get(4)?,
        })
    })?;
    rows.map(|r| r.map_err(StoreError::from)).collect()
}

/// The earliest time a pending row becomes due, to sleep until then.
pub fn outbox_next_due(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT MIN(next_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn outbox_counts(conn: &Connection) -> Result<OutboxCounts, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'dead'), 0) FROM outbox",
        [],
        |r| {
            Ok(OutboxCounts {
                pending: r.get(0)?,
                dead: r.get(1)?,
            })
        },
    )?)
}

pub fn event(conn: &Connection, seq: i64) -> Result<Option<AuditEvent>, StoreError> {
    let filter = AuditFilter {
        after_seq: Some(seq - 1),
        limit: Some(1),
        ..AuditFilter::default()
    };
    let mut found = None;
    scan(conn, &filter, |e| {
        if e.seq == seq {
            found = Some(e.clone());
        }
        false
    })?;
    Ok(found)
}

pub fn channel_ref(
    conn: &Connection,
    channel: &str,
    approval: Uuid,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT value FROM channel_refs WHERE channel = ?1 AND approval_id = ?2 AND name = ?3",
        )?
        .query_row(params![channel, approval.to_string(), name], |r| r.get(0))
        .optional()?)
}

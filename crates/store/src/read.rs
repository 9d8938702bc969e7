//! Queries on a read connection.

use rusqlite::{params, Connection, OptionalExtension, Row};
use signoff_core::{ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, Principal};
use uuid::Uuid;

use crate::StoreError;

pub(crate) const APPROVAL_COLUMNS: &str = "doc";

pub(crate) fn approval_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<Result<ApprovalRequest, StoreError>> {
    let doc: String = row.get(0)?;
    Ok(serde_json::from_str(&doc).map_err(StoreError::from))
}

pub fn approval(conn: &Connection, id: Uuid) -> Result<Option<ApprovalRequest>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"
        ))?
        .query_row([id.to_string()], approval_from_row)
        .optional()?;
    row.transpose()
}

/// Newest first.
pub fn approvals(
    conn: &Connection,
    status: Option<ApprovalStatus>,
    limit: u32,
) -> Result<Vec<ApprovalRequest>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) ORDER BY created_at DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![status.map(|s| s.as_str()), limit],
        approval_from_row,
    )?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|r| r))
        .collect()
}

pub fn count_pending(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM approvals WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub principal: Principal,
    pub key_id: String,
}

/// The principal holding the (unrevoked) key with this SHA-256 hash.
pub fn key_by_hash(conn: &Connection, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT principal, key_id FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(p, key_id)| {
        let principal = p
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("api key principal: {e}")))?;
        Ok(KeyRecord { principal, key_id })
    })
    .transpose()
}

/// Whether the stored key `key_id` exists and is not revoked.
pub fn key_live(conn: &Connection, key_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM api_keys WHERE key_id = ?1 AND revoked_at IS NULL")?
        .query_row([key_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// One API key as listings show it: never the key, only its id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyListing {
    pub key_id: String,
    pub principal: String,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Every key, oldest first.
pub fn keys(conn: &Connection) -> Result<Vec<KeyListing>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_id, principal, label, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(KeyListing {
                key_id: r.get(0)?,
                principal: r.get(1)?,
                label: r.get(2)?,
                created_at: r.get(3)?,
                revoked_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The SCRAM verifiers of `principal`'s live keys, with their key ids. Keys
/// from before verifiers existed have none and are left out.
pub fn scram_verifiers(
    conn: &Connection,
    principal: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_id, scram FROM api_keys WHERE principal = ?1 AND revoked_at IS NULL AND scram IS NOT NULL",
    )?;
    let rows = stmt
        .query_map([principal], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Who performed an action, and the approval whose grant it used, if any.
pub fn action_origin(
    conn: &Connection,
    action_id: Uuid,
) -> Result<Option<(String, Option<Uuid>)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT actor, approval_id FROM audit WHERE action_id = ?1 AND kind IN ('action.decided', 'grant.consumed') ORDER BY seq")?;
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([action_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let Some((actor, _)) = rows.first().cloned() else {
        return Ok(None);
    };
    let approval = rows
        .iter()
        .find_map(|(_, a)| a.as_deref().and_then(|a| Uuid::parse_str(a).ok()));
    Ok(Some((actor, approval)))
}

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// RFC 3339 bounds, inclusive since and exclusive until.
    pub since: Option<String>,
    pub until: Option<String>,
    pub kind: Option<AuditKind>,
    pub actor: Option<String>,
    pub approval_id: Option<Uuid>,
    /// Only events after this sequence number (for paging).
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
}

const EVENT_COLUMNS: &str = "seq, id, at, kind, actor, on_behalf_of, target, action_id, approval_id, fingerprint, reason, payload, details, trace_id, prev_hash, hash";

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<Result<AuditEvent, StoreError>> {
    let id: String = r.get(1)?;
    let kind: String = r.get(3)?;
    let action_id: Option<String> = r.get(7)?;
    let approval_id: Option<String> = r.get(8)?;
    let payload: String = r.get(11)?;
    let details: String = r.get(12)?;
    let seq: i64 = r.get(0)?;
    let event = (|| -> Result<AuditEvent, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("audit event #{seq}: bad {what}"));
        let uuid = |s: Option<String>, what: &str| {
            s.map(|s| Uuid::parse_str(&s).map_err(|_| corrupt(what)))
                .transpose()
        };
        Ok(AuditEvent {
            seq,
            id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
            at: r.get(2).map_err(StoreError::from)?,
            kind: AuditKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            actor: r.get(4).map_err(StoreError::from)?,
            on_behalf_of: r.get(5).map_err(StoreError::from)?,
            target: r.get(6).map_err(StoreError::from)?,
            action_id: uuid(action_id, "action_id")?,
            approval_id: uuid(approval_id, "approval_id")?,
            fingerprint: r.get(9).map_err(StoreError::from)?,
            reason: r.get(10).map_err(StoreError::from)?,
            payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
            details: serde_json::from_str(&details).map_err(|_| corrupt("details"))?,
            trace_id: r.get(13).map_err(StoreError::from)?,
            prev_hash: r.get(14).map_err(StoreError::from)?,
            hash: r.get(15).map_err(StoreError::from)?,
        })
    })();
    Ok(event)
}

pub fn events(conn: &Connection, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
    let mut out = Vec::new();
    scan(conn, f, |e| {
        out.push(e.clone());
        true
    })?;
    Ok(out)
}

/// Streams matching events in sequence order; `visit` returns false to stop.
/// Only the filters given reach the SQL, so SQLite can use the index of
/// each (`audit_by_at`, `audit_of_approvals`) instead of scanning the log.
pub fn scan(
    conn: &Connection,
    f: &AuditFilter,
    mut visit: impl FnMut(&AuditEvent) -> bool,
) -> Result<(), StoreError> {
    use rusqlite::types::Value as Sql;
    let mut terms = vec!["seq > ?"];
    let mut values = vec![Sql::Integer(f.after_seq.unwrap_or(0))];
    let mut when = |term, value: Option<String>| {
        if let Some(v) = value {
            terms.push(term);
            values.push(Sql::Text(v));
        }
    };
    when("at >= ?", f.since.clone());
    when("at < ?", f.until.clone());
    when("kind = ?", f.kind.map(|k| k.as_str().to_owned()));
    when("actor = ?", f.actor.clone());
    when("approval_id = ?", f.approval_id.map(|u| u.to_string()));
    values.push(Sql::Integer(f.limit.map(i64::from).unwrap_or(-1)));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit WHERE {} ORDER BY seq LIMIT ?",
        terms.join(" AND ")
    ))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        let event = event_from_row(row)??;
        if !visit(&event) {
            break;
        }
    }
    Ok(())
}

/// Every event in sequence order, for verification and export. A row that
/// cannot be read is reported as corrupt, naming its sequence number.
pub fn for_each_event(
    conn: &Connection,
    visit: impl FnMut(&AuditEvent) -> bool,
) -> Result<(), StoreError> {
    scan(conn, &AuditFilter::default(), visit)
}

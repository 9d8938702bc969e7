use rusqlite::Connection;

use crate::StoreError;

/// 2: `api_keys.scram` (SCRAM verifiers for PostgreSQL login).
/// 3: `outbox` and `channel_refs` (notification delivery), `ui_sessions`.
/// 4: `audit_of_approvals` replaces `audit_by_approval`: only events of an
///    approval are indexed, so an allowed read pays for one index less.
const VERSION: i64 = 4;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS approvals (
    id               TEXT PRIMARY KEY,
    fingerprint      TEXT NOT NULL,
    status           TEXT NOT NULL,
    principal        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    grant_expires_at TEXT,
    doc              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_fingerprint ON approvals (fingerprint, status);
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, expires_at);
CREATE INDEX IF NOT EXISTS approvals_by_created ON approvals (created_at);

CREATE TABLE IF NOT EXISTS api_keys (
    hash       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE,
    principal  TEXT NOT NULL,
    label      TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    scram      TEXT
);

CREATE TABLE IF NOT EXISTS audit (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    on_behalf_of TEXT,
    target       TEXT,
    action_id    TEXT,
    approval_id  TEXT,
    fingerprint  TEXT,
    reason       TEXT,
    payload      TEXT NOT NULL,
    details      TEXT NOT NULL,
    trace_id     TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit (action_id);
CREATE INDEX IF NOT EXISTS audit_of_approvals ON audit (approval_id) WHERE approval_id IS NOT NULL;

-- The chain is the real protection; these stop accidental edits.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- One row per (channel, audit event) to deliver. The audit log is the source:
-- the dispatcher's cursor (meta `outbox_cursor`) moves in the same
-- transaction that inserts the rows, so a restart loses no notification.
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY,
    channel      TEXT NOT NULL,
    event_seq    INTEGER NOT NULL,
    approval_id  TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    last_error   TEXT,
    done_at      TEXT,
    UNIQUE (channel, event_seq)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at);
CREATE INDEX IF NOT EXISTS outbox_by_request ON outbox (channel, approval_id, state);

-- What a channel remembers about a request, e.g. the Slack message to update.
CREATE TABLE IF NOT EXISTS channel_refs (
    channel     TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (channel, approval_id, name)
);

-- Web inbox sign-ins. Only the SHA-256 of the cookie value is kept.
CREATE TABLE IF NOT EXISTS ui_sessions (
    token_hash TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    auth       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
"#;

pub(crate) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    let found: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok();
    match found.as_deref().map(str::parse::<i64>) {
        None => {
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?1)", [VERSION.to_string()])?;
            Ok(())
        }
        Some(Ok(v)) if v == VERSION => Ok(()),
        Some(Ok(v @ 1..=3)) => {
            // Tables new since `v` were made by SCHEMA above; columns need ALTER.
            if v == 1 {
                // Keys from version 1 have no verifier: they keep working over
                // HTTP, and PostgreSQL login asks for a new key.
                conn.execute_batch("ALTER TABLE api_keys ADD COLUMN scram TEXT;")?;
            }
            conn.execute_batch("DROP INDEX IF EXISTS audit_by_approval;")?;
            conn.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                [VERSION.to_string()],
            )?;
            Ok(())
        }
        Some(Ok(v)) => Err(StoreError::Corrupt(format!(
            "database schema version {v} is newer than this signoff understands ({VERSION}); upgrade signoff"
        ))),
        Some(Err(_)) => Err(StoreError::Corrupt("schema_version is not a number".into())),
    }
}

//! Web inbox sessions: the cookie's hash, who signed in and how, the CSRF
//! token of the session, and when it ends.

use rusqlite::{params, Connection, OptionalExtension};
use signoff_core::audit::timestamp;
use time::OffsetDateTime;

use crate::{StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiSession {
    pub principal: String,
    /// The sign-in method as JSON (`AuthMethod`).
    pub auth: String,
    pub csrf: String,
}

impl Tx<'_> {
    pub fn start_ui_session(
        &mut self,
        token_hash: &str,
        session: &UiSession,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let c = self.connection();
        // Ended sessions go as new ones start.
        c.prepare_cached("DELETE FROM ui_sessions WHERE expires_at <= ?1")?
            .execute([timestamp(now)])?;
        c.prepare_cached(
            "INSERT INTO ui_sessions (token_hash, principal, auth, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            token_hash,
            session.principal,
            session.auth,
            session.csrf,
            timestamp(now),
            timestamp(expires)
        ])?;
        Ok(())
    }

    pub fn end_ui_session(&mut self, token_hash: &str) -> Result<(), StoreError> {
        self.connection()
            .prepare_cached("DELETE FROM ui_sessions WHERE token_hash = ?1")?
            .execute([token_hash])?;
        Ok(())
    }
}

/// The live session with this cookie hash.
pub fn ui_session(
    conn: &Connection,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<UiSession>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT principal, auth, csrf FROM ui_sessions WHERE token_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![token_hash, timestamp(now)], |r| {
            Ok(UiSession {
                principal: r.get(0)?,
                auth: r.get(1)?,
                csrf: r.get(2)?,
            })
        })
        .optional()?)
}

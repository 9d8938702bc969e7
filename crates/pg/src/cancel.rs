//! CancelRequest routing: clients hold signoff's key data, never the
//! database's; a cancel either ends a hold or is passed upstream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// What a cancel needs to reach one session.
pub(crate) struct Handle {
    pub secret: i32,
    pub upstream_pid: i32,
    pub upstream_secret: i32,
    /// Wakes a session holding a statement for approval.
    pub hold: Arc<Notify>,
}

#[derive(Clone, Default)]
pub(crate) struct Registry {
    sessions: Arc<Mutex<HashMap<i32, Handle>>>,
}

impl Registry {
    /// Registers a session under a fresh process id; returns (pid, secret).
    pub fn register(
        &self,
        upstream_pid: i32,
        upstream_secret: i32,
        hold: Arc<Notify>,
    ) -> (i32, i32) {
        let Ok(mut sessions) = self.sessions.lock() else {
            return (0, 0);
        };
        loop {
            let pid = rand::random::<i32>() & 0x7fff_ffff;
            if pid != 0 && !sessions.contains_key(&pid) {
                let secret = rand::random::<i32>();
                sessions.insert(
                    pid,
                    Handle {
                        secret,
                        upstream_pid,
                        upstream_secret,
                        hold,
                    },
                );
                return (pid, secret);
            }
        }
    }

    pub fn remove(&self, pid: i32) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&pid);
        }
    }

    /// The upstream key of the session, after waking its hold if any; `None`
    /// when pid and secret do not match (PostgreSQL ignores such cancels too).
    pub fn cancel(&self, pid: i32, secret: i32) -> Option<(i32, i32)> {
        let sessions = self.sessions.lock().ok()?;
        let h = sessions.get(&pid).filter(|h| h.secret == secret)?;
        // Only a hold in progress: a cancel meant for a statement running in
        // the database must not linger and end the session's next hold.
        h.hold.notify_waiters();
        Some((h.upstream_pid, h.upstream_secret))
    }
}

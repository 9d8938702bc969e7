//! Callers waiting for a decision. A review that resolves a request notifies
//! its waiters right after the commit: no polling.

use std::collections::HashMap;
use std::sync::Mutex;

use signoff_core::ApprovalStatus;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Default)]
pub struct Waiters {
    channels: Mutex<HashMap<Uuid, watch::Sender<Option<ApprovalStatus>>>>,
}

impl Waiters {
    /// Subscribe before reading the current state, so no change is missed.
    pub fn subscribe(&self, id: Uuid) -> watch::Receiver<Option<ApprovalStatus>> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    pub fn notify(&self, id: Uuid, status: ApprovalStatus) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(&id) {
            tx.send_replace(Some(status));
            if !status.is_pending() || tx.receiver_count() == 0 {
                map.remove(&id);
            }
        }
        // Drop channels whose waiters all left.
        if map.len() > 1024 {
            map.retain(|_, tx| tx.receiver_count() > 0);
        }
    }
}

//! Durable state: approval requests, API keys and the audit chain, in SQLite.
//!
//! All writes go through one writer thread that commits them in groups: every
//! job queued while a commit is in flight joins the next transaction, each in
//! its own savepoint (a lone append, atomic by itself, needs none), so one
//! failing job never takes the others down and one fsync covers the group. A
//! job's caller hears back only after its group has committed, so an
//! acknowledged decision is durable (DESIGN invariant 5).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checkpoint;
pub mod outbox;
pub mod read;
mod schema;
pub mod sessions;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::OpenFlags;
use tokio::sync::oneshot;

pub use checkpoint::{verify, Checkpoint, CheckpointSigner, VerifyReport};
pub use outbox::{OutboxCounts, OutboxRow};
pub use read::{AuditFilter, KeyListing, KeyRecord};
pub use rusqlite::Connection;
pub use write::Tx;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("cannot open the store at `{path}`: {message}")]
    Open { path: String, message: String },
    #[error("{0}")]
    Rejected(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Work = Box<dyn FnOnce(&mut Tx<'_>) -> (bool, Completion) + Send>;
/// Told once an append's group commit is over.
type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// What the writer thread is sent.
pub(crate) enum Wake {
    /// A job someone waits for: it commits with whatever else is queued.
    Awaited(Queued),
    /// Detached jobs are waiting in the buffer.
    Detached,
}

/// A job for a group commit.
pub(crate) enum Queued {
    Work(Work),
    /// A lone append needs no savepoint: one INSERT is atomic by itself,
    /// and the chain head moves only when it succeeds. The waiter, if any,
    /// hears back after the commit.
    Append(Box<signoff_core::AuditEvent>, Option<Waiter>),
    /// An allowed read and its outcome: the reads of one caller and target
    /// in a group commit become one `reads.batched` event.
    Read(Box<signoff_core::ReadRecord>),
}

/// Detached jobs, queued without waking the writer for each: the first one
/// of a batch wakes it, and the batch commits `DETACHED_LINGER` later (or at
/// once with an awaited job, or when `DETACHED_FULL` are queued), so one
/// fsync covers a whole stream of queued reads.
pub(crate) type Detached = Arc<Mutex<DetachedQueue>>;

#[derive(Default)]
pub(crate) struct DetachedQueue {
    pub(crate) jobs: Vec<Queued>,
    /// Set by `shutdown` before the writer's last drain.
    pub(crate) closed: bool,
}

const DETACHED_LINGER: std::time::Duration = std::time::Duration::from_millis(5);
const DETACHED_FULL: usize = 512;

/// Told after each group commit, before its jobs hear back: how long it
/// took, fsync included, and how many jobs it held.
pub type CommitObserver = Box<dyn Fn(Duration, usize) + Send + Sync>;
pub(crate) type Observer = Arc<OnceLock<CommitObserver>>;

/// The most jobs one group commit takes.
const MAX_BATCH: usize = 1024;
/// Read connections kept open between reads.
const MAX_IDLE_READERS: usize = 8;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Wake>>>,
    detached: Detached,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    observer: Observer,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: data_dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir)
            .map_err(|e| open_err(format!("{e}; check the directory exists and is writable")))?;
        let path = data_dir.join("signoff.db");
        let signer = CheckpointSigner::load_or_create(&data_dir.join("audit-signing.key"))
            .map_err(|e| open_err(e.to_string()))?;
        let conn = connect(&path).map_err(|e| open_err(e.to_string()))?;
        schema::migrate(&conn).map_err(|e| open_err(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<Wake>();
        let detached = Detached::default();
        let queue = detached.clone();
        let observer = Observer::default();
        let observed = observer.clone();
        let writer = std::thread::Builder::new()
            .name("signoff-store-writer".into())
            .spawn(move || write::run(conn, rx, queue, signer, observed))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                jobs: Mutex::new(Some(tx)),
                detached,
                readers: Mutex::new(Vec::new()),
                writer: Mutex::new(Some(writer)),
                observer,
            }),
        })
    }

    /// Has every group commit from now on reported to `f` (metrics). The
    /// first observer set stays; a later one is refused and returned.
    pub fn observe_commits(&self, f: CommitObserver) -> Result<(), CommitObserver> {
        self.inner.observer.set(f)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in the next group commit and returns its result once committed.
    /// An error from `f` rolls back only `f`'s own writes.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let work: Work = Box::new(move |tx: &mut Tx<'_>| {
            let r = f(tx);
            let ok = r.is_ok();
            let completion: Completion = Box::new(move |commit: Result<(), StoreError>| {
                let _ = done.send(commit.and(r));
            });
            (ok, completion)
        });
        self.send_awaited(Queued::Work(work))?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Appends one audit event in the next group commit and returns once it is
    /// durable: [`Store::write`] with `tx.append`, without the job's savepoint.
    /// The path of every decision that must be recorded before its effect.
    pub async fn append(&self, event: signoff_core::AuditEvent) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.send_awaited(Queued::Append(Box::new(event), Some(done)))?;
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// Hands a job someone waits for to the writer.
    fn send_awaited(&self, job: Queued) -> Result<(), StoreError> {
        let jobs = self.inner.jobs.lock().map_err(|_| StoreError::Closed)?;
        jobs.as_ref()
            .ok_or(StoreError::Closed)?
            .send(Wake::Awaited(job))
            .map_err(|_| StoreError::Closed)
    }

    /// Queues `f` for a group commit soon (within a few milliseconds) without
    /// waiting for it. For records that need not precede an effect (outcomes,
    /// allowed reads): `shutdown` still commits every queued job, so a clean
    /// stop loses none; a crash may lose the last few milliseconds of them.
    pub fn write_detached<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<(), StoreError> + Send + 'static,
    {
        let work: Work = Box::new(move |tx: &mut Tx<'_>| {
            let r = f(tx);
            let ok = r.is_ok();
            let completion: Completion = Box::new(move |commit: Result<(), StoreError>| {
                if let Err(e) = commit.and(r) {
                    tracing::error!(error = %e, "a queued audit write failed");
                }
            });
            (ok, completion)
        });
        self.queue(Queued::Work(work))
    }

    /// Queues one audit event like [`Store::write_detached`], at a fraction
    /// of its cost: the path of every allowed read.
    pub fn append_detached(&self, event: signoff_core::AuditEvent) -> Result<(), StoreError> {
        self.queue(Queued::Append(Box::new(event), None))
    }

    /// Queues an allowed read and its outcome like [`Store::append_detached`];
    /// the reads of one caller and target that commit together are written
    /// as one `reads.batched` event, so a stream of reads costs one row per
    /// group commit instead of one per statement. A lone read is written as
    /// its plain `action.decided` event ([`ReadRecord::into_event`]).
    ///
    /// [`ReadRecord::into_event`]: signoff_core::ReadRecord::into_event
    pub fn append_read(&self, read: signoff_core::ReadRecord) -> Result<(), StoreError> {
        self.queue(Queued::Read(Box::new(read)))
    }

    fn queue(&self, job: Queued) -> Result<(), StoreError> {
        let queued = {
            let mut q = self.inner.detached.lock().map_err(|_| StoreError::Closed)?;
            // INVARIANT: `shutdown` closes the queue before it lets the writer
            // go, and the writer drains the queue last, so an accepted job is
            // always committed.
            if q.closed {
                return Err(StoreError::Closed);
            }
            q.jobs.push(job);
            q.jobs.len()
        };
        if queued == 1 || queued == DETACHED_FULL {
            let jobs = self.inner.jobs.lock().map_err(|_| StoreError::Closed)?;
            // No sender: shutdown is under way, and its last drain takes the job.
            if let Some(sender) = jobs.as_ref() {
                let _ = sender.send(Wake::Detached);
            }
        }
        Ok(())
    }

    /// Runs a read on a pooled connection, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| StoreError::Sqlite(format!("read task failed: {e}")))?
    }

    /// Like [`Store::read`], on the calling thread.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.inner.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.inner.path)?,
        };
        let r = f(&conn);
        if let Ok(mut readers) = self.inner.readers.lock() {
            if readers.len() < MAX_IDLE_READERS {
                readers.push(conn);
            }
        }
        r
    }

    /// Stops taking writes, lets queued ones commit, and waits for the writer.
    pub fn shutdown(&self) {
        if let Ok(mut q) = self.inner.detached.lock() {
            q.closed = true;
        }
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            jobs.take();
        }
        if let Some(handle) = self.inner.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = handle.join();
        }
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // WAL lets readers run beside the writer; FULL makes each commit durable.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

#[cfg(test)]
mod tests;

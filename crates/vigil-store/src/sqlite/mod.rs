//! The embedded SQLite store: `data_dir/vigil.db` in WAL mode, one
//! group-commit writer (callers lead commits, a thread does the rest: see
//! [`group`]), a small pool of read-only connections.

mod approvals;
mod group;
mod migrations;
pub(crate) mod prepared;
mod queue;
mod reads;
mod runs;
mod sessions;
mod writer;

pub(crate) use migrations::{LATEST as SCHEMA_LATEST, check_not_newer, current_version};
pub(crate) use reads::open_reader;
pub(crate) use writer::{has_row, last_indexed};

use crate::checkpoint::LedgerKey;
use crate::ledger::head::{HeadPublisher, SignedHead};
use crate::log::segment::log_dir;
use crate::log::tail::Tail;
use crate::log::writer::{LogOptions, LogWriter};
use crate::log::{lock, recover};
use crate::{
    Appended, LedgerRecord, NewSshKey, NewToken, SessionSummary, SshKeyRecord, Store, StoreError,
    TokenRecord,
};
use group::Group;
use prepared::PreparedEvent;
use reads::ReadPool;
use rusqlite::Connection;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use vigil_core::Event;
use writer::{Command, Control, Writer};

/// File name of the database inside `data_dir`.
pub const DB_FILE: &str = "vigil.db";

/// How long a connection waits for a lock held by another connection (or
/// another process, e.g. `vigil token create` next to a running gateway).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Tuning of the SQLite store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// `false` (default): `synchronous=NORMAL`, events survive a crash of the
    /// gateway process. `true`: `synchronous=FULL`, they also survive power loss.
    pub fsync: bool,
    /// Sign a checkpoint every this many events (and on close). 0: only on close.
    pub checkpoint_every: u64,
    /// Capacity of the writer's queue; when full, appenders wait (back-pressure).
    pub queue_capacity: usize,
    /// Most commands the writer takes into one transaction.
    pub batch_max: usize,
    /// Read-only connections kept for queries.
    pub read_connections: usize,
    /// Size past which the log starts a new segment file.
    pub segment_bytes: u64,
    /// Whether this process writes the ledger (the gateway: `true`, the
    /// default). `false` for commands that only manage tokens and keys
    /// beside a running gateway: the log is neither locked, recovered nor
    /// written, appends fail, and the index is read as it is.
    pub writes_ledger: bool,
    /// For tests: while this is set, every log write fails halfway, as
    /// on a full disk.
    #[doc(hidden)]
    pub fail_log_writes: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fsync: false,
            checkpoint_every: 1000,
            queue_capacity: 4096,
            batch_max: 1024,
            read_connections: 4,
            segment_bytes: 64 << 20,
            writes_ledger: true,
            fail_log_writes: None,
        }
    }
}

/// The embedded store. Open with [`SqliteStore::open`], share as
/// `Arc<dyn Store>`, and call [`SqliteStore::close`] on shutdown so the final
/// checkpoint is signed.
pub struct SqliteStore {
    tx: queue::Sender,
    group: Arc<Group>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reads: ReadPool,
    /// The last seq written to the log (see [`Group::index_sync`]).
    logged: Arc<AtomicI64>,
    path: PathBuf,
    heads: tokio::sync::watch::Receiver<Option<SignedHead>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`: creates the
    /// directory with mode 0700, applies migrations, loads or creates the
    /// ledger signing key, and starts the writer thread.
    pub fn open(data_dir: &Path, opts: StoreOptions) -> Result<SqliteStore, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(StoreError::io(format!("creating {}", data_dir.display())))?;
        let path = data_dir.join(DB_FILE);
        let mut conn =
            Connection::open(&path).map_err(StoreError::sqlite("opening the database"))?;
        configure_writer(&conn, opts.fsync)?;
        migrations::migrate(&mut conn)?;
        let key = LedgerKey::load_or_create(data_dir)?;
        let (heads, head_rx) = HeadPublisher::new(data_dir, opts.fsync);
        let dir = log_dir(data_dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(StoreError::io(format!("creating {}", dir.display())))?;
        let log_opts = LogOptions {
            fsync: opts.fsync,
            checkpoint_every: opts.checkpoint_every,
            segment_bytes: opts.segment_bytes.max(1 << 16),
            fail_writes: opts.fail_log_writes.clone(),
        };
        let indexed = writer::last_indexed(&conn)?;
        let (log, index) = if opts.writes_ledger {
            open_ledger(&dir, conn, key, log_opts, heads, indexed)?
        } else {
            let why = format!(
                "this process does not write the ledger in {} (the gateway does)",
                dir.display()
            );
            let log = LogWriter::refusing(&dir, key, log_opts, heads, why)?;
            let tail = Tail::new(dir, indexed.0 + 1, log.logged());
            (log, Writer::new(conn, tail, indexed)?)
        };
        let logged = log.logged();
        // With fsync on, a write waits for the disk: keep it off the
        // runtime's threads (no leaders), on the writer thread.
        let leaders = !opts.fsync;
        let (tx, rx) = queue::channel(opts.queue_capacity.max(1), leaders);
        let group = Arc::new(Group::new(
            log,
            rx,
            opts.batch_max,
            leaders,
            index.indexed_seq(),
        ));
        let thread_group = Arc::clone(&group);
        let handle = std::thread::Builder::new()
            .name("vigil-ledger-writer".into())
            .spawn(move || thread_group.run(index))
            .map_err(StoreError::io("starting the ledger writer thread"))?;
        tx.set_writer(handle.thread().clone());
        Ok(SqliteStore {
            tx,
            group,
            writer: Mutex::new(Some(handle)),
            reads: ReadPool::new(path.clone(), opts.read_connections),
            logged,
            path,
            heads: head_rx,
        })
    }

    /// Each signed checkpoint as it is committed (also in
    /// `data_dir/ledger-head` and the log), for webhooks.
    pub fn ledger_heads(&self) -> tokio::sync::watch::Receiver<Option<SignedHead>> {
        self.heads.clone()
    }

    /// Writes everything still queued, signs a final checkpoint and stops the
    /// writer. Later writes fail with [`StoreError::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        let result = match self
            .tx
            .send(Command::Control(Control::Close { reply }))
            .await
        {
            Ok(()) => rx.await.unwrap_or(Ok(())),
            Err(_) => Ok(()), // already closed
        };
        let handle = self
            .writer
            .lock()
            .map_err(|_| StoreError::Internal("writer handle lock poisoned".into()))?
            .take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|e| StoreError::Internal(format!("joining the writer: {e}")))?
                .map_err(|_| StoreError::Internal("the ledger writer thread panicked".into()))?;
        }
        result
    }

    /// `data_dir/ledger`, beside the database.
    fn log_dir(&self) -> PathBuf {
        log_dir(self.path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Waits until the index holds every event written so far: reads of
    /// sessions and events see what was acknowledged before them.
    async fn index_sync(&self) -> Result<(), StoreError> {
        self.group
            .index_sync(self.logged.load(Ordering::Acquire))
            .await
    }

    /// Sends a non-append command to the writer and waits for its answer.
    async fn control<T>(
        &self,
        make: impl FnOnce(writer::Reply<T>) -> Control,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Control(make(reply)))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// Takes the log's writer lock, recovers the log, and brings the index up
/// to it (see `log::recover`).
fn open_ledger(
    dir: &Path,
    conn: Connection,
    key: LedgerKey,
    log_opts: LogOptions,
    heads: HeadPublisher,
    indexed: (i64, [u8; 32]),
) -> Result<(LogWriter, Writer), StoreError> {
    let lock = lock::acquire(dir)?;
    let scanned = recover::scan(dir)?;
    if let Some(c) = &scanned.last_checkpoint
        && !heads.file_exists()
    {
        // A data_dir whose head file was removed: write it again from
        // the log's last checkpoint.
        tracing::warn!(
            seq = c.seq,
            "no ledger-head file: writing it from the log's last checkpoint"
        );
        heads.publish_signed(c.seq, c.hash, c.signature.clone(), c.at_ms);
    }
    let mut log = LogWriter::open(
        dir,
        scanned.first_seq,
        scanned.size,
        scanned.head,
        key,
        log_opts,
        heads,
    )?;
    let tail = Tail::new(dir.to_path_buf(), indexed.0 + 1, log.logged());
    let mut index = Writer::new(conn, tail, indexed)?;
    if scanned.fresh && indexed.0 > 0 {
        // A data_dir from before the log: the index was the ledger.
        let copied = index.copy_into_log(&mut log)?;
        tracing::info!(
            events = copied,
            "copied the ledger into its new append-only log"
        );
    } else if indexed.0 > scanned.head.seq {
        return Err(StoreError::Corrupt(format!(
            "the ledger index holds events up to seq {} but the log ends at seq {}: \
             events were cut from the log; run `vigil audit verify`",
            indexed.0, scanned.head.seq
        )));
    }
    // Everything acknowledged before a crash is in the log: the index
    // catches up before anyone reads it.
    index.catch_up()?;
    Ok((log.hold(lock), index))
}

/// WAL lets readers run while the writer commits; `synchronous=NORMAL` in WAL
/// mode makes a commit survive a process crash without an fsync per commit.
fn configure_writer(conn: &Connection, fsync: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::sqlite("setting busy_timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(StoreError::sqlite("enabling WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Internal(format!(
            "SQLite refused WAL mode (got `{mode}`)"
        )));
    }
    let sync = if fsync { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(StoreError::sqlite("setting synchronous"))?;
    Ok(())
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
impl SqliteStore {
    /// Runs `f` on the write connection, in queue order with the ledger.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        let work = move |w: &mut Writer, _: &mut LogWriter| {
            let _ = reply.send(f(w.conn()));
        };
        self.tx
            .send(Command::Control(Control::Run(Box::new(work))))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn append(&self, event: Event) -> Result<Appended, StoreError> {
        let event = PreparedEvent::new(event)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Append {
                event,
                reply: Some(reply),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        if self.group.leaders() {
            self.group.lead().await;
        }
        // A dropped reply means the writer died before answering: not durable.
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn append_nowait(&self, event: Event) -> Result<(), StoreError> {
        let event = PreparedEvent::new(event)?;
        self.tx
            .send(Command::Append { event, reply: None })
            .await
            .map_err(|_| StoreError::Closed)
    }

    async fn create_token(&self, token: NewToken) -> Result<(), StoreError> {
        self.control(|reply| Control::CreateToken { token, reply })
            .await
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let hash = *hash;
        self.reads
            .run(move |conn| crate::tokens::by_hash(conn, &hash))
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.reads.run(crate::tokens::list).await
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.control(|reply| Control::RevokeToken { name, reply })
            .await
    }

    async fn add_ssh_key(&self, key: NewSshKey) -> Result<(), StoreError> {
        self.write(move |conn| crate::ssh_keys::insert(conn, &key))
            .await
    }

    async fn ssh_key_by_fingerprint(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<SshKeyRecord>, StoreError> {
        let fingerprint = *fingerprint;
        self.reads
            .run(move |conn| crate::ssh_keys::by_fingerprint(conn, &fingerprint))
            .await
    }

    async fn list_ssh_keys(&self) -> Result<Vec<SshKeyRecord>, StoreError> {
        self.reads.run(crate::ssh_keys::list).await
    }

    async fn remove_ssh_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.write(move |conn| crate::ssh_keys::remove(conn, &name, now_ms()))
            .await
    }

    async fn list_sessions(&self, limit: usize) -> Result<Vec<SessionSummary>, StoreError> {
        self.index_sync().await?;
        self.reads
            .run(move |conn| sessions::list(conn, limit))
            .await
    }

    async fn session_events(&self, session: &str) -> Result<Vec<LedgerRecord>, StoreError> {
        self.index_sync().await?;
        let dir = self.log_dir();
        let session = session.to_string();
        self.reads
            .run(move |conn| reads::session_events(conn, &dir, &session))
            .await
    }

    async fn run_sessions(
        &self,
        run_id: &str,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.index_sync().await?;
        let run_id = run_id.to_string();
        self.reads
            .run(move |conn| runs::sessions(conn, &run_id, limit))
            .await
    }

    async fn run_events(
        &self,
        run_id: &str,
        limit: usize,
    ) -> Result<Vec<LedgerRecord>, StoreError> {
        self.index_sync().await?;
        let run_id = run_id.to_string();
        self.reads
            .run(move |conn| runs::events(conn, &run_id, limit))
            .await
    }

    fn approvals(&self) -> Option<&dyn crate::ApprovalStore> {
        Some(self)
    }
}

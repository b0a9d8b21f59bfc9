//! The station's durable store (SQLite, `<data_dir>/spidd.db`): the outbox of client
//! transactions awaiting or past delivery, their delivery attempts, and operators' biometrics.
//!
//! Biometric payloads (transaction bodies, operators' templates) are sealed with the outbox
//! key before they reach the disk (`seal.rs`); what scheduling and reporting need stays clear.
//! A transaction's body lives in a file of its own beside the database, written and synced
//! once (`spool.rs`); operators' templates, a few kB, stay in SQLite. `secure_delete` is on,
//! so replaced or purged data does not linger in free pages, and the file is vacuumed
//! incrementally (`retention.rs`).
//!
//! Synchronous by design; async callers wrap calls in `spawn_blocking`. One writing
//! connection behind a mutex (SQLite takes one writer at a time anyway), and a few read-only
//! connections beside it: in WAL mode a reader sees every committed write and never waits for
//! the writer, so Resend All's reads of rows and payloads do not queue behind its commits.

mod at_rest;
mod checkpoint;
mod columns;
mod delivery;
mod listing;
mod operators;
mod remote;
mod retention;
mod schema;
mod seal;
mod spool;
mod transactions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode};
use state_machine::{Cpf, Finger, Millis, Mode};

pub use delivery::{SendOutcome, SendStart};
pub use listing::OutboxEntry;
pub use operators::StoredOperator;
pub use remote::{NewRemote, ProviderOutcome, RemoteState, StoredRemote};
pub use retention::PurgeReport;
pub use seal::{
    Cipher, KeyError, KeySource, SealError, SealKey, Sealed, DEFAULT_KEY_FILE, KEY_CREDENTIAL,
};
pub use transactions::ForSend;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Disk full, read-only, I/O failure, cannot open: the API answers 507 STORAGE_UNAVAILABLE.
    #[error("the outbox storage {path} is unavailable: {source}")]
    Storage {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the outbox database {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the outbox database {path} has schema version {found}; this spidd knows up to {known}"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot create the outbox directory {path}: {source}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The same (CPF, timestamp) is already stored: the same transaction, under `id`.
    #[error("this transaction is already in the outbox as {id}")]
    Duplicate { id: String },
    #[error("transaction {id} is {state}; it cannot become {to}")]
    InvalidTransition {
        id: String,
        state: TxState,
        to: TxState,
    },
    #[error("no transaction {0} in the outbox")]
    NotFound(String),
    /// A payload file cannot be written or read: the disk (full, read-only, failing: 507),
    /// or a file that is not whole.
    #[error("the payload file {path} cannot be used: {source}")]
    PayloadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The payload file of a transaction still owed to the server is gone.
    #[error("the payload file of transaction {0} is missing")]
    PayloadMissing(String),
    #[error("the outbox only holds ENROLL and VERIFY transactions, not {0}")]
    Mode(&'static str),
    /// The database was sealed with another key than the one configured.
    #[error("the outbox database {path} was sealed with key {sealed_with}, but the configured key is {configured}: restore the key file that belongs to this database")]
    KeyMismatch {
        path: PathBuf,
        sealed_with: String,
        configured: String,
    },
    /// A sealed payload does not open (altered, or sealed by another key).
    #[error("the stored data of {what} does not open with the outbox key: {source}")]
    Sealed { what: String, source: SealError },
    /// The payload was dropped after the retention period; the metadata remains.
    #[error("the payload of transaction {0} was purged after delivery")]
    Purged(String),
    #[error("outbox database error: {0}")]
    Database(rusqlite::Error),
    /// A group commit or read failed: every item in it shares the one error.
    #[error(transparent)]
    Batch(Arc<OutboxError>),
}

impl OutboxError {
    /// The disk, not the data: worth reporting as storage unavailable (507).
    pub fn is_storage(&self) -> bool {
        match self {
            OutboxError::Storage { .. } | OutboxError::Directory { .. } => true,
            OutboxError::PayloadFile { source, .. } => !spool::is_damaged(source),
            OutboxError::Batch(e) => e.is_storage(),
            _ => false,
        }
    }

    /// The error of a batch that failed as a whole, as the result of each of its `n` items.
    fn shared_by<T>(self, n: usize) -> Vec<Result<T, OutboxError>> {
        let e = Arc::new(self);
        (0..n).map(|_| Err(OutboxError::Batch(e.clone()))).collect()
    }

    /// The error of an item that was alone in its batch: the batch's error is its own again.
    fn alone(self) -> OutboxError {
        match self {
            OutboxError::Batch(e) => Arc::try_unwrap(e).unwrap_or_else(OutboxError::Batch),
            other => other,
        }
    }
}

/// Where a transaction is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxState {
    /// Waiting for (another) attempt; nothing reached the server, or the server failed.
    Pending,
    /// An attempt is under way.
    Sending,
    /// The server holds it; `tguid` is its id.
    Delivered,
    /// The server refused it as invalid (4xx); kept for the technician.
    Rejected,
    /// An attempt may have reached the server; the next attempt first asks the server.
    Ambiguous,
}

impl TxState {
    pub const ALL: [TxState; 5] = [
        TxState::Pending,
        TxState::Sending,
        TxState::Delivered,
        TxState::Rejected,
        TxState::Ambiguous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Pending => "PENDING",
            TxState::Sending => "SENDING",
            TxState::Delivered => "DELIVERED",
            TxState::Rejected => "REJECTED",
            TxState::Ambiguous => "AMBIGUOUS",
        }
    }

    pub fn parse(s: &str) -> Option<TxState> {
        TxState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Still owed to the server.
    pub fn is_undelivered(self) -> bool {
        matches!(
            self,
            TxState::Pending | TxState::Sending | TxState::Ambiguous
        )
    }
}

impl fmt::Display for TxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transaction to store. `payload` is the JSON `UserTransactionRequest` body exactly as it
/// will be sent; `summary` is the station's own record (no images) for the JSON report.
#[derive(Clone)]
pub struct NewTransaction {
    pub mode: Mode,
    pub cpf: Cpf,
    pub operator: Cpf,
    /// Capture time (epoch ms): with the CPF, the transaction's identity upstream.
    pub timestamp: Millis,
    pub payload: Vec<u8>,
    pub summary: serde_json::Value,
}

impl fmt::Debug for NewTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTransaction")
            .field("mode", &self.mode)
            .field("cpf", &self.cpf)
            .field("timestamp", &self.timestamp)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .finish_non_exhaustive()
    }
}

/// A stored transaction without its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTransaction {
    /// The station's id (UUID v7: stored ones sort in creation order), made at enqueue, never changed.
    pub id: String,
    pub mode: Mode,
    pub cpf: Cpf,
    pub operator: Cpf,
    pub timestamp: Millis,
    pub created_at: Millis,
    pub state: TxState,
    /// Send attempts started (deduplication checks not counted).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Millis,
    /// The server's id, once known.
    pub tguid: Option<String>,
    pub result_status: Option<String>,
    pub result_message: Option<String>,
    pub result_at: Option<Millis>,
    pub delivered_at: Option<Millis>,
    /// When the biometric payload was dropped (retention, or an acknowledged rejection).
    pub payload_purged_at: Option<Millis>,
    /// When a technician acknowledged the rejection (REJECTED only).
    pub acknowledged_at: Option<Millis>,
}

/// One recorded attempt (or deduplication check, or crash recovery) of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryAttempt {
    pub at: Millis,
    /// `DELIVERED`, `DEDUPLICATED`, `PENDING`, `AMBIGUOUS`, `REJECTED`.
    pub outcome: String,
    pub error: Option<String>,
}

/// The store. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    /// The one writer (shared with the checkpoint thread, which restarts the WAL with it).
    conn: Arc<Mutex<Connection>>,
    /// Idle read-only connections, opened on demand (at most [`IDLE_READERS`] kept).
    readers: Mutex<Vec<Connection>>,
    /// Checkpoints the WAL in the background once writes pause.
    checkpointer: checkpoint::Checkpointer,
    /// The transactions' payload files.
    spool: spool::Spool,
    path: PathBuf,
    key: SealKey,
}

/// Read connections kept open between reads: one per concurrent delivery is plenty.
const IDLE_READERS: usize = 8;
/// Prepared statements kept per connection (the hot paths use a dozen or so).
const STATEMENT_CACHE: usize = 64;

/// What only a new, empty file takes, before anything writes its first page (switching to
/// WAL does): 4 KiB pages, the size of what a commit changes (a row, its index entries, an
/// attempt: payloads have their own files), and incremental auto-vacuum. An existing file
/// keeps its page size (16 KiB in files made while payloads lived in SQLite), and one without
/// auto-vacuum gets a single VACUUM at open (`at_rest.rs`).
pub(super) const NEW_FILE_PRAGMAS: &str =
    "PRAGMA page_size = 4096; PRAGMA auto_vacuum = INCREMENTAL;";

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Inside a store call: SQLite errors are sorted by [`Outbox::classify`] once, at the end.
enum Failure {
    Sql(rusqlite::Error),
    Outbox(OutboxError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

impl From<OutboxError> for Failure {
    fn from(e: OutboxError) -> Self {
        Failure::Outbox(e)
    }
}

/// The wall clock in epoch milliseconds: when rows are written and attempts happen.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

impl Outbox {
    /// Opens (creating the file and its directory when absent) and checks the database:
    /// `quick_check` must pass, migrations are applied, the database must belong to `key`
    /// (a new one is marked with it), payloads still in clear (written by a v1 spidd) are
    /// sealed, and rows left `SENDING` by a crash become `AMBIGUOUS` (the request may have
    /// reached the server).
    pub fn open(path: impl AsRef<Path>, key: SealKey) -> Result<Outbox, OutboxError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutboxError::Directory {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let classify = |e| classify(&path, e);
        let mut conn = Connection::open(&path).map_err(classify)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(classify)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        quick_check(&conn, &path).map_err(|f| unwrap_failure(&path, f))?;
        conn.execute_batch(NEW_FILE_PRAGMAS).map_err(classify)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), journal_mode = %mode, "the outbox could not switch to WAL");
        }
        // secure_delete zeroes the pages a replaced or purged payload leaves.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(classify)?;
        // Checkpoints run in the background (`checkpoint.rs`); this is the backstop.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {}; PRAGMA journal_size_limit = {};",
            checkpoint::BACKSTOP_PAGES,
            checkpoint::WAL_SIZE_LIMIT
        ))
        .map_err(classify)?;
        schema::migrate(&mut conn).map_err(|e| match e {
            schema::MigrateError::Newer(found) => OutboxError::NewerSchema {
                path: path.clone(),
                found,
                known: schema::VERSION,
            },
            schema::MigrateError::Sql(e) => classify(e),
        })?;
        at_rest::ensure_incremental_vacuum(&conn, &path).map_err(classify)?;
        let spool = spool::Spool::open(&path).map_err(|source| OutboxError::Directory {
            path: spool::Spool::dir_of(&path),
            source,
        })?;
        let conn = Arc::new(Mutex::new(conn));
        let outbox = Outbox {
            inner: Arc::new(Inner {
                checkpointer: checkpoint::Checkpointer::start(&path, Arc::downgrade(&conn)),
                conn,
                readers: Mutex::new(Vec::new()),
                spool,
                path,
                key,
            }),
        };
        outbox.check_key()?;
        let sealed = outbox.seal_clear_payloads()?;
        if sealed > 0 {
            tracing::warn!(
                count = sealed,
                "payloads stored in clear by an older spidd are now sealed"
            );
        }
        outbox.move_payloads_to_spool()?;
        outbox.recover_spool()?;
        let recovered = outbox.recover_interrupted()?;
        if recovered > 0 {
            tracing::warn!(
                count = recovered,
                "transactions interrupted mid-send are now ambiguous"
            );
        }
        Ok(outbox)
    }

    /// Opens `<data_dir>/spidd.db`.
    pub fn open_in(data_dir: &Path, key: SealKey) -> Result<Outbox, OutboxError> {
        Outbox::open(data_dir.join(crate::config::DATABASE_FILE), key)
    }

    /// The id (not the bytes) of the key sealing this outbox.
    pub fn key_id(&self) -> &str {
        self.inner.key.id()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written row: SQLite rolls back
        // any open transaction, so the connection is still usable.
        self.inner.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the writing connection, sorting its errors.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, OutboxError> {
        let mut conn = self.lock();
        let result = f(&mut conn).map_err(|e| unwrap_failure(&self.inner.path, e));
        self.inner.checkpointer.wrote();
        result
    }

    /// Runs the read-only `f` on a read connection (`query_only`: it cannot write), which
    /// sees every write committed before the call.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Failure>) -> Result<T, OutboxError> {
        let path = &self.inner.path;
        let idle = self.readers().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(path).map_err(|e| classify(path, e))?,
        };
        let result = f(&conn).map_err(|e| unwrap_failure(path, e));
        let mut idle = self.readers();
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.inner.readers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `f` with `synchronous = NORMAL`: its commit is in the OS's cache at once (a killed
/// process loses nothing) and on disk with the next synced commit or checkpoint.
fn relaxed_sync<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T, Failure>,
) -> Result<T, Failure> {
    conn.prepare_cached("PRAGMA synchronous = NORMAL")?
        .execute([])?;
    let done = f(conn);
    conn.prepare_cached("PRAGMA synchronous = FULL")?
        .execute([])?;
    done
}

/// A connection for reads only; the writer already made the file WAL and migrated it.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

fn unwrap_failure(path: &Path, f: Failure) -> OutboxError {
    match f {
        Failure::Sql(e) => classify(path, e),
        Failure::Outbox(e) => e,
    }
}

/// Disk trouble → `Storage`; a damaged file → `Corrupt` (naming the file); the rest as is.
fn classify(path: &Path, e: rusqlite::Error) -> OutboxError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(
            ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::NoLargeFileSupport,
        ) => OutboxError::Storage {
            path: path.to_path_buf(),
            source: e,
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => OutboxError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => OutboxError::Database(e),
    }
}

fn quick_check(conn: &Connection, path: &Path) -> Result<(), Failure> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    let detail: String = rows.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
    Err(Failure::Outbox(OutboxError::Corrupt {
        path: path.to_path_buf(),
        detail,
    }))
}

fn finger_list(fingers: &[Finger]) -> String {
    fingers
        .iter()
        .map(|f| f.code().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_at_rest;

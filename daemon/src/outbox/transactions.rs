//! Transactions in the outbox: enqueue, read, and the delivery state transitions, each
//! recorded as a delivery attempt in the same SQLite transaction.

use std::collections::BTreeMap;

use rusqlite::blob::Blob;
use rusqlite::{params, Connection, OptionalExtension, Row, MAIN_DB};
use state_machine::{Millis, Mode};

use super::{
    columns, now_millis,
    seal::{Cipher, SealError, Sealed},
    DeliveryAttempt, Failure, NewTransaction, Outbox, OutboxError, StoredTransaction, TxState,
};

/// The columns `read_row` reads, in its order.
macro_rules! columns {
    () => {
        "id, mode, cpf, operator, timestamp, created_at, state, attempts, last_error, \
         next_attempt_at, tguid, result_status, result_message, result_at, delivered_at, \
         payload_purged_at, acknowledged_at"
    };
}
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM transactions WHERE id = ?1");
const BY_TGUID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM transactions WHERE tguid = ?1 ORDER BY created_at LIMIT 1"
);

/// A transaction and, while it is owed to the server, its opened payload.
pub type ForSend = (StoredTransaction, Option<Vec<u8>>);

/// A transaction's payload as stored: sealed, or gone after the retention period.
struct StoredPayload {
    data: Vec<u8>,
    key_id: Option<String>,
    nonce: Option<Vec<u8>>,
    cipher: Option<String>,
    purged: bool,
}

/// By station id, or else by the server's TGUID.
fn find(conn: &Connection, id_or_tguid: &str) -> Result<Option<StoredTransaction>, Failure> {
    if let Some(t) = conn
        .prepare_cached(BY_ID)?
        .query_row([id_or_tguid], read_row)
        .optional()?
    {
        return Ok(Some(t));
    }
    Ok(conn
        .prepare_cached(BY_TGUID)?
        .query_row([id_or_tguid], read_row)
        .optional()?)
}

/// The sealed payload of transaction `id` (`None`: no such transaction).
fn read_sealed(conn: &Connection, id: &str) -> Result<Option<StoredPayload>, Failure> {
    let purged: Option<Option<i64>> = conn
        .prepare_cached("SELECT payload_purged_at FROM transactions WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    purged
        .map(|purged| read_stored(conn, &mut None, id, purged.is_some()))
        .transpose()
}

/// What opening a transaction's payload needs besides its bytes: the blob's row, key,
/// nonce and cipher, from the index that holds them all (migration v5). In the table they
/// lie past the blob, at the end of its chain of overflow pages.
pub(super) const PAYLOAD_OPENING: &str =
    "SELECT rowid, key_id, nonce, cipher FROM payloads INDEXED BY payloads_opening
     WHERE transaction_id = ?1";

/// The sealed payload of a transaction known to exist, `purged` or not. The blob is read
/// straight into its buffer, without SQLite's own copy of it, through `blob`: a handle left
/// open by the previous read of the same read transaction is moved to this row, which spares
/// compiling a new one for each payload.
fn read_stored<'c>(
    conn: &'c Connection,
    blob: &mut Option<Blob<'c>>,
    id: &str,
    purged: bool,
) -> Result<StoredPayload, Failure> {
    type Row = (i64, Option<String>, Option<Vec<u8>>, Option<String>);
    let row: Option<Row> = match purged {
        true => None,
        false => conn
            .prepare_cached(PAYLOAD_OPENING)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?,
    };
    let Some((rowid, key_id, nonce, cipher)) = row else {
        return Ok(StoredPayload {
            data: Vec::new(),
            key_id: None,
            nonce: None,
            cipher: None,
            purged,
        });
    };
    // A handle that failed is aborted for good: the next payload opens its own.
    let data = read_blob(conn, blob, rowid);
    if data.is_err() {
        *blob = None;
    }
    Ok(StoredPayload {
        data: data?,
        key_id,
        nonce,
        cipher,
        purged,
    })
}

/// The blob of payload row `rowid`, through `blob` (moved to the row, or opened).
fn read_blob<'c>(
    conn: &'c Connection,
    blob: &mut Option<Blob<'c>>,
    rowid: i64,
) -> rusqlite::Result<Vec<u8>> {
    let handle = match blob {
        Some(open) => {
            open.reopen(rowid)?;
            open
        }
        None => blob.insert(conn.blob_open(MAIN_DB, c"payloads", c"sealed", rowid, true)?),
    };
    // Read into the buffer's spare capacity: zeroing a payload-sized buffer first would
    // cost as much as the read.
    let len = handle.len();
    let mut data = Vec::with_capacity(len);
    handle.raw_read_at_exact(&mut data.spare_capacity_mut()[..len], 0)?;
    // SAFETY: `raw_read_at_exact` initialised the first `len` bytes, or failed.
    unsafe { data.set_len(len) };
    Ok(data)
}

/// The associated data a transaction's payload is sealed under: its station id.
pub(super) fn payload_context(id: &str) -> String {
    format!("transaction:{id}")
}

fn mode_str(mode: Mode) -> Result<&'static str, OutboxError> {
    match mode {
        Mode::Enroll | Mode::Verify => Ok(mode.as_str()),
        other => Err(OutboxError::Mode(other.as_str())),
    }
}

pub(super) fn to_i64(v: Millis) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<StoredTransaction> {
    let text_err = columns::bad;
    let mode = columns::mode(row, 1)?;
    let cpf = columns::cpf(row, 2, "cpf")?;
    let operator = columns::cpf(row, 3, "operator")?;
    let state = TxState::parse(&row.get::<_, String>(6)?).ok_or_else(|| text_err(6, "state"))?;
    let millis =
        |i: usize| -> rusqlite::Result<Millis> { Ok(row.get::<_, i64>(i)?.max(0) as Millis) };
    let opt_millis = |i: usize| -> rusqlite::Result<Option<Millis>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as Millis))
    };
    Ok(StoredTransaction {
        id: row.get(0)?,
        mode,
        cpf,
        operator,
        timestamp: millis(4)?,
        created_at: millis(5)?,
        state,
        attempts: row.get::<_, i64>(7)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_error: row.get(8)?,
        next_attempt_at: millis(9)?,
        tguid: row.get(10)?,
        result_status: row.get(11)?,
        result_message: row.get(12)?,
        result_at: opt_millis(13)?,
        delivered_at: opt_millis(14)?,
        payload_purged_at: opt_millis(15)?,
        acknowledged_at: opt_millis(16)?,
    })
}

impl Outbox {
    /// Stores a new transaction as `PENDING`, due now; durable when this returns (WAL with
    /// `synchronous = FULL`). Returns the station id: a UUID v7, which begins with its creation
    /// time, so that ids of transactions stored one after another sort together and the
    /// indexes keyed by them (rows, payloads, delivery attempts) grow at their end instead of
    /// at random pages: a Resend All, which sends in creation order, then finds and updates
    /// neighbours on the same few pages.
    pub fn enqueue(&self, tx: NewTransaction) -> Result<String, OutboxError> {
        let mode = mode_str(tx.mode)?;
        let id = uuid::Uuid::now_v7().to_string();
        let now = to_i64(now_millis());
        let summary = tx.summary.to_string();
        let key = &self.inner.key;
        let sealed = key
            .seal_owned(&payload_context(&id), tx.payload)
            .map_err(|source| OutboxError::Sealed {
                what: format!("transaction {id}"),
                source,
            })?;
        self.with(|conn| {
            let db = conn.transaction()?;
            // Cached: preparing these three statements cost each enqueue ~30 us of CPU.
            let inserted = db
                .prepare_cached(
                    "INSERT INTO transactions (id, mode, cpf, operator, timestamp, created_at, state,
                         attempts, next_attempt_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', 0, ?6)
                     ON CONFLICT (cpf, timestamp) DO NOTHING",
                )?
                .execute(params![
                    id,
                    mode,
                    tx.cpf.digits(),
                    tx.operator.digits(),
                    to_i64(tx.timestamp),
                    now
                ])?;
            if inserted == 0 {
                let existing: String = db.query_row(
                    "SELECT id FROM transactions WHERE cpf = ?1 AND timestamp = ?2",
                    params![tx.cpf.digits(), to_i64(tx.timestamp)],
                    |r| r.get(0),
                )?;
                return Err(OutboxError::Duplicate { id: existing }.into());
            }
            db.prepare_cached(
                "INSERT INTO payloads (transaction_id, sealed, key_id, nonce, cipher)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id, sealed.data, key.id(), sealed.nonce, sealed.cipher.as_str()])?;
            db.prepare_cached("INSERT INTO summaries (transaction_id, summary) VALUES (?1, ?2)")?
                .execute(params![id, summary])?;
            db.commit()?;
            Ok(())
        })?;
        tracing::info!(id = %id, mode, cpf = %tx.cpf.masked(), "transaction stored in the outbox");
        Ok(id)
    }

    /// By station id, or else by the server's TGUID.
    pub fn get(&self, id_or_tguid: &str) -> Result<Option<StoredTransaction>, OutboxError> {
        self.read(|conn| find(conn, id_or_tguid))
    }

    /// The capture summary stored with transaction `id` (`NewTransaction::summary`); `None`:
    /// no such transaction. Kept apart from the row, which every send rewrites.
    pub fn summary(&self, id: &str) -> Result<Option<serde_json::Value>, OutboxError> {
        let text: Option<String> = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT summary FROM summaries WHERE transaction_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })?;
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::Null)))
    }

    /// [`Outbox::get`] and, while the transaction is still owed to the server, its opened
    /// payload: what a send needs, read in one read transaction.
    pub fn get_for_send(&self, id_or_tguid: &str) -> Result<Option<ForSend>, OutboxError> {
        self.get_many_for_send(&[id_or_tguid.to_string()])
            .pop()
            .expect("one result per id")
            .map_err(OutboxError::alone)
    }

    /// [`Outbox::get_for_send`] for several transactions, in one read transaction: pages
    /// they share (the tables' and indexes' inner pages, neighbouring rows) are read once.
    /// One result per id, in order.
    pub fn get_many_for_send(&self, ids: &[String]) -> Vec<Result<Option<ForSend>, OutboxError>> {
        let path = &self.inner.path;
        let found = self.read(|conn| {
            let snapshot = conn.unchecked_transaction()?;
            let mut blob = None;
            let found = ids
                .iter()
                .map(|id| {
                    let Some(t) = find(&snapshot, id)? else {
                        return Ok(None);
                    };
                    // The row was just read: its purge is known, only the payload is left.
                    let sealed = match t.state.is_undelivered() {
                        true => Some(read_stored(
                            &snapshot,
                            &mut blob,
                            &t.id,
                            t.payload_purged_at.is_some(),
                        )?),
                        false => None,
                    };
                    Ok(Some((t, sealed)))
                })
                .collect::<Vec<Result<_, Failure>>>();
            // The handle ends before the read transaction it reads in.
            drop(blob);
            Ok(found)
        });
        let found = match found {
            Ok(found) => found,
            Err(e) => return e.shared_by(ids.len()),
        };
        found
            .into_iter()
            .map(|row| {
                let Some((t, sealed)) = row.map_err(|f| super::unwrap_failure(path, f))? else {
                    return Ok(None);
                };
                let payload = sealed
                    .map(|sealed| self.open_payload(&t.id, sealed))
                    .transpose()?;
                Ok(Some((t, payload)))
            })
            .collect()
    }

    /// The stored request body, opened. `None`: no such transaction; `Purged` once the
    /// retention period dropped it.
    pub fn payload(&self, id: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        self.read(|conn| read_sealed(conn, id))?
            .map(|sealed| self.open_payload(id, sealed))
            .transpose()
    }

    fn open_payload(&self, id: &str, stored: StoredPayload) -> Result<Vec<u8>, OutboxError> {
        if stored.purged {
            return Err(OutboxError::Purged(id.to_string()));
        }
        let key = &self.inner.key;
        let sealed_error = |source| OutboxError::Sealed {
            what: format!("transaction {id}"),
            source,
        };
        if stored.key_id.as_deref() != Some(key.id()) {
            return Err(sealed_error(SealError::Forged));
        }
        let cipher = Cipher::from_column(stored.cipher.as_deref()).ok_or(SealError::UnknownCipher);
        let sealed = Sealed {
            cipher: cipher.map_err(sealed_error)?,
            nonce: stored.nonce.unwrap_or_default(),
            data: stored.data,
        };
        key.open(&payload_context(id), sealed).map_err(sealed_error)
    }

    /// Every recorded attempt, oldest first.
    pub fn attempts(&self, id: &str) -> Result<Vec<DeliveryAttempt>, OutboxError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, outcome, error FROM delivery_attempts WHERE transaction_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(DeliveryAttempt { at: r.get::<_, i64>(0)?.max(0) as Millis, outcome: r.get(1)?, error: r.get(2)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Records the latest result read from the server (Capture Result by ID).
    pub fn set_result(
        &self,
        id: &str,
        status: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), OutboxError> {
        let now = to_i64(now_millis());
        self.with(|conn| {
            let n = conn.execute(
                "UPDATE transactions SET result_status = ?2, result_message = ?3, result_at = ?4 WHERE id = ?1",
                params![id, status, message, now],
            )?;
            if n == 0 {
                return Err(OutboxError::NotFound(id.to_string()).into());
            }
            Ok(())
        })
    }

    /// How many transactions are in each state (every state present, zeros included).
    pub fn counts(&self) -> Result<BTreeMap<TxState, u64>, OutboxError> {
        self.read(|conn| {
            let mut out: BTreeMap<TxState, u64> = TxState::ALL.iter().map(|s| (*s, 0)).collect();
            let mut stmt =
                conn.prepare_cached("SELECT state, COUNT(*) FROM transactions GROUP BY state")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                if let Some(state) = TxState::parse(&state) {
                    out.insert(state, n.max(0) as u64);
                }
            }
            Ok(out)
        })
    }
}

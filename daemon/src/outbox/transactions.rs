//! Transactions in the outbox: enqueue, read, and the delivery state transitions, each
//! recorded as a delivery attempt in the same SQLite transaction.

use std::collections::BTreeMap;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, Row};
use state_machine::{Millis, Mode};

use super::{
    columns, now_millis,
    seal::SealError,
    spool::{self, Header},
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
pub type ForSend = (StoredTransaction, Option<Bytes>);

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

/// The id of the transaction stored for (`cpf`, `timestamp`), if any.
fn find_same(conn: &Connection, cpf: &str, timestamp: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT id FROM transactions WHERE cpf = ?1 AND timestamp = ?2")?
        .query_row(params![cpf, timestamp], |r| r.get(0))
        .optional()
}

/// Inserts transaction `id` as its payload file's `header` describes it, PENDING and due at
/// its creation, with its summary. `Some(existing)`: (CPF, timestamp) is already stored, as
/// `existing`; nothing was written.
pub(super) fn insert_row(
    db: &Connection,
    id: &str,
    header: &Header,
) -> rusqlite::Result<Option<String>> {
    // Cached: preparing these statements cost each enqueue ~30 us of CPU.
    let inserted = db
        .prepare_cached(
            "INSERT INTO transactions (id, mode, cpf, operator, timestamp, created_at, state,
                 attempts, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', 0, ?6)
             ON CONFLICT (cpf, timestamp) DO NOTHING",
        )?
        .execute(params![
            id,
            header.mode,
            header.cpf,
            header.operator,
            header.timestamp,
            header.created_at
        ])?;
    if inserted == 0 {
        let existing = find_same(db, &header.cpf, header.timestamp)?;
        return Ok(Some(existing.unwrap_or_default()));
    }
    db.prepare_cached("INSERT INTO summaries (transaction_id, summary) VALUES (?1, ?2)")?
        .execute(params![id, header.summary])?;
    Ok(None)
}

impl Outbox {
    /// Stores a new transaction as `PENDING`, due now; durable when this returns: its payload
    /// file is synced, and the row, committed without a sync of its own, is rebuilt from that
    /// file should a power cut lose it (`spool.rs`). Returns the station id: a UUID v7, which
    /// begins with its creation time, so that ids of transactions stored one after another
    /// sort together and the indexes keyed by them (rows, delivery attempts) grow at their end
    /// instead of at random pages: a Resend All, which sends in creation order, then finds and
    /// updates neighbours on the same few pages.
    pub fn enqueue(&self, tx: NewTransaction) -> Result<String, OutboxError> {
        let mode = mode_str(tx.mode)?;
        let (cpf, timestamp) = (tx.cpf.digits().to_string(), to_i64(tx.timestamp));
        // A duplicate is refused before its payload is written.
        if let Some(existing) = self.read(|conn| Ok(find_same(conn, &cpf, timestamp)?))? {
            return Err(OutboxError::Duplicate { id: existing });
        }
        let id = uuid::Uuid::now_v7().to_string();
        let key = &self.inner.key;
        let sealed = key
            .seal_owned(&payload_context(&id), tx.payload)
            .map_err(|source| OutboxError::Sealed {
                what: format!("transaction {id}"),
                source,
            })?;
        let header = Header {
            key_id: key.id().to_string(),
            cipher: sealed.cipher.as_str().to_string(),
            nonce: spool::nonce_text(&sealed.nonce),
            len: sealed.data.len() as u64,
            mode: mode.to_string(),
            cpf,
            operator: tx.operator.digits().to_string(),
            timestamp,
            created_at: to_i64(now_millis()),
            summary: tx.summary.to_string(),
        };
        let spool = &self.inner.spool;
        spool
            .write(&id, &header, &sealed.data)
            .map_err(|e| self.payload_file_error(&id, e))?;
        let stored = self.with(|conn| {
            super::relaxed_sync(conn, |conn| {
                let db = conn.transaction()?;
                if let Some(existing) = insert_row(&db, &id, &header)? {
                    return Err(OutboxError::Duplicate { id: existing }.into());
                }
                db.commit()?;
                Ok(())
            })
        });
        if let Err(e) = stored {
            // Nothing stays behind a refused enqueue (if this fails too, the next open
            // finds a file whose row is a duplicate, or none, and drops or rebuilds it).
            let _ = spool.remove(&id);
            return Err(e);
        }
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

    /// [`Outbox::get_for_send`] for several transactions: their rows in one read transaction
    /// (pages they share, inner pages and neighbouring rows, are read once), then the payload
    /// files of those still owed to the server. One result per id, in order.
    pub fn get_many_for_send(&self, ids: &[String]) -> Vec<Result<Option<ForSend>, OutboxError>> {
        let path = &self.inner.path;
        let found = self.read(|conn| {
            let snapshot = conn.unchecked_transaction()?;
            Ok(ids
                .iter()
                .map(|id| find(&snapshot, id))
                .collect::<Vec<Result<_, Failure>>>())
        });
        let found = match found {
            Ok(found) => found,
            Err(e) => return e.shared_by(ids.len()),
        };
        found
            .into_iter()
            .map(|row| {
                let Some(t) = row.map_err(|f| super::unwrap_failure(path, f))? else {
                    return Ok(None);
                };
                let payload = match t.state.is_undelivered() {
                    true => Some(self.open_payload(&t.id, t.payload_purged_at.is_some())?),
                    false => None,
                };
                Ok(Some((t, payload)))
            })
            .collect()
    }

    /// The stored request body, opened. `None`: no such transaction; `Purged` once the
    /// retention period dropped it.
    pub fn payload(&self, id: &str) -> Result<Option<Bytes>, OutboxError> {
        let purged: Option<Option<i64>> = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT payload_purged_at FROM transactions WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })?;
        purged
            .map(|purged| self.open_payload(id, purged.is_some()))
            .transpose()
    }

    /// Reads and opens the payload file of transaction `id`, `purged` or not.
    fn open_payload(&self, id: &str, purged: bool) -> Result<Bytes, OutboxError> {
        if purged {
            return Err(OutboxError::Purged(id.to_string()));
        }
        let file = match self.inner.spool.read(id) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(OutboxError::PayloadMissing(id.to_string())),
            Err(e) => return Err(self.payload_file_error(id, e)),
        };
        let key = &self.inner.key;
        let sealed_error = |source| OutboxError::Sealed {
            what: format!("transaction {id}"),
            source,
        };
        if file.key_id != key.id() {
            return Err(sealed_error(SealError::Forged));
        }
        let context = payload_context(id);
        file.open(|cipher, nonce, data| key.open_in_place(&context, cipher, nonce, data))
            .map_err(sealed_error)
    }

    pub(super) fn payload_file_error(&self, id: &str, source: std::io::Error) -> OutboxError {
        OutboxError::PayloadFile {
            path: self.inner.spool.path(id),
            source,
        }
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

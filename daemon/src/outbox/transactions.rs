//! Transactions in the outbox: enqueue, read, and the delivery state transitions, each
//! recorded as a delivery attempt in the same SQLite transaction.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};
use state_machine::{Cpf, Millis, Mode};

use super::{
    now_millis, seal::SealError, DeliveryAttempt, Failure, NewTransaction, Outbox, OutboxError,
    StoredTransaction, TxState,
};

const COLUMNS: &str =
    "id, mode, cpf, operator, timestamp, created_at, state, attempts, last_error, \
     next_attempt_at, tguid, result_status, result_message, result_at, delivered_at, summary, \
     payload_purged_at, acknowledged_at";

/// The SET clause of an announced send (also how `transition` recognises one).
const RELAXED_SENDING: &str = ", attempts = attempts + 1, send_intent = send_intent";

/// The associated data a transaction's payload is sealed under: its station id.
pub(super) fn payload_context(id: &str) -> String {
    format!("transaction:{id}")
}

/// The states a transaction may leave for `to`.
fn allowed_from(to: TxState) -> &'static [TxState] {
    use TxState::*;
    match to {
        Sending => &[Pending, Ambiguous],
        // From AMBIGUOUS or PENDING without a send: the server was found to hold it already.
        Delivered => &[Sending, Ambiguous, Pending],
        Pending => &[Sending, Pending],
        // A failed deduplication check keeps an AMBIGUOUS row ambiguous.
        Ambiguous => &[Sending, Ambiguous, Pending],
        Rejected => &[Sending, Pending, Ambiguous],
    }
}

fn sql_list(states: &[TxState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
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
    let text_err = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what}").into(),
        )
    };
    let mode = match row.get::<_, String>(1)?.as_str() {
        "ENROLL" => Mode::Enroll,
        "VERIFY" => Mode::Verify,
        _ => return Err(text_err(1, "mode")),
    };
    let cpf = Cpf::parse(&row.get::<_, String>(2)?).map_err(|_| text_err(2, "cpf"))?;
    let operator = Cpf::parse(&row.get::<_, String>(3)?).map_err(|_| text_err(3, "operator"))?;
    let state = TxState::parse(&row.get::<_, String>(6)?).ok_or_else(|| text_err(6, "state"))?;
    let summary: String = row.get(15)?;
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
        summary: serde_json::from_str(&summary).unwrap_or(serde_json::Value::Null),
        payload_purged_at: opt_millis(16)?,
        acknowledged_at: opt_millis(17)?,
    })
}

impl Outbox {
    /// Stores a new transaction as `PENDING`, due now; durable when this returns (WAL with
    /// `synchronous = FULL`). Returns the station id (UUID v4).
    pub fn enqueue(&self, tx: NewTransaction) -> Result<String, OutboxError> {
        let mode = mode_str(tx.mode)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = to_i64(now_millis());
        let summary = tx.summary.to_string();
        let key = &self.inner.key;
        let (nonce, sealed) = key
            .seal(&payload_context(&id), &tx.payload)
            .map_err(|source| OutboxError::Sealed {
                what: format!("transaction {id}"),
                source,
            })?;
        self.with(|conn| {
            let db = conn.transaction()?;
            let inserted = db.execute(
                "INSERT INTO transactions (id, mode, cpf, operator, timestamp, created_at, state, attempts,
                     next_attempt_at, payload, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'PENDING', 0, ?6, x'', ?7)
                 ON CONFLICT (cpf, timestamp) DO NOTHING",
                params![id, mode, tx.cpf.digits(), tx.operator.digits(), to_i64(tx.timestamp), now, summary],
            )?;
            if inserted == 0 {
                let existing: String = db.query_row(
                    "SELECT id FROM transactions WHERE cpf = ?1 AND timestamp = ?2",
                    params![tx.cpf.digits(), to_i64(tx.timestamp)],
                    |r| r.get(0),
                )?;
                return Err(OutboxError::Duplicate { id: existing }.into());
            }
            db.execute(
                "INSERT INTO payloads (transaction_id, sealed, key_id, nonce) VALUES (?1, ?2, ?3, ?4)",
                params![id, sealed, key.id(), nonce],
            )?;
            db.commit()?;
            Ok(())
        })?;
        tracing::info!(id = %id, mode, cpf = %tx.cpf.masked(), "transaction stored in the outbox");
        Ok(id)
    }

    /// By station id, or else by the server's TGUID.
    pub fn get(&self, id_or_tguid: &str) -> Result<Option<StoredTransaction>, OutboxError> {
        self.with(|conn| {
            let by_id = format!("SELECT {COLUMNS} FROM transactions WHERE id = ?1");
            if let Some(t) = conn.query_row(&by_id, [id_or_tguid], read_row).optional()? {
                return Ok(Some(t));
            }
            let by_tguid = format!(
                "SELECT {COLUMNS} FROM transactions WHERE tguid = ?1 ORDER BY created_at LIMIT 1"
            );
            Ok(conn
                .query_row(&by_tguid, [id_or_tguid], read_row)
                .optional()?)
        })
    }

    /// The stored request body, opened. `None`: no such transaction; `Purged` once the
    /// retention period dropped it.
    pub fn payload(&self, id: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        type Stored = (Vec<u8>, Option<String>, Option<Vec<u8>>, Option<i64>);
        let row: Option<Stored> = self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT COALESCE(p.sealed, x''), p.key_id, p.nonce, t.payload_purged_at
                     FROM transactions t LEFT JOIN payloads p ON p.transaction_id = t.id WHERE t.id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?)
        })?;
        let Some((sealed, key_id, nonce, purged)) = row else {
            return Ok(None);
        };
        if purged.is_some() {
            return Err(OutboxError::Purged(id.to_string()));
        }
        let key = &self.inner.key;
        let sealed_error = |source| OutboxError::Sealed {
            what: format!("transaction {id}"),
            source,
        };
        if key_id.as_deref() != Some(key.id()) {
            return Err(sealed_error(SealError::Forged));
        }
        key.open(
            &payload_context(id),
            nonce.as_deref().unwrap_or_default(),
            &sealed,
        )
        .map(Some)
        .map_err(sealed_error)
    }

    /// Every recorded attempt, oldest first.
    pub fn attempts(&self, id: &str) -> Result<Vec<DeliveryAttempt>, OutboxError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT at, outcome, error FROM delivery_attempts WHERE transaction_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(DeliveryAttempt { at: r.get::<_, i64>(0)?.max(0) as Millis, outcome: r.get(1)?, error: r.get(2)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Moves `id` to `to` when its state allows, applying `set` (extra `SET` clauses using
    /// ?2.. as `values`), and records an attempt with `outcome` and `error` when given.
    fn transition(
        &self,
        id: &str,
        to: TxState,
        set: &str,
        values: &[&dyn rusqlite::ToSql],
        attempt: Option<(&str, Option<&str>)>,
    ) -> Result<(), OutboxError> {
        // Only SENDING must be on disk before the request leaves (fsync, `synchronous=FULL`).
        // The outcomes after it commit with `synchronous=NORMAL`: in the OS cache at once
        // (a killed process loses nothing), on disk with the next full commit or checkpoint. A
        // power cut may lose one, leaving the row SENDING, which the next start turns
        // AMBIGUOUS and checks with the server — never a second delivery.
        // A send announced by `announce_sends` may skip the fsync of SENDING too: the
        // announcement already is on disk, and the next start treats it like SENDING.
        let relaxed = to != TxState::Sending || set.contains(RELAXED_SENDING);
        self.with(|conn| {
            if relaxed {
                conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
            }
            let result = Self::transition_in(conn, id, to, set, values, attempt);
            if relaxed {
                conn.execute_batch("PRAGMA synchronous = FULL;")?;
            }
            result
        })
    }

    fn transition_in(
        conn: &mut rusqlite::Connection,
        id: &str,
        to: TxState,
        set: &str,
        values: &[&dyn rusqlite::ToSql],
        attempt: Option<(&str, Option<&str>)>,
    ) -> Result<(), Failure> {
        {
            let tx = conn.transaction()?;
            let sql = format!(
                "UPDATE transactions SET state = '{}'{}{set} WHERE id = ?1 AND state IN ({})",
                to.as_str(),
                if to == TxState::Sending {
                    ""
                } else {
                    ", send_intent = 0"
                },
                sql_list(allowed_from(to))
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&id];
            params.extend_from_slice(values);
            if tx.execute(&sql, params.as_slice())? == 0 {
                let state: Option<String> = tx
                    .query_row("SELECT state FROM transactions WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .optional()?;
                return Err(match state.as_deref().and_then(TxState::parse) {
                    None => OutboxError::NotFound(id.to_string()),
                    Some(state) => OutboxError::InvalidTransition {
                        id: id.to_string(),
                        state,
                        to,
                    },
                }
                .into());
            }
            if let Some((outcome, error)) = attempt {
                tx.execute(
                    "INSERT INTO delivery_attempts (transaction_id, at, outcome, error) VALUES (?1, ?2, ?3, ?4)",
                    params![id, to_i64(now_millis()), outcome, error],
                )?;
            }
            tx.commit()?;
            Ok(())
        }
    }

    /// PENDING/AMBIGUOUS → SENDING, counting the attempt; on disk (fsync) when it returns.
    pub fn mark_sending(&self, id: &str) -> Result<(), OutboxError> {
        self.transition(id, TxState::Sending, ", attempts = attempts + 1", &[], None)
    }

    /// [`Outbox::mark_sending`] for a row whose send [`Outbox::announce_sends`] recorded:
    /// committed without its own fsync.
    pub fn mark_sending_announced(&self, id: &str) -> Result<(), OutboxError> {
        self.transition(id, TxState::Sending, RELAXED_SENDING, &[], None)
    }

    /// Durably records (one fsync for the batch) that sends of `ids` may start: until each
    /// gets an outcome, a crash leaves it to be checked with the server before a resend.
    pub fn announce_sends(&self, ids: &[String]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "UPDATE transactions SET send_intent = 1
                     WHERE id = ?1 AND state IN ('PENDING', 'AMBIGUOUS')",
                )?;
                for id in ids {
                    stmt.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The server accepted it with `tguid`.
    pub fn mark_delivered(
        &self,
        id: &str,
        tguid: &str,
        status: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), OutboxError> {
        let now = to_i64(now_millis());
        self.transition(
            id,
            TxState::Delivered,
            ", tguid = ?2, result_status = ?3, result_message = ?4, result_at = ?5, delivered_at = ?5, last_error = NULL",
            &[&tguid, &status, &message, &now],
            Some(("DELIVERED", None)),
        )
    }

    /// The server already held it (found by CPF and timestamp): delivered without a resend.
    pub fn mark_deduplicated(
        &self,
        id: &str,
        tguid: &str,
        status: Option<&str>,
    ) -> Result<(), OutboxError> {
        let now = to_i64(now_millis());
        self.transition(
            id,
            TxState::Delivered,
            ", tguid = ?2, result_status = ?3, result_at = ?4, delivered_at = ?4, last_error = NULL",
            &[&tguid, &status, &now],
            Some(("DEDUPLICATED", Some("the server already held this transaction"))),
        )
    }

    /// Not delivered; try again at `next_attempt_at`.
    pub fn mark_pending(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<(), OutboxError> {
        let next = to_i64(next_attempt_at);
        self.transition(
            id,
            TxState::Pending,
            ", last_error = ?2, next_attempt_at = ?3",
            &[&error, &next],
            Some(("PENDING", Some(error))),
        )
    }

    /// The server may hold it; ask it before the next send, at `next_attempt_at`.
    pub fn mark_ambiguous(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<(), OutboxError> {
        let next = to_i64(next_attempt_at);
        self.transition(
            id,
            TxState::Ambiguous,
            ", last_error = ?2, next_attempt_at = ?3",
            &[&error, &next],
            Some(("AMBIGUOUS", Some(error))),
        )
    }

    /// The server refused it as invalid: never retried automatically.
    pub fn mark_rejected(&self, id: &str, error: &str) -> Result<(), OutboxError> {
        self.transition(
            id,
            TxState::Rejected,
            ", last_error = ?2",
            &[&error],
            Some(("REJECTED", Some(error))),
        )
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
        self.with(|conn| {
            let mut out: BTreeMap<TxState, u64> = TxState::ALL.iter().map(|s| (*s, 0)).collect();
            let mut stmt =
                conn.prepare("SELECT state, COUNT(*) FROM transactions GROUP BY state")?;
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

    /// PENDING and AMBIGUOUS transactions due by `now`, oldest first.
    pub fn due_ids(&self, now: Millis, limit: usize) -> Result<Vec<String>, OutboxError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id FROM transactions WHERE state IN ('PENDING', 'AMBIGUOUS') AND next_attempt_at <= ?1
                 ORDER BY created_at, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_i64(now), limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    /// The earliest `next_attempt_at` among PENDING and AMBIGUOUS transactions.
    pub fn next_due_at(&self) -> Result<Option<Millis>, OutboxError> {
        self.with(|conn| {
            let v: Option<i64> = conn.query_row(
                "SELECT MIN(next_attempt_at) FROM transactions WHERE state IN ('PENDING', 'AMBIGUOUS')",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(|v| v.max(0) as Millis))
        })
    }

    /// One page of PENDING and AMBIGUOUS ids, oldest first, after the id `cursor` (the last id
    /// of the previous page; `None` for the first page), whatever their `next_attempt_at`.
    pub fn pending_ids_after(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, OutboxError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id FROM transactions
                 WHERE state IN ('PENDING', 'AMBIGUOUS')
                   AND (?1 IS NULL OR (created_at, id) > (SELECT created_at, id FROM transactions WHERE id = ?1))
                 ORDER BY created_at, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![cursor, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    /// At a graceful stop: sends not finished in time may have reached the server.
    pub fn abandon_sending(&self) -> Result<usize, OutboxError> {
        self.sending_to_ambiguous("spidd stopped before this send finished")
    }

    /// At open: rows left SENDING by a crash may have reached the server.
    pub(super) fn recover_interrupted(&self) -> Result<usize, OutboxError> {
        self.sending_to_ambiguous("spidd stopped while this transaction was being sent")
    }

    fn sending_to_ambiguous(&self, why: &str) -> Result<usize, OutboxError> {
        let now = to_i64(now_millis());
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO delivery_attempts (transaction_id, at, outcome, error)
                 SELECT id, ?1, 'AMBIGUOUS', ?2 FROM transactions
                 WHERE state = 'SENDING' OR (state = 'PENDING' AND send_intent = 1)",
                params![now, why],
            )?;
            let n = tx.execute(
                "UPDATE transactions SET state = 'AMBIGUOUS', last_error = ?2, next_attempt_at = ?1,
                     send_intent = 0
                 WHERE state = 'SENDING' OR (state = 'PENDING' AND send_intent = 1)",
                params![now, why],
            )?;
            tx.commit()?;
            Ok::<usize, Failure>(n)
        })
    }
}

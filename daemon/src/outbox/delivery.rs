//! The delivery state machine in the outbox: announcing sends, marking them SENDING, and
//! recording each outcome (with a delivery attempt, in the same SQLite transaction); the
//! queues the courier takes work from; and what a stop leaves behind.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use state_machine::Millis;

use super::transactions::to_i64;
use super::{now_millis, Failure, Outbox, OutboxError, TxState};

/// The first page of undelivered ids, oldest first. Named indexes here and below: without
/// statistics the planner prefers `transactions_due` (state), which reads every undelivered
/// row and sorts them all for each page.
pub(super) const FIRST_PAGE: &str =
    "SELECT id FROM transactions INDEXED BY transactions_undelivered
     WHERE state IN ('PENDING', 'AMBIGUOUS') ORDER BY created_at, id LIMIT ?1";

/// The page of undelivered ids after the id ?1, oldest first: a range of the index.
pub(super) const PAGE_AFTER: &str =
    "SELECT id FROM transactions INDEXED BY transactions_undelivered
     WHERE state IN ('PENDING', 'AMBIGUOUS')
       AND (created_at, id) > (SELECT created_at, id FROM transactions WHERE id = ?1)
     ORDER BY created_at, id LIMIT ?2";

/// How the send whose outcome is recorded began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStart {
    /// [`Outbox::mark_sending`] made the row SENDING and counted the attempt (or there was no
    /// send at all: a deduplication check).
    Marked,
    /// [`Outbox::announce_sends`] recorded the intent on disk, and the row stayed PENDING or
    /// AMBIGUOUS while the request was on the wire: the outcome counts the attempt. One
    /// commit per send instead of two; a crash before the outcome leaves the announcement,
    /// which the next start treats like SENDING.
    Announced,
}

/// What a send came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome<'a> {
    /// The server accepted it with `tguid`.
    Delivered {
        tguid: &'a str,
        status: Option<&'a str>,
        message: Option<&'a str>,
    },
    /// Nothing reached the server (or it failed): try again at `next_attempt_at`.
    Pending {
        error: &'a str,
        next_attempt_at: Millis,
    },
    /// The server may hold it: ask it before the next send, at `next_attempt_at`.
    Ambiguous {
        error: &'a str,
        next_attempt_at: Millis,
    },
    /// The server refused it as invalid: never retried automatically.
    Rejected { error: &'a str },
}

/// The states a transaction may leave for `to`, after a send that began as `start`.
fn allowed_from(to: TxState, start: SendStart) -> &'static [TxState] {
    use TxState::*;
    match to {
        Sending => &[Pending, Ambiguous],
        // From AMBIGUOUS or PENDING without a send: the server was found to hold it already.
        Delivered => &[Sending, Ambiguous, Pending],
        // From AMBIGUOUS only by an announced send, made after the server was found not to
        // hold it; no other way leads from AMBIGUOUS back to PENDING.
        Pending if start == SendStart::Announced => &[Pending, Ambiguous],
        Pending => &[Sending, Pending],
        // A failed deduplication check keeps an AMBIGUOUS row ambiguous.
        Ambiguous => &[Sending, Ambiguous, Pending],
        Rejected => &[Sending, Pending, Ambiguous],
    }
}

/// `state` is one of `states`, as SQL. Spelled out with OR, not IN: SQLite builds a
/// temporary b-tree for an IN list of more than two constants each time the statement
/// runs, which cost an outcome's UPDATE about as much as the rest of it.
pub(super) fn state_is_one_of(states: &[TxState]) -> String {
    let each: Vec<String> = states
        .iter()
        .map(|s| format!("state = '{}'", s.as_str()))
        .collect();
    format!("({})", each.join(" OR "))
}

/// One state change of one transaction, ready to apply.
struct Change<'a> {
    id: &'a str,
    to: TxState,
    /// Extra `SET` clauses, using ?2.. for `values`.
    set: String,
    values: Vec<Value>,
    /// The delivery attempt to record: outcome and error.
    attempt: Option<(&'static str, Option<&'a str>)>,
    start: SendStart,
}

impl<'a> Change<'a> {
    fn of(id: &'a str, outcome: SendOutcome<'a>, start: SendStart) -> Change<'a> {
        let counted = match start {
            SendStart::Marked => "",
            SendStart::Announced => ", attempts = attempts + 1",
        };
        let text = |v: Option<&str>| v.map_or(Value::Null, |v| Value::Text(v.to_string()));
        let (to, set, values, attempt) = match outcome {
            SendOutcome::Delivered {
                tguid,
                status,
                message,
            } => (
                TxState::Delivered,
                ", tguid = ?2, result_status = ?3, result_message = ?4, result_at = ?5, \
                 delivered_at = ?5, last_error = NULL",
                vec![
                    text(Some(tguid)),
                    text(status),
                    text(message),
                    Value::Integer(to_i64(now_millis())),
                ],
                ("DELIVERED", None),
            ),
            SendOutcome::Pending {
                error,
                next_attempt_at,
            } => (
                TxState::Pending,
                ", last_error = ?2, next_attempt_at = ?3",
                vec![text(Some(error)), Value::Integer(to_i64(next_attempt_at))],
                ("PENDING", Some(error)),
            ),
            SendOutcome::Ambiguous {
                error,
                next_attempt_at,
            } => (
                TxState::Ambiguous,
                ", last_error = ?2, next_attempt_at = ?3",
                vec![text(Some(error)), Value::Integer(to_i64(next_attempt_at))],
                ("AMBIGUOUS", Some(error)),
            ),
            SendOutcome::Rejected { error } => (
                TxState::Rejected,
                ", last_error = ?2",
                vec![text(Some(error))],
                ("REJECTED", Some(error)),
            ),
        };
        Change {
            id,
            to,
            set: format!("{set}{counted}"),
            values,
            attempt: Some(attempt),
            start,
        }
    }

    /// Applies the change inside the caller's SQLite transaction: the row moves to `to` when
    /// its state allows, and the attempt is recorded.
    fn apply(&self, conn: &Connection) -> Result<(), Failure> {
        let (id, to) = (self.id, self.to);
        let sql = format!(
            "UPDATE transactions SET state = '{}'{}{} WHERE id = ?1 AND {}",
            to.as_str(),
            if to == TxState::Sending {
                ""
            } else {
                ", send_intent = 0"
            },
            self.set,
            state_is_one_of(allowed_from(to, self.start))
        );
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&id];
        params.extend(self.values.iter().map(|v| v as &dyn rusqlite::ToSql));
        if conn.prepare_cached(&sql)?.execute(params.as_slice())? == 0 {
            let state: Option<String> = conn
                .prepare_cached("SELECT state FROM transactions WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
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
        if let Some((outcome, error)) = self.attempt {
            conn.prepare_cached(
                "INSERT INTO delivery_attempts (transaction_id, at, outcome, error) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, to_i64(now_millis()), outcome, error])?;
        }
        Ok(())
    }
}

impl Outbox {
    /// Applies `changes` in one SQLite transaction. A change that is refused (wrong state,
    /// unknown id) writes nothing and leaves the others to apply; an SQLite failure (disk
    /// full, I/O) rolls the lot back and fails them all.
    ///
    /// Only SENDING must be on disk before the request leaves (fsync, `synchronous=FULL`).
    /// Outcomes commit with `synchronous=NORMAL`: in the OS cache at once (a killed process
    /// loses nothing), on disk with the next full commit or checkpoint. A power cut may lose
    /// one, leaving the row SENDING (or announced), which the next start turns AMBIGUOUS and
    /// checks with the server — never a second delivery.
    fn apply_changes(&self, changes: &[Change<'_>]) -> Vec<Result<(), OutboxError>> {
        let relaxed = changes.iter().all(|c| c.to != TxState::Sending);
        let mut refusals: Vec<Option<OutboxError>> = Vec::with_capacity(changes.len());
        let committed = self.with(|conn| {
            let mut apply = |conn: &mut Connection| -> Result<(), Failure> {
                let tx = conn.transaction()?;
                for change in changes {
                    // A refusal happens before anything is written (the UPDATE matched no
                    // row); any other failure abandons the transaction.
                    match change.apply(&tx) {
                        Ok(()) => refusals.push(None),
                        Err(Failure::Outbox(refused)) => refusals.push(Some(refused)),
                        Err(e) => return Err(e),
                    }
                }
                tx.commit()?;
                Ok(())
            };
            match relaxed {
                true => super::relaxed_sync(conn, apply),
                false => apply(conn),
            }
        });
        match committed {
            Ok(()) => refusals
                .into_iter()
                .map(|r| r.map_or(Ok(()), Err))
                .collect(),
            Err(e) => e.shared_by(changes.len()),
        }
    }

    fn apply_change(&self, change: Change<'_>) -> Result<(), OutboxError> {
        let mut results = self.apply_changes(std::slice::from_ref(&change));
        results
            .pop()
            .expect("one result per change")
            .map_err(OutboxError::alone)
    }

    /// Records what a send came to; `start`: how it began.
    pub fn record_outcome(
        &self,
        id: &str,
        outcome: SendOutcome<'_>,
        start: SendStart,
    ) -> Result<(), OutboxError> {
        self.apply_change(Change::of(id, outcome, start))
    }

    /// [`Outbox::record_outcome`] for several sends in one commit (a group commit: one WAL
    /// write for the lot). One result per item, in order.
    pub fn record_outcomes(
        &self,
        items: &[(&str, SendOutcome<'_>, SendStart)],
    ) -> Vec<Result<(), OutboxError>> {
        let changes: Vec<Change<'_>> = items
            .iter()
            .map(|(id, outcome, start)| Change::of(id, *outcome, *start))
            .collect();
        self.apply_changes(&changes)
    }

    /// PENDING/AMBIGUOUS → SENDING, counting the attempt; on disk (fsync) when it returns.
    pub fn mark_sending(&self, id: &str) -> Result<(), OutboxError> {
        self.apply_change(Change {
            id,
            to: TxState::Sending,
            set: ", attempts = attempts + 1".into(),
            values: Vec::new(),
            attempt: None,
            start: SendStart::Marked,
        })
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
                let mut stmt = tx.prepare_cached(
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

    /// The server accepted it with `tguid` (after [`Outbox::mark_sending`]).
    pub fn mark_delivered(
        &self,
        id: &str,
        tguid: &str,
        status: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), OutboxError> {
        let outcome = SendOutcome::Delivered {
            tguid,
            status,
            message,
        };
        self.record_outcome(id, outcome, SendStart::Marked)
    }

    /// The server already held it (found by CPF and timestamp): delivered without a resend.
    pub fn mark_deduplicated(
        &self,
        id: &str,
        tguid: &str,
        status: Option<&str>,
    ) -> Result<(), OutboxError> {
        let mut change = Change::of(
            id,
            SendOutcome::Delivered {
                tguid,
                status,
                message: None,
            },
            SendStart::Marked,
        );
        change.set = ", tguid = ?2, result_status = ?3, result_at = ?5, delivered_at = ?5, \
                      last_error = NULL"
            .into();
        change.attempt = Some((
            "DEDUPLICATED",
            Some("the server already held this transaction"),
        ));
        self.apply_change(change)
    }

    /// Not delivered; try again at `next_attempt_at`.
    pub fn mark_pending(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<(), OutboxError> {
        let outcome = SendOutcome::Pending {
            error,
            next_attempt_at,
        };
        self.record_outcome(id, outcome, SendStart::Marked)
    }

    /// The server may hold it (after a send, or a failed check): ask it before the next send.
    pub fn mark_ambiguous(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<(), OutboxError> {
        let outcome = SendOutcome::Ambiguous {
            error,
            next_attempt_at,
        };
        self.record_outcome(id, outcome, SendStart::Marked)
    }

    /// The server refused it as invalid: never retried automatically.
    pub fn mark_rejected(&self, id: &str, error: &str) -> Result<(), OutboxError> {
        self.record_outcome(id, SendOutcome::Rejected { error }, SendStart::Marked)
    }

    /// PENDING and AMBIGUOUS transactions due by `now`, oldest first.
    pub fn due_ids(&self, now: Millis, limit: usize) -> Result<Vec<String>, OutboxError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM transactions WHERE state IN ('PENDING', 'AMBIGUOUS') AND next_attempt_at <= ?1
                 ORDER BY created_at, id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_i64(now), limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    /// The earliest `next_attempt_at` among PENDING and AMBIGUOUS transactions.
    pub fn next_due_at(&self) -> Result<Option<Millis>, OutboxError> {
        self.read(|conn| {
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
        self.read(|conn| {
            let page = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
                conn.prepare_cached(sql)?
                    .query(params)?
                    .mapped(|r| r.get(0))
                    .collect::<Result<Vec<String>, _>>()
            };
            let limit = limit as i64;
            Ok(match cursor {
                None => page(FIRST_PAGE, params![limit])?,
                Some(cursor) => page(PAGE_AFTER, params![cursor, limit])?,
            })
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

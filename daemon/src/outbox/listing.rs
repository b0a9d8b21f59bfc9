//! A read-only listing of outbox transactions for the technician (status socket): ids,
//! states and timestamps, never payloads or summaries.

use rusqlite::params;
use state_machine::{Cpf, Millis, Mode};

use super::{Outbox, OutboxError, TxState};

/// One transaction as the technician sees it. Holds the CPF as a [`Cpf`]; showing it masked
/// is the caller's duty (its `Debug` is masked already).
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    pub id: String,
    pub mode: Mode,
    pub cpf: Cpf,
    pub state: TxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Capture time (epoch ms).
    pub timestamp: Millis,
    pub created_at: Millis,
    pub next_attempt_at: Millis,
    pub delivered_at: Option<Millis>,
    pub tguid: Option<String>,
}

impl Outbox {
    /// The newest `limit` transactions, only those in `state` when given.
    pub fn list(
        &self,
        state: Option<TxState>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, OutboxError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, mode, cpf, state, attempts, last_error, timestamp, created_at,
                        next_attempt_at, delivered_at, tguid
                 FROM transactions
                 WHERE ?1 IS NULL OR state = ?1
                 ORDER BY created_at DESC, id DESC LIMIT ?2",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![state.map(TxState::as_str), limit], |row| {
                let bad = super::columns::bad;
                let mode = super::columns::mode(row, 1)?;
                let millis = |i: usize| -> rusqlite::Result<Millis> {
                    Ok(row.get::<_, i64>(i)?.max(0) as Millis)
                };
                Ok(OutboxEntry {
                    id: row.get(0)?,
                    mode,
                    cpf: Cpf::parse(&row.get::<_, String>(2)?).map_err(|_| bad(2, "cpf"))?,
                    state: TxState::parse(&row.get::<_, String>(3)?)
                        .ok_or_else(|| bad(3, "state"))?,
                    attempts: row.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
                    last_error: row.get(5)?,
                    timestamp: millis(6)?,
                    created_at: millis(7)?,
                    next_attempt_at: millis(8)?,
                    delivered_at: row.get::<_, Option<i64>>(9)?.map(|v| v.max(0) as Millis),
                    tguid: row.get(10)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::NewTransaction;

    fn tx(cpf: &str, timestamp: Millis) -> NewTransaction {
        NewTransaction {
            mode: Mode::Enroll,
            cpf: Cpf::parse(cpf).unwrap(),
            operator: Cpf::parse("52998224725").unwrap(),
            timestamp,
            payload: b"{}".to_vec(),
            summary: serde_json::json!({}),
        }
    }

    #[test]
    fn lists_newest_first_filtered_and_limited() {
        let dir = tempfile_dir();
        let outbox = Outbox::open(
            dir.join("spidd.db"),
            crate::outbox::SealKey::generate().unwrap(),
        )
        .unwrap();
        let a = outbox.enqueue(tx("39053344705", 1)).unwrap();
        let b = outbox.enqueue(tx("39053344705", 2)).unwrap();
        let c = outbox.enqueue(tx("93541134780", 3)).unwrap();
        outbox.mark_sending(&b).unwrap();
        outbox.mark_rejected(&b, "bad").unwrap();
        let all = outbox.list(None, 10).unwrap();
        assert_eq!(all.len(), 3);
        // Same millisecond possible: order by (created_at, id) descending.
        let mut ids: Vec<_> = all.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        let mut expected = vec![a.clone(), b.clone(), c.clone()];
        expected.sort();
        assert_eq!(ids, expected);
        let rejected = outbox.list(Some(TxState::Rejected), 10).unwrap();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].id, b);
        assert_eq!(rejected[0].attempts, 1);
        assert_eq!(rejected[0].last_error.as_deref(), Some("bad"));
        assert_eq!(outbox.list(Some(TxState::Pending), 1).unwrap().len(), 1);
        assert!(outbox
            .list(Some(TxState::Delivered), 10)
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spidd-listing-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

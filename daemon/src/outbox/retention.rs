//! Retention: delivered transactions lose their biometric payload (its file) after
//! `outbox.retention` and keep their metadata; rejected ones keep it until a technician
//! acknowledges them; pages freed in the database go back to the file system through
//! incremental vacuum.

use rusqlite::params;
use state_machine::Millis;

use super::transactions::to_i64;
use super::{now_millis, Outbox, OutboxError, StoredTransaction, TxState};

/// Payloads dropped per SQLite transaction: the purge never holds the lock for long.
const PURGE_BATCH: i64 = 100;
/// Pages released per incremental vacuum step (16 or 4 KiB each in a file spidd created:
/// 64 or 16 MiB).
const VACUUM_PAGES: i64 = 4096;

/// Marks a batch purged and names it: delivered rows past the cutoff ?1, found through the
/// retention index (named: the planner would otherwise walk every DELIVERED row of the
/// history through `transactions_due`), and acknowledged rejections whose payload is still
/// there, found among the REJECTED rows.
pub(super) const PURGE_MARK: &str = "UPDATE transactions SET payload_purged_at = ?2
     WHERE id IN (
         SELECT id FROM transactions INDEXED BY transactions_retention
         WHERE state = 'DELIVERED' AND payload_purged_at IS NULL AND delivered_at <= ?1
         UNION ALL
         SELECT id FROM transactions
         WHERE state = 'REJECTED' AND acknowledged_at IS NOT NULL AND payload_purged_at IS NULL
         LIMIT ?3)
     RETURNING id";

/// What one retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Delivered transactions whose payload was dropped.
    pub purged: u64,
    /// Free pages given back to the file system.
    pub vacuumed_pages: u64,
}

impl Outbox {
    /// Drops the payload of every transaction delivered at or before `delivered_before` (and
    /// of acknowledged rejections), then vacuums the freed pages.
    pub fn purge_payloads(&self, delivered_before: Millis) -> Result<PurgeReport, OutboxError> {
        let cutoff = to_i64(delivered_before);
        let mut report = PurgeReport::default();
        loop {
            let now = to_i64(now_millis());
            let ids = self.with(|conn| {
                let db = conn.transaction()?;
                let ids = db
                    .prepare_cached(PURGE_MARK)?
                    .query(params![cutoff, now, PURGE_BATCH])?
                    .mapped(|r| r.get::<_, String>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                db.commit()?;
                Ok(ids)
            })?;
            // Marked first: a file whose removal a crash or an I/O error interrupts is
            // removed by the next open, which drops the files of purged rows.
            for id in &ids {
                let spool = &self.inner.spool;
                spool
                    .remove(id)
                    .map_err(|e| self.payload_file_error(id, e))?;
            }
            let n = ids.len();
            report.purged += n as u64;
            if (n as i64) < PURGE_BATCH {
                break;
            }
        }
        report.vacuumed_pages = self.vacuum_step()?;
        if report.purged > 0 {
            tracing::info!(
                purged = report.purged,
                vacuumed_pages = report.vacuumed_pages,
                "biometric payloads past retention dropped"
            );
        }
        Ok(report)
    }

    /// Gives free pages back to the file system, a bounded step at a time. Returns the pages
    /// released.
    pub fn vacuum_step(&self) -> Result<u64, OutboxError> {
        self.with(|conn| {
            let before: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if before == 0 {
                return Ok(0);
            }
            // Each step of the statement frees one page: run it to completion.
            let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            Ok((before - after).max(0) as u64)
        })
    }

    /// A technician has seen a rejected transaction: its payload is dropped now (the metadata
    /// and the rejection reason stay). Only REJECTED transactions can be acknowledged;
    /// acknowledging twice is harmless. Returns the transaction as it now stands.
    pub fn acknowledge_rejected(&self, id: &str) -> Result<StoredTransaction, OutboxError> {
        let now = to_i64(now_millis());
        let t = self
            .get(id)?
            .ok_or_else(|| OutboxError::NotFound(id.to_string()))?;
        if t.state != TxState::Rejected {
            return Err(OutboxError::InvalidTransition {
                id: t.id,
                state: t.state,
                to: TxState::Rejected,
            });
        }
        let station_id = t.id.clone();
        self.with(|conn| {
            let db = conn.transaction()?;
            db.execute(
                "UPDATE transactions SET acknowledged_at = COALESCE(acknowledged_at, ?2),
                     payload_purged_at = COALESCE(payload_purged_at, ?2)
                 WHERE id = ?1 AND state = 'REJECTED'",
                params![station_id, now],
            )?;
            db.execute(
                "DELETE FROM payloads WHERE transaction_id = ?1",
                [&station_id],
            )?;
            db.commit()?;
            Ok(())
        })?;
        tracing::info!(id = %station_id, "rejected transaction acknowledged; its payload is dropped");
        self.get(&station_id)?
            .ok_or_else(|| OutboxError::NotFound(station_id.clone()))
    }

    /// REJECTED transactions no technician has acknowledged yet, oldest first.
    pub fn unacknowledged_rejections(&self, limit: usize) -> Result<Vec<String>, OutboxError> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id FROM transactions WHERE state = 'REJECTED' AND acknowledged_at IS NULL
                 ORDER BY created_at, id LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }
}

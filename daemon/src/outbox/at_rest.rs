//! What `Outbox::open` does for data at rest: incremental auto-vacuum on older files, the
//! check that the database belongs to the configured key, the sealing of payloads that a
//! v1 spidd stored in clear, the move of payloads an older spidd kept in SQLite to their
//! files, and the check of every payload file against its row.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::operators::operator_context;
use super::spool::{self, Header};
use super::transactions::{insert_row, payload_context};
use super::{Failure, Outbox, OutboxError};

/// Rows sealed per SQLite transaction when sealing an older database.
const SEAL_BATCH: usize = 32;
const META_KEY_ID: &str = "seal_key_id";

/// `auto_vacuum = INCREMENTAL` is set before the first table exists; a file created without
/// it (spidd v1) needs one full VACUUM to switch, done once here.
pub(super) fn ensure_incremental_vacuum(conn: &Connection, path: &Path) -> rusqlite::Result<()> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode != 2 {
        tracing::info!(path = %path.display(), "switching the outbox to incremental vacuum (one full VACUUM)");
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    }
    Ok(())
}

impl Outbox {
    /// A new database is marked with the key's id; an existing one must carry the same id.
    pub(super) fn check_key(&self) -> Result<(), OutboxError> {
        let configured = self.inner.key.id().to_string();
        let sealed_with = self.with(|conn| {
            let found: Option<String> = conn
                .query_row(
                    "SELECT value FROM station_meta WHERE name = ?1",
                    [META_KEY_ID],
                    |r| r.get(0),
                )
                .optional()?;
            if found.is_none() {
                conn.execute(
                    "INSERT INTO station_meta (name, value) VALUES (?1, ?2)",
                    params![META_KEY_ID, configured],
                )?;
            }
            Ok::<_, Failure>(found)
        })?;
        match sealed_with {
            Some(sealed_with) if sealed_with != configured => Err(OutboxError::KeyMismatch {
                path: self.inner.path.clone(),
                sealed_with,
                configured,
            }),
            _ => Ok(()),
        }
    }

    /// Seals every payload and operator template still in clear, a batch per transaction,
    /// then truncates the WAL so no clear copy remains in it (`secure_delete` already zeroes
    /// the pages the clear copies leave). Returns how many were sealed.
    pub(super) fn seal_clear_payloads(&self) -> Result<usize, OutboxError> {
        let mut total = 0;
        loop {
            let n = self.seal_batch(
                "SELECT transaction_id, sealed FROM payloads WHERE key_id IS NULL LIMIT ?1",
                "UPDATE payloads SET sealed = ?2, key_id = ?3, nonce = ?4, cipher = ?5 WHERE transaction_id = ?1",
                payload_context,
            )?;
            total += n;
            if n < SEAL_BATCH {
                break;
            }
        }
        loop {
            let n = self.seal_batch(
                "SELECT cpf, templates FROM operators WHERE templates_key IS NULL LIMIT ?1",
                "UPDATE operators SET templates = ?2, templates_key = ?3, templates_nonce = ?4, templates_cipher = ?5
                 WHERE cpf = ?1",
                operator_context,
            )?;
            total += n;
            if n < SEAL_BATCH {
                break;
            }
        }
        if total > 0 {
            self.checkpoint()?;
        }
        Ok(total)
    }

    fn seal_batch(
        &self,
        select: &str,
        update: &str,
        context: fn(&str) -> String,
    ) -> Result<usize, OutboxError> {
        let key = self.inner.key.clone();
        self.with(|conn| {
            let tx = conn.transaction()?;
            let rows: Vec<(String, Vec<u8>)> = {
                let mut stmt = tx.prepare(select)?;
                let rows = stmt.query_map([SEAL_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            for (name, plain) in &rows {
                let sealed =
                    key.seal(&context(name), plain)
                        .map_err(|source| OutboxError::Sealed {
                            what: "a stored payload".to_string(),
                            source,
                        })?;
                tx.execute(
                    update,
                    params![
                        name,
                        sealed.data,
                        key.id(),
                        sealed.nonce,
                        sealed.cipher.as_str()
                    ],
                )?;
            }
            tx.commit()?;
            Ok(rows.len())
        })
    }

    /// Payloads an older spidd kept in the `payloads` table move to their files, a batch per
    /// SQLite transaction: each file is written and synced before its blob is deleted, so a
    /// crash at any point leaves each payload in the table, in both places (the file is then
    /// written again), or in its file. Returns how many moved.
    pub(super) fn move_payloads_to_spool(&self) -> Result<usize, OutboxError> {
        type Row = (
            String,
            Vec<u8>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let spool = &self.inner.spool;
        let mut total = 0;
        loop {
            let n = self.with(|conn| {
                let db = conn.transaction()?;
                let rows: Vec<(Row, Header)> = {
                    let mut stmt = db.prepare(
                        "SELECT p.transaction_id, p.sealed, p.key_id, p.nonce, p.cipher, t.mode,
                             t.cpf, t.operator, t.timestamp, t.created_at, s.summary
                         FROM payloads p JOIN transactions t ON t.id = p.transaction_id
                         LEFT JOIN summaries s ON s.transaction_id = p.transaction_id
                         LIMIT ?1",
                    )?;
                    let rows = stmt.query_map([SEAL_BATCH as i64], |r| {
                        let row: Row = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                        let header = Header {
                            key_id: row.2.clone().unwrap_or_default(),
                            cipher: row.4.clone().unwrap_or_else(|| "chacha20-poly1305".into()),
                            nonce: spool::nonce_text(row.3.as_deref().unwrap_or_default()),
                            len: row.1.len() as u64,
                            mode: r.get(5)?,
                            cpf: r.get(6)?,
                            operator: r.get(7)?,
                            timestamp: r.get(8)?,
                            created_at: r.get(9)?,
                            summary: r
                                .get::<_, Option<String>>(10)?
                                .unwrap_or_else(|| "{}".into()),
                        };
                        Ok((row, header))
                    })?;
                    rows.collect::<Result<_, _>>()?
                };
                for ((id, sealed, ..), header) in &rows {
                    let moved = spool
                        .remove(id)
                        .and_then(|()| spool.write(id, header, sealed));
                    moved.map_err(|e| self.payload_file_error(id, e))?;
                    db.prepare_cached("DELETE FROM payloads WHERE transaction_id = ?1")?
                        .execute([id])?;
                }
                db.commit()?;
                Ok(rows.len())
            })?;
            total += n;
            if n < SEAL_BATCH {
                break;
            }
        }
        if total > 0 {
            tracing::info!(count = total, dir = %spool.dir().display(), "payloads moved from the database to their files");
            self.vacuum_step()?;
        }
        Ok(total)
    }

    /// Every payload file against its row. A file without a row had its row lost to a power
    /// cut after its enqueue answered (the row is committed without a sync of its own): the
    /// row comes back from the file's header. A file cut short (its enqueue never answered),
    /// one whose row is purged, or one that repeats a stored (CPF, timestamp) goes.
    pub(super) fn recover_spool(&self) -> Result<(), OutboxError> {
        let spool = &self.inner.spool;
        let ids = spool.ids().map_err(|source| OutboxError::Directory {
            path: spool.dir().to_path_buf(),
            source,
        })?;
        for id in ids {
            let purged: Option<bool> = self.read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT payload_purged_at IS NOT NULL FROM transactions WHERE id = ?1",
                    )?
                    .query_row([&id], |r| r.get(0))
                    .optional()?)
            })?;
            let drop_file = |why: &str| {
                tracing::warn!(id = %id, why, "payload file dropped");
                spool
                    .remove(&id)
                    .map_err(|e| self.payload_file_error(&id, e))
            };
            match purged {
                Some(false) => {}
                Some(true) => drop_file("its transaction's payload was purged")?,
                None => match spool
                    .read(&id)
                    .and_then(|f| f.map(|f| f.header()).transpose())
                {
                    Ok(Some(header)) => {
                        let existing = self.with(|conn| {
                            let db = conn.transaction()?;
                            let existing = insert_row(&db, &id, &header)?;
                            db.commit()?;
                            Ok(existing)
                        })?;
                        match existing {
                            Some(_) => drop_file("its CPF and timestamp are stored already")?,
                            None => {
                                tracing::warn!(id = %id, "transaction rebuilt from its payload file (its row was lost, as to a power cut)")
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) if spool::is_damaged(&e) => drop_file(&e.to_string())?,
                    Err(e) => return Err(self.payload_file_error(&id, e)),
                },
            }
        }
        Ok(())
    }

    /// Copies the WAL into the database and truncates it to zero bytes.
    pub fn checkpoint(&self) -> Result<(), OutboxError> {
        self.with(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

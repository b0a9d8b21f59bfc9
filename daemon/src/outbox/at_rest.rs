//! What `Outbox::open` does for data at rest: incremental auto-vacuum on older files, the
//! check that the database belongs to the configured key, and the sealing of payloads that a
//! v1 spidd stored in clear.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::operators::operator_context;
use super::transactions::payload_context;
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

    /// Copies the WAL into the database and truncates it to zero bytes.
    pub fn checkpoint(&self) -> Result<(), OutboxError> {
        self.with(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

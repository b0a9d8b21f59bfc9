//! The outbox's SQLite schema and its versioned migrations (`PRAGMA user_version`).

use rusqlite::Connection;

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only: a released
/// migration is never edited, because stations in the field already ran it.
pub(super) const MIGRATIONS: &[&str] = &[
    // v1: transactions, their delivery attempts, and operators' biometrics for offline login.
    r#"
    CREATE TABLE transactions (
        id              TEXT PRIMARY KEY NOT NULL,
        mode            TEXT NOT NULL CHECK (mode IN ('ENROLL', 'VERIFY')),
        cpf             TEXT NOT NULL,
        operator        TEXT NOT NULL,
        timestamp       INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        state           TEXT NOT NULL
                        CHECK (state IN ('PENDING', 'SENDING', 'DELIVERED', 'REJECTED', 'AMBIGUOUS')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        next_attempt_at INTEGER NOT NULL,
        tguid           TEXT,
        result_status   TEXT,
        result_message  TEXT,
        result_at       INTEGER,
        delivered_at    INTEGER,
        payload         BLOB NOT NULL,
        summary         TEXT NOT NULL,
        UNIQUE (cpf, timestamp)
    );
    CREATE INDEX transactions_due ON transactions (state, next_attempt_at);
    CREATE INDEX transactions_order ON transactions (created_at, id);
    CREATE INDEX transactions_tguid ON transactions (tguid) WHERE tguid IS NOT NULL;

    CREATE TABLE delivery_attempts (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        transaction_id  TEXT NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
        at              INTEGER NOT NULL,
        outcome         TEXT NOT NULL,
        error           TEXT
    );
    CREATE INDEX delivery_attempts_transaction ON delivery_attempts (transaction_id, seq);

    CREATE TABLE operators (
        cpf             TEXT PRIMARY KEY NOT NULL,
        fingers         TEXT NOT NULL,
        stored_at       INTEGER NOT NULL,
        templates       BLOB NOT NULL
    );
    "#,
    // v2: biometric payloads move to their own table, sealed at rest (`key_id` names the key;
    // NULL for a v1 payload until it is sealed at open), so that state updates no longer
    // rewrite the payload; payloads are purged after the retention period (the transaction
    // row stays); the technician's acknowledgement of rejections; `send_intent`: a batch
    // durably announced a send of this row (found PENDING after a crash, it may have gone out,
    // so the server is asked first); facts about the database (`station_meta`: its key's id).
    r#"
    CREATE TABLE payloads (
        transaction_id  TEXT PRIMARY KEY NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
        sealed          BLOB NOT NULL,
        key_id          TEXT,
        nonce           BLOB
    );
    INSERT INTO payloads (transaction_id, sealed) SELECT id, payload FROM transactions;
    UPDATE transactions SET payload = x'';
    CREATE INDEX payloads_unsealed ON payloads (transaction_id) WHERE key_id IS NULL;

    ALTER TABLE transactions ADD COLUMN payload_purged_at INTEGER;
    ALTER TABLE transactions ADD COLUMN acknowledged_at INTEGER;
    ALTER TABLE transactions ADD COLUMN send_intent INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX transactions_retention ON transactions (state, delivered_at)
        WHERE payload_purged_at IS NULL;

    ALTER TABLE operators ADD COLUMN templates_key TEXT;
    ALTER TABLE operators ADD COLUMN templates_nonce BLOB;

    CREATE TABLE station_meta (
        name            TEXT PRIMARY KEY NOT NULL,
        value           TEXT NOT NULL
    );
    "#,
    // v3: remote captures (SPID Server, by Unico, faceverify.ai) with their links and results, and
    // the cloud providers' outcomes per transaction (presencial or remote).
    r#"
    CREATE TABLE remote_transactions (
        id              TEXT PRIMARY KEY NOT NULL,
        mode            TEXT NOT NULL CHECK (mode IN ('ENROLL', 'VERIFY')),
        provider        TEXT NOT NULL,
        cpf             TEXT NOT NULL,
        operator        TEXT NOT NULL,
        email           TEXT,
        created_at      INTEGER NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('CREATING', 'CREATED', 'FAILED', 'DONE')),
        external_id     TEXT,
        url             TEXT,
        last_error      TEXT,
        polls           INTEGER NOT NULL DEFAULT 0,
        next_poll_at    INTEGER,
        result_status   TEXT,
        result_message  TEXT,
        result_detail   TEXT,
        result_at       INTEGER,
        result_by       TEXT
    );
    CREATE INDEX remote_transactions_external ON remote_transactions (external_id)
        WHERE external_id IS NOT NULL;
    CREATE INDEX remote_transactions_due ON remote_transactions (state, next_poll_at);
    CREATE INDEX remote_transactions_cpf ON remote_transactions (cpf, created_at);

    CREATE TABLE provider_outcomes (
        transaction_id  TEXT NOT NULL,
        provider        TEXT NOT NULL,
        outcome         TEXT NOT NULL,
        detail          TEXT NOT NULL,
        started_at      INTEGER NOT NULL,
        finished_at     INTEGER,
        PRIMARY KEY (transaction_id, provider)
    );
    "#,
    // v4: sealed blobs name their cipher (`seal.rs`: AES-256-GCM now; NULL beside a key id
    // is ChaCha20-Poly1305, what v2 and v3 sealed with). Delivery attempts drop AUTOINCREMENT:
    // their ids only order a transaction's attempts, which plain rowids (max + 1) still do,
    // and it spared every outcome's commit a write to `sqlite_sequence`.
    r#"
    ALTER TABLE payloads ADD COLUMN cipher TEXT;
    ALTER TABLE operators ADD COLUMN templates_cipher TEXT;

    CREATE TABLE delivery_attempts_v4 (
        seq             INTEGER PRIMARY KEY,
        transaction_id  TEXT NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
        at              INTEGER NOT NULL,
        outcome         TEXT NOT NULL,
        error           TEXT
    );
    INSERT INTO delivery_attempts_v4 (seq, transaction_id, at, outcome, error)
        SELECT seq, transaction_id, at, outcome, error FROM delivery_attempts;
    DROP TABLE delivery_attempts;
    ALTER TABLE delivery_attempts_v4 RENAME TO delivery_attempts;
    CREATE INDEX delivery_attempts_transaction ON delivery_attempts (transaction_id, seq);
    DELETE FROM sqlite_sequence WHERE name = 'delivery_attempts';
    "#,
    // v5: what opening a payload needs besides its bytes, in an index of its own. In the
    // table these columns follow the sealed blob, at the end of its chain of overflow pages:
    // reading them walked the chain and read the blob's last page each time, which cost a
    // send more than opening the blob's handle did. The index covers the lookup by id.
    r#"
    CREATE INDEX payloads_opening ON payloads (transaction_id, key_id, nonce, cipher);
    "#,
    // v6: indexes over the rows their queries want, not over the whole history. Resend All
    // pages through the undelivered rows in creation order: with only `transactions_due`,
    // each page read every undelivered row and sorted them all to keep 64, so a backlog of Q
    // cost Q²/64 row reads. `transactions_undelivered` holds just those rows, in page order.
    // Retention looks only at delivered rows whose payload is still there: an enqueue no
    // longer adds an entry to its index, and a delivery adds one instead of moving one.
    r#"
    CREATE INDEX transactions_undelivered ON transactions (created_at, id)
        WHERE state IN ('PENDING', 'AMBIGUOUS');
    DROP INDEX transactions_retention;
    CREATE INDEX transactions_retention ON transactions (delivered_at)
        WHERE state = 'DELIVERED' AND payload_purged_at IS NULL;
    "#,
    // v7: the capture summary (~1 kB of JSON, written once, read by the report alone) moves
    // out of the row every send rewrites twice (announced, then its outcome), as the payload
    // did in v2; the empty `payload` column v2 left behind goes. A row is then a few hundred
    // bytes: a page holds five times as many, and a batch of announcements or outcomes
    // writes that many fewer WAL pages.
    r#"
    CREATE TABLE summaries (
        transaction_id  TEXT PRIMARY KEY NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
        summary         TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO summaries (transaction_id, summary) SELECT id, summary FROM transactions;
    ALTER TABLE transactions DROP COLUMN summary;
    ALTER TABLE transactions DROP COLUMN payload;
    "#,
];

/// The schema version this build writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Debug)]
pub(super) enum MigrateError {
    /// The file was written by a newer spidd.
    Newer(i64),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings the schema to [`VERSION`], each step in its own transaction with its version bump,
/// so a crash mid-migration leaves the previous version intact. Running it again is a no-op.
pub(super) fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > VERSION {
        return Err(MigrateError::Newer(current));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = from + 1, "outbox schema migrated");
    }
    Ok(VERSION)
}

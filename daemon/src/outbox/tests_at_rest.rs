//! Data at rest: no biometric byte in clear in the files, v1 databases sealed on open, the
//! wrong key refused, retention and acknowledgement, disk full.

use rusqlite::{params, Connection};

use super::tests::{new_tx, test_key, Scratch};
use super::*;

const CPF: &str = "52998224725";
/// A WSQ start-of-image marker followed by text no encoder would produce by chance.
const MARKER: &[u8] = b"\xff\xa0\xff\xa8BIOMETRIC-SAMPLE-7f3c9e";

fn biometric_tx(cpf: &str, ts: Millis) -> NewTransaction {
    let mut tx = new_tx(cpf, ts);
    let mut payload = b"{\"data\":{\"wsq\":\"".to_vec();
    for _ in 0..64 {
        payload.extend_from_slice(MARKER);
    }
    payload.extend_from_slice(b"\"}}");
    tx.payload = payload;
    tx
}

/// Every file of the database (main, -wal, -shm, the payload files) holds no copy of the
/// marker.
fn assert_no_marker(dir: &Scratch) {
    let mut dirs = vec![dir.0.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER),
                "biometric bytes in clear in {}",
                path.display()
            );
        }
    }
}

#[test]
fn no_biometric_byte_is_stored_in_clear() {
    let dir = Scratch::new("clear");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let id = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
    let op = Cpf::parse("11144477735").unwrap();
    outbox
        .save_operator(&op, &[Finger::new(2).unwrap()], MARKER, 5)
        .unwrap();
    // Checked both before and after a checkpoint: the WAL is covered too.
    assert_no_marker(&dir);
    outbox.checkpoint().unwrap();
    assert_no_marker(&dir);
    assert!(outbox
        .payload(&id)
        .unwrap()
        .unwrap()
        .windows(MARKER.len())
        .any(|w| w == MARKER));
    assert_eq!(
        outbox.load_operator(&op).unwrap().unwrap().templates,
        MARKER
    );
}

#[test]
fn a_v1_database_is_sealed_on_open_and_keeps_no_clear_copy() {
    let dir = Scratch::new("v1");
    std::fs::create_dir_all(&dir.0).unwrap();
    {
        // What spidd v1 wrote: schema 1, payloads and templates in clear, no auto-vacuum.
        let conn = Connection::open(dir.db()).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for i in 0..40 {
            conn.execute(
                "INSERT INTO transactions (id, mode, cpf, operator, timestamp, created_at, state,
                     next_attempt_at, payload, summary)
                 VALUES (?1, 'ENROLL', ?2, '11144477735', ?3, ?3, 'PENDING', ?3, ?4, '{}')",
                params![format!("old-{i}"), CPF, i, biometric_tx(CPF, i).payload],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO operators (cpf, fingers, stored_at, templates) VALUES ('11144477735', '2', 1, ?1)",
            [MARKER],
        )
        .unwrap();
    }
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    assert_no_marker(&dir);
    let payload = outbox.payload("old-7").unwrap().unwrap();
    assert_eq!(payload, biometric_tx(CPF, 7).payload);
    let op = Cpf::parse("11144477735").unwrap();
    assert_eq!(
        outbox.load_operator(&op).unwrap().unwrap().templates,
        MARKER
    );
    let auto_vacuum: i64 = outbox
        .with(|c| Ok(c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "switched to incremental");
}

#[test]
fn a_new_file_takes_its_page_size_and_auto_vacuum_before_wal_fixes_them() {
    let dir = Scratch::new("new-file");
    std::fs::create_dir_all(&dir.0).unwrap();
    let conn = Connection::open(dir.db()).unwrap();
    conn.execute_batch(super::NEW_FILE_PRAGMAS).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
        .unwrap();
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma("auto_vacuum"), 2, "incremental without a VACUUM");
    assert_eq!(pragma("page_size"), 4096);
    drop(conn);
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let auto_vacuum: i64 = outbox
        .with(|c| Ok(c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(auto_vacuum, 2);
}

#[test]
fn a_v3_database_keeps_its_chacha_payloads_attempts_and_summaries_when_migrated() {
    let dir = Scratch::new("v3");
    std::fs::create_dir_all(&dir.0).unwrap();
    let key = test_key();
    let op = Cpf::parse("11144477735").unwrap();
    {
        // What spidd v3 wrote: ChaCha20-Poly1305 under the key itself, no cipher column,
        // attempts numbered by AUTOINCREMENT.
        let mut conn = Connection::open(dir.db()).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for (v, sql) in schema::MIGRATIONS[..3].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", v as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        let payload = biometric_tx(CPF, 1).payload;
        let sealed = key
            .seal_with(
                Cipher::ChaCha20Poly1305,
                &transactions::payload_context("old"),
                payload,
            )
            .unwrap();
        conn.execute(
            "INSERT INTO transactions (id, mode, cpf, operator, timestamp, created_at, state,
                 next_attempt_at, payload, summary)
             VALUES ('old', 'ENROLL', ?1, '11144477735', 1, 1, 'PENDING', 1, x'', '{\"positions\":[2]}')",
            [CPF],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO payloads (transaction_id, sealed, key_id, nonce) VALUES ('old', ?1, ?2, ?3)",
            params![sealed.data, key.id(), sealed.nonce],
        )
        .unwrap();
        let templates = key
            .seal_with(
                Cipher::ChaCha20Poly1305,
                &operators::operator_context(op.digits()),
                MARKER.to_vec(),
            )
            .unwrap();
        conn.execute(
            "INSERT INTO operators (cpf, fingers, stored_at, templates, templates_key, templates_nonce)
             VALUES (?1, '2', 1, ?2, ?3, ?4)",
            params![op.digits(), templates.data, key.id(), templates.nonce],
        )
        .unwrap();
        for outcome in ["PENDING", "AMBIGUOUS"] {
            conn.execute(
                "INSERT INTO delivery_attempts (transaction_id, at, outcome) VALUES ('old', 2, ?1)",
                [outcome],
            )
            .unwrap();
        }
    }
    let outbox = Outbox::open(dir.db(), key).unwrap();
    assert_eq!(
        outbox.payload("old").unwrap().unwrap(),
        biometric_tx(CPF, 1).payload
    );
    // v7 moved the summary out of the row.
    assert_eq!(
        outbox.summary("old").unwrap(),
        Some(serde_json::json!({"positions": [2]}))
    );
    assert_eq!(
        outbox.load_operator(&op).unwrap().unwrap().templates,
        MARKER
    );
    outbox.mark_sending("old").unwrap();
    outbox.mark_pending("old", "timeout", 5).unwrap();
    let outcomes: Vec<String> = outbox
        .attempts("old")
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["PENDING", "AMBIGUOUS", "PENDING"], "in order");
    // The old payload moved to its file, and the table is empty.
    let in_table: i64 = outbox
        .with(|c| Ok(c.query_row("SELECT COUNT(*) FROM payloads", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(in_table, 0);
    let moved = file_header(&outbox, "old");
    assert_eq!(moved.cipher, "chacha20-poly1305");
    assert_eq!((moved.cpf.as_str(), moved.timestamp), (CPF, 1));
    // New payloads are AES-256-GCM and say so.
    let id = outbox.enqueue(biometric_tx(CPF, 2)).unwrap();
    let header = file_header(&outbox, &id);
    assert_eq!(header.cipher, "aes-256-gcm");
    assert_eq!(
        outbox.payload(&id).unwrap().unwrap(),
        biometric_tx(CPF, 2).payload
    );
    assert_no_marker(&dir);
}

#[test]
fn another_key_is_refused_naming_the_database() {
    let dir = Scratch::new("wrongkey");
    Outbox::open(dir.db(), test_key())
        .unwrap()
        .enqueue(new_tx(CPF, 1))
        .unwrap();
    let e = Outbox::open(dir.db(), SealKey::from_bytes([1; 32])).unwrap_err();
    assert!(matches!(e, OutboxError::KeyMismatch { .. }), "{e}");
    assert!(
        e.to_string().contains(&dir.db().display().to_string()),
        "{e}"
    );
    // Nothing changed: the right key still opens it.
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    assert_eq!(outbox.counts().unwrap()[&TxState::Pending], 1);
}

#[test]
fn a_tampered_payload_does_not_open() {
    let dir = Scratch::new("tamper");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let a = outbox.enqueue(new_tx(CPF, 1)).unwrap();
    let b = outbox.enqueue(new_tx(CPF, 2)).unwrap();
    // Put b's payload file in a's place: each is bound to its own id.
    let spool = &outbox.inner.spool;
    std::fs::copy(spool.path(&b), spool.path(&a)).unwrap();
    assert!(matches!(
        outbox.payload(&a),
        Err(OutboxError::Sealed { .. })
    ));
    assert!(outbox.payload(&b).unwrap().is_some());
    // One flipped bit in the sealed bytes.
    let mut bytes = std::fs::read(spool.path(&b)).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(spool.path(&b), &bytes).unwrap();
    assert!(matches!(
        outbox.payload(&b),
        Err(OutboxError::Sealed { .. })
    ));
}

#[test]
fn delivered_payloads_are_dropped_after_retention_and_metadata_stays() {
    let dir = Scratch::new("retention");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let old = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
    let fresh = outbox.enqueue(biometric_tx(CPF, 2)).unwrap();
    let pending = outbox.enqueue(biometric_tx(CPF, 3)).unwrap();
    let rejected = outbox.enqueue(biometric_tx(CPF, 4)).unwrap();
    for id in [&old, &fresh] {
        outbox.mark_sending(id).unwrap();
        outbox
            .mark_delivered(id, &format!("tg-{id}"), None, None)
            .unwrap();
    }
    outbox.mark_sending(&rejected).unwrap();
    outbox
        .mark_rejected(&rejected, "HTTP 400: bad image")
        .unwrap();
    // `old` was delivered long ago.
    outbox
        .with(|c| {
            c.execute(
                "UPDATE transactions SET delivered_at = 1000 WHERE id = ?1",
                [&old],
            )?;
            Ok(())
        })
        .unwrap();
    let cutoff = now_millis() - 3_600_000;
    let report = outbox.purge_payloads(cutoff).unwrap();
    assert_eq!(report.purged, 1);
    assert!(matches!(outbox.payload(&old), Err(OutboxError::Purged(_))));
    let t = outbox.get(&old).unwrap().unwrap();
    assert_eq!(t.state, TxState::Delivered);
    assert_eq!(t.tguid.as_deref(), Some(format!("tg-{old}").as_str()));
    assert!(t.payload_purged_at.is_some());
    for id in [&fresh, &pending, &rejected] {
        assert!(outbox.payload(id).unwrap().is_some(), "{id} kept");
    }
    // A rejection stays until acknowledged; then its payload goes, its reason stays.
    assert_eq!(
        outbox.unacknowledged_rejections(10).unwrap(),
        vec![rejected.clone()]
    );
    assert!(matches!(
        outbox.acknowledge_rejected(&pending),
        Err(OutboxError::InvalidTransition { .. })
    ));
    let acked = outbox.acknowledge_rejected(&rejected).unwrap();
    assert!(acked.acknowledged_at.is_some());
    assert_eq!(acked.last_error.as_deref(), Some("HTTP 400: bad image"));
    assert!(matches!(
        outbox.payload(&rejected),
        Err(OutboxError::Purged(_))
    ));
    assert!(outbox.unacknowledged_rejections(10).unwrap().is_empty());
    outbox.acknowledge_rejected(&rejected).unwrap();
    assert_eq!(outbox.purge_payloads(cutoff).unwrap().purged, 0);
}

#[test]
fn purged_payloads_leave_the_disk() {
    let dir = Scratch::new("vacuum");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        let mut tx = new_tx(CPF, i);
        tx.payload = vec![b'x'; 256 * 1024];
        let id = outbox.enqueue(tx).unwrap();
        outbox.mark_sending(&id).unwrap();
        outbox.mark_delivered(&id, "tg", None, None).unwrap();
        ids.push(id);
    }
    assert_eq!(outbox.inner.spool.ids().unwrap().len(), 20);
    let report = outbox.purge_payloads(now_millis()).unwrap();
    assert_eq!(report.purged, 20);
    assert!(outbox.inner.spool.ids().unwrap().is_empty());
    for id in &ids {
        assert!(matches!(outbox.payload(id), Err(OutboxError::Purged(_))));
    }
}

#[test]
fn a_full_disk_refuses_new_transactions_and_keeps_the_stored_ones() {
    let dir = Scratch::new("full");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let kept = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
    // The file may not grow past its current size: SQLite answers SQLITE_FULL, as on a full disk.
    outbox
        .with(|c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
            Ok(())
        })
        .unwrap();
    // The payload file is written; the row, with a summary of 1 MB, does not fit.
    let mut big = new_tx(CPF, 2);
    big.summary = serde_json::json!({ "pad": "x".repeat(1 << 20) });
    let e = outbox.enqueue(big).unwrap_err();
    assert!(e.is_storage(), "{e:?}");
    assert!(
        e.to_string().contains(&dir.db().display().to_string()),
        "{e}"
    );
    assert!(outbox.get_by_timestamp(2).is_none());
    assert_eq!(
        outbox.inner.spool.ids().unwrap(),
        std::slice::from_ref(&kept),
        "file left behind"
    );
    assert_eq!(
        outbox.payload(&kept).unwrap().unwrap(),
        biometric_tx(CPF, 1).payload
    );
    drop(outbox);
    let reopened = Outbox::open(dir.db(), test_key()).unwrap();
    assert_eq!(reopened.counts().unwrap()[&TxState::Pending], 1);
    assert!(reopened.payload(&kept).unwrap().is_some());
}

#[test]
fn a_full_disk_under_the_payload_files_refuses_the_transaction_and_leaves_nothing() {
    let dir = Scratch::new("full-files");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let kept = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
    *outbox.inner.spool.refuse_writes.lock().unwrap() = Some(libc::ENOSPC);
    let e = outbox.enqueue(biometric_tx(CPF, 2)).unwrap_err();
    assert!(e.is_storage(), "{e:?}");
    let payloads = outbox.inner.spool.dir().display().to_string();
    assert!(e.to_string().contains(&payloads), "{e}");
    assert!(outbox.get_by_timestamp(2).is_none());
    assert_eq!(outbox.inner.spool.ids().unwrap(), [kept]);
    // Room again: the same transaction is taken.
    *outbox.inner.spool.refuse_writes.lock().unwrap() = None;
    let id = outbox.enqueue(biometric_tx(CPF, 2)).unwrap();
    assert_eq!(
        outbox.payload(&id).unwrap().unwrap(),
        biometric_tx(CPF, 2).payload
    );
}

impl Outbox {
    fn get_by_timestamp(&self, ts: i64) -> Option<String> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT id FROM transactions WHERE timestamp = ?1",
                [ts],
                |r| r.get(0),
            )
            .ok())
        })
        .unwrap()
    }
}

#[test]
fn a_read_only_database_refuses_new_transactions_as_storage_trouble() {
    let dir = Scratch::new("readonly");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let kept = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
    // `query_only` makes SQLite refuse every write with SQLITE_READONLY, as a file system
    // remounted read-only does; unlike file modes, it also holds when the tests run as root.
    outbox
        .with(|c| {
            c.execute_batch("PRAGMA query_only = ON;")?;
            Ok(())
        })
        .unwrap();
    let e = outbox.enqueue(biometric_tx(CPF, 2)).unwrap_err();
    assert!(e.is_storage(), "{e:?}");
    let e = outbox.mark_sending(&kept).unwrap_err();
    assert!(e.is_storage(), "{e:?}");
    assert_eq!(outbox.get(&kept).unwrap().unwrap().state, TxState::Pending);
    assert!(outbox.payload(&kept).unwrap().is_some());
}

#[test]
fn an_announced_send_is_checked_after_a_crash_and_an_outcome_clears_it() {
    let dir = Scratch::new("announce");
    let (announced, finished, quiet) = {
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        let ids: Vec<String> = (1..=3)
            .map(|i| outbox.enqueue(new_tx(CPF, i)).unwrap())
            .collect();
        outbox.announce_sends(&ids[..2]).unwrap();
        // The second one went out and failed: its outcome clears the announcement and
        // counts the attempt.
        let failed = SendOutcome::Pending {
            error: "HTTP 503",
            next_attempt_at: 0,
        };
        outbox
            .record_outcome(&ids[1], failed, SendStart::Announced)
            .unwrap();
        assert_eq!(outbox.get(&ids[1]).unwrap().unwrap().attempts, 1);
        (ids[0].clone(), ids[1].clone(), ids[2].clone())
    };
    // Reopened without a clean stop: the announced one may have gone out.
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    assert_eq!(
        outbox.get(&announced).unwrap().unwrap().state,
        TxState::Ambiguous
    );
    assert_eq!(
        outbox.get(&finished).unwrap().unwrap().state,
        TxState::Pending
    );
    assert_eq!(outbox.get(&quiet).unwrap().unwrap().state, TxState::Pending);
}

#[test]
fn payload_files_are_checked_against_their_rows_at_open() {
    let dir = Scratch::new("spool-recovery");
    let (lost, cut, purged, twin) = {
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        let lost = outbox.enqueue(biometric_tx(CPF, 1)).unwrap();
        let cut = outbox.enqueue(biometric_tx(CPF, 2)).unwrap();
        let purged = outbox.enqueue(biometric_tx(CPF, 3)).unwrap();
        let twin = outbox.enqueue(biometric_tx(CPF, 4)).unwrap();
        outbox.mark_sending(&purged).unwrap();
        outbox.mark_delivered(&purged, "tg", None, None).unwrap();
        let spool = &outbox.inner.spool;
        // The purge marked the row; its file's removal was cut off.
        let file = std::fs::read(spool.path(&purged)).unwrap();
        outbox.purge_payloads(now_millis()).unwrap();
        std::fs::write(spool.path(&purged), file).unwrap();
        // A power cut lost the rows of `lost` (its enqueue had answered) and of `cut`, whose
        // file was cut short too (its enqueue had not answered).
        let bytes = std::fs::read(spool.path(&cut)).unwrap();
        std::fs::write(spool.path(&cut), &bytes[..bytes.len() / 2]).unwrap();
        outbox
            .with(|c| {
                c.execute_batch("PRAGMA foreign_keys = OFF")?;
                for id in [&lost, &cut] {
                    c.execute("DELETE FROM summaries WHERE transaction_id = ?1", [id])?;
                    c.execute("DELETE FROM transactions WHERE id = ?1", [id])?;
                }
                Ok(())
            })
            .unwrap();
        // A second file for the stored (CPF, timestamp) of `twin`, under another id.
        let other = uuid::Uuid::now_v7().to_string();
        std::fs::copy(spool.path(&twin), spool.path(&other)).unwrap();
        (lost, cut, purged, twin)
    };
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let rebuilt = outbox.get(&lost).unwrap().unwrap();
    assert_eq!(rebuilt.state, TxState::Pending);
    assert_eq!((rebuilt.cpf.digits(), rebuilt.timestamp), (CPF, 1));
    assert_eq!(
        outbox.payload(&lost).unwrap().unwrap(),
        biometric_tx(CPF, 1).payload
    );
    assert_eq!(
        outbox.summary(&lost).unwrap(),
        Some(biometric_tx(CPF, 1).summary)
    );
    assert!(outbox.get(&cut).unwrap().is_none());
    let mut left = outbox.inner.spool.ids().unwrap();
    left.sort();
    let mut want = vec![lost, twin];
    want.sort();
    assert_eq!(left, want, "cut, purged and duplicate files dropped");
    assert!(matches!(
        outbox.payload(&purged),
        Err(OutboxError::Purged(_))
    ));
}

/// The header of `id`'s payload file, as written.
fn file_header(outbox: &Outbox, id: &str) -> super::spool::Header {
    let file = outbox.inner.spool.read(id).unwrap().unwrap();
    file.header().unwrap()
}

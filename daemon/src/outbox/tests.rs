//! Durability, migrations, transitions, crash recovery, corruption and lookups.

use std::path::PathBuf;

use serde_json::json;

use super::*;

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spidd-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("spidd.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The key every test outbox is sealed with.
pub(crate) fn test_key() -> SealKey {
    SealKey::from_bytes([0x5e; 32])
}

pub(crate) fn new_tx(cpf: &str, timestamp: Millis) -> NewTransaction {
    NewTransaction {
        mode: Mode::Enroll,
        cpf: Cpf::parse(cpf).unwrap(),
        operator: Cpf::parse("11144477735").unwrap(),
        timestamp,
        payload: format!("{{\"data\":{{\"timestamp\":{timestamp}}}}}").into_bytes(),
        summary: json!({"positions": [2, 7], "timestamp": timestamp}),
    }
}

const CPF: &str = "52998224725";

#[test]
fn an_enqueued_transaction_survives_reopening() {
    let dir = Scratch::new("durable");
    let id = {
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        outbox.enqueue(new_tx(CPF, 1_000)).unwrap()
    };
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let t = outbox.get(&id).unwrap().unwrap();
    assert_eq!(t.state, TxState::Pending);
    assert_eq!(t.mode, Mode::Enroll);
    assert_eq!(t.cpf.digits(), CPF);
    assert_eq!(t.timestamp, 1_000);
    assert_eq!(t.attempts, 0);
    assert_eq!(
        outbox.summary(&id).unwrap(),
        Some(json!({"positions": [2, 7], "timestamp": 1000}))
    );
    assert_eq!(
        outbox.payload(&id).unwrap().unwrap(),
        new_tx(CPF, 1_000).payload
    );
    assert_eq!(outbox.get("nope").unwrap(), None);
    assert_eq!(outbox.payload("nope").unwrap(), None);
}

#[test]
fn a_send_reads_the_row_and_its_payload_only_while_it_is_owed() {
    let dir = Scratch::new("for-send");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let id = outbox.enqueue(new_tx(CPF, 1)).unwrap();
    let (t, payload) = outbox.get_for_send(&id).unwrap().unwrap();
    assert_eq!((t.id.as_str(), t.state), (id.as_str(), TxState::Pending));
    assert_eq!(payload, Some(new_tx(CPF, 1).payload.into()));

    outbox.mark_sending(&id).unwrap();
    outbox.mark_delivered(&id, "tguid-1", None, None).unwrap();
    // By TGUID too, like `get`; delivered, so its payload is not read.
    let (t, payload) = outbox.get_for_send("tguid-1").unwrap().unwrap();
    assert_eq!((t.id.as_str(), t.state), (id.as_str(), TxState::Delivered));
    assert_eq!(payload, None);
    assert_eq!(outbox.get_for_send("nope").unwrap(), None);
}

#[test]
fn a_group_read_gives_each_transaction_its_own_payload() {
    let dir = Scratch::new("group-read");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    // Payloads of different sizes, one handle moved from row to row: each must come back
    // whole and its own, whatever was read before it.
    let sizes = [300 * 1024, 10, 70 * 1024, 1, 40 * 1024];
    let payload = |i: usize| -> Vec<u8> { (0..sizes[i]).map(|b| (b * 7 + i) as u8).collect() };
    let mut ids = Vec::new();
    for i in 0..sizes.len() {
        let mut tx = new_tx(CPF, 10 + i as Millis);
        tx.payload = payload(i);
        ids.push(outbox.enqueue(tx).unwrap());
    }
    // Station ids sort in the order the transactions were stored (UUID v7).
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
    // One delivered in the middle (its payload is not read) and an unknown id.
    outbox.mark_sending(&ids[2]).unwrap();
    outbox.mark_delivered(&ids[2], "tg-2", None, None).unwrap();
    let mut asked = ids.clone();
    asked.insert(1, "nope".into());
    let found = outbox.get_many_for_send(&asked);
    assert_eq!(found.len(), asked.len());
    for (id, found) in asked.iter().zip(found) {
        let found = found.unwrap();
        let Some(i) = ids.iter().position(|stored| stored == id) else {
            assert_eq!(found, None, "{id}");
            continue;
        };
        let (t, got) = found.unwrap();
        assert_eq!(&t.id, id);
        assert_eq!(got, (i != 2).then(|| payload(i).into()), "transaction {i}");
    }
}

/// Column `column` of what `explain` (EXPLAIN or EXPLAIN QUERY PLAN) says of `sql`, one
/// line per step, with `n` parameters bound.
fn explain(outbox: &Outbox, explain: &str, sql: &str, n: usize, column: usize) -> Vec<String> {
    outbox
        .with(|c| {
            let mut stmt = c.prepare(&format!("{explain} {sql}"))?;
            let args = rusqlite::params_from_iter(std::iter::repeat_n("1", n));
            let rows = stmt.query_map(args, |r| r.get::<_, String>(column))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
}

/// SQLite's plan for `sql`.
fn plan(outbox: &Outbox, sql: &str, n: usize) -> Vec<String> {
    explain(outbox, "EXPLAIN QUERY PLAN", sql, n, 3)
}

#[test]
fn resend_pages_and_retention_read_only_what_they_need() {
    let dir = Scratch::new("plans");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    // A page is a walk of the undelivered rows' index from the cursor, in order: no sort of
    // the whole backlog per page.
    assert_eq!(
        plan(&outbox, super::delivery::FIRST_PAGE, 1),
        ["SCAN transactions USING INDEX transactions_undelivered"]
    );
    let after = plan(&outbox, super::delivery::PAGE_AFTER, 2);
    assert_eq!(
        after[0],
        "SEARCH transactions USING INDEX transactions_undelivered (created_at>?)"
    );
    assert!(
        after.iter().all(|step| !step.contains("TEMP B-TREE")),
        "{after:?}"
    );
    // Retention finds delivered rows past the cutoff in its own index, and nothing scans
    // the table.
    let purge = plan(&outbox, super::retention::PURGE_MARK, 3);
    assert!(
        purge.contains(
            &"SEARCH transactions USING INDEX transactions_retention (delivered_at<?)".into()
        ),
        "{purge:?}"
    );
    assert!(
        purge.iter().all(|step| !step.starts_with("SCAN")),
        "{purge:?}"
    );
}

#[test]
fn an_outcome_checks_the_state_without_a_temporary_table() {
    let dir = Scratch::new("state-check");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let states = [TxState::Sending, TxState::Ambiguous, TxState::Pending];
    let check = super::delivery::state_is_one_of(&states);
    let sql = format!("SELECT id FROM transactions WHERE id = ?1 AND {check}");
    let ops = explain(&outbox, "EXPLAIN", &sql, 1, 1);
    assert!(!ops.iter().any(|op| op == "OpenEphemeral"), "{ops:?}");
}

#[test]
fn the_same_capture_cannot_be_stored_twice() {
    let dir = Scratch::new("dup");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let id = outbox.enqueue(new_tx(CPF, 5)).unwrap();
    match outbox.enqueue(new_tx(CPF, 5)) {
        Err(OutboxError::Duplicate { id: existing }) => assert_eq!(existing, id),
        other => panic!("{other:?}"),
    }
    outbox.enqueue(new_tx(CPF, 6)).unwrap();
    outbox.enqueue(new_tx("11144477735", 5)).unwrap();
    let mut op = new_tx(CPF, 7);
    op.mode = Mode::Operator;
    assert!(matches!(
        outbox.enqueue(op),
        Err(OutboxError::Mode("OPERATOR"))
    ));
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = Scratch::new("migrate");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    outbox.enqueue(new_tx(CPF, 1)).unwrap();
    drop(outbox);
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    assert_eq!(outbox.counts().unwrap()[&TxState::Pending], 1);
    let version = outbox.with(|c| {
        assert_eq!(schema::migrate(c).ok(), Some(schema::VERSION));
        Ok(c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?)
    });
    assert_eq!(version.unwrap(), schema::VERSION);
    let (journal, sync, fk): (String, i64, i64) = outbox
        .with(|c| {
            Ok((
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                c.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!(
        (journal.as_str(), sync, fk),
        ("wal", 2, 1),
        "WAL, synchronous=FULL, foreign keys"
    );
    outbox
        .with(|c| Ok(c.pragma_update(None, "user_version", 99)?))
        .unwrap();
    drop(outbox);
    match Outbox::open(dir.db(), test_key()) {
        Err(OutboxError::NewerSchema { found: 99, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn transitions_follow_the_delivery_states_and_are_recorded() {
    let dir = Scratch::new("transitions");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let id = outbox.enqueue(new_tx(CPF, 1)).unwrap();

    outbox.mark_sending(&id).unwrap();
    outbox.mark_pending(&id, "HTTP 503", 50_000).unwrap();
    let t = outbox.get(&id).unwrap().unwrap();
    assert_eq!(
        (t.state, t.attempts, t.next_attempt_at),
        (TxState::Pending, 1, 50_000)
    );
    assert_eq!(t.last_error.as_deref(), Some("HTTP 503"));

    outbox.mark_sending(&id).unwrap();
    assert!(matches!(
        outbox.mark_sending(&id),
        Err(OutboxError::InvalidTransition {
            state: TxState::Sending,
            to: TxState::Sending,
            ..
        })
    ));
    outbox.mark_ambiguous(&id, "timed out", 60_000).unwrap();
    // A failed check keeps it ambiguous.
    outbox
        .mark_ambiguous(&id, "still unreachable", 70_000)
        .unwrap();
    assert!(matches!(
        outbox.mark_pending(&id, "x", 0),
        Err(OutboxError::InvalidTransition { .. })
    ));
    outbox
        .mark_deduplicated(&id, "tg-1", Some("ENROLL_ENQUEUED"))
        .unwrap();
    let t = outbox.get(&id).unwrap().unwrap();
    assert_eq!(t.state, TxState::Delivered);
    assert_eq!(t.tguid.as_deref(), Some("tg-1"));
    assert_eq!(t.result_status.as_deref(), Some("ENROLL_ENQUEUED"));
    assert!(t.delivered_at.is_some());
    assert_eq!(t.last_error, None);
    assert!(matches!(
        outbox.mark_sending(&id),
        Err(OutboxError::InvalidTransition {
            state: TxState::Delivered,
            ..
        })
    ));
    assert!(matches!(
        outbox.mark_rejected("absent", "x"),
        Err(OutboxError::NotFound(_))
    ));

    outbox
        .set_result(&id, Some("ENROLL_OK"), Some("done"))
        .unwrap();
    let t = outbox.get("tg-1").unwrap().unwrap();
    assert_eq!(t.id, id, "found by TGUID");
    assert_eq!(
        (t.result_status.as_deref(), t.result_message.as_deref()),
        (Some("ENROLL_OK"), Some("done"))
    );

    let outcomes: Vec<String> = outbox
        .attempts(&id)
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["PENDING", "AMBIGUOUS", "AMBIGUOUS", "DEDUPLICATED"]
    );

    let other = outbox.enqueue(new_tx(CPF, 2)).unwrap();
    outbox.mark_sending(&other).unwrap();
    outbox
        .mark_rejected(&other, "HTTP 422: userId is invalid")
        .unwrap();
    let third = outbox.enqueue(new_tx(CPF, 3)).unwrap();
    outbox.mark_sending(&third).unwrap();
    outbox
        .mark_delivered(&third, "tg-3", Some("SEARCH_MATCH"), Some("m"))
        .unwrap();
    let counts = outbox.counts().unwrap();
    assert_eq!(counts.len(), 5);
    assert_eq!(
        (
            counts[&TxState::Delivered],
            counts[&TxState::Rejected],
            counts[&TxState::Pending]
        ),
        (2, 1, 0)
    );
}

#[test]
fn a_row_left_sending_becomes_ambiguous_on_reopen() {
    let dir = Scratch::new("crash");
    let id = {
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        let id = outbox.enqueue(new_tx(CPF, 1)).unwrap();
        outbox.mark_sending(&id).unwrap();
        id
    };
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let t = outbox.get(&id).unwrap().unwrap();
    assert_eq!(t.state, TxState::Ambiguous);
    assert_eq!(t.attempts, 1);
    let attempts = outbox.attempts(&id).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "AMBIGUOUS");
    assert_eq!(outbox.due_ids(now_millis(), 10).unwrap(), vec![id]);
}

#[test]
fn a_corrupt_file_is_refused_naming_it() {
    let dir = Scratch::new("corrupt");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.db(), vec![0x5a; 8192]).unwrap();
    let e = Outbox::open(dir.db(), test_key()).unwrap_err();
    assert!(
        matches!(e, OutboxError::Corrupt { ref path, .. } if path == &dir.db()),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&dir.db().display().to_string()),
        "{e}"
    );
    assert!(!e.is_storage());
}

#[test]
fn damaged_pages_are_found_by_the_quick_check() {
    let dir = Scratch::new("damaged");
    {
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        for i in 0..200 {
            let mut tx = new_tx(CPF, i);
            tx.payload = vec![b'x'; 2000];
            outbox.enqueue(tx).unwrap();
        }
        outbox
            .with(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?))
            .unwrap();
    }
    let mut bytes = std::fs::read(dir.db()).unwrap();
    assert!(bytes.len() > 40 * 4096);
    let page = 4096;
    // Scribble over interior pages, leaving the header page intact.
    for b in &mut bytes[3 * page..12 * page] {
        *b = 0xa5;
    }
    std::fs::write(dir.db(), &bytes).unwrap();
    let e = Outbox::open(dir.db(), test_key()).unwrap_err();
    assert!(
        matches!(e, OutboxError::Corrupt { ref path, .. } if path == &dir.db()),
        "{e:?}"
    );
}

#[test]
fn storage_failures_are_told_apart() {
    let path = PathBuf::from("/x/spidd.db");
    let err = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
    assert!(classify(&path, err(rusqlite::ffi::SQLITE_FULL)).is_storage());
    assert!(classify(&path, err(rusqlite::ffi::SQLITE_READONLY)).is_storage());
    assert!(classify(&path, err(rusqlite::ffi::SQLITE_IOERR)).is_storage());
    assert!(matches!(
        classify(&path, err(rusqlite::ffi::SQLITE_CORRUPT)),
        OutboxError::Corrupt { .. }
    ));
    assert!(matches!(
        classify(&path, err(rusqlite::ffi::SQLITE_MISUSE)),
        OutboxError::Database(_)
    ));
}

#[test]
fn due_and_paged_ids_come_oldest_first() {
    let dir = Scratch::new("paging");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let ids: Vec<String> = (0..7)
        .map(|i| outbox.enqueue(new_tx(CPF, i)).unwrap())
        .collect();
    // Same created_at millisecond is possible: the order is (created_at, id).
    let mut expected = ids.clone();
    let created = |id: &String| outbox.get(id).unwrap().unwrap().created_at;
    expected.sort_by_key(|id| (created(id), id.clone()));

    outbox.mark_sending(&ids[1]).unwrap();
    outbox.mark_delivered(&ids[1], "tg", None, None).unwrap();
    outbox.mark_sending(&ids[2]).unwrap();
    outbox.mark_pending(&ids[2], "later", u64::MAX / 4).unwrap();
    outbox.mark_sending(&ids[3]).unwrap();
    outbox.mark_ambiguous(&ids[3], "timeout", 0).unwrap();

    let due = outbox.due_ids(now_millis(), 100).unwrap();
    let want: Vec<String> = expected
        .iter()
        .filter(|i| *i != &ids[1] && *i != &ids[2])
        .cloned()
        .collect();
    assert_eq!(due, want);
    assert_eq!(outbox.due_ids(now_millis(), 2).unwrap(), want[..2]);
    assert_eq!(outbox.next_due_at().unwrap(), Some(0));

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = outbox.pending_ids_after(cursor.as_deref(), 2).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        cursor = page.last().cloned();
        paged.extend(page);
    }
    let want: Vec<String> = expected.iter().filter(|i| *i != &ids[1]).cloned().collect();
    assert_eq!(paged, want, "every undelivered row once, due or not");
}

#[test]
fn operators_are_stored_and_replaced() {
    let dir = Scratch::new("operators");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let cpf = Cpf::parse("11144477735").unwrap();
    assert_eq!(outbox.load_operator(&cpf).unwrap(), None);
    outbox
        .save_operator(
            &cpf,
            &[Finger::RIGHT_INDEX, Finger::LEFT_INDEX],
            b"tmpl-1",
            10,
        )
        .unwrap();
    outbox
        .save_operator(&cpf, &[Finger::LEFT_INDEX], b"tmpl-2", 20)
        .unwrap();
    let op = Outbox::open(dir.db(), test_key())
        .unwrap()
        .load_operator(&cpf)
        .unwrap()
        .unwrap();
    assert_eq!(op.fingers, vec![Finger::LEFT_INDEX]);
    assert_eq!(
        (op.stored_at, op.templates.as_slice()),
        (20, b"tmpl-2".as_slice())
    );
    assert_eq!(op.local().fingers, vec![Finger::LEFT_INDEX]);
    assert!(!format!("{op:?}").contains("tmpl"));
}

#[test]
fn the_outbox_can_be_shared_between_threads() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Outbox>();
    let dir = Scratch::new("threads");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let o = outbox.clone();
            std::thread::spawn(move || o.enqueue(new_tx(CPF, i)).unwrap())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(outbox.counts().unwrap()[&TxState::Pending], 4);
}

#[test]
fn a_group_commit_applies_each_outcome_and_a_refusal_spoils_none_of_the_others() {
    let dir = Scratch::new("group-commit");
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    let ids: Vec<String> = (1..=3)
        .map(|i| outbox.enqueue(new_tx(CPF, i)).unwrap())
        .collect();
    outbox.announce_sends(&ids).unwrap();
    outbox.mark_sending(&ids[2]).unwrap();
    let delivered = SendOutcome::Delivered {
        tguid: "tg-1",
        status: None,
        message: None,
    };
    let failed = SendOutcome::Pending {
        error: "HTTP 503",
        next_attempt_at: 9,
    };
    let results = outbox.record_outcomes(&[
        (&ids[0], delivered, SendStart::Announced),
        ("absent", delivered, SendStart::Announced),
        (&ids[1], failed, SendStart::Announced),
        // Marked SENDING above: its attempt is already counted.
        (&ids[2], delivered, SendStart::Marked),
    ]);
    assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
    assert!(matches!(results[1], Err(OutboxError::NotFound(_))));
    let t: Vec<_> = ids
        .iter()
        .map(|i| outbox.get(i).unwrap().unwrap())
        .collect();
    assert_eq!(
        (t[0].state, t[0].attempts, t[0].tguid.as_deref()),
        (TxState::Delivered, 1, Some("tg-1"))
    );
    assert_eq!((t[1].state, t[1].attempts), (TxState::Pending, 1));
    assert_eq!((t[2].state, t[2].attempts), (TxState::Delivered, 1));
    assert_eq!(outbox.attempts(&ids[1]).unwrap().len(), 1);
    // The announcements are cleared: a restart does not take them for interrupted sends.
    drop(outbox);
    let outbox = Outbox::open(dir.db(), test_key()).unwrap();
    assert_eq!(
        outbox.get(&ids[1]).unwrap().unwrap().state,
        TxState::Pending
    );
}

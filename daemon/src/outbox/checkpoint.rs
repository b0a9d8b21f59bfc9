//! Checkpoints off the write path.
//!
//! In WAL mode every commit appends to `spidd.db-wal`; a checkpoint copies those pages into
//! the database file and syncs it. SQLite's default runs one inside whichever commit crosses
//! 1,000 pages: that commit (a Capture Send, say) then waits for ~16 MB of copying and an
//! fsync. Here a background thread with its own connection checkpoints instead, once writes
//! have paused for [`QUIET`] (or every [`MAX_LAG`] under steady writing), without blocking
//! readers or the writer (`PASSIVE`). The writer keeps SQLite's own checkpoint as a backstop
//! at [`BACKSTOP_PAGES`], so the WAL stays bounded even if the thread cannot keep up.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Writes must pause this long before the thread checkpoints...
const QUIET: Duration = Duration::from_millis(100);
/// ... unless they have been going on for this long since the last checkpoint.
const MAX_LAG: Duration = Duration::from_secs(2);
/// The writer checkpoints inline once the WAL holds this many pages (16 MiB at 4 KiB, 64 MiB
/// in a file with 16 KiB pages).
pub(super) const BACKSTOP_PAGES: u32 = 4096;
/// The WAL file is cut back to this size after a checkpoint that empties it: the backstop's
/// largest size, so that a WAL that grew to it keeps its blocks (appending to allocated blocks
/// spares each commit's fsync the file system's own journal).
pub(super) const WAL_SIZE_LIMIT: u64 = 65 << 20;

#[derive(Default)]
struct State {
    /// Writes committed since the last checkpoint began.
    dirty: bool,
    /// When `dirty` last became true.
    since: Option<Instant>,
    /// When the last write was committed.
    last: Option<Instant>,
    closed: bool,
}

/// The writer's side: tells the thread about commits, and stops it when dropped.
pub(super) struct Checkpointer {
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Checkpointer {
    /// Starts the thread for the database at `path` (already open in WAL mode), whose
    /// writing connection is `writer`.
    pub(super) fn start(path: &Path, writer: Weak<Mutex<Connection>>) -> Checkpointer {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let theirs = shared.clone();
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("outbox-checkpoint".into())
            .spawn(move || run(&path, &writer, &theirs));
        if let Err(e) = spawned {
            // The writer's backstop still checkpoints.
            tracing::warn!(error = %e, "no background checkpoint thread; the writer checkpoints itself");
        }
        Checkpointer { shared }
    }

    /// A write was committed.
    pub(super) fn wrote(&self) {
        let (state, wake) = &*self.shared;
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if !s.dirty {
            s.dirty = true;
            s.since = Some(now);
            wake.notify_one();
        }
        s.last = Some(now);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (state, wake) = &*self.shared;
        state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        wake.notify_one();
    }
}

fn run(path: &Path, writer: &Weak<Mutex<Connection>>, shared: &(Mutex<State>, Condvar)) {
    let (state, wake) = shared;
    let mut conn: Option<Connection> = None;
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if s.closed {
            return;
        }
        let due = match (s.dirty, s.since, s.last) {
            (true, Some(since), Some(last)) => (last + QUIET).min(since + MAX_LAG),
            _ => {
                s = wake.wait(s).unwrap_or_else(|p| p.into_inner());
                continue;
            }
        };
        let now = Instant::now();
        if now < due {
            s = wake
                .wait_timeout(s, due - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        s.dirty = false;
        drop(s);
        if let Err(e) = checkpoint(path, writer, &mut conn) {
            // The next write retries; the writer's backstop bounds the WAL meanwhile.
            tracing::debug!(error = %e, "background checkpoint failed");
            conn = None;
        }
        s = state.lock().unwrap_or_else(|p| p.into_inner());
    }
}

fn checkpoint(
    path: &Path,
    writer: &Weak<Mutex<Connection>>,
    conn: &mut Option<Connection>,
) -> rusqlite::Result<()> {
    if conn.is_none() {
        let c = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(Duration::from_millis(100))?;
        // The database file is synced at the end of each checkpoint.
        c.execute_batch("PRAGMA synchronous = FULL;")?;
        *conn = Some(c);
    }
    let c = conn.as_ref().expect("opened above");
    let (busy, frames, copied): (i64, i64, i64) =
        c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy == 0 && frames > 0 && copied == frames {
        if let Some(writer) = writer.upgrade() {
            restart_wal(&writer.lock().unwrap_or_else(|p| p.into_inner()))?;
        }
    }
    Ok(())
}

/// With the whole WAL copied, the next write starts the WAL over from its first frame, and
/// under `synchronous = FULL` syncs the new WAL header before its own commit: two fsyncs
/// instead of one. A small write here takes that restart off the write path, so the next
/// Capture Send appends with its one fsync. It goes through the writer's own connection: a
/// write from any other connection would make the writer drop its whole page cache, and
/// the next Capture Send read its pages again. If a reader still uses the old WAL, or the
/// writer wrote since the checkpoint, the WAL is not restarted and this write is appended.
fn restart_wal(c: &Connection) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO station_meta (name, value) VALUES ('wal_restarted_at', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute([super::now_millis().to_string()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{new_tx, test_key, Scratch};
    use super::super::Outbox;

    #[test]
    fn the_wal_is_copied_into_the_database_once_writes_pause_then_started_over() {
        let dir = Scratch::new("checkpoint");
        let outbox = Outbox::open(dir.db(), test_key()).unwrap();
        let writer_changes = || outbox.lock().total_changes();
        let size = || std::fs::metadata(dir.db()).unwrap().len();
        let before = size();
        // Half a megabyte in SQLite (a summary: payloads have files of their own).
        let mut tx = new_tx("52998224725", 1);
        tx.summary = serde_json::json!({ "pad": "x".repeat(512 * 1024) });
        outbox.enqueue(tx).unwrap();
        let enqueued = writer_changes();
        // Committed to the WAL only: the database file has not grown yet.
        assert!(
            size() < before + 256 * 1024,
            "checkpointed inside the commit"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size() < before + 512 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "no background checkpoint"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // The emptied WAL is started over off the write path: the thread's own small write
        // is then all the WAL holds, and the next enqueue appends after it.
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        let restarted = || -> Option<String> {
            conn.query_row(
                "SELECT value FROM station_meta WHERE name = 'wal_restarted_at'",
                [],
                |r| r.get(0),
            )
            .ok()
        };
        while restarted().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not restarted"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let wal_frames = |conn: &rusqlite::Connection| -> i64 {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap()
        };
        drop(conn);
        // Written with the writer's connection, whose page cache stays valid.
        assert_eq!(
            writer_changes(),
            enqueued + 1,
            "restarted by another connection"
        );
        let probe = rusqlite::Connection::open(dir.db()).unwrap();
        assert!(wal_frames(&probe) <= 2, "the WAL was not started over");
    }
}

//! Group commit of sends' outcomes: the outcome of each background send waits, with those
//! of its concurrent sends, for one shared SQLite transaction.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use state_machine::Millis;
use tokio::sync::oneshot;

use super::{CourierError, Inner};
use crate::outbox::{OutboxError, SendOutcome, SendStart};

/// Sends' outcomes on their way to the outbox: whoever finds no commit under way starts
/// one, and outcomes that arrive while it gathers or runs go together in it or the next.
/// Concurrent sends share a commit, and with it the WAL pages they touch alike.
#[derive(Default)]
pub(super) struct Outcomes {
    queue: Mutex<OutcomeQueue>,
    /// Wakes a gathering commit once its batch is complete.
    complete: Condvar,
}

#[derive(Default)]
struct OutcomeQueue {
    waiting: Vec<QueuedOutcome>,
    flushing: bool,
}

/// How long a commit gathers the outcomes of sends still under way, so that they share it.
/// An outcome commits without fsync, so a commit costs CPU, not latency: mostly the WAL
/// frames of the pages it changes (the row, its index entries, the attempt), about ten of
/// them whether it holds five outcomes or fifty. During a Resend All at a few thousand
/// sends a second a batch fills in this time; measured on the bench's outbox, the WAL
/// written per delivered transaction falls from ~25 kB in batches of 7 to ~5 kB in batches
/// of 64. Nothing waits on it but finished sends' bookkeeping (their slots are already
/// free), and a lone send (Capture Send with nothing else under way) does not wait at all.
const LINGER: Duration = Duration::from_millis(25);
/// A batch never grows beyond this many outcomes.
const MAX_BATCH: usize = 64;

type QueuedOutcome = (
    String,
    OwnedOutcome,
    SendStart,
    oneshot::Sender<Result<(), OutboxError>>,
);

impl Inner {
    /// Records a send's outcome with the next group commit.
    pub(super) async fn record(
        self: &Arc<Self>,
        id: String,
        outcome: OwnedOutcome,
        start: SendStart,
    ) -> Result<(), CourierError> {
        let (done, recorded) = oneshot::channel();
        let start_commit = {
            let mut queue = self.outcomes.lock();
            queue.waiting.push((id, outcome, start, done));
            let started = std::mem::replace(&mut queue.flushing, true);
            if started && !self.more_outcomes_coming(queue.waiting.len()) {
                self.outcomes.complete.notify_one();
            }
            !started
        };
        if start_commit {
            let inner = self.clone();
            tokio::task::spawn_blocking(move || inner.commit_outcomes());
        }
        recorded
            .await
            .map_err(|_| CourierError::Task("the outcome's commit did not finish".into()))?
            .map_err(CourierError::from)
    }

    /// Commits queued outcomes, batch after batch, until none is left.
    fn commit_outcomes(&self) {
        // Also on a panic: the next outcome starts a commit again, and the waiters of a lost
        // batch hear of it (their senders are dropped).
        struct Done<'a>(&'a Outcomes);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock().flushing = false;
                }
            }
        }
        let _done = Done(&self.outcomes);
        loop {
            let batch = {
                let mut queue = self.outcomes.lock();
                let deadline = Instant::now() + LINGER;
                loop {
                    if queue.waiting.is_empty() {
                        queue.flushing = false;
                        return;
                    }
                    let now = Instant::now();
                    if now >= deadline || !self.more_outcomes_coming(queue.waiting.len()) {
                        break;
                    }
                    queue = self
                        .outcomes
                        .complete
                        .wait_timeout(queue, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                let n = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..n).collect::<Vec<_>>()
            };
            let items: Vec<_> = batch
                .iter()
                .map(|(id, outcome, start, _)| (id.as_str(), outcome.borrowed(), *start))
                .collect();

            let results = self.outbox.record_outcomes(&items);
            for ((.., done), result) in batch.into_iter().zip(results) {
                let _ = done.send(result);
            }
        }
    }
}

impl Outcomes {
    fn lock(&self) -> MutexGuard<'_, OutcomeQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// Whether, with `queued` outcomes waiting, claimed transactions (sends under way, and
    /// during a Resend All the group read ahead) have not queued theirs yet, and the batch
    /// is not full.
    fn more_outcomes_coming(&self, queued: usize) -> bool {
        let under_way = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        queued < MAX_BATCH && under_way > queued
    }
}

/// A [`SendOutcome`] that can travel to the blocking pool.
pub(super) enum OwnedOutcome {
    Delivered(String, Option<String>, Option<String>),
    Pending(String, Millis),
    Ambiguous(String, Millis),
    Rejected(String),
}

impl OwnedOutcome {
    fn borrowed(&self) -> SendOutcome<'_> {
        match self {
            OwnedOutcome::Delivered(tguid, status, message) => SendOutcome::Delivered {
                tguid,
                status: status.as_deref(),
                message: message.as_deref(),
            },
            OwnedOutcome::Pending(error, next_attempt_at) => SendOutcome::Pending {
                error,
                next_attempt_at: *next_attempt_at,
            },
            OwnedOutcome::Ambiguous(error, next_attempt_at) => SendOutcome::Ambiguous {
                error,
                next_attempt_at: *next_attempt_at,
            },
            OwnedOutcome::Rejected(error) => SendOutcome::Rejected { error },
        }
    }
}

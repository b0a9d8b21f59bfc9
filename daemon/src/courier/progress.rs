//! Resend All as the technician sees it: progress published on a `watch` channel once per
//! finished transaction, and the record of the last finished run. Read by the status socket.

use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::watch;

use super::{CourierError, ResendSummary};

/// Where the current (or last) Resend All stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResendProgress {
    /// Counts the runs since start; a new run has a new number.
    pub run: u64,
    pub running: bool,
    /// Transactions finished in this run (delivered or not).
    pub done: u64,
    /// Undelivered transactions when the run started (grows if more arrive during the run).
    pub total: u64,
    pub delivered: u64,
    pub failed: u64,
}

/// How the last Resend All ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ResendRecord {
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    /// The summary, or why the run stopped (an outbox failure).
    pub outcome: Result<ResendSummary, String>,
}

/// The courier's Resend All progress board.
pub struct ProgressBoard {
    tx: watch::Sender<ResendProgress>,
    started_at: Mutex<Option<SystemTime>>,
    last: Mutex<Option<ResendRecord>>,
}

impl Default for ProgressBoard {
    fn default() -> Self {
        ProgressBoard {
            tx: watch::channel(ResendProgress::default()).0,
            started_at: Mutex::new(None),
            last: Mutex::new(None),
        }
    }
}

impl ProgressBoard {
    /// Follows the progress; the current value is visible at once.
    pub fn subscribe(&self) -> watch::Receiver<ResendProgress> {
        self.tx.subscribe()
    }

    pub fn current(&self) -> ResendProgress {
        *self.tx.borrow()
    }

    /// The last finished run, if any since start.
    pub fn last_run(&self) -> Option<ResendRecord> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A run starts with `total` transactions to take up.
    pub(super) fn begin(&self, total: u64) {
        *self.started_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(SystemTime::now());
        self.tx.send_modify(|p| {
            *p = ResendProgress {
                run: p.run + 1,
                running: true,
                total,
                ..ResendProgress::default()
            }
        });
    }

    /// One more transaction finished; `summary` is the run's tally so far.
    pub(super) fn advance(&self, summary: &ResendSummary) {
        self.tx.send_modify(|p| {
            p.done = summary.attempted;
            p.total = p.total.max(summary.attempted);
            p.delivered = summary.delivered;
            p.failed = summary.failed;
        });
    }

    /// The run ended with `result`.
    pub(super) fn finish(&self, result: &Result<ResendSummary, CourierError>) {
        let now = SystemTime::now();
        let started_at = self
            .started_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or(now);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(ResendRecord {
            started_at,
            finished_at: now,
            outcome: result.clone().map_err(|e| e.to_string()),
        });
        self.tx.send_modify(|p| {
            p.running = false;
            if let Ok(s) = result {
                p.done = s.attempted;
                p.total = p.total.max(s.attempted);
                p.delivered = s.delivered;
                p.failed = s.failed;
            }
        });
    }
}

/// What a Resend All will take up, from the outbox's counts by state: PENDING and AMBIGUOUS.
pub(super) fn resendable(counts: &std::collections::BTreeMap<crate::outbox::TxState, u64>) -> u64 {
    use crate::outbox::TxState;
    [TxState::Pending, TxState::Ambiguous]
        .iter()
        .filter_map(|s| counts.get(s))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_numbered_counted_and_recorded() {
        let board = ProgressBoard::default();
        let rx = board.subscribe();
        assert_eq!(board.last_run(), None);
        board.begin(3);
        assert_eq!(
            *rx.borrow(),
            ResendProgress {
                run: 1,
                running: true,
                total: 3,
                ..Default::default()
            }
        );
        let mut s = ResendSummary {
            attempted: 1,
            delivered: 1,
            ..Default::default()
        };
        board.advance(&s);
        assert_eq!((rx.borrow().done, rx.borrow().delivered), (1, 1));
        // More than counted at the start (a transaction arrived during the run).
        s.attempted = 4;
        s.failed = 3;
        board.advance(&s);
        assert_eq!((rx.borrow().done, rx.borrow().total), (4, 4));
        board.finish(&Ok(s));
        assert!(!board.current().running);
        let last = board.last_run().unwrap();
        assert_eq!(last.outcome, Ok(s));
        assert!(last.finished_at >= last.started_at);
        board.begin(0);
        assert_eq!(board.current().run, 2);
        assert_eq!(board.current().done, 0);
        board.finish(&Err(CourierError::Task("stopped".into())));
        assert_eq!(
            board.last_run().unwrap().outcome,
            Err("delivery task failed: stopped".to_string())
        );
    }
}

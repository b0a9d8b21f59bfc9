//! The courier's background work: Resend All's paged, bounded pass and the retry loop's
//! batches of due transactions.

use std::sync::Arc;
use std::time::Duration;

use state_machine::DeliveryOutcome;
use tokio::task::JoinSet;

use super::{CourierError, Inner, ResendSummary, PAGE, RETRY_MIN_WAIT, RETRY_TICK};
use crate::outbox::now_millis;

impl Inner {
    /// One Resend All: every undelivered id, page by page, at most `concurrency` at once.
    pub(super) async fn resend_pass(self: Arc<Self>) -> Result<ResendSummary, CourierError> {
        let mut summary = ResendSummary::default();
        let mut tasks = JoinSet::new();
        let mut cursor: Option<String> = None;
        // status hook: the run's size, for the progress board.
        let undelivered = self.db(|o| o.counts()).await?;
        self.progress
            .begin(super::progress::resendable(&undelivered));
        loop {
            let after = cursor.clone();
            let page = self
                .db(move |o| o.pending_ids_after(after.as_deref(), PAGE))
                .await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            cursor = Some(last);
            for id in page {
                let permit = self
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let inner = self.clone();
                tasks.spawn(async move {
                    let outcome = inner.deliver_now(id).await;
                    drop(permit);
                    outcome
                });
                while let Some(done) = tasks.try_join_next() {
                    tally(&mut summary, done);
                    self.progress.advance(&summary); // status hook
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            tally(&mut summary, done);
            self.progress.advance(&summary); // status hook
        }
        let counts = self.db(|o| o.counts()).await?;
        summary.remaining = counts
            .iter()
            .filter(|(s, _)| s.is_undelivered())
            .map(|(_, n)| n)
            .sum();
        tracing::info!(
            attempted = summary.attempted,
            delivered = summary.delivered,
            failed = summary.failed,
            remaining = summary.remaining,
            "resend all finished"
        );
        Ok(summary)
    }

    /// One batch of the retry loop: what is due now, at most a page.
    pub(super) async fn deliver_due(self: Arc<Self>) -> Result<(), CourierError> {
        let now = now_millis();
        let due = self.db(move |o| o.due_ids(now, PAGE)).await?;
        let mut tasks = JoinSet::new();
        for id in due {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let inner = self.clone();
            tasks.spawn(async move {
                let outcome = inner.deliver_now(id).await;
                drop(permit);
                outcome
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) | Err(e) = done.map_err(|e| CourierError::Task(e.to_string())) {
                tracing::error!(error = %e, "retry of a transaction failed in the station");
            }
        }
        Ok(())
    }

    pub(super) async fn next_wake(&self) -> Duration {
        match self.db(|o| o.next_due_at()).await {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_millis()))
                .clamp(RETRY_MIN_WAIT, RETRY_TICK),
            Ok(None) | Err(_) => RETRY_TICK,
        }
    }
}

fn tally(
    summary: &mut ResendSummary,
    done: Result<Result<DeliveryOutcome, CourierError>, tokio::task::JoinError>,
) {
    summary.attempted += 1;
    match done {
        Ok(Ok(DeliveryOutcome::Accepted { .. })) => summary.delivered += 1,
        Ok(Ok(_)) => summary.failed += 1,
        Ok(Err(e)) => {
            summary.failed += 1;
            tracing::error!(error = %e, "resend of a transaction failed in the station");
        }
        Err(e) => {
            summary.failed += 1;
            tracing::error!(error = %e, "resend task failed");
        }
    }
}

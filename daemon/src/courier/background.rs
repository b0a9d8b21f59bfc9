//! The courier's background work: Resend All's paged, bounded pass, the retry loop's
//! batches of due transactions, the retention pass, and the graceful stop.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use state_machine::DeliveryOutcome;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Claim, Courier, CourierError, Inner, ResendSummary, PAGE, RETRY_MIN_WAIT, RETRY_TICK};
use crate::outbox::{now_millis, ForSend, OutboxError, PurgeReport, StoredTransaction};

/// How many transactions of a Resend All are claimed and read together: one trip to the
/// blocking pool and one SQLite read transaction, in which the pages they share (inner
/// pages, neighbouring rows) are read once. Groups are read ahead of the sends (see
/// [`Inner::read_ahead`]): at most three groups' payloads (about 3 MB at 120 kB each) wait in
/// memory.
const READ_AHEAD: usize = 8;

/// A claimed transaction, read for its send.
type Loaded = (Claim, String, Result<Option<ForSend>, OutboxError>);

/// How often the retention pass looks for payloads to drop.
const RETENTION_TICK: Duration = Duration::from_secs(3600);

impl Courier {
    /// Graceful stop: no new send starts from now on (Capture Send, the retry loop and
    /// Resend All leave their transactions in the outbox); sends already on the wire get up
    /// to `grace` to finish. Any still unfinished then is abandoned: marked `AMBIGUOUS`, so
    /// the next start asks the server before sending it again. Finally the WAL is
    /// checkpointed, leaving a closed, self-contained database file.
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let released = inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let busy = inner
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            if busy == 0 {
                break;
            }
            tokio::select! {
                _ = released => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(in_flight = busy, "sends still under way at shutdown are abandoned");
                    break;
                }
            }
        }
        match inner.db(|o| o.abandon_sending()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "abandoned sends are now ambiguous"),
            Err(e) => tracing::error!(error = %e, "could not mark abandoned sends ambiguous"),
        }
        if let Err(e) = inner.db(|o| o.checkpoint()).await {
            tracing::warn!(error = %e, "the outbox could not be checkpointed at shutdown");
        }
    }

    /// Acknowledges a REJECTED transaction for the technician (its payload is dropped).
    pub async fn acknowledge(&self, id: &str) -> Result<StoredTransaction, CourierError> {
        let id = id.to_string();
        self.inner.db(move |o| o.acknowledge_rejected(&id)).await
    }

    /// One retention pass: payloads of transactions delivered more than `retention` ago are
    /// dropped, and the freed pages vacuumed.
    pub async fn purge_expired(&self, retention: Duration) -> Result<PurgeReport, CourierError> {
        let cutoff = now_millis().saturating_sub(retention.as_millis() as u64);
        self.inner.db(move |o| o.purge_payloads(cutoff)).await
    }

    /// Runs the retention pass at start and then hourly, until `shutdown` completes.
    pub async fn run_retention(
        self: Arc<Self>,
        retention: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.purge_expired(retention).await {
                tracing::error!(error = %e, "the retention pass failed");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(RETENTION_TICK) => {}
            }
        }
    }
}

impl Inner {
    /// One Resend All: every undelivered id, page by page, at most `concurrency` at once.
    pub(super) async fn resend_pass(self: Arc<Self>) -> Result<ResendSummary, CourierError> {
        let mut summary = ResendSummary::default();
        let mut tasks = JoinSet::new();
        // status hook: the run's size, for the progress board.
        let undelivered = self.db(|o| o.counts()).await?;
        self.progress
            .begin(super::progress::resendable(&undelivered));
        // Pages are announced and groups read by a task of their own, ahead of the sends.
        let (ready, mut groups) = mpsc::channel(1);
        tokio::spawn(self.clone().read_ahead(ready));
        while let Some(group) = groups.recv().await {
            for (claim, id, found) in group? {
                let permit = self.slot().await;
                let inner = self.clone();
                tasks.spawn(async move {
                    inner
                        .deliver_loaded(claim, id, found?, true, Some(permit))
                        .await
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

    /// Resend All's supply of transactions: every undelivered one, page after page, claimed
    /// and read a group at a time into `ready`, which holds one group while the pass sends
    /// another and the next is read. The next page is read and announced while this one is
    /// being read, so reading never waits for the announcement's fsync; the supply runs on
    /// across pages, so the sends never wait at a page's end. Stops at the last page, at the
    /// first error (passed on), or when the pass stops listening.
    async fn read_ahead(self: Arc<Self>, ready: mpsc::Sender<Result<Vec<Loaded>, CourierError>>) {
        let supply = async {
            let mut next = tokio::spawn(self.clone().announce_page(None));
            loop {
                let page = next
                    .await
                    .map_err(|e| CourierError::Task(e.to_string()))??;
                let Some(last) = page.last().cloned() else {
                    return Ok(());
                };
                next = tokio::spawn(self.clone().announce_page(Some(last)));
                for group in page.chunks(READ_AHEAD) {
                    let loaded = self.clone().read_group(group.to_vec()).await?;
                    if ready.send(Ok(loaded)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        };
        if let Err(e) = supply.await {
            let _ = ready.send(Err(e)).await;
        }
    }

    /// A background send slot, once one is free.
    async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Claims `ids` (waiting for any delivery of one already under way) and reads them with
    /// their payloads in one read transaction.
    async fn read_group(self: Arc<Self>, ids: Vec<String>) -> Result<Vec<Loaded>, CourierError> {
        let mut claims = Vec::with_capacity(ids.len());
        for id in &ids {
            claims.push(self.claim(id).await);
        }
        let read = ids.clone();
        let found = self.db(move |o| Ok(o.get_many_for_send(&read))).await?;
        Ok(claims
            .into_iter()
            .zip(ids)
            .zip(found)
            .map(|((claim, id), found)| (claim, id, found))
            .collect())
    }

    /// One page of Resend All, oldest first after `cursor`, durably announced (one fsync for
    /// the page instead of one per send). Empty once the station is stopping.
    async fn announce_page(
        self: Arc<Self>,
        cursor: Option<String>,
    ) -> Result<Vec<String>, CourierError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let page = self
            .db(move |o| o.pending_ids_after(cursor.as_deref(), PAGE))
            .await?;
        let announced = page.clone();
        self.db(move |o| o.announce_sends(&announced)).await?;
        Ok(page)
    }

    /// One batch of the retry loop: what is due now, at most a page.
    pub(super) async fn deliver_due(self: Arc<Self>) -> Result<(), CourierError> {
        let now = now_millis();
        let due = self.db(move |o| o.due_ids(now, PAGE)).await?;
        let announced = due.clone();
        self.db(move |o| o.announce_sends(&announced)).await?;
        let mut tasks = JoinSet::new();
        for id in due {
            let permit = self.slot().await;
            let inner = self.clone();
            tasks.spawn(inner.deliver_now(id, true, Some(permit)));
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

/// One transaction of a Resend All finished (delivered, or not this time): the one place
/// where a pass learns it, and where progress is counted.
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

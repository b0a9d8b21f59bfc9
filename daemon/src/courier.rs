//! Delivery of outbox transactions to the SPID server, exactly once: one delivery per
//! transaction at a time, backoff between failures, and a check with the server before
//! resending anything it may already hold.

mod background;
mod outcomes;

use outcomes::OwnedOutcome;
// status hook: Resend All progress for the technician status socket.
pub mod progress;
pub mod schedule;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use state_machine::{DeliveryOutcome, Millis, Mode};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::OutboxSettings;
use crate::outbox::{
    now_millis, ForSend, Outbox, OutboxError, SendStart, StoredTransaction, TxState,
};
use crate::upstream::{UpstreamClient, UpstreamError};

/// Ids read from SQLite per page by Resend All and the retry loop: memory stays bounded
/// however long the outbox grows.
const PAGE: usize = 64;
/// The retry loop looks for due transactions at least this often.
const RETRY_TICK: Duration = Duration::from_secs(5);
/// ... and at most this often, so a row whose bookkeeping failed cannot make it spin.
const RETRY_MIN_WAIT: Duration = Duration::from_millis(100);

/// Backoff between failed attempts of one transaction.
///
/// After the n-th failed attempt the next one waits `initial × 2^(n−1)`, capped at `max`,
/// then multiplied by a random factor in [0.8, 1.2] so that stations (and transactions)
/// that failed together do not retry together. With the defaults (30 s, 1 h): about 30 s,
/// 1 min, 2 min, 4 min, 8 min, 16 min, 32 min, then 1 h (48–72 min) for every later attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Deliveries in parallel for Resend All and the retry loop together.
    pub concurrency: usize,
}

impl RetryPolicy {
    pub fn from_settings(s: &OutboxSettings) -> RetryPolicy {
        RetryPolicy {
            initial: s.retry_initial,
            max: s.retry_max,
            concurrency: s.resend_concurrency,
        }
    }

    /// The wait after `failures` failed attempts (≥ 1), with jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        self.backoff_with(failures, rand::thread_rng().gen_range(0.8..=1.2))
    }

    /// [`RetryPolicy::backoff`] with the jitter factor given.
    pub fn backoff_with(&self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(32);
        let base = self
            .initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max);
        base.mul_f64(jitter.clamp(0.8, 1.2))
    }
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum CourierError {
    /// The outbox failed (shared so that Resend All's waiters all get it).
    #[error(transparent)]
    Outbox(Arc<OutboxError>),
    #[error("no transaction {0} in the outbox")]
    NotFound(String),
    /// A delivery task panicked or was cancelled.
    #[error("delivery task failed: {0}")]
    Task(String),
}

impl From<OutboxError> for CourierError {
    fn from(e: OutboxError) -> Self {
        CourierError::Outbox(Arc::new(e))
    }
}

impl CourierError {
    /// The disk failed (the API answers 507).
    pub fn is_storage(&self) -> bool {
        matches!(self, CourierError::Outbox(e) if e.is_storage())
    }
}

/// What Resend All did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResendSummary {
    /// Transactions taken up (every PENDING or AMBIGUOUS one at the time it was reached).
    pub attempted: u64,
    /// Now held by the server (sent, or found already there).
    pub delivered: u64,
    /// Still pending, or rejected, or failed in the station.
    pub failed: u64,
    /// Undelivered transactions left in the outbox when it finished.
    pub remaining: u64,
}

/// Capture Result by ID, as the station knows it.
#[derive(Clone, Debug, PartialEq)]
pub enum CaptureResult {
    /// Not delivered yet: `CAPTURE_PENDING`.
    Pending { id: String },
    /// Refused by the server as invalid; kept for the technician.
    Rejected { id: String, reason: String },
    /// Delivered. `status` is the server's latest answer; `stale` when the server could not
    /// be asked now and this is the last one known.
    Delivered {
        id: String,
        tguid: String,
        status: String,
        message: Option<String>,
        stale: bool,
    },
}

/// Delivers outbox transactions. Cheap to clone; clones share locks and the Resend All run.
#[derive(Clone)]
pub struct Courier {
    inner: Arc<Inner>,
}

type SharedResend = watch::Receiver<Option<Result<ResendSummary, CourierError>>>;

struct Inner {
    outbox: Outbox,
    upstream: Arc<UpstreamClient>,
    policy: RetryPolicy,
    /// Ids being delivered now; a second delivery of the same id waits for the first.
    in_flight: Mutex<HashSet<String>>,
    released: Notify,
    /// Bounds background deliveries (Resend All and the retry loop), not Capture Send's own.
    slots: Arc<Semaphore>,
    /// The running Resend All, for callers that arrive while it runs.
    resend: Mutex<Option<SharedResend>>,
    /// status hook: Resend All progress and the last run's record.
    progress: progress::ProgressBoard,
    /// Set by [`Courier::shutdown`]: no new send starts.
    stopping: AtomicBool,
    /// Outcomes waiting for the next group commit.
    outcomes: outcomes::Outcomes,
}

/// The per-transaction lock; released on drop, even if the delivery panics.
struct Claim {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.inner.released.notify_waiters();
    }
}

impl Courier {
    pub fn new(outbox: Outbox, upstream: Arc<UpstreamClient>, policy: RetryPolicy) -> Courier {
        let policy = RetryPolicy {
            concurrency: policy.concurrency.max(1),
            ..policy
        };
        Courier {
            inner: Arc::new(Inner {
                outbox,
                upstream,
                slots: Arc::new(Semaphore::new(policy.concurrency)),
                policy,
                in_flight: Mutex::new(HashSet::new()),
                released: Notify::new(),
                resend: Mutex::new(None),
                progress: progress::ProgressBoard::default(),
                stopping: AtomicBool::new(false),
                outcomes: outcomes::Outcomes::default(),
            }),
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    pub fn upstream(&self) -> &Arc<UpstreamClient> {
        &self.inner.upstream
    }

    /// status hook: Resend All's progress and last run, for the status socket.
    pub fn resend_progress(&self) -> &progress::ProgressBoard {
        &self.inner.progress
    }

    /// Delivers one transaction now, whatever its `next_attempt_at`, and reports where it
    /// stands. Already delivered or rejected: answered from the outbox without sending.
    /// Runs in its own task: a caller that gives up does not cut a send in half.
    pub async fn deliver(&self, id: &str) -> Result<DeliveryOutcome, CourierError> {
        let inner = self.inner.clone();
        let id = id.to_string();
        tokio::spawn(async move { inner.deliver_now(id, false, None).await })
            .await
            .map_err(|e| CourierError::Task(e.to_string()))?
    }

    /// Sends every PENDING and AMBIGUOUS transaction now. Single-flight: a call while one
    /// runs waits for it and gets its summary.
    pub async fn resend_all(&self) -> Result<ResendSummary, CourierError> {
        let mut rx = {
            let mut running = self.inner.resend.lock().unwrap_or_else(|p| p.into_inner());
            match &*running {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *running = Some(rx.clone());
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        // Cleared even if the pass panics, so later calls start afresh.
                        struct Clear(Arc<Inner>);
                        impl Drop for Clear {
                            fn drop(&mut self) {
                                *self.0.resend.lock().unwrap_or_else(|p| p.into_inner()) = None;
                            }
                        }
                        let clear = Clear(inner.clone());
                        let result = inner.clone().resend_pass().await;
                        inner.progress.finish(&result); // status hook
                        drop(clear);
                        let _ = tx.send(Some(result));
                    });
                    rx
                }
            }
        };
        let done = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| CourierError::Task("resend all stopped".into()))?;
        done.clone().expect("waited for Some")
    }

    /// Delivers due transactions until `shutdown` completes: wakes when the next one is due,
    /// at least every 5 s. A batch under way is finished (each send is bounded by the request
    /// timeout) before stopping, so shutdown does not leave rows half-sent.
    pub async fn run_retry_loop(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait = self.inner.next_wake().await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
            }
            if let Err(e) = self.inner.clone().deliver_due().await {
                tracing::error!(error = %e, "retry loop could not read the outbox");
            }
        }
        tracing::debug!("retry loop stopped");
    }

    /// Capture Result by ID (station id or TGUID). `None`: unknown id.
    pub async fn result(&self, id_or_tguid: &str) -> Result<Option<CaptureResult>, CourierError> {
        let key = id_or_tguid.to_string();
        let Some(t) = self.inner.db(move |o| o.get(&key)).await? else {
            return Ok(None);
        };
        let tguid = match (t.state, &t.tguid) {
            (TxState::Rejected, _) => {
                return Ok(Some(CaptureResult::Rejected {
                    id: t.id,
                    reason: t.last_error.unwrap_or_default(),
                }))
            }
            (TxState::Delivered, Some(tguid)) => tguid.clone(),
            _ => return Ok(Some(CaptureResult::Pending { id: t.id })),
        };
        let last_known = t.result_status.clone().unwrap_or_else(|| {
            match t.mode {
                Mode::Verify => "VERIFIED",
                _ => "CAPTURE_ENQUEUED",
            }
            .to_string()
        });
        match self.inner.upstream.result(t.mode, &tguid).await {
            Ok(r) => {
                let status = r.status.filter(|s| !s.is_empty()).unwrap_or(last_known);
                let (id, s, m) = (t.id.clone(), status.clone(), r.message.clone());
                self.inner
                    .db(move |o| o.set_result(&id, Some(&s), m.as_deref()))
                    .await?;
                Ok(Some(CaptureResult::Delivered {
                    id: t.id,
                    tguid,
                    status,
                    message: r.message,
                    stale: false,
                }))
            }
            Err(e) => {
                tracing::warn!(id = %t.id, tguid = %tguid, error = %e, "result not available from the SPID server; answering the last known");
                Ok(Some(CaptureResult::Delivered {
                    id: t.id,
                    tguid,
                    status: last_known,
                    message: t.result_message,
                    stale: true,
                }))
            }
        }
    }
}

impl Inner {
    /// Runs a blocking outbox call off the async threads.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, CourierError> {
        let outbox = self.outbox.clone();
        tokio::task::spawn_blocking(move || f(&outbox))
            .await
            .map_err(|e| CourierError::Task(e.to_string()))?
            .map_err(CourierError::from)
    }

    async fn claim(self: &Arc<Self>, id: &str) -> Claim {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            {
                let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                if set.insert(id.to_string()) {
                    return Claim {
                        inner: self.clone(),
                        id: id.to_string(),
                    };
                }
                // Registered before the lock is released, so the wake-up cannot be missed.
                released.as_mut().enable();
            }
            released.await;
        }
    }

    /// `announced`: the send was recorded by `Outbox::announce_sends` (batches), so the row
    /// is not marked SENDING first: its outcome is the send's one write.
    /// `permit`: the background slot this delivery holds, given back as soon as the server
    /// answered a send, while its outcome waits for the group commit.
    async fn deliver_now(
        self: Arc<Self>,
        id: String,
        announced: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<DeliveryOutcome, CourierError> {
        let claim = self.claim(&id).await;
        let key = id.clone();
        // The row and, when it is still owed to the server, its payload: one trip to the
        // blocking pool.
        let found = self.db(move |o| o.get_for_send(&key)).await?;
        self.deliver_loaded(claim, id, found, announced, permit)
            .await
    }

    /// [`Inner::deliver_now`] once the transaction is claimed and read (`found`, under the
    /// claim: no other delivery of it can have changed it since).
    async fn deliver_loaded(
        self: Arc<Self>,
        _claim: Claim,
        id: String,
        found: Option<ForSend>,
        announced: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<DeliveryOutcome, CourierError> {
        let (t, payload) = found.ok_or_else(|| CourierError::NotFound(id.clone()))?;
        // `get` also finds TGUIDs; from here on only the station id is used.
        let id = t.id.clone();
        let start = match announced {
            true => SendStart::Announced,
            false => SendStart::Marked,
        };
        match t.state {
            TxState::Delivered => Ok(DeliveryOutcome::Accepted {
                tguid: t.tguid.unwrap_or_default(),
            }),
            TxState::Rejected => Ok(DeliveryOutcome::Rejected {
                reason: t.last_error.unwrap_or_default(),
            }),
            TxState::Pending => self.send(&t, payload, start, permit).await,
            // SENDING cannot be seen under the claim except after a failed bookkeeping
            // write; like AMBIGUOUS, the server may hold it.
            TxState::Ambiguous | TxState::Sending => match self.find_upstream(&t).await {
                Ok(Some((tguid, status))) => self.deduplicated(&id, tguid, status).await,
                Ok(None) => self.send(&t, payload, start, permit).await,
                Err(e) => {
                    let reason = format!(
                        "could not ask the SPID server whether it holds the transaction: {e}"
                    );
                    let next = self.next_attempt(t.attempts.max(1));
                    let (i, r) = (id.clone(), reason.clone());
                    self.db(move |o| o.mark_ambiguous(&i, &r, next)).await?;
                    tracing::warn!(id = %id, error = %e, "ambiguous transaction not checked; will ask again");
                    Ok(DeliveryOutcome::Pending { reason })
                }
            },
        }
    }

    /// The server's id and status of this transaction, if it holds it: same CPF, same
    /// capture timestamp (the spec's idempotency key).
    async fn find_upstream(
        &self,
        t: &StoredTransaction,
    ) -> Result<Option<(String, Option<String>)>, UpstreamError> {
        let held = self.upstream.transactions_of(&t.cpf).await?;
        Ok(held
            .into_iter()
            .filter(|s| s.timestamp_millis() == Some(t.timestamp))
            .filter(|s| s.user_id.as_deref().is_none_or(|u| u == t.cpf.digits()))
            .find_map(|s| s.id.filter(|id| !id.is_empty()).map(|id| (id, s.status))))
    }

    async fn deduplicated(
        &self,
        id: &str,
        tguid: String,
        status: Option<String>,
    ) -> Result<DeliveryOutcome, CourierError> {
        let (i, g) = (id.to_string(), tguid.clone());
        self.db(move |o| o.mark_deduplicated(&i, &g, status.as_deref()))
            .await?;
        tracing::info!(id = %id, tguid = %tguid, "the SPID server already held the transaction; not resent");
        Ok(DeliveryOutcome::Accepted { tguid })
    }

    fn next_attempt(&self, failures: u32) -> Millis {
        now_millis().saturating_add(self.policy.backoff(failures).as_millis() as Millis)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sends `t` (whose `payload` was read with it) and records the outcome.
    async fn send(
        self: &Arc<Self>,
        t: &StoredTransaction,
        payload: Option<Bytes>,
        start: SendStart,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<DeliveryOutcome, CourierError> {
        let id = t.id.clone();
        if self.is_stopping() {
            // Stored and untouched: the next start (retry loop, Resend All) sends it.
            return Ok(DeliveryOutcome::Pending {
                reason: "the station is stopping; the transaction stays in the outbox".into(),
            });
        }
        let payload = payload.ok_or_else(|| CourierError::NotFound(id.clone()))?;
        if start == SendStart::Marked {
            let key = id.clone();
            self.db(move |o| o.mark_sending(&key)).await?;
        }
        let failures = t.attempts + 1;
        let started = std::time::Instant::now(); // status hook: send latency
        let outcome = self.upstream.submit_raw(t.mode, payload).await;
        crate::status::metrics::METRICS.send(started.elapsed(), outcome.as_ref().err()); // status hook
        let next = self.next_attempt(failures);
        let record = |outcome: OwnedOutcome| self.record(id.clone(), outcome, start);
        match outcome {
            Ok(r) => {
                drop(permit);
                let tguid = r.id.clone().unwrap_or_default();
                record(OwnedOutcome::Delivered(tguid.clone(), r.status, r.message)).await?;
                tracing::info!(id = %id, tguid = %tguid, attempt = failures, "transaction delivered");
                Ok(DeliveryOutcome::Accepted { tguid })
            }
            // A conflict may mean the server already holds it (an earlier attempt arrived).
            Err(e @ UpstreamError::Rejected { status: 409, .. }) => {
                let reason = e.to_string();
                record(OwnedOutcome::Ambiguous(reason.clone(), now_millis())).await?;
                match self.find_upstream(t).await {
                    Ok(Some((tguid, status))) => self.deduplicated(&id, tguid, status).await,
                    Ok(None) => self.rejected(&id, reason).await,
                    Err(check) => {
                        tracing::warn!(id = %id, error = %check, "conflict not checked; will ask again");
                        Ok(DeliveryOutcome::Pending { reason })
                    }
                }
            }
            // Only the submit's own 4xx condemns the transaction; a failed login does not.
            Err(e @ UpstreamError::Rejected { .. }) => {
                let reason = e.to_string();
                record(OwnedOutcome::Rejected(reason.clone())).await?;
                tracing::warn!(id = %id, reason = %reason, "the SPID server rejected the transaction; kept for the technician");
                Ok(DeliveryOutcome::Rejected { reason })
            }
            // The server may hold it: timeout after sending, or a 2xx whose answer was unreadable.
            Err(e @ (UpstreamError::Ambiguous(_) | UpstreamError::Malformed(_))) => {
                let reason = e.to_string();
                record(OwnedOutcome::Ambiguous(reason.clone(), next)).await?;
                tracing::warn!(id = %id, attempt = failures, error = %e, "delivery ambiguous; the server will be asked before any resend");
                Ok(DeliveryOutcome::Pending { reason })
            }
            // Unreachable, 5xx, credentials or login, wrong path, station-side setup: nothing
            // was stored upstream, and the cause is not the transaction's.
            Err(e) => {
                let reason = e.to_string();
                record(OwnedOutcome::Pending(reason.clone(), next)).await?;
                tracing::warn!(id = %id, attempt = failures, error = %e, "delivery failed; will retry");
                Ok(DeliveryOutcome::Pending { reason })
            }
        }
    }

    async fn rejected(&self, id: &str, reason: String) -> Result<DeliveryOutcome, CourierError> {
        let (i, r) = (id.to_string(), reason.clone());
        self.db(move |o| o.mark_rejected(&i, &r)).await?;
        tracing::warn!(id = %id, reason = %reason, "the SPID server rejected the transaction; kept for the technician");
        Ok(DeliveryOutcome::Rejected { reason })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_background;

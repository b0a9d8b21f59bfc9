//! Remote capture through the configured service (`remote.provider`): the SPID Server's
//! `/remote-capture/*`, by Unico processes, or faceverify.ai sessions. Every remote capture is
//! recorded before it is asked for; pending results are asked again with backoff and jitter,
//! by a background poller and by Remote Verify Result by ID when a question is due.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use state_machine::{Cpf, Millis, Mode, RemoteFailure, RemoteLink};
use tokio::sync::Notify;

use super::by_unico::ByUnico;
use super::faceverify::Faceverify;
use super::http::{Backoff, ProviderError};
use super::{Created, RemoteStatus};
use crate::config::{RemoteProvider, RemoteSettings};
use crate::outbox::{now_millis, NewRemote, Outbox, OutboxError, RemoteState, StoredRemote};
use crate::upstream::{UpstreamClient, UpstreamError};

/// Remote captures asked about per poller round.
const POLL_BATCH: usize = 16;
/// The poller looks at least this often (a remote capture created by another path, a clock
/// change).
const POLL_TICK: Duration = Duration::from_secs(5);

/// Result words an operator may record for a provider without a result endpoint.
pub const RECORDABLE: [&str; 3] = ["SEARCH_MATCH", "SEARCH_NOT_MATCH", "SEARCH_FAILED"];

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("no remote capture has the id {0}")]
    NotFound(String),
    #[error(
        "the result of remote capture {id} comes from {provider}; it cannot be recorded by hand"
    )]
    NotByHand { id: String, provider: String },
    #[error("the result of remote capture {id} is already recorded as {status}")]
    AlreadyDone { id: String, status: String },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

pub struct RemoteService {
    provider: RemoteProvider,
    upstream: Arc<UpstreamClient>,
    by_unico: Option<Arc<ByUnico>>,
    faceverify: Option<Arc<Faceverify>>,
    outbox: Outbox,
    poll: Backoff,
    /// Remote captures whose result question is under way (poller and API never ask twice
    /// at once).
    asking: Mutex<HashSet<String>>,
    wake: Notify,
}

/// `upstream` statuses that mean "not finished yet".
fn upstream_pending(status: &str) -> bool {
    status.is_empty()
        || matches!(status, "PENDING" | "ENQUEUED" | "CAPTURE_PENDING")
        || status.ends_with("_PENDING")
        || status.ends_with("_ENQUEUED")
}

async fn db<T: Send + 'static>(
    outbox: &Outbox,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let outbox = outbox.clone();
    match tokio::task::spawn_blocking(move || f(&outbox)).await {
        Ok(result) => result,
        // A panic in a store call is a bug: let it surface as it would in synchronous code.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(e) => Err(OutboxError::Database(
            rusqlite::Error::ToSqlConversionFailure(
                format!("the database task did not run: {e}").into(),
            ),
        )),
    }
}

fn provider_failure(e: ProviderError) -> RemoteFailure {
    let reason = e.to_string();
    match e {
        e if e.is_transient() => RemoteFailure::Unreachable { reason },
        ProviderError::Status { status, .. } if (400..500).contains(&status) => {
            RemoteFailure::Refused { reason }
        }
        _ => RemoteFailure::Error { reason },
    }
}

fn upstream_failure(e: UpstreamError) -> RemoteFailure {
    let reason = e.to_string();
    match e {
        UpstreamError::NotFound => RemoteFailure::NotFound {
            reason: "the SPID server has no enrolled individual with this CPF".to_string(),
        },
        e if e.is_transient() => RemoteFailure::Unreachable { reason },
        UpstreamError::Rejected { .. } => RemoteFailure::Refused { reason },
        _ => RemoteFailure::Error { reason },
    }
}

impl RemoteService {
    pub fn new(
        settings: &RemoteSettings,
        upstream: Arc<UpstreamClient>,
        providers: &super::Providers,
        outbox: Outbox,
    ) -> RemoteService {
        match outbox.close_interrupted_remotes() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "remote captures interrupted mid-creation marked failed"
            ),
            Err(e) => tracing::warn!(error = %e, "could not close interrupted remote captures"),
        }
        RemoteService {
            provider: settings.provider,
            upstream,
            by_unico: providers.by_unico.clone(),
            faceverify: providers.faceverify.clone(),
            outbox,
            poll: Backoff {
                initial: settings.poll_initial,
                max: settings.poll_max,
            },
            asking: Mutex::default(),
            wake: Notify::new(),
        }
    }

    /// Records the remote capture, asks the configured service for it, records the outcome.
    pub async fn create(
        &self,
        mode: Mode,
        cpf: Cpf,
        operator: Cpf,
        email: Option<String>,
    ) -> Result<RemoteLink, RemoteFailure> {
        let new = NewRemote {
            mode,
            provider: self.provider.as_str(),
            cpf: cpf.clone(),
            operator: operator.clone(),
            email: email.clone(),
        };
        let id = db(&self.outbox, move |o| o.create_remote(&new))
            .await
            .map_err(|e| RemoteFailure::Error {
                reason: format!("the station could not record the remote capture: {e}"),
            })?;
        let created = match self.provider {
            RemoteProvider::Spid => self
                .upstream
                .remote_capture(mode, &cpf, &operator, email.as_deref())
                .await
                .map(|(tguid, url)| Created {
                    external_id: tguid,
                    url,
                })
                .map_err(upstream_failure),
            RemoteProvider::Unico => match &self.by_unico {
                Some(p) => p
                    .create(&cpf, email.as_deref())
                    .await
                    .map_err(provider_failure),
                None => Err(RemoteFailure::Error {
                    reason: "by Unico is not configured".into(),
                }),
            },
            RemoteProvider::Faceverify => match &self.faceverify {
                Some(p) => p.create(&id).await.map_err(provider_failure),
                None => Err(RemoteFailure::Error {
                    reason: "faceverify.ai is not configured".into(),
                }),
            },
        };
        let provider = self.provider.as_str();
        match created {
            Ok(created) => {
                let next = (self.provider != RemoteProvider::Faceverify)
                    .then(|| now_millis() + millis(self.poll.delay(1)));
                let (key, c) = (id.clone(), created.clone());
                db(&self.outbox, move |o| {
                    o.remote_created(&key, Some(&c.external_id), &c.url, next)
                })
                .await
                .map_err(|e| RemoteFailure::Error {
                    reason: format!(
                        "the remote capture was created but could not be recorded: {e}"
                    ),
                })?;
                tracing::info!(id = %id, provider, mode = mode.as_str(), cpf = %cpf.masked(), "remote capture created");
                self.wake.notify_one();
                Ok(RemoteLink {
                    id,
                    tguid: Some(created.external_id),
                    url: created.url,
                })
            }
            Err(failure) => {
                let reason = match &failure {
                    RemoteFailure::Unreachable { reason }
                    | RemoteFailure::NotFound { reason }
                    | RemoteFailure::Refused { reason }
                    | RemoteFailure::Error { reason } => reason.clone(),
                };
                tracing::warn!(id = %id, provider, mode = mode.as_str(), error = %reason, "remote capture not created");
                let key = id.clone();
                if let Err(e) = db(&self.outbox, move |o| o.remote_failed(&key, &reason)).await {
                    tracing::warn!(id = %id, error = %e, "could not record the failed remote capture");
                }
                Err(failure)
            }
        }
    }

    /// Remote Verify Result by ID: `None` for an unknown id (or a capture never created).
    /// A pending capture whose next question is due is asked now; `stale` when that failed.
    pub async fn result(
        &self,
        id_or_external: &str,
    ) -> Result<Option<(StoredRemote, bool)>, OutboxError> {
        let key = id_or_external.to_string();
        let Some(row) = db(&self.outbox, move |o| o.get_remote(&key)).await? else {
            return Ok(None);
        };
        match row.state {
            RemoteState::Creating | RemoteState::Failed => Ok(None),
            RemoteState::Done => Ok(Some((row, false))),
            RemoteState::Created if row.next_poll_at.is_some_and(|at| at <= now_millis()) => {
                self.ask(row).await.map(Some)
            }
            RemoteState::Created => Ok(Some((row, false))),
        }
    }

    /// The operator records the result of a remote capture whose provider has no result
    /// endpoint (faceverify.ai).
    pub async fn record(
        &self,
        id: &str,
        status: &str,
        message: Option<String>,
        operator: &Cpf,
    ) -> Result<StoredRemote, RecordError> {
        let key = id.to_string();
        let row = db(&self.outbox, move |o| o.get_remote(&key))
            .await?
            .filter(|r| matches!(r.state, RemoteState::Created | RemoteState::Done))
            .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
        if row.provider != RemoteProvider::Faceverify.as_str() {
            return Err(RecordError::NotByHand {
                id: row.id,
                provider: row.provider,
            });
        }
        let detail = json!({"sessionId": row.external_id, "recordedBy": operator.digits()});
        let (key, status_owned, by) = (
            row.id.clone(),
            status.to_string(),
            operator.digits().to_string(),
        );
        let recorded = db(&self.outbox, move |o| {
            o.remote_result(&key, &status_owned, message.as_deref(), &detail, Some(&by))
        })
        .await?;
        let key = row.id.clone();
        let now = db(&self.outbox, move |o| o.get_remote(&key))
            .await?
            .ok_or_else(|| RecordError::NotFound(id.to_string()))?;
        if !recorded {
            return Err(RecordError::AlreadyDone {
                id: now.id,
                status: now.result_status.unwrap_or_default(),
            });
        }
        tracing::info!(id = %now.id, status, operator = %operator.masked(), "remote result recorded by the operator");
        Ok(now)
    }

    /// Asks the provider about `row` once (unless a question is already under way) and
    /// records the answer; returns the row as it now is, and whether the question failed.
    async fn ask(&self, row: StoredRemote) -> Result<(StoredRemote, bool), OutboxError> {
        if !self
            .asking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(row.id.clone())
        {
            return Ok((row, false));
        }
        let answer = self.question(&row).await;
        let id = row.id.clone();
        let next = now_millis() + millis(self.poll.delay(row.polls + 2));
        let stale = answer.is_err();
        let key = id.clone();
        let written = db(&self.outbox, move |o| {
            match answer {
                Ok(RemoteStatus::Final {
                    status,
                    message,
                    detail,
                }) => {
                    tracing::info!(id = %key, status = %status, "remote result known");
                    o.remote_result(&key, &status, Some(&message), &detail, None)?;
                }
                Ok(RemoteStatus::Pending { .. }) => o.remote_polled(&key, next, None)?,
                Err(e) => {
                    tracing::warn!(id = %key, error = %e, "remote result not available now");
                    o.remote_polled(&key, next, Some(&e))?;
                }
            }
            o.get_remote(&key)
        })
        .await;
        self.asking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        Ok((written?.unwrap_or(row), stale))
    }

    async fn question(&self, row: &StoredRemote) -> Result<RemoteStatus, String> {
        let external = row
            .external_id
            .as_deref()
            .ok_or("the remote capture has no external id")?;
        match row.provider.as_str() {
            "spid" => {
                let r = self
                    .upstream
                    .result(row.mode, external)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status.unwrap_or_default();
                let detail = json!({"tguid": external, "status": status});
                Ok(if upstream_pending(&status) {
                    RemoteStatus::Pending { detail }
                } else {
                    RemoteStatus::Final {
                        status,
                        message: r.message.unwrap_or_default(),
                        detail,
                    }
                })
            }
            "unico" => match &self.by_unico {
                Some(p) => p.status(external).await.map_err(|e| e.to_string()),
                None => Err("by Unico is no longer configured".into()),
            },
            other => Err(format!("{other} has no result endpoint")),
        }
    }

    /// Asks about every due remote capture, then sleeps until the next is due (at most
    /// [`POLL_TICK`]), until `stop` resolves.
    pub async fn run_poller(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let now = now_millis();
            match db(&self.outbox, move |o| o.remote_due(now, POLL_BATCH)).await {
                Ok(due) => {
                    for row in due {
                        if let Err(e) = self.ask(row).await {
                            tracing::warn!(error = %e, "remote poller: the database failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "remote poller: the database failed"),
            }
            let next = db(&self.outbox, |o| o.next_remote_poll())
                .await
                .ok()
                .flatten();
            let wait = next
                .map(|at| Duration::from_millis(at.saturating_sub(now_millis())))
                .unwrap_or(POLL_TICK)
                .clamp(Duration::from_millis(20), POLL_TICK);
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_words_of_the_upstream() {
        for s in [
            "",
            "SEARCH_PENDING",
            "SEARCH_ENQUEUED",
            "ENQUEUED",
            "CAPTURE_PENDING",
        ] {
            assert!(upstream_pending(s), "{s}");
        }
        for s in [
            "SEARCH_MATCH",
            "SEARCH_NOT_MATCH",
            "OK",
            "SEARCH_FAILED",
            "ENROLL_DONE",
        ] {
            assert!(!upstream_pending(s), "{s}");
        }
    }

    #[test]
    fn failures_are_sorted_for_the_flow() {
        let refused = ProviderError::Status {
            provider: "by Unico",
            status: 400,
            code: Some("3".into()),
            message: "invalid flow".into(),
        };
        assert!(matches!(
            provider_failure(refused),
            RemoteFailure::Refused { .. }
        ));
        let busy = ProviderError::Status {
            provider: "by Unico",
            status: 429,
            code: None,
            message: "slow down".into(),
        };
        assert!(matches!(
            provider_failure(busy),
            RemoteFailure::Unreachable { .. }
        ));
        let locked = ProviderError::Unauthorized {
            provider: "Unico",
            status: 401,
        };
        assert!(matches!(
            provider_failure(locked),
            RemoteFailure::Error { .. }
        ));
        assert!(matches!(
            upstream_failure(UpstreamError::NotFound),
            RemoteFailure::NotFound { .. }
        ));
    }
}

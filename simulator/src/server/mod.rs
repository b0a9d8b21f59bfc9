//! The fake SPID Server: an independent implementation of the upstream API (Griaule SPID Server
//! 4.2.12) holding operators, people and transactions in memory, with injectable faults.
//!
//! Layout: `wire` (JSON shapes, errors, CPF), `store` (records and their life cycles),
//! `routes`, `records` and `remote` (the upstream API), `pipeline` (auth, faults and the
//! request log around it), `sim` (the `/sim/*` control routes), `conn` ([`serve`], which can
//! drop a connection unanswered), `imaging` (image decoding and matching), `pdf`, `seed`.
//!
//! Representation choices where the upstream is silent:
//! - an operator "registered without biometrics" is an operator record with no biometrics
//!   (status `REGISTERED`): its lookup answers 200 with an empty body;
//! - `PUT /operator` sets the status `ENQUEUED`, which becomes `VERIFIED` after
//!   [`ServerConfig::operator_delay`];
//! - enroll results read `SEARCH_ENQUEUED` until [`ServerConfig::enroll_delay`] passes, then
//!   `OK`, and only then does `GET /people/{cpf}` find the person (`enroll-status: ENROLLED`);
//! - verify results are decided when the request arrives and read `SEARCH_PENDING` until
//!   [`ServerConfig::verify_delay`] passes (zero by default: the answer is already final).

mod auth;
mod conn;
pub mod faults;
mod imaging;
mod pdf;
mod pipeline;
mod records;
mod remote;
mod requests;
mod routes;
pub mod seed;
mod sim;
mod store;
#[cfg(test)]
mod tests;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biometrics::fingerprint::Template;
use tokio::time::Instant;

pub use conn::serve;
pub use faults::{FaultConfig, UpstreamMode};
pub use requests::RecordedRequest;
pub use seed::seed_fixtures;

use auth::TokenStore;
use faults::FaultState;
use store::{Outcome, State, StoredBiometrics, TxKind};
use wire::{ApiError, Biometric};

/// Status words the fake server answers with where the upstream's enums are not public.
pub mod status {
    pub use super::store::{
        ENROLL_DONE, ENROLL_PENDING, OPERATOR_FAILED, OPERATOR_IN_PROGRESS, OPERATOR_REGISTERED,
        OPERATOR_VERIFIED, PERSON_ENROLLED, SEARCH_MATCH, SEARCH_NOT_MATCH, SEARCH_PENDING,
    };
}

/// Every upstream route lives under this path.
pub const BASE_PATH: &str = "/gbs-spid-server";

/// Impression numbers 0 and 1 of a synthetic finger are reserved for enrollment; remote
/// captures present impression 2.
const REMOTE_IMPRESSION: u32 = 2;

/// Minutiae templates of an individual's enrolled fingers, by finger position.
type FingerTemplates = Arc<Vec<(i32, Template)>>;

#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub username: String,
    pub password: String,
    /// Full path of the token endpoint (POST `{"username","password"}` → `{"token"}`).
    pub token_path: String,
    pub token_ttl: Duration,
    /// Time from `POST /people` to the final enroll status.
    pub enroll_delay: Duration,
    /// Time from `POST /verify` to the final verify status.
    pub verify_delay: Duration,
    /// Time from `PUT /operator` to the status `VERIFIED`.
    pub operator_delay: Duration,
    /// Time from a remote capture's creation to its completion; `None`: only on
    /// `POST /sim/remote-capture/{tguid}/complete` (or `/sim/settle`).
    pub remote_capture_delay: Option<Duration>,
    /// `dynamicLink` of a remote capture = this prefix + TGUID.
    pub remote_link_base: String,
    /// Answer of `GET /client-version`.
    pub client_version: String,
    /// JSON file the state is loaded from (when it exists) and saved to after every change.
    pub state_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            username: "spid".into(),
            password: "spid".into(),
            token_path: format!("{BASE_PATH}/auth/login"),
            token_ttl: Duration::from_secs(3600),
            enroll_delay: Duration::from_secs(2),
            verify_delay: Duration::ZERO,
            operator_delay: Duration::from_secs(2),
            remote_capture_delay: Some(Duration::from_secs(3)),
            remote_link_base: "https://spid-remote.invalid/capture/".into(),
            client_version: "4.2.12".into(),
            state_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("state file {0}: {1}")]
    State(PathBuf, String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

/// The fake server; cheap to clone (all clones share one state).
#[derive(Clone)]
pub struct FakeSpidServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    state: Mutex<State>,
    tokens: Mutex<TokenStore>,
    faults: Mutex<FaultState>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Rendered synthetic images, by their recipe.
    renders: Mutex<HashMap<String, Arc<Vec<Biometric>>>>,
    /// Finger templates of enrolled people, by the enroll transaction's id.
    templates: Mutex<HashMap<String, FingerTemplates>>,
    /// Serialises state-file writes so that a later snapshot never loses to an earlier one.
    persisting: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs CPU work (rendering, decoding, matching) off the async threads. A panic there (for
/// example a generator not written yet) becomes a 500 instead of a dropped connection.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "biometric work failed");
        ApiError::internal("biometric processing failed")
    })
}

impl FakeSpidServer {
    /// A server with `config`, loading `config.state_file` when it exists. No fixtures: call
    /// [`seed_fixtures`] for those.
    pub fn new(config: ServerConfig) -> Result<FakeSpidServer, ServerError> {
        if !config.token_path.starts_with('/') || config.token_path.starts_with("/sim/") {
            return Err(ServerError::Config(format!(
                "token path {:?} must start with / and stay out of /sim/",
                config.token_path
            )));
        }
        let state = match &config.state_file {
            Some(path) if path.exists() => State::load(path)?,
            _ => State::default(),
        };
        Ok(FakeSpidServer {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(state),
                tokens: Mutex::default(),
                faults: Mutex::default(),
                requests: Mutex::default(),
                renders: Mutex::default(),
                templates: Mutex::default(),
                persisting: Mutex::default(),
            }),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The whole HTTP surface: the upstream API under [`BASE_PATH`], the token endpoint and the
    /// `/sim/*` control routes. Serve it with [`serve`]: with another server the modes that
    /// drop a connection cannot drop it and hold the answer back forever instead.
    pub fn router(&self) -> axum::Router {
        routes::api_router(self.clone()).merge(sim::sim_router(self.clone()))
    }

    /// Only the `/sim/*` control routes, for serving beside other control APIs (as
    /// `spidd --simulate` does on its simulator control port).
    pub fn control_router(&self) -> axum::Router {
        sim::sim_router(self.clone())
    }

    pub fn faults(&self) -> FaultConfig {
        lock(&self.inner.faults).config().clone()
    }

    pub fn set_faults(&self, config: FaultConfig) {
        tracing::info!(mode = ?config.mode, latency_ms = config.latency_ms, "upstream fault mode set");
        *lock(&self.inner.faults) = FaultState::new(config);
    }

    /// Revokes every issued token: each client's next request answers 401.
    pub fn expire_tokens(&self) {
        lock(&self.inner.tokens).expire_all();
    }

    /// Accepted requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Adds an operator registered without biometrics, or sets an existing operator's status.
    pub fn register_operator(&self, document: &str, status: Option<&str>) {
        self.with_state(|s| {
            let op = s
                .operators
                .entry(document.to_string())
                .or_insert_with(|| store::Operator {
                    document: document.to_string(),
                    status: store::OPERATOR_REGISTERED.to_string(),
                    biometrics: None,
                    tguid: None,
                    due: None,
                });
            if let Some(status) = status {
                op.status = status.to_string();
                op.due = None;
            }
        });
    }

    /// Finishes everything pending now: enrollments, verifications, operator enrollments and
    /// remote captures (as captured by their own individual).
    pub async fn settle_all(&self) -> Result<(), ApiError> {
        self.with_state(|s| s.hurry(Instant::now()));
        self.settle().await
    }

    /// Completes remote capture `tguid` as if `subject` (default: the requested individual)
    /// had presented face and finger on the phone.
    pub async fn complete_remote_capture(
        &self,
        tguid: &str,
        subject: Option<&str>,
    ) -> Result<(), ApiError> {
        let (kind, user_id, person) = {
            let state = lock(&self.inner.state);
            let tx = state
                .transaction(tguid)
                .ok_or_else(|| ApiError::not_found("unknown remote capture"))?;
            match &tx.remote {
                None => return Err(ApiError::conflict("not a remote capture")),
                Some(r) if r.captured.is_some() => return Ok(()),
                Some(_) => {}
            }
            (
                tx.kind,
                tx.user_id.clone(),
                state.people.get(&tx.user_id).cloned(),
            )
        };
        let finger = person
            .as_ref()
            .and_then(|p| {
                let held = p.biometrics.positions();
                [2, 7, 3, 8, 1, 6, 4, 9, 5, 10]
                    .into_iter()
                    .find(|f| held.contains(f))
            })
            .unwrap_or(2);
        let captured = StoredBiometrics::Synthetic {
            subject: subject.map(str::to_string).unwrap_or(user_id),
            fingers: vec![finger as u8],
            face: true,
            impression: REMOTE_IMPRESSION,
        };
        let outcome = match (kind, person) {
            (TxKind::RemoteVerify, None) => Outcome {
                status: store::SEARCH_NOT_MATCH.into(),
                message: "the individual is not enrolled".into(),
            },
            (TxKind::RemoteVerify, Some(person)) => {
                let enrolled = self.person_templates(&person).await?;
                let probes = self.materialize(&captured.fingers_only()).await?;
                let matched =
                    blocking(move || imaging::any_finger_matches(&probes, &enrolled)).await?;
                verify_outcome(matched)
            }
            _ => Outcome {
                status: store::ENROLL_DONE.into(),
                message: "enrolled from the remote capture".into(),
            },
        };
        self.with_state(|s| {
            let Some(tx) = s.transaction_mut(tguid) else {
                return;
            };
            let Some(remote) = tx.remote.as_mut() else {
                return;
            };
            if remote.captured.is_some() {
                return;
            }
            remote.captured = Some(captured);
            tx.status = outcome.status;
            tx.message = outcome.message;
            tx.outcome = None;
            tx.due = None;
            if tx.kind.is_enroll() {
                let tx = tx.clone();
                s.enroll_person(&tx);
            }
        });
        tracing::info!(tguid, "remote capture completed");
        Ok(())
    }

    /// Runs `f` on the state and saves the state file afterwards.
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut lock(&self.inner.state));
        self.persist();
        result
    }

    fn persist(&self) {
        let Some(path) = &self.inner.config.state_file else {
            return;
        };
        let _writing = lock(&self.inner.persisting);
        let bytes = match serde_json::to_vec(&*lock(&self.inner.state)) {
            Ok(b) => b,
            Err(e) => {
                return tracing::error!(error = %e, "cannot serialise the fake server's state")
            }
        };
        if let Err(e) = State::save(&bytes, path) {
            tracing::error!(path = %path.display(), error = %e, "cannot save the fake server's state");
        }
    }

    /// Applies every deadline that has passed (called at the start of each request).
    async fn settle(&self) -> Result<(), ApiError> {
        let settled = lock(&self.inner.state).settle(Instant::now());
        if settled.changed {
            self.persist();
        }
        for tguid in settled.remote_due {
            self.complete_remote_capture(&tguid, None).await?;
        }
        Ok(())
    }

    async fn materialize(
        &self,
        stored: &StoredBiometrics,
    ) -> Result<Arc<Vec<Biometric>>, ApiError> {
        let key = match stored {
            StoredBiometrics::Images { biometrics } => return Ok(Arc::new(biometrics.clone())),
            StoredBiometrics::Synthetic { .. } => serde_json::to_string(stored).unwrap_or_default(),
        };
        if let Some(found) = lock(&self.inner.renders).get(&key) {
            return Ok(found.clone());
        }
        let recipe = stored.clone();
        let rendered = Arc::new(blocking(move || imaging::materialize(&recipe)).await?);
        lock(&self.inner.renders).insert(key, rendered.clone());
        Ok(rendered)
    }

    async fn person_templates(&self, person: &store::Person) -> Result<FingerTemplates, ApiError> {
        if let Some(found) = lock(&self.inner.templates).get(&person.transaction_guid) {
            return Ok(found.clone());
        }
        let images = self.materialize(&person.biometrics.fingers_only()).await?;
        let templates = Arc::new(blocking(move || imaging::finger_templates(&images)).await?);
        lock(&self.inner.templates).insert(person.transaction_guid.clone(), templates.clone());
        Ok(templates)
    }
}

fn verify_outcome(matched: bool) -> Outcome {
    if matched {
        Outcome {
            status: store::SEARCH_MATCH.into(),
            message: "the fingerprints match the enrolled individual".into(),
        }
    } else {
        Outcome {
            status: store::SEARCH_NOT_MATCH.into(),
            message: "the fingerprints do not match the enrolled individual".into(),
        }
    }
}

//! Verify signals: once a transaction is stored, Unico IDToken (verify, face against the
//! individual's latest authenticated by Unico process) and Claro Face Match (verify and
//! enroll, by CPF) run in their own tasks and record their outcomes on the transaction.
//!
//! They never block the SPID flow: the flow's Send has already been answered or is being
//! delivered independently, and every failure becomes an `ERROR` outcome. Each provider is
//! called at most once per transaction: the call is claimed in the database first.

use std::sync::Arc;

use serde_json::{json, Value};
use state_machine::{Cpf, Mode};
use tokio::task::JoinHandle;

use super::claro::{Claro, ClaroAnswer};
use super::idtoken::IdToken;
use crate::outbox::{Outbox, OutboxError};

/// Outcome names by provider, as the API shows them.
pub const IDTOKEN: &str = "unico_idtoken";
pub const CLARO: &str = "claro";

pub struct Signals {
    outbox: Outbox,
    idtoken: Option<Arc<IdToken>>,
    claro: Option<Arc<Claro>>,
}

/// What a stored transaction hands to the signals.
pub struct StoredCapture {
    pub id: String,
    pub mode: Mode,
    pub cpf: Cpf,
    /// The face JPEG as sent upstream, when the capture has one.
    pub face: Option<Vec<u8>>,
}

async fn db<T: Send + 'static>(
    outbox: &Outbox,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, String> {
    let outbox = outbox.clone();
    tokio::task::spawn_blocking(move || f(&outbox))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

impl Signals {
    /// Closes calls a restart interrupted (they are never repeated).
    pub fn new(
        outbox: Outbox,
        idtoken: Option<Arc<IdToken>>,
        claro: Option<Arc<Claro>>,
    ) -> Signals {
        match outbox.close_interrupted_providers() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "provider calls interrupted by a restart closed as errors"
            ),
            Err(e) => tracing::warn!(error = %e, "could not close interrupted provider calls"),
        }
        Signals {
            outbox,
            idtoken,
            claro,
        }
    }

    /// Whether a capture of `mode` needs its face JPEG kept for a signal.
    pub fn wants_face(&self, mode: Mode) -> bool {
        mode == Mode::Verify && self.idtoken.is_some()
    }

    /// Starts the signals of a stored transaction and returns at once.
    pub fn transaction_stored(self: &Arc<Self>, capture: StoredCapture) -> Vec<JoinHandle<()>> {
        let capture = Arc::new(capture);
        let mut tasks = Vec::new();
        if let (Some(idtoken), Mode::Verify) = (self.idtoken.clone(), capture.mode) {
            let (me, c) = (self.clone(), capture.clone());
            tasks.push(tokio::spawn(async move {
                me.once(&c.id, IDTOKEN, me.idtoken_check(&idtoken, &c))
                    .await
            }));
        }
        if let Some(claro) = self.claro.clone() {
            let (me, c) = (self.clone(), capture.clone());
            tasks.push(tokio::spawn(async move {
                me.once(&c.id, CLARO, claro_check(&claro, &c.cpf)).await
            }));
        }
        tasks
    }

    /// Claims `(transaction, provider)`, runs `check` only for the first claimant, records
    /// its outcome.
    async fn once(
        &self,
        transaction: &str,
        provider: &'static str,
        check: impl std::future::Future<Output = (&'static str, Value)>,
    ) {
        let (tx, name) = (transaction.to_string(), provider);
        match db(&self.outbox, move |o| o.claim_provider(&tx, name)).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(transaction, provider, "already called for this transaction");
                return;
            }
            Err(e) => {
                tracing::warn!(transaction, provider, error = %e, "provider not called: the database failed");
                return;
            }
        }
        let (outcome, detail) = check.await;
        tracing::info!(transaction, provider, outcome, "provider outcome");
        let tx = transaction.to_string();
        if let Err(e) = db(&self.outbox, move |o| {
            o.finish_provider(&tx, provider, outcome, &detail)
        })
        .await
        {
            tracing::warn!(transaction, provider, error = %e, "provider outcome not recorded");
        }
    }

    async fn idtoken_check(&self, idtoken: &IdToken, c: &StoredCapture) -> (&'static str, Value) {
        let Some(face) = c.face.as_deref() else {
            return ("SKIPPED", json!({"message": "the capture has no face"}));
        };
        let cpf = c.cpf.clone();
        let reference = match db(&self.outbox, move |o| o.unico_reference(&cpf)).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return (
                    "SKIPPED",
                    json!({"message": "no by Unico process of this individual authenticated them; there is no reference to compare with"}),
                )
            }
            Err(e) => return ("ERROR", json!({ "message": e })),
        };
        match idtoken.check(&c.cpf, &reference, face).await {
            Ok(check) => (
                if check.authenticated {
                    "MATCH"
                } else {
                    "NOT_MATCH"
                },
                json!({
                    "referenceProcessId": reference,
                    "id": check.id,
                    "authenticated": check.authenticated,
                    "liveness": check.liveness,
                }),
            ),
            Err(e) => (
                "ERROR",
                json!({"referenceProcessId": reference, "message": e.to_string(), "status": e.status(), "code": e.code()}),
            ),
        }
    }
}

async fn claro_check(claro: &Claro, cpf: &Cpf) -> (&'static str, Value) {
    match claro.facial_biometrics(cpf).await {
        Ok(ClaroAnswer::Found {
            versions,
            biohashes,
        }) => (
            "FOUND",
            json!({"versions": versions, "biohashCount": biohashes}),
        ),
        Ok(ClaroAnswer::NotInBase) => (
            "NOT_FOUND",
            json!({"status": 422, "message": "the individual is not in Claro's base"}),
        ),
        Err(e) => (
            "ERROR",
            json!({"message": e.to_string(), "status": e.status()}),
        ),
    }
}

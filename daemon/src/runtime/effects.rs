//! Carrying out the flow's upstream and outbox effects; each returns the input the flow awaits.

use std::future::Future;
use std::sync::Arc;

use state_machine::{
    DeliveryOutcome, LocalOperator, OperatorLookup, PersonLookup, RequestId, TransactionRecord,
    UpstreamAnswer, UpstreamCall,
};
use tracing::{info, warn};

use super::now_millis;
use super::operators;
use super::payload::{self, EncodedSample, SampleFormat};
use super::samples::SampleStore;
use crate::capture::{CaptureContext, OperatorTemplates};
use crate::courier::Courier;
use crate::outbox::{NewTransaction, Outbox};
use crate::providers::remote::RemoteService;
use crate::providers::signals::{Signals, StoredCapture};
use crate::upstream::{OperatorRecord, UpstreamClient};

/// What the flow's effects act on.
pub struct Services {
    pub upstream: Arc<UpstreamClient>,
    pub outbox: Outbox,
    pub courier: Arc<Courier>,
    pub capture: Arc<CaptureContext>,
    pub operators: Arc<OperatorTemplates>,
    pub format: SampleFormat,
    /// Largest face JPEG sent upstream.
    pub face_jpeg_max: usize,
    /// Remote captures (SPID Server or the configured provider).
    pub remote: Arc<RemoteService>,
    /// The Verify signals run on every stored transaction.
    pub signals: Arc<Signals>,
}

/// Prepares the call (copying what it needs out of the sample store) and returns its future.
pub(super) fn upstream_job(
    services: Arc<Services>,
    samples: &SampleStore,
    request: RequestId,
    call: UpstreamCall,
) -> impl Future<Output = UpstreamAnswer> + Send + 'static {
    let enroll_samples = match &call {
        UpstreamCall::EnrollOperator { samples: kept, .. } => payload::collect(samples, kept),
        _ => Vec::new(),
    };
    async move {
        match call {
            UpstreamCall::LookupOperator { operator } => {
                let outcome = lookup_operator(&services, &operator).await;
                UpstreamAnswer::Operator { request, outcome }
            }
            UpstreamCall::LookupPerson { cpf } => {
                let outcome = match services.upstream.lookup_person(&cpf).await {
                    Ok(Some(person)) => PersonLookup::Found {
                        fingers: person.fingers,
                    },
                    Ok(None) => PersonLookup::NotFound,
                    Err(e) if e.is_transient() => PersonLookup::Unreachable {
                        reason: e.to_string(),
                    },
                    Err(e) => PersonLookup::Error {
                        reason: e.to_string(),
                    },
                };
                UpstreamAnswer::Person { request, outcome }
            }
            UpstreamCall::EnrollOperator { operator, .. } => {
                let format = services.format;
                let max = services.face_jpeg_max;
                let encoded = tokio::task::spawn_blocking(move || {
                    payload::encode_all(&enroll_samples, format, max)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
                let outcome = match encoded {
                    Ok(encoded) => {
                        let biometrics =
                            encoded.into_iter().map(EncodedSample::into_wire).collect();
                        services
                            .upstream
                            .enroll_operator(&operator, biometrics)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e),
                };
                UpstreamAnswer::OperatorEnrolled { request, outcome }
            }
            UpstreamCall::Deliver { transaction, .. } => {
                let outcome = match services.courier.deliver(&transaction).await {
                    Ok(outcome) => outcome,
                    Err(e) => DeliveryOutcome::Pending {
                        reason: e.to_string(),
                    },
                };
                UpstreamAnswer::Delivered { request, outcome }
            }
            UpstreamCall::CreateRemote {
                mode,
                cpf,
                operator,
                email,
            } => {
                let outcome = services.remote.create(mode, cpf, operator, email).await;
                UpstreamAnswer::RemoteCreated { request, outcome }
            }
        }
    }
}

async fn lookup_operator(services: &Services, operator: &state_machine::Cpf) -> OperatorLookup {
    match services.upstream.lookup_operator(operator).await {
        Ok(OperatorRecord::Enrolled { biometrics, .. }) => {
            let cpf = operator.clone();
            let outbox = services.outbox.clone();
            let stored = tokio::task::spawn_blocking(move || {
                let templates = operators::templates_from_wire(&biometrics)?;
                let fingers = operators::fingers_of(&templates);
                outbox
                    .save_operator(
                        &cpf,
                        &fingers,
                        &operators::encode_templates(&templates),
                        now_millis(),
                    )
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(templates)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match stored {
                Ok(templates) if !templates.is_empty() => {
                    let fingers = operators::fingers_of(&templates);
                    services.operators.set(operator.digits(), templates);
                    info!(operator = %operator.masked(), fingers = fingers.len(), "operator biometrics stored");
                    OperatorLookup::Enrolled { fingers }
                }
                Ok(_) => OperatorLookup::Failed {
                    reason: "the server sent no usable fingerprint".to_string(),
                },
                Err(reason) => OperatorLookup::Error { reason },
            }
        }
        Ok(OperatorRecord::Registered) => OperatorLookup::Registered,
        Ok(OperatorRecord::InProgress { .. }) => OperatorLookup::InProgress,
        Ok(OperatorRecord::NotFound) => OperatorLookup::NotFound,
        Ok(OperatorRecord::Failed { raw }) => OperatorLookup::Failed { reason: raw },
        Err(e) if e.is_transient() => {
            let local = local_operator(services, operator).await;
            warn!(operator = %operator.masked(), error = %e, has_local = local.is_some(), "operator lookup: upstream unreachable");
            OperatorLookup::Unreachable {
                reason: e.to_string(),
                local,
            }
        }
        Err(e) => OperatorLookup::Error {
            reason: e.to_string(),
        },
    }
}

/// Loads the operator's stored templates (for offline login) into memory.
async fn local_operator(
    services: &Services,
    operator: &state_machine::Cpf,
) -> Option<LocalOperator> {
    let outbox = services.outbox.clone();
    let cpf = operator.clone();
    let stored = tokio::task::spawn_blocking(move || outbox.load_operator(&cpf))
        .await
        .ok()?
        .ok()??;
    let templates = operators::decode_templates(&stored.templates).ok()?;
    let fingers = operators::fingers_of(&templates);
    services.operators.set(operator.digits(), templates);
    Some(LocalOperator {
        stored_at: stored.stored_at,
        fingers,
    })
}

/// Encodes the transaction's samples and writes it durably to the outbox.
pub(super) fn persist_job(
    services: Arc<Services>,
    samples: &SampleStore,
    record: TransactionRecord,
) -> impl Future<Output = Result<String, String>> + Send + 'static {
    let collected = payload::collect(samples, &record.samples);
    async move {
        let format = services.format;
        let max = services.face_jpeg_max;
        let outbox = services.outbox.clone();
        let wants_face = services.signals.wants_face(record.mode);
        let (mode, cpf) = (record.mode, record.cpf.clone());
        let result = tokio::task::spawn_blocking(move || {
            if collected.len() != record.samples.len() {
                return Err("a captured sample is no longer held; capture again".to_string());
            }
            let encoded =
                payload::encode_all(&collected, format, max).map_err(|e| e.to_string())?;
            let face = wants_face
                .then(|| {
                    encoded
                        .iter()
                        .find(|e| e.index == 0)
                        .map(|e| e.content.clone())
                })
                .flatten();
            let body = payload::transaction_body(&record, encoded);
            let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
            outbox
                .enqueue(NewTransaction {
                    mode: record.mode,
                    cpf: record.cpf.clone(),
                    operator: record.operator.clone(),
                    timestamp: record.timestamp,
                    payload: bytes,
                    summary: payload::summary(&record),
                })
                .map(|id| (id, face))
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match result {
            Ok((id, face)) => {
                info!(transaction = %id, "transaction written to the outbox");
                services.signals.transaction_stored(StoredCapture {
                    id: id.clone(),
                    mode,
                    cpf,
                    face,
                });
                Ok(id)
            }
            Err(e) => {
                warn!(error = %e, "transaction could not be written to the outbox");
                Err(e)
            }
        }
    }
}

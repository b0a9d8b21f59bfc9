//! Read-only views of transactions: results, listings by individual, one transaction, and the
//! PDF report.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::routes::result_of;
use super::store::{Transaction, TxKind};
use super::wire::*;
use super::{lock, pdf, FakeSpidServer};

type Answer = Result<Response, ApiError>;

/// The transaction `id` when `wanted` accepts its kind.
pub(super) async fn find(
    server: &FakeSpidServer,
    id: &str,
    wanted: fn(TxKind) -> bool,
) -> Result<Transaction, ApiError> {
    server.settle().await?;
    lock(&server.inner.state)
        .transaction(id)
        .filter(|t| wanted(t.kind))
        .cloned()
        .ok_or_else(|| ApiError::not_found("transaction not found"))
}

pub(super) async fn enroll_result(
    State(server): State<FakeSpidServer>,
    Path(tguid): Path<String>,
) -> Answer {
    let tx = find(&server, &tguid, TxKind::is_enroll).await?;
    Ok(Json(result_of(&tx)).into_response())
}

pub(super) async fn verify_result(
    State(server): State<FakeSpidServer>,
    Path(tguid): Path<String>,
) -> Answer {
    let tx = find(&server, &tguid, |k| !k.is_enroll()).await?;
    Ok(Json(result_of(&tx)).into_response())
}

fn summaries(tx: &Transaction) -> Vec<BiometricSummary> {
    tx.biometrics.iter().map(BiometricSummary::from).collect()
}

pub(super) async fn transactions_of(
    State(server): State<FakeSpidServer>,
    Path(cpf): Path<String>,
) -> Answer {
    path_cpf(&cpf)?;
    server.settle().await?;
    let list: Vec<TransactionListing> = lock(&server.inner.state)
        .transactions
        .iter()
        .filter(|t| t.user_id == cpf)
        .map(|t| TransactionListing {
            id: t.id.clone(),
            user_id: t.user_id.clone(),
            operator_id: t.operator_id.clone(),
            kind: t.kind.as_str().into(),
            status: t.status.clone(),
            timestamp: t.timestamp,
            psbio_tcn: t.psbio_tcn.clone(),
            biometrics: summaries(t),
        })
        .collect();
    Ok(Json(list).into_response())
}

pub(super) async fn transaction(
    State(server): State<FakeSpidServer>,
    Path(guid): Path<String>,
) -> Answer {
    let t = find(&server, &guid, |_| true).await?;
    Ok(Json(json!({
        "id": t.id, "status": t.status, "type": t.kind.as_str(), "message": t.message,
        "transaction": {
            "userId": t.user_id, "operatorId": t.operator_id, "timestamp": t.timestamp,
            "receivedAt": t.received_at_ms, "psbioTcn": t.psbio_tcn,
            "biometrics": summaries(&t), "missingBiometrics": t.missing,
        }
    }))
    .into_response())
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

pub(super) async fn report(
    State(server): State<FakeSpidServer>,
    Path(tguid): Path<String>,
) -> Answer {
    let t = find(&server, &tguid, |_| true).await?;
    let positions = t.stored_biometrics().positions();
    let fingers: Vec<String> = positions
        .iter()
        .filter(|&&p| p > 0)
        .map(|p| p.to_string())
        .collect();
    let mut lines = vec![
        format!("Transaction: {}", t.id),
        format!("Type: {}", t.kind.as_str()),
        format!("Status: {}", t.status),
        format!("Individual CPF: {}", mask_cpf(&t.user_id)),
        format!("Operator CPF: {}", mask_cpf(&t.operator_id)),
        format!("Captured at: {}", rfc3339(t.timestamp)),
        format!("Received at: {}", rfc3339(t.received_at_ms)),
        format!("PSBio TCN: {}", t.psbio_tcn),
        format!(
            "Fingers: {}",
            if fingers.is_empty() {
                "none".into()
            } else {
                fingers.join(", ")
            }
        ),
        format!(
            "Face: {}",
            if positions.contains(&0) { "yes" } else { "no" }
        ),
    ];
    for m in &t.missing {
        lines.push(format!("Missing finger {}: {}", m.index, m.kind));
    }
    let body = pdf::report("SPID Server - transaction report", &lines);
    let disposition = format!("inline; filename=\"report-{}.pdf\"", t.id);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

//! Calls 11–13: results, reports and resends of stored transactions.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::{ResendAnswer, ResultAnswer};
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::courier::CaptureResult;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::outbox::OutboxError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// Capture Result by ID: the upstream's answer for a delivered transaction.
#[utoipa::path(get, path = "/capture/result/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Station transaction id or server TGUID")),
    responses((status = 200, body = ResultAnswer), (status = 404, description = "NOT_FOUND", body = ErrorBody)))]
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResultAnswer>, ApiError> {
    let result = state
        .courier
        .result(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("No transaction has the id {id}.")))?;
    let mut answer = match result {
        CaptureResult::Pending { id } => ResultAnswer {
            status: "CAPTURE_PENDING".to_string(),
            id,
            tguid: None,
            message: None,
            stale: false,
            providers: Vec::new(),
        },
        CaptureResult::Rejected { id, reason } => ResultAnswer {
            status: "REJECTED".to_string(),
            id,
            tguid: None,
            message: Some(reason),
            stale: false,
            providers: Vec::new(),
        },
        CaptureResult::Delivered {
            id,
            tguid,
            status,
            message,
            stale,
        } => ResultAnswer {
            status,
            id,
            tguid: Some(tguid),
            message,
            stale,
            providers: Vec::new(),
        },
    };
    answer.providers = provider_outcomes(&state, &answer.id).await?;
    Ok(Json(answer))
}

/// The providers' outcomes recorded on transaction `id`.
async fn provider_outcomes(
    state: &AppState,
    id: &str,
) -> Result<Vec<super::remote::ProviderJson>, ApiError> {
    let outbox = state.outbox.clone();
    let key = id.to_string();
    let outcomes = blocking(move || outbox.provider_outcomes(&key)).await?;
    Ok(outcomes
        .iter()
        .map(super::remote::ProviderJson::from_outcome)
        .collect())
}

#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `json` for the station's own record instead of the upstream's PDF.
    format: Option<String>,
}

/// Capture Report: the upstream's PDF, or the station's record with `?format=json`.
#[utoipa::path(get, path = "/capture/report/{id}", tag = "transactions",
    params(("id" = String, Path, description = "Station transaction id or server TGUID"), ReportQuery),
    responses(
        (status = 200, description = "The report", content_type = "application/pdf"),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "Not delivered yet: no report", body = ErrorBody),
        (status = 503, description = "SERVER_UNAVAILABLE", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let outbox = state.outbox.clone();
    let key = id.clone();
    let stored = blocking(move || outbox.get(&key))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No transaction has the id {id}.")))?;
    match query.format.as_deref() {
        Some("json") => {
            let outbox = state.outbox.clone();
            let key = stored.id.clone();
            let (attempts, summary) =
                blocking(move || Ok((outbox.attempts(&key)?, outbox.summary(&key)?))).await?;
            let summary = summary.unwrap_or_default();
            let mut record = super::report::station_record(&stored, &attempts, &summary);
            let providers = provider_outcomes(&state, &stored.id).await?;
            super::report::add_providers(&mut record, providers);
            Ok(Json(record).into_response())
        }
        Some("pdf") | None => {
            let Some(tguid) = stored.tguid.clone() else {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "INVALID_STATE",
                    "The transaction has not reached the SPID server yet, so there is no report.",
                ));
            };
            let upstream = state.upstream.report(&tguid).await.map_err(|e| {
                ApiError::server_unavailable(format!("The report could not be fetched: {e}."))
            })?;
            Ok((
                [(header::CONTENT_TYPE, "application/pdf")],
                Body::from_stream(upstream.bytes_stream()),
            )
                .into_response())
        }
        Some(other) => Err(ApiError::invalid_argument(format!(
            "Unknown report format `{other}`; use `json` or leave it out for the PDF."
        ))),
    }
}

/// Capture Resend All: delivers every pending transaction now.
#[utoipa::path(method(get, post), path = "/capture/resend-all", tag = "transactions",
    responses((status = 200, body = ResendAnswer)))]
pub async fn resend_all(State(state): State<AppState>) -> Result<Json<ResendAnswer>, ApiError> {
    let summary = state.courier.resend_all().await?;
    Ok(Json(ResendAnswer {
        status: "RESEND_DONE",
        attempted: summary.attempted,
        delivered: summary.delivered,
        failed: summary.failed,
        remaining: summary.remaining,
    }))
}

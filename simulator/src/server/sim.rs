//! The `/sim/*` control routes: fault modes, the accepted-request log, operator registration,
//! and finishing pending work now. They sit beside the upstream API on the same listener and
//! bypass faults and authentication.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::faults::FaultRequest;
use super::wire::{parse_json, valid_cpf, ApiError, OperatorSummary};
use super::{lock, FakeSpidServer};

pub(super) fn sim_router(server: FakeSpidServer) -> Router {
    Router::new()
        .route("/sim/upstream", get(get_faults).post(set_faults))
        .route(
            "/sim/upstream/requests",
            get(requests).delete(clear_requests),
        )
        .route("/sim/operators", post(operator))
        .route("/sim/settle", post(settle))
        .route(
            "/sim/remote-capture/{tguid}/complete",
            post(complete_remote),
        )
        .with_state(server)
}

async fn get_faults(State(server): State<FakeSpidServer>) -> Response {
    Json(server.faults()).into_response()
}

async fn set_faults(
    State(server): State<FakeSpidServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: FaultRequest = parse_json(&headers, &body)?;
    let (config, expire) = request.resolve().map_err(ApiError::bad_request)?;
    if let Some(config) = config {
        server.set_faults(config);
    }
    if expire {
        tracing::info!("all tokens expired");
        server.expire_tokens();
    }
    Ok(Json(server.faults()).into_response())
}

async fn requests(State(server): State<FakeSpidServer>) -> Response {
    Json(server.requests()).into_response()
}

async fn clear_requests(State(server): State<FakeSpidServer>) -> StatusCode {
    server.clear_requests();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct OperatorControl {
    document: String,
    #[serde(default)]
    status: Option<String>,
}

/// Registers an operator without biometrics, or sets an operator's status (e.g. `FAILED`).
async fn operator(
    State(server): State<FakeSpidServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let control: OperatorControl = parse_json(&headers, &body)?;
    if !valid_cpf(&control.document) {
        return Err(ApiError::invalid_field("document", "not a valid CPF"));
    }
    server.register_operator(&control.document, control.status.as_deref());
    let state = lock(&server.inner.state);
    let op = &state.operators[&control.document];
    Ok(Json(OperatorSummary {
        document: op.document.clone(),
        status: op.status.clone(),
        tguid: op.tguid.clone(),
    })
    .into_response())
}

async fn settle(State(server): State<FakeSpidServer>) -> Result<StatusCode, ApiError> {
    server.settle_all().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct CompleteControl {
    /// Whose face and finger the phone sees (default: the requested individual).
    #[serde(default)]
    subject: Option<String>,
}

async fn complete_remote(
    State(server): State<FakeSpidServer>,
    Path(tguid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let control: CompleteControl = if body.is_empty() {
        CompleteControl::default()
    } else {
        parse_json(&headers, &body)?
    };
    server
        .complete_remote_capture(&tguid, control.subject.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

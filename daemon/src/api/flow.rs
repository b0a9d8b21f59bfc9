//! Calls 1–10: the operator session and the capture flow, run through the flow task.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use state_machine::{Answer, Command, Cpf, Missing};
use utoipa::IntoParams;

use super::dto::{
    CaptureStatusAnswer, LoginAnswer, LoginStatusAnswer, PersonAnswer, SendAnswer, StatusAnswer,
};
use super::error::{ApiError, ErrorBody};
use super::AppState;

async fn run(state: &AppState, command: Command) -> Result<Answer, ApiError> {
    state
        .flow
        .command(command)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

fn unexpected(answer: Answer) -> ApiError {
    ApiError::internal(format!("the flow gave an unexpected answer: {answer:?}"))
}

#[derive(Deserialize, IntoParams)]
pub struct MissingQuery {
    /// Declared missing fingers, e.g. `7:AMPUTATED,8:BANDAGED`.
    missing: Option<String>,
}

/// Login: the operator (by CPF) starts a session.
#[utoipa::path(method(get, post), path = "/login/{operatorId}", tag = "session",
    params(("operatorId" = String, Path, description = "The operator's CPF")),
    responses(
        (status = 200, body = LoginAnswer),
        (status = 400, description = "INVALID_CPF", body = ErrorBody),
        (status = 409, description = "INVALID_STATE", body = ErrorBody),
        (status = 503, description = "SERVER_UNAVAILABLE", body = ErrorBody),
        (status = 500, description = "ERROR from the upstream", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Path(operator): Path<String>,
) -> Result<Json<LoginAnswer>, ApiError> {
    let operator = Cpf::parse(&operator)?;
    match run(&state, Command::Login { operator }).await? {
        Answer::Login { status, operator } => Ok(Json(LoginAnswer {
            status: status.as_str(),
            operator_id: operator.digits().to_string(),
        })),
        other => Err(unexpected(other)),
    }
}

/// Login Status: the last Login's outcome.
#[utoipa::path(get, path = "/login/status", tag = "session", responses((status = 200, body = LoginStatusAnswer)))]
pub async fn login_status(State(state): State<AppState>) -> Json<LoginStatusAnswer> {
    Json(LoginStatusAnswer::from_state(&state.flow.snapshot().login))
}

/// Logout: ends the session and any capture.
#[utoipa::path(method(get, post), path = "/logout", tag = "session", responses((status = 200, body = StatusAnswer)))]
pub async fn logout(State(state): State<AppState>) -> Result<Json<StatusAnswer>, ApiError> {
    match run(&state, Command::Logout).await? {
        Answer::LoggedOut => Ok(Json(StatusAnswer {
            status: "LOGGED_OUT",
        })),
        other => Err(unexpected(other)),
    }
}

/// Operator Enroll: first access of an operator whose Login answered `OPERATOR_PENDING`.
#[utoipa::path(method(get, post), path = "/operator/enroll", tag = "session",
    responses((status = 200, body = StatusAnswer), (status = 409, description = "INVALID_STATE", body = ErrorBody)))]
pub async fn operator_enroll(
    State(state): State<AppState>,
) -> Result<Json<StatusAnswer>, ApiError> {
    match run(&state, Command::OperatorEnroll).await? {
        Answer::OperatorCapturing => Ok(Json(StatusAnswer {
            status: "OPERATOR_CAPTURING",
        })),
        other => Err(unexpected(other)),
    }
}

fn person_answer(answer: Answer) -> Result<Json<PersonAnswer>, ApiError> {
    match answer {
        Answer::PersonNotFound { cpf } => Ok(Json(PersonAnswer {
            status: "PERSON_NOT_FOUND",
            cpf: cpf.digits().to_string(),
            mode: None,
        })),
        Answer::ClientCapturing { cpf, mode } => Ok(Json(PersonAnswer {
            status: "CLIENT_CAPTURING",
            cpf: cpf.digits().to_string(),
            mode: Some(mode.as_str()),
        })),
        other => Err(unexpected(other)),
    }
}

fn parse_person(cpf: &str, query: &MissingQuery) -> Result<(Cpf, Vec<Missing>), ApiError> {
    let cpf = Cpf::parse(cpf)?;
    let missing = Missing::parse_list(query.missing.as_deref().unwrap_or(""))?;
    Ok((cpf, missing))
}

/// Verify: looks the individual up upstream and, if enrolled, starts the verify capture.
#[utoipa::path(method(get, post), path = "/verify/{cpf}", tag = "capture",
    params(("cpf" = String, Path, description = "The individual's CPF"), MissingQuery),
    responses(
        (status = 200, body = PersonAnswer),
        (status = 400, description = "INVALID_CPF or INVALID_ARGUMENT", body = ErrorBody),
        (status = 409, description = "INVALID_STATE", body = ErrorBody),
        (status = 503, description = "SERVER_UNAVAILABLE", body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    Path(cpf): Path<String>,
    Query(query): Query<MissingQuery>,
) -> Result<Json<PersonAnswer>, ApiError> {
    let (cpf, missing) = parse_person(&cpf, &query)?;
    person_answer(run(&state, Command::Verify { cpf, missing }).await?)
}

/// Enroll: starts the enroll capture (works offline).
#[utoipa::path(method(get, post), path = "/enroll/{cpf}", tag = "capture",
    params(("cpf" = String, Path, description = "The individual's CPF"), MissingQuery),
    responses(
        (status = 200, body = PersonAnswer),
        (status = 400, description = "INVALID_CPF or INVALID_ARGUMENT", body = ErrorBody),
        (status = 409, description = "INVALID_STATE", body = ErrorBody)))]
pub async fn enroll(
    State(state): State<AppState>,
    Path(cpf): Path<String>,
    Query(query): Query<MissingQuery>,
) -> Result<Json<PersonAnswer>, ApiError> {
    let (cpf, missing) = parse_person(&cpf, &query)?;
    person_answer(run(&state, Command::Enroll { cpf, missing }).await?)
}

/// Capture Status: where the capture stands.
#[utoipa::path(get, path = "/capture/status", tag = "capture", responses((status = 200, body = CaptureStatusAnswer)))]
pub async fn capture_status(State(state): State<AppState>) -> Json<CaptureStatusAnswer> {
    Json(CaptureStatusAnswer::from_status(
        &state.flow.snapshot().capture,
    ))
}

/// Operator Capture: the operator's finger, matched 1:1 on the station.
#[utoipa::path(method(get, post), path = "/operator/capture", tag = "capture",
    responses((status = 200, body = StatusAnswer), (status = 409, description = "INVALID_STATE", body = ErrorBody)))]
pub async fn operator_capture(
    State(state): State<AppState>,
) -> Result<Json<StatusAnswer>, ApiError> {
    match run(&state, Command::OperatorCapture).await? {
        Answer::OperatorCapturing => Ok(Json(StatusAnswer {
            status: "OPERATOR_CAPTURING",
        })),
        other => Err(unexpected(other)),
    }
}

/// Capture Cancel: drops the unsent capture; the operator stays logged in.
#[utoipa::path(method(get, post), path = "/capture/cancel", tag = "capture",
    responses((status = 200, body = StatusAnswer), (status = 409, description = "INVALID_STATE", body = ErrorBody)))]
pub async fn cancel(State(state): State<AppState>) -> Result<Json<StatusAnswer>, ApiError> {
    match run(&state, Command::Cancel).await? {
        Answer::Idle => Ok(Json(StatusAnswer { status: "IDLE" })),
        other => Err(unexpected(other)),
    }
}

/// Capture Send: writes the transaction durably, then sends it upstream.
#[utoipa::path(method(get, post), path = "/capture/send", tag = "capture",
    responses(
        (status = 200, body = SendAnswer),
        (status = 409, description = "INVALID_STATE", body = ErrorBody),
        (status = 422, description = "REJECTED by the upstream; kept for the technician", body = ErrorBody),
        (status = 507, description = "STORAGE_UNAVAILABLE", body = ErrorBody)))]
pub async fn send(State(state): State<AppState>) -> Result<Json<SendAnswer>, ApiError> {
    match run(&state, Command::Send).await? {
        Answer::Sent { status, id, tguid } => Ok(Json(SendAnswer {
            status: status.as_str(),
            id,
            tguid,
        })),
        other => Err(unexpected(other)),
    }
}

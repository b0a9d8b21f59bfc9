//! Calls 14–16, the remote flow: Remote Verify / Remote Enroll (after the operator's match
//! from idle) and Remote Verify Result by ID; plus the station's extension Remote Result
//! Record, by which the operator records the result of a provider without a result endpoint
//! (faceverify.ai).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use state_machine::{Answer, Command, Cpf, LoginStatus, Mode};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::outbox::{ProviderOutcome, StoredRemote};
use crate::providers::remote::{RecordError, RECORDABLE};

/// Remote Verify and Remote Enroll: `REMOTE_CREATED`.
#[derive(Serialize, ToSchema)]
pub struct RemoteAnswer {
    /// `REMOTE_CREATED`.
    pub status: &'static str,
    /// The station's remote transaction id (UUID).
    pub id: String,
    /// The SPID Server's TGUID (or the provider's process / session id).
    pub tguid: Option<String>,
    /// The link the individual opens on their phone.
    pub url: String,
}

/// A cloud provider's outcome on a transaction.
#[derive(Serialize, ToSchema)]
pub struct ProviderJson {
    /// `unico_idtoken`, `claro`, `by_unico`, `faceverify`.
    pub name: String,
    /// `MATCH`, `NOT_MATCH`, `FOUND`, `NOT_FOUND`, `SKIPPED`, `ERROR`, `PENDING`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl ProviderJson {
    pub fn from_outcome(o: &ProviderOutcome) -> ProviderJson {
        ProviderJson {
            name: o.provider.clone(),
            outcome: o.outcome.clone(),
            detail: o.detail.clone(),
        }
    }
}

/// Remote Verify Result by ID.
#[derive(Serialize, ToSchema)]
pub struct RemoteResultAnswer {
    /// `SEARCH_MATCH`, `SEARCH_NOT_MATCH`, `SEARCH_FAILED`, the upstream's own word, or
    /// `REMOTE_PENDING` while the remote capture has not finished.
    pub status: String,
    pub id: String,
    pub tguid: Option<String>,
    /// `VERIFY` or `ENROLL`.
    pub mode: &'static str,
    pub cpf: String,
    pub url: Option<String>,
    pub message: Option<String>,
    /// True when the upstream or provider could not be asked now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The remote service and what it answered.
    pub providers: Vec<ProviderJson>,
}

#[derive(Deserialize, IntoParams)]
pub struct RemoteQuery {
    /// The individual's e-mail: required for Remote Enroll, optional for Remote Verify.
    email: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct RecordQuery {
    /// `SEARCH_MATCH`, `SEARCH_NOT_MATCH` or `SEARCH_FAILED`.
    status: Option<String>,
    /// Optional note (what the operator saw on the provider's console).
    message: Option<String>,
}

/// One address, no spaces, a dot in the domain; at most 254 characters.
fn email(given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(e) = given
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
    else {
        return Ok(None);
    };
    let valid = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(Some(e))
    } else {
        Err(ApiError::invalid_argument(
            "Invalid `email`: expected one e-mail address such as name@example.org.",
        ))
    }
}

async fn start(
    state: AppState,
    mode: Mode,
    cpf: String,
    query: RemoteQuery,
) -> Result<Json<RemoteAnswer>, ApiError> {
    let cpf = Cpf::parse(&cpf)?;
    let email = email(query.email)?;
    let answer = state
        .flow
        .command(Command::Remote { mode, cpf, email })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)?;
    match answer {
        Answer::RemoteCreated { link } => Ok(Json(RemoteAnswer {
            status: "REMOTE_CREATED",
            id: link.id,
            tguid: link.tguid,
            url: link.url,
        })),
        other => Err(ApiError::internal(format!(
            "the flow gave an unexpected answer: {other:?}"
        ))),
    }
}

/// Remote Verify: after the operator's capture (from idle), creates a remote verification.
#[utoipa::path(method(get, post), path = "/remote/verify/{cpf}", tag = "remote",
    params(("cpf" = String, Path, description = "The individual's CPF"), RemoteQuery),
    responses(
        (status = 200, body = RemoteAnswer),
        (status = 400, description = "INVALID_CPF or INVALID_ARGUMENT", body = ErrorBody),
        (status = 404, description = "NOT_FOUND: the individual is not enrolled", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: no operator capture done from idle", body = ErrorBody),
        (status = 503, description = "SERVER_UNAVAILABLE", body = ErrorBody)))]
pub async fn remote_verify(
    State(state): State<AppState>,
    Path(cpf): Path<String>,
    Query(query): Query<RemoteQuery>,
) -> Result<Json<RemoteAnswer>, ApiError> {
    start(state, Mode::Verify, cpf, query).await
}

/// Remote Enroll: like Remote Verify, for a new individual; `email` is required.
#[utoipa::path(method(get, post), path = "/remote/enroll/{cpf}", tag = "remote",
    params(("cpf" = String, Path, description = "The individual's CPF"), RemoteQuery),
    responses(
        (status = 200, body = RemoteAnswer),
        (status = 400, description = "INVALID_CPF or INVALID_ARGUMENT (e-mail missing or invalid)", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: no operator capture done from idle", body = ErrorBody),
        (status = 503, description = "SERVER_UNAVAILABLE", body = ErrorBody)))]
pub async fn remote_enroll(
    State(state): State<AppState>,
    Path(cpf): Path<String>,
    Query(query): Query<RemoteQuery>,
) -> Result<Json<RemoteAnswer>, ApiError> {
    start(state, Mode::Enroll, cpf, query).await
}

fn answer(row: StoredRemote, stale: bool) -> RemoteResultAnswer {
    let status = row
        .result_status
        .clone()
        .unwrap_or_else(|| "REMOTE_PENDING".to_string());
    let outcome = match row.result_status.as_deref() {
        None => "PENDING".to_string(),
        Some(s) => s.to_string(),
    };
    let mut detail = row.result_detail.clone();
    if detail.is_null() {
        detail = serde_json::json!({});
    }
    if let (Some(at), Some(obj)) = (row.result_at, detail.as_object_mut()) {
        obj.insert("resultAt".into(), super::dto::rfc3339(at).into());
    }
    let name = match row.provider.as_str() {
        "unico" => "by_unico",
        other => other,
    };
    RemoteResultAnswer {
        status,
        id: row.id,
        tguid: row.external_id,
        mode: row.mode.as_str(),
        cpf: row.cpf.digits().to_string(),
        url: row.url,
        message: row.result_message,
        stale,
        providers: vec![ProviderJson {
            name: name.to_string(),
            outcome,
            detail,
        }],
    }
}

/// Remote Verify Result by ID: the result, or `REMOTE_PENDING`.
#[utoipa::path(get, path = "/remote/verify/result/{id}", tag = "remote",
    params(("id" = String, Path, description = "Station remote id, TGUID, or provider process/session id")),
    responses((status = 200, body = RemoteResultAnswer), (status = 404, description = "NOT_FOUND", body = ErrorBody)))]
pub async fn remote_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RemoteResultAnswer>, ApiError> {
    let (row, stale) = state
        .remote
        .result(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No remote capture has the id {id}.")))?;
    Ok(Json(answer(row, stale)))
}

/// Remote Result Record (station extension): the logged-in operator records the result of a
/// remote capture whose provider has no result endpoint (faceverify.ai).
#[utoipa::path(method(get, post), path = "/remote/result/{id}/record", tag = "remote",
    params(("id" = String, Path, description = "Station remote id or session id"), RecordQuery),
    responses(
        (status = 200, body = RemoteResultAnswer),
        (status = 400, description = "INVALID_ARGUMENT", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: no operator logged in", body = ErrorBody)))]
pub async fn remote_record(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<RecordQuery>,
) -> Result<Json<RemoteResultAnswer>, ApiError> {
    let snapshot = state.flow.snapshot();
    let operator = match (&snapshot.login.status, &snapshot.login.operator) {
        (Some(LoginStatus::Ok | LoginStatus::OfflineOk), Some(op)) => op.clone(),
        _ => return Err(ApiError::invalid_state(snapshot.state.as_str())),
    };
    let status = query.status.unwrap_or_default();
    if !RECORDABLE.contains(&status.as_str()) {
        return Err(ApiError::invalid_argument(format!(
            "Invalid `status`: expected one of {}.",
            RECORDABLE.join(", ")
        )));
    }
    let message = query
        .message
        .map(|m| m.chars().take(500).collect::<String>())
        .filter(|m| !m.trim().is_empty());
    let row = state
        .remote
        .record(&id, &status, message, &operator)
        .await
        .map_err(|e| match e {
            RecordError::NotFound(_) => {
                ApiError::not_found(format!("No remote capture has the id {id}."))
            }
            RecordError::Outbox(e) => ApiError::from(e),
            other => ApiError::invalid_argument(format!("{}.", capitalised(&other.to_string()))),
        })?;
    Ok(Json(answer(row, false)))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        assert_eq!(email(None).unwrap(), None);
        assert_eq!(email(Some("  ".into())).unwrap(), None);
        assert_eq!(
            email(Some(" ana@example.org ".into())).unwrap().as_deref(),
            Some("ana@example.org")
        );
        for bad in [
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "a b@example.org",
            "a@b@c.org",
            "ana@.org",
        ] {
            assert!(email(Some(bad.into())).is_err(), "{bad}");
        }
    }
}

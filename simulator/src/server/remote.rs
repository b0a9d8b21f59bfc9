//! Remote capture: creating a capture link for an individual and reading what was captured.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::time::Instant;

use super::records::find;
use super::store::{self, RemoteCapture, Transaction, TxKind};
use super::wire::*;
use super::{now_ms, FakeSpidServer};

type Answer = Result<Response, ApiError>;

async fn remote_capture(
    server: FakeSpidServer,
    headers: HeaderMap,
    body: Bytes,
    kind: TxKind,
) -> Answer {
    let RemoteCaptureRequest { data } = parse_json(&headers, &body)?;
    if !valid_cpf(&data.client_id) {
        return Err(ApiError::invalid_field("data.clientID", "not a valid CPF"));
    }
    if !valid_cpf(&data.operator_id) {
        return Err(ApiError::invalid_field(
            "data.operatorID",
            "not a valid CPF",
        ));
    }
    let email = data.client_email.filter(|e| !e.trim().is_empty());
    if kind == TxKind::RemoteEnroll && !email.as_deref().is_some_and(|e| e.contains('@')) {
        return Err(ApiError::invalid_field(
            "data.clientEmail",
            "an e-mail address is required",
        ));
    }
    server.settle().await?;
    let config = server.config();
    let due = config.remote_capture_delay.map(|d| Instant::now() + d);
    let response = server.with_state(|s| {
        if kind == TxKind::RemoteVerify && !s.people.contains_key(&data.client_id) {
            return Err(ApiError::not_found("person not enrolled"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let dynamic_link = format!("{}{id}", config.remote_link_base);
        let tcn = s.next_tcn();
        s.transactions.push(Transaction {
            id: id.clone(),
            kind,
            user_id: data.client_id,
            operator_id: data.operator_id,
            timestamp: now_ms(),
            received_at_ms: now_ms(),
            psbio_tcn: tcn,
            biometrics: vec![],
            missing: vec![],
            status: store::SEARCH_PENDING.into(),
            message: "waiting for the remote capture".into(),
            outcome: None,
            remote: Some(RemoteCapture {
                client_email: email,
                dynamic_link: dynamic_link.clone(),
                captured: None,
            }),
            due,
        });
        Ok(RemoteCaptureResponse {
            tguid: id,
            dynamic_link,
        })
    })?;
    tracing::info!(tguid = %response.tguid, kind = kind.as_str(), "remote capture created");
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

pub(super) async fn remote_verify(
    State(server): State<FakeSpidServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    remote_capture(server, headers, body, TxKind::RemoteVerify).await
}

pub(super) async fn remote_enroll(
    State(server): State<FakeSpidServer>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    remote_capture(server, headers, body, TxKind::RemoteEnroll).await
}

/// The captured face (or the first image when there is no face); 409 while not captured.
pub(super) async fn remote_biometrics(
    State(server): State<FakeSpidServer>,
    Path(tguid): Path<String>,
) -> Answer {
    let t = find(&server, &tguid, |k| {
        matches!(k, TxKind::RemoteEnroll | TxKind::RemoteVerify)
    })
    .await?;
    let Some(captured) = t.remote.and_then(|r| r.captured) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::ProcessingError,
            "CAPTURE_PENDING",
            "the remote capture has not been done yet",
        ));
    };
    let images = server.materialize(&captured).await?;
    let image = images
        .iter()
        .find(|b| b.index == 0)
        .or_else(|| images.first())
        .cloned()
        .ok_or_else(|| ApiError::internal("the remote capture holds no image"))?;
    Ok(Json(image).into_response())
}

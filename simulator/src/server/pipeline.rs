//! What wraps every upstream request: the fault decision, bearer authentication, recording
//! the accepted request, and the fault's effect on the answer (delay, garbling, no answer).

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::conn::{drop_unanswered, ConnectionKill};
use super::faults::{garble, Action};
use super::requests::RecordedRequest;
use super::wire::{ApiError, ErrorType};
use super::{auth, lock, FakeSpidServer};

/// Largest request body accepted (a transaction carries several images in base64).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

pub(super) async fn upstream(
    State(server): State<FakeSpidServer>,
    request: Request,
    next: Next,
) -> Response {
    let action = lock(&server.inner.faults).next_action();
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    match action {
        Action::Drop => {
            tracing::debug!(%method, %path, "upstream down: dropping the connection");
            return drop_unanswered(kill).await;
        }
        Action::Unavailable => {
            tracing::debug!(%method, %path, "upstream failing: 503");
            return ApiError::unavailable("the service is temporarily unavailable").into_response();
        }
        Action::Answer { .. } | Action::ResetAfterBody => {}
    }

    if path != server.config().token_path {
        let authorised = auth::bearer(request.headers())
            .is_some_and(|token| lock(&server.inner.tokens).is_valid(token, Instant::now()));
        if !authorised {
            return ApiError::unauthorized("a valid bearer token is required").into_response();
        }
    }

    // Only requests that reach a route's handler count as accepted.
    let routed = request.extensions().get::<MatchedPath>().is_some();
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorType::ValidationError,
                "BODY_UNREADABLE",
                format!("the request body could not be read: {e}"),
            )
            .into_response()
        }
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if routed {
        let record =
            RecordedRequest::new(method.as_str(), &path, response.status().as_u16(), &bytes);
        lock(&server.inner.requests).push(record);
    }

    match action {
        Action::Answer { delay, garble } => {
            let response = if garble {
                garble_json(response).await
            } else {
                response
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            response
        }
        _ => {
            tracing::debug!(%method, %path, "processed; dropping the connection before answering");
            drop_unanswered(kill).await
        }
    }
}

/// Cuts a JSON answer in half; other answers pass unchanged.
async fn garble_json(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(garble(&bytes)))
}

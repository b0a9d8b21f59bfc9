//! The local SPID Services API (contract v1) on `127.0.0.1:19980/gbs-spid-services/api`.

mod dto;
pub mod error;
mod flow;
mod health;
mod remote;
mod report;
mod transactions;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::capture::CaptureContext;
use crate::courier::Courier;
use crate::link::Link;
use crate::outbox::Outbox;
use crate::runtime::Flow;
use crate::upstream::UpstreamClient;
use error::ApiError;

pub const BASE_PATH: &str = "/gbs-spid-services/api";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub flow: Flow,
    pub outbox: Outbox,
    pub courier: Arc<Courier>,
    pub upstream: Arc<UpstreamClient>,
    pub capture: Arc<CaptureContext>,
    pub link: Arc<Link>,
    /// When set, every request must carry `Authorization: Bearer <token>`.
    pub token: Option<Arc<str>>,
    /// The reader's and camera's state for Health.
    pub devices: Arc<crate::devices::DeviceManager>,
    /// Remote captures and their results (calls 14–16).
    pub remote: Arc<crate::providers::remote::RemoteService>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "SPID Services API (spidd)", description = "The capture station's local API, contract v1."),
    servers((url = "/gbs-spid-services/api")),
    paths(
        flow::login, flow::login_status, flow::logout, flow::operator_enroll, flow::verify, flow::enroll,
        flow::capture_status, flow::operator_capture, flow::cancel, flow::send,
        transactions::result, transactions::report, transactions::resend_all,
        remote::remote_verify, remote::remote_enroll, remote::remote_result, remote::remote_record,
        health::health, openapi_json,
    ),
    tags(
        (name = "session", description = "Operator login and first access"),
        (name = "capture", description = "The presencial capture flow"),
        (name = "transactions", description = "Results, reports and resends"),
        (name = "remote", description = "Remote capture"),
        (name = "station", description = "The station itself"),
    )
)]
pub struct ApiDoc;

/// OpenAPI: this API's OpenAPI 3 document.
#[utoipa::path(get, path = "/openapi.json", tag = "station",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// The whole API, base path included.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/login/status", get(flow::login_status))
        .route("/login/{operatorId}", get(flow::login).post(flow::login))
        .route("/logout", get(flow::logout).post(flow::logout))
        .route(
            "/operator/enroll",
            get(flow::operator_enroll).post(flow::operator_enroll),
        )
        .route("/verify/{cpf}", get(flow::verify).post(flow::verify))
        .route("/enroll/{cpf}", get(flow::enroll).post(flow::enroll))
        .route("/capture/status", get(flow::capture_status))
        .route(
            "/operator/capture",
            get(flow::operator_capture).post(flow::operator_capture),
        )
        .route("/capture/cancel", get(flow::cancel).post(flow::cancel))
        .route("/capture/send", get(flow::send).post(flow::send))
        .route("/capture/result/{id}", get(transactions::result))
        .route("/capture/report/{id}", get(transactions::report))
        .route(
            "/capture/resend-all",
            get(transactions::resend_all).post(transactions::resend_all),
        )
        .route("/remote/verify/result/{id}", get(remote::remote_result))
        .route(
            "/remote/result/{id}/record",
            get(remote::remote_record).post(remote::remote_record),
        )
        .route(
            "/remote/verify/{cpf}",
            get(remote::remote_verify).post(remote::remote_verify),
        )
        .route(
            "/remote/enroll/{cpf}",
            get(remote::remote_enroll).post(remote::remote_enroll),
        )
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi_json));
    Router::new()
        .nest(BASE_PATH, api)
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("There is no call at {}.", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} is not allowed on {}.", req.method(), req.uri().path()),
    )
}

/// Optional integrator authentication (`api.token_file`).
async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "This station requires `Authorization: Bearer <token>`.",
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

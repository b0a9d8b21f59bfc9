//! The technician status socket: HTTP/1.1 on a Unix domain socket (`status.socket`, default
//! `/run/spidd/status.sock`, mode 0660, group `spidd-tech`), read by `spidctl` and
//! `curl --unix-socket`. Station state, devices, the outbox without biometric data, Resend All
//! with streamed progress, a test capture, Prometheus metrics and the last log lines.
//!
//! Nothing here returns biometric data except the test capture's own image, and no full CPF
//! leaves: every CPF is masked (`529.***.***-25`).

mod capture;
pub mod logring;
pub mod metrics;
mod resend;
mod routes;
pub mod socket;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::capture::CaptureContext;
use crate::courier::Courier;
use crate::devices::DeviceManager;
use crate::link::Link;
use crate::outbox::Outbox;
use crate::runtime::Flow;

pub use socket::{bind, SocketError, StatusListener};

/// When the next scheduled Resend All runs (the outbox scheduler's answer), if one is planned.
pub type NextScheduledRun = Arc<dyn Fn() -> Option<SystemTime> + Send + Sync>;

/// What the status handlers read. Cheap to clone.
#[derive(Clone)]
pub struct StatusState {
    pub started: Instant,
    pub started_at: SystemTime,
    pub flow: Flow,
    pub outbox: Outbox,
    pub courier: Arc<Courier>,
    pub link: Arc<Link>,
    pub devices: Arc<DeviceManager>,
    pub capture: Arc<CaptureContext>,
    /// The SPID server's base URL, as configured.
    pub upstream_url: String,
    /// Filled by the app wiring from the Resend All scheduler; `None`: `/status` says `null`.
    pub next_scheduled_run: Option<NextScheduledRun>,
}

/// Every status route.
pub fn router(state: StatusState) -> Router {
    Router::new()
        .route("/status", get(routes::status))
        .route("/devices", get(routes::devices))
        .route("/outbox", get(routes::outbox))
        .route("/outbox/resend", post(resend::resend))
        .route("/test-capture", post(capture::test_capture))
        .route("/metrics", get(routes::metrics))
        .route("/logs", get(routes::logs))
        .fallback(|req: axum::extract::Request| async move {
            StatusError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "there is no {} {}; try GET /status, /devices, /outbox, /metrics, /logs, POST /outbox/resend or /test-capture",
                    req.method(),
                    req.uri().path()
                ),
            )
        })
        .method_not_allowed_fallback(|req: axum::extract::Request| async move {
            StatusError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{} is not allowed on {}", req.method(), req.uri().path()),
            )
        })
        .with_state(state)
}

/// How long requests under way (a streamed Resend All) may go on after the stop signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `listener` until the future `shutdown()` makes resolves; requests still open
/// [`SHUTDOWN_GRACE`] later are cut (a Resend All itself goes on in the courier).
pub async fn serve<F>(
    listener: tokio::net::UnixListener,
    state: StatusState,
    shutdown: impl Fn() -> F,
) where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown());
    let grace = async {
        shutdown().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "the status socket server failed");
            }
        }
        _ = grace => tracing::warn!("status socket requests still open at shutdown were cut"),
    }
}

/// An error answer: `{"error": {"code": .., "message": ..}}`.
#[derive(Debug)]
pub struct StatusError {
    status: StatusCode,
    code: &'static str,
    pub(crate) message: String,
}

impl StatusError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> StatusError {
        StatusError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> StatusError {
        StatusError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn internal(message: impl Into<String>) -> StatusError {
        StatusError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }
}

impl IntoResponse for StatusError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

/// RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Epoch milliseconds as RFC 3339.
pub(crate) fn rfc3339_millis(millis: u64) -> String {
    rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(millis))
}

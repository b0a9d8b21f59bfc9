//! The one place where failures become the contract's error bodies and HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use state_machine::{CpfError, FlowError, MissingError};
use utoipa::ToSchema;

use crate::courier::CourierError;
use crate::outbox::OutboxError;

/// `{"status":"ERROR","error":{"code":..,"message":..}}`, plus `state` for `INVALID_STATE`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `ERROR`.
    #[schema(example = "ERROR")]
    pub status: &'static str,
    pub error: ErrorDetail,
    /// The station's current Capture Status state (only with `INVALID_STATE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// The station transaction id (only with `REJECTED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `INVALID_CPF`, `INVALID_ARGUMENT`, `UNAUTHORIZED`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`,
    /// `INVALID_STATE`, `PAYLOAD_TOO_LARGE`, `REJECTED`, `DEVICE_UNAVAILABLE`,
    /// `SERVER_UNAVAILABLE`, `STORAGE_UNAVAILABLE`, `INTERNAL`.
    pub code: &'static str,
    pub message: String,
}

/// An API failure. Built from each crate's errors here and nowhere else.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub state: Option<&'static str>,
    pub id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            state: None,
            id: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    pub fn server_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_UNAVAILABLE",
            message,
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", message)
    }

    pub fn storage(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "STORAGE_UNAVAILABLE",
            message,
        )
    }

    pub fn invalid_state(state: &'static str) -> ApiError {
        ApiError {
            state: Some(state),
            ..ApiError::new(
                StatusCode::CONFLICT,
                "INVALID_STATE",
                format!("This call is not allowed while the station is {state}."),
            )
        }
    }
}

impl From<CpfError> for ApiError {
    fn from(e: CpfError) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CPF",
            format!("Invalid CPF: {e}."),
        )
    }
}

impl From<MissingError> for ApiError {
    fn from(e: MissingError) -> ApiError {
        ApiError::invalid_argument(format!("Invalid `missing` parameter: {e}."))
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> ApiError {
        match e {
            FlowError::InvalidState { state } => ApiError::invalid_state(state),
            FlowError::ServerUnavailable { reason } => {
                ApiError::server_unavailable(format!("The SPID server could not be reached: {reason}."))
            }
            FlowError::Rejected { id, reason } => ApiError {
                id: Some(id),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "REJECTED",
                    format!("The SPID server rejected the transaction: {reason}. It is kept for the technician."),
                )
            },
            FlowError::Storage { reason } => {
                ApiError::storage(format!("The transaction could not be stored on this station: {reason}."))
            }
            FlowError::Upstream { reason } => {
                ApiError::internal(format!("The SPID server answered unexpectedly: {reason}."))
            }
            FlowError::InvalidArgument { reason } => ApiError::invalid_argument(reason),
            FlowError::NotFound { reason } => ApiError::not_found(format!("{}.", reason.trim_end_matches('.'))),
        }
    }
}

impl From<OutboxError> for ApiError {
    fn from(e: OutboxError) -> ApiError {
        if e.is_storage() {
            ApiError::storage(format!("The station's database cannot be written: {e}."))
        } else {
            ApiError::internal(format!("The station's database failed: {e}."))
        }
    }
}

impl From<CourierError> for ApiError {
    fn from(e: CourierError) -> ApiError {
        if e.is_storage() {
            ApiError::storage(format!("The station's database cannot be written: {e}."))
        } else {
            ApiError::internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "ERROR",
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
            state: self.state,
            id: self.id,
        };
        (self.status, Json(body)).into_response()
    }
}

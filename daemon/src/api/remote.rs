//! Calls 14–16, the remote flow: not yet implemented; they answer 501 with the contract's body.

use axum::extract::Path;
use axum::http::StatusCode;

use super::error::{ApiError, ErrorBody};

fn not_implemented() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        "Remote capture is not available on this station yet.",
    )
}

/// Remote Verify (not implemented yet).
#[utoipa::path(method(get, post), path = "/remote/verify/{cpf}", tag = "remote",
    params(("cpf" = String, Path, description = "The individual's CPF")),
    responses((status = 501, description = "NOT_IMPLEMENTED", body = ErrorBody)))]
pub async fn remote_verify(Path(_cpf): Path<String>) -> ApiError {
    not_implemented()
}

/// Remote Enroll (not implemented yet).
#[utoipa::path(method(get, post), path = "/remote/enroll/{cpf}", tag = "remote",
    params(("cpf" = String, Path, description = "The individual's CPF")),
    responses((status = 501, description = "NOT_IMPLEMENTED", body = ErrorBody)))]
pub async fn remote_enroll(Path(_cpf): Path<String>) -> ApiError {
    not_implemented()
}

/// Remote Verify Result by ID (not implemented yet).
#[utoipa::path(get, path = "/remote/verify/result/{id}", tag = "remote",
    params(("id" = String, Path, description = "Remote transaction id")),
    responses((status = 501, description = "NOT_IMPLEMENTED", body = ErrorBody)))]
pub async fn remote_result(Path(_id): Path<String>) -> ApiError {
    not_implemented()
}

//! Fake Claro Face Match: OAuth2 client credentials with `x-client-auth: Basic`, then
//! `GET /identity/v1/facialbiometrics` with the CPF in `X-QueryString`; 422 for a CPF not in
//! the base (`/sim/providers/claro/absent`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

use super::FakeProviders;
use crate::server::wire::valid_cpf;

const TOKEN_TTL: Duration = Duration::from_secs(3599);

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"code": status.as_u16(), "message": message})),
    )
        .into_response()
}

pub(super) async fn token(
    State(fake): State<FakeProviders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = fake.config();
    let (Some(key), Some(secret)) = (&config.claro_key, &config.claro_secret) else {
        return error(StatusCode::UNAUTHORIZED, "no client is registered");
    };
    let expected = format!("Basic {}", STANDARD.encode(format!("{key}:{secret}")));
    let given = headers.get("x-client-auth").and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid client credentials");
    }
    if String::from_utf8_lossy(&body).trim() != "grant_type=client_credentials" {
        return error(
            StatusCode::BAD_REQUEST,
            "grant_type must be client_credentials",
        );
    }
    let token = fake.issue_token("claro", TOKEN_TTL);
    Json(json!({"access_token": token, "token_type": "BearerToken", "expires_in": TOKEN_TTL.as_secs().to_string()}))
        .into_response()
}

pub(super) async fn facial_biometrics(
    State(fake): State<FakeProviders>,
    headers: HeaderMap,
) -> Response {
    if !fake.token_valid("claro", &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "the request requires authentication",
        );
    }
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("application/json") {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "only application/json is produced",
        );
    }
    let query = headers
        .get("x-querystring")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let field = |name: &str| {
        query.split('&').find_map(|p| {
            p.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let (Some(kind), Some(cpf)) = (field("identificationType"), field("IdentificationId")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "X-QueryString needs identificationType and IdentificationId",
        );
    };
    if kind != "CPF" || !valid_cpf(&cpf) {
        return error(StatusCode::BAD_REQUEST, "invalid identification");
    }
    if fake.state().claro_absent.contains(&cpf) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "O cliente não foi encontrado na base de dados.",
        );
    }
    let hash = format!(
        "{:064x}",
        cpf.bytes().fold(0u128, |h, b| h
            .wrapping_mul(131)
            .wrapping_add(u128::from(b)))
    );
    Json(json!({"versions": ["1.0.1"], "biohashs": [hash]})).into_response()
}

//! Fake faceverify.ai: `POST /api/v1/session`, signed with HMAC-SHA256 over
//! `METHOD\npath\nquery\napiKey\ncontentType\nbody` (checked here with its own code).

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ring::hmac;
use serde_json::{json, Value};

use super::FakeProviders;

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(super) async fn session(
    State(fake): State<FakeProviders>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let config = fake.config();
    let (Some(api_key), Some(secret)) = (&config.faceverify_api_key, &config.faceverify_secret)
    else {
        return refuse(StatusCode::UNAUTHORIZED, "no client is registered");
    };
    if header("x-auth-client") != api_key {
        return refuse(StatusCode::UNAUTHORIZED, "unknown x-auth-client");
    }
    let content_type = header("content-type");
    if content_type != "application/json" {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let mut signed = format!(
        "POST\n{}\n{}\n{}\n{}\n",
        uri.path(),
        uri.query().unwrap_or(""),
        api_key,
        content_type
    )
    .into_bytes();
    signed.extend_from_slice(&body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let valid = hex_decode(header("x-hmac-signature"))
        .is_some_and(|sig| hmac::verify(&key, &signed, &sig).is_ok());
    if !valid {
        return refuse(StatusCode::UNAUTHORIZED, "invalid x-hmac-signature");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let country = request["country"].as_str().unwrap_or("");
    if country.len() != 2 {
        return refuse(StatusCode::BAD_REQUEST, "country must be a two-letter code");
    }
    if request["uniqueIdentifier"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return refuse(StatusCode::BAD_REQUEST, "uniqueIdentifier is required");
    }
    let session = format!("session{}", fake.next_id());
    let token = format!("eyJ{}", uuid::Uuid::new_v4().simple());
    Json(json!({"success": true, "data": {
        "sessionId": session,
        "baseUrl": "https://start.faceverify.ai",
        "Token": token,
        "url": format!("https://start.faceverify.ai/new/{token}"),
    }}))
    .into_response()
}

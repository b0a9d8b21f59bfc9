//! Fake Unico: the identity token endpoint (RFC 7523 JWT-bearer, RS256 assertions checked
//! against the configured public key, exactly five claims, single use), IDToken face checks
//! and by Unico processes. Errors in both of Unico's casings: IDToken answers `Error`, the
//! process API `error`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{unico_error, FakeProviders};
use crate::server::wire::valid_cpf;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A by Unico process.
#[derive(Clone, Debug)]
pub(super) struct Process {
    id: String,
    cpf: String,
    state: &'static str,
    result: Option<&'static str>,
    authentication: Option<&'static str>,
    due: Option<Instant>,
    body: Value,
}

impl Process {
    pub(super) fn finish(&mut self, result: &str) {
        let (process_result, authentication) = match result {
            "NEGATIVE" => ("PROCESS_RESULT_OK", Some("AUTHENTICATION_RESULT_NEGATIVE")),
            "INCONCLUSIVE" => (
                "PROCESS_RESULT_OK",
                Some("AUTHENTICATION_RESULT_INCONCLUSIVE"),
            ),
            "ERROR" => ("PROCESS_RESULT_ERROR", None),
            _ => ("PROCESS_RESULT_OK", Some("AUTHENTICATION_RESULT_POSITIVE")),
        };
        self.state = "PROCESS_STATE_FINISHED";
        self.result = Some(process_result);
        self.authentication = authentication;
        self.due = None;
    }

    fn json(&self, link_base: &str) -> Value {
        let mut p = self.body.clone();
        p["id"] = json!(self.id);
        p["userRedirectUrl"] = json!(format!("{link_base}{}", self.id));
        p["state"] = json!(self.state);
        if let Some(r) = self.result {
            p["result"] = json!(r);
        }
        p["authenticationInfo"] = match self.authentication {
            Some(a) => json!({"authenticationResult": a, "livenessResult": "LIVENESS_RESULT_LIVE"}),
            None => json!({}),
        };
        p["token"] = json!(format!("process-token-{}", self.id));
        json!({ "process": p })
    }
}

fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%3a", ":"))
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks an assertion; the error text says which rule it broke.
fn check_assertion(fake: &FakeProviders, assertion: &str) -> Result<(), String> {
    let config = fake.config();
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("the assertion is not a JWS compact token".into());
    };
    let decode = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "bad base64url".to_string())
    };
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("alg must be RS256".into());
    }
    let key = config
        .unico_public_key_der
        .as_deref()
        .ok_or("no service account key is registered")?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &decode(signature)?)
        .map_err(|_| "the signature does not verify".to_string())?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())?;
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    if names != ["aud", "exp", "iat", "iss", "scope"] {
        return Err(format!(
            "the claims must be exactly iss, aud, scope, iat, exp; got {names:?}"
        ));
    }
    if config.unico_issuer.as_deref() != claims["iss"].as_str() {
        return Err("unknown issuer".into());
    }
    if claims["aud"].as_str() != Some(config.unico_audience.as_str()) {
        return Err("wrong audience".into());
    }
    if claims["scope"].as_str() != Some("*") {
        return Err("scope must be *".into());
    }
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    match (iat, exp) {
        (Some(iat), Some(exp)) if exp > iat && exp - iat <= 3600 && exp > now_secs() => Ok(()),
        _ => Err("iat/exp invalid or expired (exp must be at most iat + 3600)".into()),
    }
}

pub(super) async fn token(
    State(fake): State<FakeProviders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = String::from_utf8_lossy(&body);
    let (grant, assertion) = (
        form_field(&form, "grant_type"),
        form_field(&form, "assertion"),
    );
    let (Some(GRANT), Some(assertion), true) = (grant.as_deref(), assertion, is_form) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "grant_type jwt-bearer and an assertion are required"})),
        )
            .into_response();
    };
    if let Err(reason) = check_assertion(&fake, &assertion) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_grant", "error_description": reason})),
        )
            .into_response();
    }
    if !fake.state().used_assertions.insert(assertion) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_grant", "error_description": "the assertion was already used"})),
        )
            .into_response();
    }
    let ttl = fake.config().unico_token_ttl.max(Duration::from_secs(1));
    let token = fake.issue_token("unico", ttl);
    Json(json!({"access_token": token, "expires_in": ttl.as_secs().to_string(), "token_type": "Bearer"}))
        .into_response()
}

/// IDToken: `{"subject":{"code"},"referenceProcessId","imagebase64"}` → `{id, authenticated,
/// liveness}`.
pub(super) async fn idtoken(
    State(fake): State<FakeProviders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bad = |status, code: &str, text: &str| unico_error(status, true, code, text);
    if !fake.token_valid("unico", &headers) {
        return bad(
            StatusCode::FORBIDDEN,
            "10501",
            "invalid or expired access token",
        );
    }
    let api_key = headers.get("apikey").and_then(|v| v.to_str().ok());
    if api_key.is_none() || api_key != fake.config().unico_api_key.as_deref() {
        return bad(StatusCode::FORBIDDEN, "10002", "invalid APIKEY");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return bad(StatusCode::BAD_REQUEST, "40001", "the body is not JSON");
    };
    let cpf = request["subject"]["code"].as_str().unwrap_or_default();
    if !valid_cpf(cpf) {
        return bad(StatusCode::BAD_REQUEST, "20507", "invalid CPF");
    }
    let Some(image) = request["imagebase64"].as_str().filter(|s| !s.is_empty()) else {
        return bad(StatusCode::BAD_REQUEST, "20009", "image missing");
    };
    let Ok(jpeg) = STANDARD.decode(image) else {
        return bad(StatusCode::BAD_REQUEST, "20009", "image is not base64");
    };
    if jpeg.len() > 800 * 1024 {
        return bad(StatusCode::BAD_REQUEST, "20506", "image larger than 800 kB");
    }
    match image::load_from_memory(&jpeg) {
        Ok(img) if img.width() >= 640 && img.height() >= 480 => {}
        Ok(_) => return bad(StatusCode::BAD_REQUEST, "20807", "resolution below 640x480"),
        Err(_) => {
            return bad(
                StatusCode::BAD_REQUEST,
                "20009",
                "the image cannot be decoded",
            )
        }
    }
    let reference = request["referenceProcessId"].as_str().unwrap_or_default();
    let state = fake.state();
    let Some(process) = state.processes.get(reference) else {
        return bad(
            StatusCode::BAD_REQUEST,
            "20010",
            "unknown referenceProcessId",
        );
    };
    let authenticated = process.cpf == cpf
        && process.authentication == Some("AUTHENTICATION_RESULT_POSITIVE")
        && !state.idtoken_impostor;
    let id = uuid::Uuid::new_v4().to_string().to_uppercase();
    Json(json!({"id": id, "authenticated": authenticated, "liveness": 1})).into_response()
}

fn process_error(text: &str) -> Response {
    unico_error(StatusCode::BAD_REQUEST, false, "3", text)
}

pub(super) async fn create_process(
    State(fake): State<FakeProviders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !fake.token_valid("unico", &headers) {
        return unico_error(
            StatusCode::UNAUTHORIZED,
            false,
            "16",
            "invalid access token",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return process_error("invalid JSON");
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let person = &request["person"];
    let cpf = text(&person["duiValue"]);
    if text(&request["flow"]).is_empty() {
        return process_error("invalid flow");
    }
    if text(&request["purpose"]).is_empty() {
        return process_error("invalid purpose");
    }
    if request.get("callbackUri").and_then(Value::as_str).is_none() {
        return process_error("invalid callbackUri");
    }
    if text(&person["duiType"]) != "DUI_TYPE_BR_CPF" || !valid_cpf(&cpf) {
        return process_error("invalid CPF");
    }
    if text(&person["friendlyName"]).chars().count() > 50 {
        return process_error("friendly name over 50 characters");
    }
    if let Some(phone) = person.get("phone").and_then(Value::as_str) {
        if phone.len() != 13 || !phone.chars().all(|c| c.is_ascii_digit()) {
            return process_error("phone must have 13 digits");
        }
    }
    let id = format!(
        "{:08x}-0000-4000-8000-{:012x}",
        fake.next_id(),
        rand::random::<u64>() & 0xffff_ffff_ffff
    );
    let process = Process {
        id: id.clone(),
        cpf,
        state: "PROCESS_STATE_CREATED",
        result: None,
        authentication: None,
        due: fake
            .config()
            .unico_process_delay
            .map(|d| Instant::now() + d),
        body: json!({
            "flow": request["flow"], "callbackUri": request["callbackUri"],
            "person": request["person"], "purpose": request["purpose"],
            "createdAt": "2026-01-01T00:00:00Z",
        }),
    };
    let answer = process.json(&fake.config().unico_link_base);
    fake.state().processes.insert(id, process);
    Json(answer).into_response()
}

pub(super) async fn get_process(
    State(fake): State<FakeProviders>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !fake.token_valid("unico", &headers) {
        return unico_error(
            StatusCode::UNAUTHORIZED,
            false,
            "16",
            "invalid access token",
        );
    }
    let mut state = fake.state();
    let Some(process) = state.processes.get_mut(&id) else {
        return unico_error(StatusCode::NOT_FOUND, false, "5", "process not found");
    };
    if process.due.is_some_and(|due| Instant::now() >= due) {
        process.finish("POSITIVE");
    }
    Json(process.json(&fake.config().unico_link_base)).into_response()
}

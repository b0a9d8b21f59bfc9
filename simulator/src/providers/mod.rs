//! Fake cloud identity providers (`../shared/spec/providers.md`) on one HTTP server, each under
//! its own path prefix: Unico identity (token), Unico IDToken, by Unico processes,
//! faceverify.ai and Claro Face Match. Their own, independent copy of each wire format, with
//! the real checks (RS256 assertions, HMAC signatures, Basic client credentials), error bodies,
//! injectable 401/403/429/5xx answers, and a log of every request (headers included) so tests
//! can assert what the station sent.
//!
//! Control routes (served beside the others by `spidd --simulate`): `GET
//! /sim/providers/requests`, `POST /sim/providers/faults`, `POST
//! /sim/providers/unico/processes/{id}/complete`, `POST /sim/providers/claro/absent`, `POST
//! /sim/providers/idtoken`.

mod claro;
mod faceverify;
mod unico;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Path prefixes: a station points each provider's base URL at `<fake>/<prefix>`.
pub const UNICO_IDENTITY: &str = "/unico-identity";
pub const UNICO_IDTOKEN: &str = "/unico-id";
pub const BY_UNICO: &str = "/unico-cadastro";
pub const FACEVERIFY: &str = "/faceverify";
pub const CLARO: &str = "/claro";

/// Request bodies longer than this are logged by their length only (face images).
const MAX_LOGGED_BODY: usize = 4096;

/// What the fakes accept. `None` secrets accept nothing: every call is refused.
#[derive(Clone, Debug, Default)]
pub struct ProvidersConfig {
    /// The assertion audience, i.e. `<fake base>/unico-identity` as the station sees it.
    pub unico_audience: String,
    /// `<account>@<tenant>.iam.acesso.io`.
    pub unico_issuer: Option<String>,
    /// DER `RSAPublicKey` that verifies the station's assertions.
    pub unico_public_key_der: Option<Vec<u8>>,
    pub unico_api_key: Option<String>,
    pub unico_token_ttl: Duration,
    /// A by Unico process finishes (authenticated) this long after its creation; `None`: only
    /// on the control call.
    pub unico_process_delay: Option<Duration>,
    /// `userRedirectUrl` = this prefix + process id.
    pub unico_link_base: String,
    pub faceverify_api_key: Option<String>,
    pub faceverify_secret: Option<String>,
    pub claro_key: Option<String>,
    pub claro_secret: Option<String>,
}

/// One request as it arrived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderRequest {
    /// `unico-identity`, `unico-id`, `unico-cadastro`, `faceverify`, `claro`.
    pub provider: String,
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as text (or `[N bytes]` when long).
    pub body: String,
    pub status: u16,
}

/// An injected answer: the next `count` requests to `provider` get `status` with an error
/// body (`casing` `Error` or `error` for Unico's two shapes, and its `code`).
#[derive(Clone, Debug, Deserialize)]
pub struct Fault {
    pub provider: String,
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub casing: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// Only requests whose path ends with this (e.g. `/oauth2/token`).
    #[serde(default)]
    pub path_suffix: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Default)]
struct FakeState {
    tokens: HashMap<String, (&'static str, tokio::time::Instant)>,
    used_assertions: HashSet<String>,
    processes: BTreeMap<String, unico::Process>,
    claro_absent: HashSet<String>,
    /// IDToken answers `authenticated: false` while set (an impostor at the kiosk).
    idtoken_impostor: bool,
    faults: VecDeque<Fault>,
    requests: Vec<ProviderRequest>,
    next_id: u64,
}

/// The fakes; cheap to clone.
#[derive(Clone)]
pub struct FakeProviders {
    inner: Arc<(ProvidersConfig, Mutex<FakeState>)>,
}

impl FakeProviders {
    pub fn new(config: ProvidersConfig) -> FakeProviders {
        FakeProviders {
            inner: Arc::new((config, Mutex::default())),
        }
    }

    fn config(&self) -> &ProvidersConfig {
        &self.inner.0
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.inner.1.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The provider routes, with the request log and fault injection around them.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &format!("{UNICO_IDENTITY}/oauth2/token"),
                post(unico::token),
            )
            .route(
                &format!("{UNICO_IDTOKEN}/processes/v1"),
                post(unico::idtoken),
            )
            .route(
                &format!("{BY_UNICO}/client/v1/process"),
                post(unico::create_process),
            )
            .route(
                &format!("{BY_UNICO}/client/v1/process/{{id}}"),
                get(unico::get_process),
            )
            .route(
                &format!("{FACEVERIFY}/api/v1/session"),
                post(faceverify::session),
            )
            .route(&format!("{CLARO}/oauth2/v1/token"), post(claro::token))
            .route(
                &format!("{CLARO}/identity/v1/facialbiometrics"),
                get(claro::facial_biometrics),
            )
            .layer(middleware::from_fn_with_state(self.clone(), record))
            .with_state(self.clone())
    }

    /// The `/sim/providers/*` control routes.
    pub fn control_router(&self) -> Router {
        Router::new()
            .route("/sim/providers/requests", get(requests))
            .route("/sim/providers/faults", post(add_fault))
            .route(
                "/sim/providers/unico/processes/{id}/complete",
                post(complete_process),
            )
            .route("/sim/providers/claro/absent", post(claro_absent))
            .route("/sim/providers/idtoken", post(idtoken_mode))
            .with_state(self.clone())
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.state().requests.clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// Finishes by Unico process `id` with `result` (`POSITIVE`, `NEGATIVE`,
    /// `INCONCLUSIVE`, `ERROR`).
    pub fn complete_process(&self, id: &str, result: &str) -> bool {
        let mut state = self.state();
        match state.processes.get_mut(id) {
            Some(p) => {
                p.finish(result);
                true
            }
            None => false,
        }
    }

    fn next_id(&self) -> u64 {
        let mut state = self.state();
        state.next_id += 1;
        state.next_id
    }

    /// Issues a token for `provider`, valid for `ttl`.
    fn issue_token(&self, provider: &'static str, ttl: Duration) -> String {
        let token = format!("{provider}-token-{}", uuid::Uuid::new_v4().simple());
        self.state()
            .tokens
            .insert(token.clone(), (provider, tokio::time::Instant::now() + ttl));
        token
    }

    fn token_valid(&self, provider: &str, headers: &axum::http::HeaderMap) -> bool {
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.state()
            .tokens
            .get(token)
            .is_some_and(|(p, until)| *p == provider && tokio::time::Instant::now() < *until)
    }
}

/// `unico-identity` from `/unico-identity/oauth2/token`.
fn provider_of(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// Logs the request, and answers an injected fault instead of the handler when one is due.
async fn record(State(fake): State<FakeProviders>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let provider = provider_of(&path);
    let fault = {
        let mut state = fake.state();
        let due = state.faults.iter().position(|f| {
            f.provider == provider && f.path_suffix.as_deref().is_none_or(|s| path.ends_with(s))
        });
        due.map(|i| {
            let f = state.faults[i].clone();
            if f.count <= 1 {
                state.faults.remove(i);
            } else {
                state.faults[i].count -= 1;
            }
            f
        })
    };
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let logged_body = if bytes.len() > MAX_LOGGED_BODY {
        format!("[{} bytes]", bytes.len())
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let method = parts.method.to_string();
    let response = match fault {
        Some(f) => fault_answer(&f),
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    fake.state().requests.push(ProviderRequest {
        provider,
        method,
        path,
        headers,
        body: logged_body,
        status: response.status().as_u16(),
    });
    response
}

fn fault_answer(f: &Fault) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = status.canonical_reason().unwrap_or("injected failure");
    let code = f.code.clone().unwrap_or_else(|| f.status.to_string());
    let body = match f.casing.as_deref() {
        Some("Error") => json!({"Error": {"code": code, "description": message}}),
        Some("error") => json!({"error": {"code": code, "message": message}}),
        _ => json!({"message": message}),
    };
    (status, Json(body)).into_response()
}

/// `{"error"|"Error": {"code", "description"}}`.
pub(crate) fn unico_error(
    status: StatusCode,
    capital: bool,
    code: &str,
    description: &str,
) -> Response {
    let key = if capital { "Error" } else { "error" };
    (
        status,
        Json(json!({ key: {"code": code, "description": description} })),
    )
        .into_response()
}

async fn requests(State(fake): State<FakeProviders>) -> Json<Vec<ProviderRequest>> {
    Json(fake.requests())
}

async fn add_fault(State(fake): State<FakeProviders>, Json(fault): Json<Fault>) -> StatusCode {
    fake.add_fault(fault);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    result: Option<String>,
}

async fn complete_process(
    State(fake): State<FakeProviders>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let result = serde_json::from_slice::<Completion>(&body)
        .ok()
        .and_then(|c| c.result)
        .unwrap_or_else(|| "POSITIVE".to_string());
    if fake.complete_process(&id, &result) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn claro_absent(State(fake): State<FakeProviders>, Json(body): Json<Value>) -> StatusCode {
    match body.get("cpf").and_then(Value::as_str) {
        Some(cpf) => {
            fake.state().claro_absent.insert(cpf.to_string());
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn idtoken_mode(State(fake): State<FakeProviders>, Json(body): Json<Value>) -> StatusCode {
    match body.get("authenticated").and_then(Value::as_bool) {
        Some(a) => {
            fake.state().idtoken_impostor = !a;
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests;

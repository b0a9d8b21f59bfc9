//! The SPID Server client: JWT login, token refresh, and the operations the station uses,
//! speaking exactly `spec/upstream-spid-server.md`.

mod calls;
mod error;
mod interpret;
mod remote;
pub mod wire;

use bytes::Bytes;
use reqwest::{header, Method, StatusCode, Url};
use tokio::sync::Mutex;

use crate::config::UpstreamSettings;

pub use error::UpstreamError;
pub use interpret::{person_lookup, OperatorRecord, PersonRecord};
pub use wire::Biometric as WireBiometric;

/// Error bodies longer than this are cut in messages; they are for humans, not parsing.
const MAX_MESSAGE_CHARS: usize = 300;

/// One client per daemon; cheap to share behind an `Arc`. Redirects are never followed, so
/// the operator lookup's 302 body is read, and no other call can be bounced elsewhere.
///
/// TLS: rustls. With `upstream.ca_bundle`, only the CAs of that bundle are trusted (a
/// station talks to one deployment, usually with a private CA); without it, the built-in
/// webpki roots. The server name must match the certificate either way.
pub struct UpstreamClient {
    http: reqwest::Client,
    base: Url,
    token_url: Url,
    username: String,
    password: Option<String>,
    /// The current bearer token. Held across a login so that concurrent callers wait for one
    /// login instead of each starting their own.
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// `password`: `None` sends no credentials at all (a server without authentication).
    pub fn new(
        settings: &UpstreamSettings,
        password: Option<String>,
    ) -> Result<Self, UpstreamError> {
        let base = Url::parse(&settings.url)
            .map_err(|e| UpstreamError::Setup(format!("upstream.url {}: {e}", settings.url)))?;
        if base.cannot_be_a_base() {
            return Err(UpstreamError::Setup(format!(
                "upstream.url {} cannot hold paths",
                settings.url
            )));
        }
        let token_url = if settings.token_path.starts_with("http://")
            || settings.token_path.starts_with("https://")
        {
            Url::parse(&settings.token_path).map_err(|e| {
                UpstreamError::Setup(format!("upstream.token_path {}: {e}", settings.token_path))
            })?
        } else {
            let segments: Vec<&str> = settings
                .token_path
                .split('/')
                .filter(|s| !s.is_empty())
                .collect();
            join(&base, &segments)
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("spidd/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                UpstreamError::Setup(format!("upstream.ca_bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                UpstreamError::Setup(format!("upstream.ca_bundle {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(UpstreamError::Setup(format!(
                    "upstream.ca_bundle {}: no PEM certificate in it",
                    path.display()
                )));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| UpstreamError::Setup(format!("HTTP client: {e}")))?;
        Ok(UpstreamClient {
            http,
            base,
            token_url,
            username: settings.username.clone(),
            password,
            token: Mutex::new(None),
        })
    }

    /// `{url}/a/b`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        join(&self.base, segments)
    }

    /// The cached token, logging in first when there is none. `None` without credentials.
    async fn token(&self) -> Result<Option<String>, UpstreamError> {
        if self.password.is_none() {
            return Ok(None);
        }
        let mut slot = self.token.lock().await;
        if slot.is_none() {
            *slot = Some(self.login().await?);
        }
        Ok(slot.clone())
    }

    /// Replaces `stale` with a fresh token. When another caller already replaced it, their
    /// token is used: one 401 wave causes one login, not one per request.
    async fn refresh(&self, stale: Option<&str>) -> Result<String, UpstreamError> {
        let mut slot = self.token.lock().await;
        if let Some(current) = slot.as_deref() {
            if Some(current) != stale {
                return Ok(current.to_string());
            }
        }
        *slot = None;
        let fresh = self.login().await?;
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// POST `{username, password}` to the token endpoint; the token comes from the JSON field
    /// `token` or `access_token`, a plain-text body, or (last resort) an `Authorization:
    /// Bearer` answer header, which some Spring-based servers use.
    async fn login(&self) -> Result<String, UpstreamError> {
        let body = serde_json::json!({ "username": self.username, "password": self.password.as_deref().unwrap_or("") });
        let resp = self
            .http
            .post(self.token_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| UpstreamError::from_transport(&e, true))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            tracing::warn!(status = status.as_u16(), user = %self.username, "the SPID server refused the station's credentials");
            return Err(UpstreamError::Unauthorized);
        }
        let header_token = resp
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        let resp = match check_status(resp, true).await {
            Ok(resp) => resp,
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                return Err(UpstreamError::Login(format!(
                    "token endpoint {}: {e}",
                    self.token_url.path()
                )))
            }
        };
        let text = read_text(resp, true).await?;
        let token = token_from_body(&text)
            .or(header_token)
            .filter(|t| !t.is_empty());
        tracing::debug!(found = token.is_some(), "logged in to the SPID server");
        token.ok_or_else(|| {
            UpstreamError::Login("the token endpoint answered without a token".into())
        })
    }

    /// Sends one request with the bearer token; on 401 refreshes the token once and repeats
    /// once. A 401 means the server refused before doing anything, so repeating is safe even
    /// for a submit. Answers other than 401 are returned as they are.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        idempotent: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let token = self.token().await?;
        let resp = self
            .send_once(&method, &url, body.clone(), token.as_deref(), idempotent)
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        if self.password.is_none() {
            return Err(UpstreamError::Unauthorized);
        }
        tracing::debug!("the SPID server answered 401; refreshing the token once");
        let fresh = self.refresh(token.as_deref()).await?;
        let resp = self
            .send_once(&method, &url, body, Some(&fresh), idempotent)
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            tracing::warn!("the SPID server answered 401 to a fresh token");
            return Err(UpstreamError::Unauthorized);
        }
        Ok(resp)
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Bytes>,
        token: Option<&str>,
        idempotent: bool,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut req = self.http.request(method.clone(), url.clone());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        req.send()
            .await
            .map_err(|e| UpstreamError::from_transport(&e, idempotent))
    }
}

fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn token_from_body(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => ["token", "access_token"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()))
            .map(str::to_string),
        Ok(serde_json::Value::String(s)) => Some(s),
        Ok(_) => None,
        Err(_) => Some(text.strip_prefix("Bearer ").unwrap_or(text).to_string()),
    }
}

/// Passes 2xx through; turns 404, 4xx and 5xx into errors carrying the server's message.
async fn check_status(
    resp: reqwest::Response,
    idempotent: bool,
) -> Result<reqwest::Response, UpstreamError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(UpstreamError::NotFound);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(UpstreamError::Unauthorized);
    }
    let code = status.as_u16();
    let message = error_message(resp, idempotent).await;
    if status.is_server_error() {
        Err(UpstreamError::Server {
            status: code,
            message,
        })
    } else if status.is_client_error() {
        Err(UpstreamError::Rejected {
            status: code,
            message,
        })
    } else {
        Err(UpstreamError::Malformed(format!(
            "unexpected HTTP status {code}"
        )))
    }
}

/// The `ErrorResponse` summary, else the body's first characters, else the reason phrase.
async fn error_message(resp: reqwest::Response, idempotent: bool) -> String {
    let status = resp.status();
    let text = read_text(resp, idempotent).await.unwrap_or_default();
    let message = match serde_json::from_str::<wire::ErrorResponse>(&text) {
        Ok(e) if !e.summary().is_empty() => e.summary(),
        _ => text.trim().to_string(),
    };
    let message = if message.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string()
    } else {
        message
    };
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

async fn read_text(resp: reqwest::Response, idempotent: bool) -> Result<String, UpstreamError> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| UpstreamError::from_transport(&e, idempotent))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses a JSON answer; an empty or misshapen body is `Malformed` naming the call.
fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, UpstreamError> {
    if text.trim().is_empty() {
        return Err(UpstreamError::Malformed(format!("{what}: empty answer")));
    }
    serde_json::from_str(text).map_err(|e| UpstreamError::Malformed(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testserver;

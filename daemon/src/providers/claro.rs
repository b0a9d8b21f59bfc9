//! Claro Face Match: whether Claro's base holds facial biometrics for a CPF. OAuth2 client
//! credentials (`x-client-auth: Basic`), the CPF in the `X-QueryString` header. Claro bills
//! every answer, so a check is one call: only a 401 (no answer delivered) is repeated, once,
//! with a new token.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use state_machine::Cpf;
use tokio::sync::Mutex;

use super::http::{self, ProviderError};
use super::secret::Secret;
use crate::config::ClaroSettings;

const PROVIDER: &str = "Claro Face Match";

pub struct Claro {
    http: reqwest::Client,
    token_url: Url,
    biometrics_url: Url,
    key: Secret,
    secret: Secret,
    token: Mutex<Option<String>>,
}

/// What Claro knows of a CPF.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaroAnswer {
    /// 200: the base holds facial biometrics (`versions`, and how many `biohashs`).
    Found {
        versions: Vec<Value>,
        biohashes: usize,
    },
    /// 422: the person is not in Claro's base; an outcome, not an error.
    NotInBase,
}

#[derive(Deserialize)]
struct Biometrics {
    #[serde(default)]
    versions: Vec<Value>,
    #[serde(default)]
    biohashs: Vec<Value>,
}

impl Claro {
    pub fn new(
        settings: &ClaroSettings,
        key: Secret,
        secret: Secret,
    ) -> Result<Claro, ProviderError> {
        let base = settings.base_url.trim_end_matches('/');
        let parse = |u: String| {
            Url::parse(&u).map_err(|e| ProviderError::Setup {
                provider: PROVIDER,
                reason: format!("base_url: {e}"),
            })
        };
        Ok(Claro {
            http: http::client(PROVIDER)?,
            token_url: parse(format!("{base}/oauth2/v1/token"))?,
            biometrics_url: parse(format!("{base}/identity/v1/facialbiometrics"))?,
            key,
            secret,
            token: Mutex::new(None),
        })
    }

    pub async fn facial_biometrics(&self, cpf: &Cpf) -> Result<ClaroAnswer, ProviderError> {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            let sent = self
                .http
                .get(self.biometrics_url.clone())
                .header(
                    "X-QueryString",
                    format!("identificationType=CPF&IdentificationId={}", cpf.digits()),
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .bearer_auth(&token)
                .send()
                .await;
            let (status, text) = http::read(PROVIDER, sent).await?;
            match status {
                s if s.is_success() => {
                    let b: Biometrics =
                        serde_json::from_str(&text).map_err(|e| ProviderError::Malformed {
                            provider: PROVIDER,
                            reason: e.to_string(),
                        })?;
                    return Ok(ClaroAnswer::Found {
                        versions: b.versions,
                        biohashes: b.biohashs.len(),
                    });
                }
                StatusCode::UNPROCESSABLE_ENTITY => return Ok(ClaroAnswer::NotInBase),
                StatusCode::UNAUTHORIZED if !refreshed => {
                    let mut slot = self.token.lock().await;
                    if slot.as_deref() == Some(token.as_str()) {
                        *slot = None;
                    }
                    refreshed = true;
                }
                _ => return Err(http::status_error(PROVIDER, status, &text)),
            }
        }
    }

    async fn token(&self) -> Result<String, ProviderError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref() {
            return Ok(token.clone());
        }
        let basic = STANDARD.encode(format!("{}:{}", self.key.expose(), self.secret.expose()));
        let sent = self
            .http
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("x-client-auth", format!("Basic {basic}"))
            .body("grant_type=client_credentials")
            .send()
            .await;
        let (status, text) = http::read(PROVIDER, sent).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ProviderError::Unauthorized {
                provider: PROVIDER,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(http::status_error(PROVIDER, status, &text));
        }
        let token = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("access_token")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::Malformed {
                provider: PROVIDER,
                reason: "the token answer has no access_token".into(),
            })?;
        *slot = Some(token.clone());
        Ok(token)
    }
}

//! Unico IDToken: the individual's captured face checked 1:1 against an earlier Unico process
//! (`referenceProcessId`). 429 and 5xx are retried twice with backoff and jitter; an expired
//! or invalid access token (401, 403 10501/10502) is replaced once; nothing else is repeated.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::Url;
use serde::Deserialize;
use state_machine::Cpf;

use super::by_unico::token_rejected;
use super::http::{self, ProviderError, CALL_RETRY};
use super::secret::Secret;
use super::unico_auth::UnicoAuth;
use crate::config::IdTokenSettings;

const PROVIDER: &str = "Unico IDToken";
/// Attempts of one check when the answer is 429 or 5xx.
const MAX_ATTEMPTS: u32 = 3;

pub struct IdToken {
    http: reqwest::Client,
    url: Url,
    api_key: Secret,
    auth: Arc<UnicoAuth>,
}

/// `{id, authenticated, liveness}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FaceCheck {
    #[serde(default)]
    pub id: Option<String>,
    pub authenticated: bool,
    /// 1 passed, 2 failed, 0 inconclusive; absent without IDLive.
    #[serde(default)]
    pub liveness: Option<i64>,
}

impl IdToken {
    pub fn new(
        settings: &IdTokenSettings,
        api_key: Secret,
        auth: Arc<UnicoAuth>,
    ) -> Result<IdToken, ProviderError> {
        let url = Url::parse(&format!(
            "{}/processes/v1",
            settings.api_url.trim_end_matches('/')
        ))
        .map_err(|e| ProviderError::Setup {
            provider: PROVIDER,
            reason: format!("api_url: {e}"),
        })?;
        Ok(IdToken {
            http: http::client(PROVIDER)?,
            url,
            api_key,
            auth,
        })
    }

    /// `POST /processes/v1` with the subject's CPF, the reference process and the face JPEG.
    pub async fn check(
        &self,
        cpf: &Cpf,
        reference: &str,
        face_jpeg: &[u8],
    ) -> Result<FaceCheck, ProviderError> {
        let body = serde_json::json!({
            "subject": {"code": cpf.digits()},
            "referenceProcessId": reference,
            "imagebase64": STANDARD.encode(face_jpeg),
        });
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.auth.token().await?;
            let sent = self
                .http
                .post(self.url.clone())
                .header("APIKEY", self.api_key.expose())
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            let (status, text) = http::read(PROVIDER, sent).await?;
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| ProviderError::Malformed {
                    provider: PROVIDER,
                    reason: e.to_string(),
                });
            }
            let error = http::status_error(PROVIDER, status, &text);
            if !refreshed && token_rejected(status, error.code()) {
                self.auth.invalidate(&token).await;
                refreshed = true;
                continue;
            }
            if error.is_transient() && attempt < MAX_ATTEMPTS {
                let wait = CALL_RETRY.delay(attempt);
                tracing::debug!(
                    provider = PROVIDER,
                    status = status.as_u16(),
                    wait_ms = wait.as_millis() as u64,
                    "retrying after backoff"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(error);
        }
    }
}

//! faceverify.ai remote capture: an HMAC-SHA256-signed session creation whose `url` is the
//! link. There is no public result endpoint: the operator records the result (see README).

use reqwest::Url;
use ring::hmac;
use serde::Deserialize;

use super::http::{self, ProviderError};
use super::secret::Secret;
use super::Created;
use crate::config::FaceverifySettings;

const PROVIDER: &str = "faceverify.ai";
const SESSION_PATH: &str = "/api/v1/session";
const CONTENT_TYPE: &str = "application/json";

pub struct Faceverify {
    http: reqwest::Client,
    url: Url,
    country: String,
    api_key: Secret,
    secret: Secret,
}

#[derive(Deserialize)]
struct SessionAnswer {
    #[serde(default)]
    success: bool,
    data: Option<SessionData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionData {
    session_id: String,
    url: String,
}

/// `hex(HMAC-SHA256(secret, METHOD \n path \n query \n apiKey \n contentType \n body))`.
pub fn signature(
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    api_key: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for part in [method, path, query, api_key, content_type] {
        ctx.update(part.as_bytes());
        ctx.update(b"\n");
    }
    ctx.update(body);
    ctx.sign()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Faceverify {
    pub fn new(
        settings: &FaceverifySettings,
        api_key: Secret,
        secret: Secret,
    ) -> Result<Faceverify, ProviderError> {
        let url = Url::parse(&format!(
            "{}{SESSION_PATH}",
            settings.base_url.trim_end_matches('/')
        ))
        .map_err(|e| ProviderError::Setup {
            provider: PROVIDER,
            reason: format!("base_url: {e}"),
        })?;
        Ok(Faceverify {
            http: http::client(PROVIDER)?,
            url,
            country: settings.country.clone(),
            api_key,
            secret,
        })
    }

    /// `POST /api/v1/session` with `{"country","uniqueIdentifier"}`, signed over the exact
    /// body bytes sent.
    pub async fn create(&self, unique_identifier: &str) -> Result<Created, ProviderError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "country": self.country,
            "uniqueIdentifier": unique_identifier,
        }))
        .map_err(|e| ProviderError::Setup {
            provider: PROVIDER,
            reason: e.to_string(),
        })?;
        let signature = signature(
            self.secret.expose(),
            "POST",
            self.url.path(),
            self.url.query().unwrap_or(""),
            self.api_key.expose(),
            CONTENT_TYPE,
            &body,
        );
        let sent = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-auth-client", self.api_key.expose())
            .header("x-hmac-signature", signature)
            .body(body)
            .send()
            .await;
        let (status, text) = http::read(PROVIDER, sent).await?;
        if !status.is_success() {
            return Err(http::status_error(PROVIDER, status, &text));
        }
        let answer: SessionAnswer =
            serde_json::from_str(&text).map_err(|e| ProviderError::Malformed {
                provider: PROVIDER,
                reason: e.to_string(),
            })?;
        match answer.data {
            Some(data) if answer.success && !data.url.is_empty() => Ok(Created {
                external_id: data.session_id,
                url: data.url,
            }),
            _ => Err(ProviderError::Malformed {
                provider: PROVIDER,
                reason: "the answer is not a successful session with a url".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer, computed independently of this code with OpenSSL:
    ///
    /// ```text
    /// $ printf 'POST\n/api/v1/session\n\nxxx-api-key\napplication/json\n{"country":"BR","uniqueIdentifier":"user123"}' \
    ///     | openssl dgst -sha256 -hmac 'xxx-secret-key'
    /// SHA2-256(stdin)= fcd966e0e89d5d5c9f2466c583950220c3589a69d3ea4a86fb5d79a8ef6108a5
    /// ```
    #[test]
    fn the_signature_of_a_fixed_request_is_the_openssl_answer() {
        let sig = signature(
            "xxx-secret-key",
            "POST",
            "/api/v1/session",
            "",
            "xxx-api-key",
            "application/json",
            br#"{"country":"BR","uniqueIdentifier":"user123"}"#,
        );
        assert_eq!(
            sig,
            "fcd966e0e89d5d5c9f2466c583950220c3589a69d3ea4a86fb5d79a8ef6108a5"
        );
    }
}

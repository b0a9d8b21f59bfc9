//! The Unico access token (shared by IDToken and by Unico): a JWT-bearer grant with an RS256
//! assertion, cached until shortly before it expires. Each assertion is used once. A refusal
//! (401/403) of the token call is never retried: repeated failures lock the service account.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::http::{self, ProviderError};
use super::jwt::{self, AssertionClaims, RsaSigner};
use crate::config::UnicoAccount;

/// Lifetime asked for in the assertion (the maximum Unico accepts).
const ASSERTION_LIFETIME: u64 = 3600;
/// The cached token is dropped this long before it expires (at most a tenth of its life).
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

pub struct UnicoAuth {
    provider: &'static str,
    http: reqwest::Client,
    token_url: Url,
    issuer: String,
    audience: String,
    signer: RsaSigner,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl UnicoAuth {
    pub fn new(
        provider: &'static str,
        account: &UnicoAccount,
        signer: RsaSigner,
    ) -> Result<UnicoAuth, ProviderError> {
        let audience = account.identity_url.trim_end_matches('/').to_string();
        let token_url =
            Url::parse(&format!("{audience}/oauth2/token")).map_err(|e| ProviderError::Setup {
                provider,
                reason: format!("identity_url: {e}"),
            })?;
        Ok(UnicoAuth {
            provider,
            http: http::client(provider)?,
            token_url,
            issuer: format!(
                "{}@{}.iam.acesso.io",
                account.service_account, account.tenant
            ),
            audience,
            signer,
            cached: Mutex::new(None),
        })
    }

    /// The claims of an assertion made at `now` (seconds since the epoch).
    pub fn claims(&self, now: u64) -> AssertionClaims {
        AssertionClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            scope: "*".to_string(),
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        }
    }

    /// A valid access token: the cached one, or a new one. Callers wait for one token call
    /// instead of each making their own.
    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        let margin = EXPIRY_MARGIN.min(lifetime / 10);
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }

    /// Forgets `stale` (the provider said it expired); the next [`UnicoAuth::token`] fetches.
    pub async fn invalidate(&self, stale: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|(t, _)| t == stale) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), ProviderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion =
            jwt::assertion(&self.signer, &self.claims(now)).map_err(|e| ProviderError::Setup {
                provider: self.provider,
                reason: e.to_string(),
            })?;
        let form = format!(
            "grant_type={}&assertion={assertion}",
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
        let sent = self
            .http
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await;
        let (status, body) = http::read(self.provider, sent).await?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            tracing::warn!(
                provider = self.provider,
                status = status.as_u16(),
                issuer = %self.issuer,
                "Unico refused the service account's assertion; not retrying (repeated failures lock the account)"
            );
            return Err(ProviderError::Unauthorized {
                provider: self.provider,
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(http::status_error(self.provider, status, &body));
        }
        let answer: TokenAnswer =
            serde_json::from_str(&body).map_err(|e| ProviderError::Malformed {
                provider: self.provider,
                reason: format!("token answer: {e}"),
            })?;
        let seconds = match &answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(ASSERTION_LIFETIME)
        .clamp(1, ASSERTION_LIFETIME);
        tracing::debug!(
            provider = self.provider,
            expires_in = seconds,
            "Unico access token obtained"
        );
        Ok((answer.access_token, Duration::from_secs(seconds)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    const TEST_KEY: &str = include_str!("../../tests/fixtures/unico-test-key.pem");

    /// A token endpoint that counts calls and answers `status` (200 with a token otherwise).
    async fn endpoint(status: u16) -> (String, Arc<(AtomicUsize, AtomicU16)>) {
        let state = Arc::new((AtomicUsize::new(0), AtomicU16::new(status)));
        let app = axum::Router::new()
            .route(
                "/oauth2/token",
                post(
                    |State(s): State<Arc<(AtomicUsize, AtomicU16)>>, body: String| async move {
                        let n = s.0.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(body.starts_with("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"));
                        let status = StatusCode::from_u16(s.1.load(Ordering::SeqCst)).unwrap();
                        let answer = format!(r#"{{"access_token":"t{n}","expires_in":3600,"token_type":"Bearer"}}"#);
                        (status, answer)
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), state)
    }

    fn unico_auth(identity_url: String) -> UnicoAuth {
        let account = UnicoAccount {
            service_account: "acct".into(),
            tenant: "tenant".into(),
            identity_url,
            private_key_file: PathBuf::from("/unused"),
        };
        UnicoAuth::new("Unico", &account, RsaSigner::from_pem(TEST_KEY).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_token_is_cached_replaced_when_stale_and_a_refusal_is_not_retried() {
        let (url, calls) = endpoint(200).await;
        let auth = unico_auth(url.clone());
        let claims = auth.claims(1_000);
        assert_eq!(claims.iss, "acct@tenant.iam.acesso.io");
        assert_eq!((claims.aud.as_str(), claims.exp), (url.as_str(), 4_600));
        assert_eq!(auth.token().await.unwrap(), "t1");
        assert_eq!(auth.token().await.unwrap(), "t1", "cached");
        auth.invalidate("some-other-token").await;
        assert_eq!(auth.token().await.unwrap(), "t1");
        auth.invalidate("t1").await;
        assert_eq!(auth.token().await.unwrap(), "t2");
        assert_eq!(calls.0.load(Ordering::SeqCst), 2);

        let (url, calls) = endpoint(401).await;
        let auth = unico_auth(url);
        for _ in 0..2 {
            assert_eq!(
                auth.token().await.unwrap_err(),
                ProviderError::Unauthorized {
                    provider: "Unico",
                    status: 401
                }
            );
        }
        assert_eq!(
            calls.0.load(Ordering::SeqCst),
            2,
            "one call per request, never a loop"
        );
    }
}

//! What every provider client shares: the HTTP client, the error type, error bodies in both
//! of Unico's casings, and backoff with jitter.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;

/// Time to connect to a provider.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Error messages are for people; longer bodies are cut.
const MAX_MESSAGE_CHARS: usize = 300;

/// How a provider call failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ProviderError {
    /// No answer: connection refused, DNS, timeout, reset.
    #[error("{provider} could not be reached: {reason}")]
    Unreachable {
        provider: &'static str,
        reason: String,
    },
    /// An HTTP error answer, with the provider's own code and message when it sent them.
    #[error("{provider} answered HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Status {
        provider: &'static str,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The provider's token endpoint refused the station's credentials (never retried).
    #[error("{provider} refused the station's credentials (HTTP {status})")]
    Unauthorized { provider: &'static str, status: u16 },
    /// An answer without the documented shape.
    #[error("{provider}'s answer is not understood: {reason}")]
    Malformed {
        provider: &'static str,
        reason: String,
    },
    /// The station's side: key, request building.
    #[error("{provider}: {reason}")]
    Setup {
        provider: &'static str,
        reason: String,
    },
}

impl ProviderError {
    /// Worth asking again later: no answer, 429, 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Unreachable { .. } => true,
            ProviderError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Status { status, .. } | ProviderError::Unauthorized { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The provider's error code (`10502`, `3`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// One client per provider: rustls, no redirects, bounded timeouts.
pub fn client(provider: &'static str) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("spidd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::Setup {
            provider,
            reason: format!("HTTP client: {e}"),
        })
}

/// A transport failure, described without the URL (it may carry a CPF).
pub fn transport(provider: &'static str, e: &reqwest::Error) -> ProviderError {
    let mut reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = s.source();
    }
    ProviderError::Unreachable { provider, reason }
}

/// Reads an answer: `Ok((status, body))` for any status; transport failures as errors.
pub async fn read(
    provider: &'static str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(StatusCode, String), ProviderError> {
    let resp = sent.map_err(|e| transport(provider, &e))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| transport(provider, &e))?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// The error of a non-2xx answer: `{"error"|"Error": {"code", "description"|"message"}}`
/// (Unico uses both casings), a flat `{"code","message"}`, or the text itself.
pub fn status_error(provider: &'static str, status: StatusCode, body: &str) -> ProviderError {
    let (code, message) = error_body(body);
    let message = message
        .filter(|m| !m.is_empty())
        .or_else(|| status.canonical_reason().map(str::to_string))
        .unwrap_or_else(|| "no message".to_string());
    ProviderError::Status {
        provider,
        status: status.as_u16(),
        code,
        message: message.chars().take(MAX_MESSAGE_CHARS).collect(),
    }
}

pub fn error_body(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        let text = body.trim();
        return (None, (!text.is_empty()).then(|| text.to_string()));
    };
    let inner = value
        .get("error")
        .or_else(|| value.get("Error"))
        .filter(|v| v.is_object())
        .unwrap_or(&value);
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let code = text(inner.get("code"));
    let message = text(inner.get("description"))
        .or_else(|| text(inner.get("message")))
        .or_else(|| text(value.get("message")))
        .or_else(|| text(value.get("error")));
    (code, message)
}

/// Exponential backoff with jitter: wait number `n` (1-based) is `initial × 2^(n−1)`,
/// capped at `max`, times a random factor in [0.8, 1.2].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_with(n, rand::thread_rng().gen_range(0.8..=1.2))
    }

    pub fn delay_with(&self, n: u32, jitter: f64) -> Duration {
        let doublings = n.saturating_sub(1).min(31);
        let base = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        base.mul_f64(jitter.clamp(0.8, 1.2))
    }
}

/// Unico's short retries for 429 and 5xx within one call: 0.5 s, 1 s (±20 %).
pub const CALL_RETRY: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(4),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_unico_casings_and_flat_bodies_are_read() {
        assert_eq!(
            error_body(r#"{"Error":{"code":"40004","description":"bad image"}}"#),
            (Some("40004".into()), Some("bad image".into()))
        );
        assert_eq!(
            error_body(r#"{"error":{"code":3,"message":"invalid flow"}}"#),
            (Some("3".into()), Some("invalid flow".into()))
        );
        assert_eq!(
            error_body(r#"{"code":"x","message":"flat"}"#),
            (Some("x".into()), Some("flat".into()))
        );
        assert_eq!(
            error_body("Bad gateway"),
            (None, Some("Bad gateway".into()))
        );
        let e = status_error(
            "Unico",
            StatusCode::FORBIDDEN,
            r#"{"error":{"code":"10502","description":"expired"}}"#,
        );
        assert_eq!(e.code(), Some("10502"));
        assert_eq!(
            e.to_string(),
            "Unico answered HTTP 403 (code 10502): expired"
        );
        assert!(!e.is_transient());
        assert!(status_error("x", StatusCode::TOO_MANY_REQUESTS, "").is_transient());
        assert!(status_error("x", StatusCode::BAD_GATEWAY, "").is_transient());
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay_with(1, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay_with(3, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay_with(10, 1.0), Duration::from_secs(60));
        assert_eq!(b.delay_with(1, 5.0), Duration::from_millis(2400));
        for n in 1..20 {
            let d = b.delay(n);
            assert!(
                d >= Duration::from_millis(1600) && d <= Duration::from_secs(72),
                "{d:?}"
            );
        }
    }
}

//! How a call to the SPID server can fail, sorted by what the caller may do next.

/// `Unreachable` and `Ambiguous` differ in one thing that matters for exactly-once delivery:
/// after `Unreachable` the server cannot hold the request; after `Ambiguous` it may.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connection refused, DNS failure, connect timeout; or any transport failure of a call
    /// that is safe to repeat. The request did not take effect.
    #[error("the SPID server could not be reached: {0}")]
    Unreachable(String),
    /// Timeout or connection loss after a non-idempotent request may have been written: the
    /// server may hold it. Resend only after asking the server.
    #[error("no answer from the SPID server after the request was sent: {0}")]
    Ambiguous(String),
    /// 5xx.
    #[error("the SPID server failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// 4xx other than 401 (and other than 404 where 404 has a meaning of its own).
    #[error("the SPID server refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 401 again after one token refresh, or the token endpoint refused the credentials.
    #[error("the SPID server refused the station's credentials")]
    Unauthorized,
    /// The token endpoint answered something other than a token, a refusal or a 5xx (wrong
    /// `upstream.token_path`, a 400, no token in the body). Not the request's fault.
    #[error("cannot log in to the SPID server: {0}")]
    Login(String),
    /// An answer that does not have the shape of the spec.
    #[error("the SPID server's answer is not understood: {0}")]
    Malformed(String),
    /// 404 on a call where "unknown" is not an answer of its own.
    #[error("the SPID server does not know this item")]
    NotFound,
    /// The client could not be built (CA bundle, URL) or asked for something it cannot do.
    #[error("upstream client: {0}")]
    Setup(String),
}

impl UpstreamError {
    /// Worth retrying later without changing anything: unreachable, ambiguous, 5xx.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_)
                | UpstreamError::Ambiguous(_)
                | UpstreamError::Server { .. }
        )
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Server { status, .. } | UpstreamError::Rejected { status, .. } => {
                Some(*status)
            }
            UpstreamError::Unauthorized => Some(401),
            UpstreamError::NotFound => Some(404),
            _ => None,
        }
    }

    /// Sorts a transport error. `idempotent`: repeating the request is harmless (GET, login),
    /// so any failure short of an answer counts as unreachable.
    pub(crate) fn from_transport(e: &reqwest::Error, idempotent: bool) -> UpstreamError {
        let text = describe(e);
        if e.is_builder() {
            UpstreamError::Setup(text)
        } else if e.is_connect() || idempotent {
            UpstreamError::Unreachable(text)
        } else {
            UpstreamError::Ambiguous(text)
        }
    }
}

/// The error and its causes on one line, without the URL (it may hold a CPF): the causes
/// never carry the URL, only the outer error does.
fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    let mentions_timeout = parts
        .iter()
        .any(|p| p.contains("timed out") || p.contains("timeout"));
    if e.is_timeout() && !mentions_timeout {
        parts.insert(0, "timed out".into());
    }
    if parts.is_empty() {
        parts.push(
            if e.is_body() || e.is_decode() {
                "the answer's body could not be read"
            } else {
                "request failed"
            }
            .into(),
        );
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        assert!(UpstreamError::Unreachable("x".into()).is_transient());
        assert!(UpstreamError::Ambiguous("x".into()).is_transient());
        assert!(UpstreamError::Server {
            status: 503,
            message: "x".into()
        }
        .is_transient());
        assert!(!UpstreamError::Rejected {
            status: 422,
            message: "x".into()
        }
        .is_transient());
        assert!(!UpstreamError::Unauthorized.is_transient());
        assert!(!UpstreamError::Malformed("x".into()).is_transient());
        assert!(!UpstreamError::NotFound.is_transient());
        assert_eq!(UpstreamError::Unauthorized.status(), Some(401));
    }
}

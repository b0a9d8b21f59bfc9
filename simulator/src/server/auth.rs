//! Bearer tokens of the fake server: issued by the token endpoint for the configured user,
//! valid for a TTL, all revocable at once (the `expire_tokens` fault).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct TokenStore {
    expiry: HashMap<String, Instant>,
}

impl TokenStore {
    /// A fresh opaque token valid until `now + ttl`.
    pub fn issue(&mut self, now: Instant, ttl: Duration) -> String {
        self.expiry.retain(|_, &mut until| until > now);
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.expiry.insert(token.clone(), now + ttl);
        token
    }

    pub fn is_valid(&self, token: &str, now: Instant) -> bool {
        self.expiry.get(token).is_some_and(|&until| until > now)
    }

    /// Forgets every token: the next request of every client answers 401.
    pub fn expire_all(&mut self) {
        self.expiry.clear();
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_expire_after_their_ttl_and_on_demand() {
        let t0 = Instant::now();
        let mut store = TokenStore::default();
        let a = store.issue(t0, Duration::from_secs(10));
        assert!(store.is_valid(&a, t0 + Duration::from_secs(9)));
        assert!(!store.is_valid(&a, t0 + Duration::from_secs(10)));
        assert!(!store.is_valid("other", t0));
        let b = store.issue(t0, Duration::from_secs(10));
        assert_ne!(a, b);
        store.expire_all();
        assert!(!store.is_valid(&b, t0));
    }

    #[test]
    fn reads_bearer_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  xyz "),
        );
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}

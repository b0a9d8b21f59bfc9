//! The client against a scripted server: 302 parsing, token refresh, error sorting, timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use state_machine::{Cpf, Finger, Mode};

use super::testserver::{json, login_ok, refused, settings, silent, start, text};
use super::wire::{Biometric, UserTransaction, UserTransactionRequest};
use super::*;

const CPF: &str = "52998224725";
const OPERATOR: &str = "11144477735";

fn cpf(s: &str) -> Cpf {
    Cpf::parse(s).unwrap()
}

fn client(url: &str) -> UpstreamClient {
    UpstreamClient::new(&settings(url), Some("pw".into())).unwrap()
}

fn request(timestamp: u64) -> UserTransactionRequest {
    UserTransactionRequest {
        data: UserTransaction {
            biometrics: vec![Biometric {
                index: 2,
                content: "iVBO".into(),
                width: 10,
                height: 10,
                resolution: 500,
            }],
            missing_biometrics: vec![],
            user_id: CPF.into(),
            operator_id: OPERATOR.into(),
            timestamp,
        },
    }
}

#[tokio::test]
async fn operator_302_body_is_read_with_a_bearer_token() {
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => login_ok(),
            _ => {
                let mut r = json(302, json!({
                    "document": OPERATOR, "status": "VERIFIED", "tguid": "op-1",
                    "biometrics": [{"index": 7, "content": "AA", "width": 1, "height": 1, "resolution": 500},
                                   {"index": 2, "content": "AA", "width": 1, "height": 1, "resolution": 500}]
                }));
                r.headers_mut().insert("location", "/elsewhere".parse().unwrap());
                r
            }
        }
    })
    .await;
    let c = client(&server.url);
    let record = c.lookup_operator(&cpf(OPERATOR)).await.unwrap();
    assert!(matches!(record, OperatorRecord::Enrolled { ref biometrics } if biometrics.len() == 2));
    assert_eq!(
        record.fingers(),
        vec![Finger::RIGHT_INDEX, Finger::LEFT_INDEX]
    );
    let seen = server.requests();
    assert_eq!(seen[0].path, "/auth/login");
    assert_eq!(
        seen[0].json(),
        json!({"username": "spid", "password": "pw"})
    );
    assert_eq!(seen[1].path, format!("/operator/{OPERATOR}"));
    assert_eq!(seen[1].auth.as_deref(), Some("Bearer tok-1"));
    assert_eq!(seen.len(), 2, "the redirect must not be followed");
    // The token is cached.
    c.lookup_operator(&cpf(OPERATOR)).await.unwrap();
    assert_eq!(server.count("POST", "/auth/login"), 1);
}

#[tokio::test]
async fn operator_other_answers() {
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => text(200, "plain-token\n"),
            p if p.ends_with(OPERATOR) => text(200, ""),
            p if p.ends_with(CPF) => text(404, ""),
            _ => text(302, ""),
        }
    })
    .await;
    let c = client(&server.url);
    assert_eq!(
        c.lookup_operator(&cpf(OPERATOR)).await.unwrap(),
        OperatorRecord::Registered
    );
    assert_eq!(
        c.lookup_operator(&cpf(CPF)).await.unwrap(),
        OperatorRecord::NotFound
    );
    let e = c.lookup_operator(&cpf("39053344705")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed(_)), "{e}");
    assert_eq!(
        server.requests()[1].auth.as_deref(),
        Some("Bearer plain-token")
    );
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_then_succeeds() {
    let logins = Arc::new(AtomicUsize::new(0));
    let l = logins.clone();
    let server = start(move |s| {
        let l = l.clone();
        async move {
            if s.path == "/auth/login" {
                let n = l.fetch_add(1, Ordering::SeqCst) + 1;
                return json(200, json!({"access_token": format!("tok-{n}")}));
            }
            // Only the second token is valid: the first has "expired".
            if s.auth.as_deref() == Some("Bearer tok-2") {
                json(
                    200,
                    json!({"person-guid": "p", "biometrics": [{"index": 3}]}),
                )
            } else {
                json(401, json!({"type": "SECURITY_ERROR", "errors": []}))
            }
        }
    })
    .await;
    let c = client(&server.url);
    let person = c.lookup_person(&cpf(CPF)).await.unwrap().unwrap();
    assert_eq!(person.fingers, Some(vec![Finger::RIGHT_MIDDLE]));
    assert_eq!(logins.load(Ordering::SeqCst), 2);
    assert_eq!(server.count("GET", &format!("/people/{CPF}")), 2);
    // The refreshed token is kept.
    c.lookup_person(&cpf(CPF)).await.unwrap();
    assert_eq!(logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn repeated_401_does_not_loop() {
    let server = start(|s| async move {
        if s.path == "/auth/login" {
            login_ok()
        } else {
            text(401, "")
        }
    })
    .await;
    let c = client(&server.url);
    let e = c.submit(Mode::Enroll, &request(1)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized), "{e}");
    assert_eq!(server.count("POST", "/auth/login"), 2);
    assert_eq!(server.count("POST", "/people"), 2);
}

#[tokio::test]
async fn refused_credentials_are_unauthorized() {
    let server = start(|_| async { text(403, "") }).await;
    let e = client(&server.url).ping().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized), "{e}");
    assert_eq!(server.count("GET", "/service/cluster"), 0);
}

#[tokio::test]
async fn without_a_password_no_token_is_asked() {
    let server = start(|_| async { text(200, "Cluster Proxy is running") }).await;
    let c = UpstreamClient::new(&settings(&server.url), None).unwrap();
    c.ping().await.unwrap();
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].auth, None);
}

#[tokio::test]
async fn submit_posts_the_body_to_the_mode_path_and_reads_the_tguid() {
    let server = start(|s| async move {
        match (s.method.as_str(), s.path.as_str()) {
            ("POST", "/auth/login") => login_ok(),
            ("POST", "/people") => json(
                201,
                json!({"id": "tg-enroll", "status": "ENROLL_ENQUEUED", "message": "ok"}),
            ),
            ("POST", "/verify") => json(
                200,
                json!({"id": "tg-verify", "status": "SEARCH_MATCH", "message": ""}),
            ),
            ("GET", "/people/transactions/tg-enroll") => json(
                200,
                json!({"id": "tg-enroll", "status": "ENROLL_DONE_X", "message": "m"}),
            ),
            ("GET", "/verify/tg%2Fv") => {
                json(200, json!({"id": "tg/v", "status": "SEARCH_NOT_MATCH"}))
            }
            _ => text(500, "unexpected"),
        }
    })
    .await;
    let c = client(&server.url);
    let r = c.submit(Mode::Enroll, &request(42)).await.unwrap();
    assert_eq!(
        (r.id.as_deref(), r.status.as_deref()),
        (Some("tg-enroll"), Some("ENROLL_ENQUEUED"))
    );
    let r = c.submit(Mode::Verify, &request(43)).await.unwrap();
    assert_eq!(r.id.as_deref(), Some("tg-verify"));
    let sent = server
        .requests()
        .into_iter()
        .find(|s| s.path == "/people")
        .unwrap();
    assert_eq!(sent.json(), serde_json::to_value(request(42)).unwrap());
    let r = c.result(Mode::Enroll, "tg-enroll").await.unwrap();
    assert_eq!(
        r.status.as_deref(),
        Some("ENROLL_DONE_X"),
        "unknown statuses are carried"
    );
    let r = c.result(Mode::Verify, "tg/v").await.unwrap();
    assert_eq!(
        r.status.as_deref(),
        Some("SEARCH_NOT_MATCH"),
        "path segments are encoded"
    );
    assert!(matches!(
        c.submit(Mode::Operator, &request(1)).await,
        Err(UpstreamError::Setup(_))
    ));
}

#[tokio::test]
async fn status_codes_are_sorted() {
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => login_ok(),
            "/people" => json(
                422,
                json!({"type": "VALIDATION_ERROR", "errors": [{"message": "userId is invalid"}]}),
            ),
            "/verify" => json(
                503,
                json!({"type": "INTERNAL_ERROR", "errors": ["overloaded"]}),
            ),
            "/operator" => text(201, ""),
            p if p.starts_with("/report/") => text(200, "%PDF-1.4 tiny"),
            _ => text(200, "{not json"),
        }
    })
    .await;
    let c = client(&server.url);
    match c.submit(Mode::Enroll, &request(1)).await.unwrap_err() {
        UpstreamError::Rejected { status, message } => {
            assert_eq!(status, 422);
            assert_eq!(message, "VALIDATION_ERROR: userId is invalid");
        }
        e => panic!("{e}"),
    }
    let e = c.submit(Mode::Verify, &request(1)).await.unwrap_err();
    assert!(
        matches!(e, UpstreamError::Server { status: 503, ref message } if message == "INTERNAL_ERROR: overloaded"),
        "{e}"
    );
    assert!(e.is_transient());
    c.enroll_operator(&cpf(OPERATOR), vec![]).await.unwrap();
    let put = server
        .requests()
        .into_iter()
        .find(|s| s.path == "/operator")
        .unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.json(),
        json!({"data": {"document": OPERATOR, "biometrics": []}})
    );
    let e = c.lookup_person(&cpf(CPF)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Malformed(_)), "{e}");
    let pdf = c.report("tg-1").await.unwrap().bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
}

#[tokio::test]
async fn transactions_of_accepts_one_or_many() {
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => login_ok(),
            p if p.ends_with(CPF) => {
                json(200, json!({"id": "a", "timestamp": 5, "type": "ENROLL"}))
            }
            p if p.ends_with(OPERATOR) => json(
                200,
                json!([{"id": "a", "timestamp": 5}, {"id": "b", "timestamp": "6"}]),
            ),
            _ => text(404, ""),
        }
    })
    .await;
    let c = client(&server.url);
    let one = c.transactions_of(&cpf(CPF)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].kind.as_deref(), Some("ENROLL"));
    let many = c.transactions_of(&cpf(OPERATOR)).await.unwrap();
    assert_eq!(
        many.iter()
            .map(|t| t.timestamp_millis())
            .collect::<Vec<_>>(),
        vec![Some(5), Some(6)]
    );
    assert!(c
        .transactions_of(&cpf("39053344705"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn silence_after_sending_is_ambiguous_for_a_submit_only() {
    let url = silent().await;
    let c = UpstreamClient::new(&settings(&url), None).unwrap();
    let e = c.submit(Mode::Enroll, &request(1)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Ambiguous(_)), "{e}");
    let e = c.lookup_person(&cpf(CPF)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e}");
    assert!(
        !e.to_string().contains(CPF),
        "errors must not carry the CPF: {e}"
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable_even_for_a_submit() {
    let url = refused();
    let c = client(&url);
    let e = c.submit(Mode::Enroll, &request(1)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e}");
    let c = UpstreamClient::new(&settings(&url), None).unwrap();
    let e = c.submit(Mode::Verify, &request(1)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e}");
}

#[tokio::test]
async fn a_bad_ca_bundle_is_refused_at_start() {
    let path = std::env::temp_dir().join(format!("spidd-ca-{}.pem", std::process::id()));
    std::fs::write(&path, "not a certificate").unwrap();
    let mut s = settings("https://127.0.0.1:1/gbs-spid-server");
    s.ca_bundle = Some(path.clone());
    let e = UpstreamClient::new(&s, None).unwrap_err();
    assert!(
        matches!(e, UpstreamError::Setup(ref m) if m.contains("upstream.ca_bundle")),
        "{e}"
    );
    s.ca_bundle = Some(path.with_extension("absent"));
    assert!(matches!(
        UpstreamClient::new(&s, None),
        Err(UpstreamError::Setup(_))
    ));
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn a_broken_token_endpoint_is_a_login_error() {
    let server = start(|s| async move {
        match s.path.as_str() {
            "/auth/login" => text(404, ""),
            _ => json(200, json!({"token": "t"})),
        }
    })
    .await;
    let e = client(&server.url)
        .submit(Mode::Enroll, &request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(e, UpstreamError::Login(ref m) if m.contains("/gbs-spid-server/auth/login")),
        "{e}"
    );
    assert!(!e.is_transient());
    let server = start(|_| async { json(200, json!({"unexpected": true})) }).await;
    let e = client(&server.url).ping().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Login(_)), "{e}");
}

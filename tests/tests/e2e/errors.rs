//! The contract's error rules: statuses, codes, and "a failed call changes nothing".

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::station::*;

fn assert_error(code: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(code, want_status, "{body}");
    assert_eq!(body["status"], "ERROR", "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Calls that are out of order in the given state: each must answer 409 with the state, and
/// leave Capture Status and Login Status exactly as they were.
async fn assert_refused(s: &Station, calls: &[&str], state: &str) {
    for call in calls {
        let before = (s.ok("/capture/status").await, s.ok("/login/status").await);
        for method in [Method::GET, Method::POST] {
            let (code, body) = s.request(method.clone(), call).await;
            assert_error(code, &body, StatusCode::CONFLICT, "INVALID_STATE");
            assert_eq!(body["state"], state, "{method} {call}: {body}");
        }
        let after = (s.ok("/capture/status").await, s.ok("/login/status").await);
        assert_eq!(before, after, "{call} changed the station");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_calls_are_refused_without_effect() {
    let s = Station::start_with("[capture]\ntimeout = \"60s\"\n").await;
    let person = format!("/verify/{PERSON_ENROLLED}");
    let enroll = format!("/enroll/{PERSON_UNKNOWN}");
    assert_refused(
        &s,
        &[
            &person,
            &enroll,
            "/operator/capture",
            "/operator/enroll",
            "/capture/send",
            "/capture/cancel",
        ],
        "NOT_LOGGED_IN",
    )
    .await;

    s.login(OPERATOR).await;
    assert_refused(&s, &["/capture/send", "/operator/enroll"], "IDLE").await;

    s.sim("/sim/present", json!({"absent": true})).await;
    s.ok(&enroll).await;
    assert_refused(
        &s,
        &[
            &person,
            &enroll,
            "/operator/capture",
            "/operator/enroll",
            "/capture/send",
        ],
        "CLIENT_CAPTURING",
    )
    .await;
    s.ok("/capture/cancel").await;

    s.sim("/sim/present", json!({"absent": false})).await;
    s.ok(&enroll).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    assert_refused(
        &s,
        &[&person, &enroll, "/capture/send", "/operator/enroll"],
        "CLIENT_CAPTURE_DONE",
    )
    .await;
    s.ok("/operator/capture").await;
    s.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
    assert_refused(
        &s,
        &[&person, &enroll, "/operator/capture", "/operator/enroll"],
        "OPERATOR_CAPTURE_DONE",
    )
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cpfs_are_rejected() {
    let s = Station::start().await;
    for bad in [
        "123",
        "52998224726",
        "111.111.111-11",
        "5299822472a",
        "529.982.247-255",
        "%20",
    ] {
        for call in ["login", "verify", "enroll"] {
            let (code, body) = s.get(&format!("/{call}/{bad}")).await;
            assert_error(code, &body, StatusCode::BAD_REQUEST, "INVALID_CPF");
        }
    }
    assert_eq!(s.ok("/login/status").await["status"], "NOT_LOGGED_IN");
    s.login(OPERATOR).await;
    let (code, body) = s
        .get(&format!("/enroll/{PERSON_UNKNOWN}?missing=12:AMPUTATED"))
        .await;
    assert_error(code, &body, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let (code, body) = s
        .get(&format!("/enroll/{PERSON_UNKNOWN}?missing=7:LOST"))
        .await;
    assert_error(code, &body, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(s.ok("/capture/status").await["status"], "IDLE");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_paths_and_methods() {
    let s = Station::start().await;
    let (code, body) = s
        .get("/capture/result/4f9d1b7e-0000-4000-8000-000000000000")
        .await;
    assert_error(code, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (code, body) = s.get("/capture/report/nope").await;
    assert_error(code, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (code, body) = s.get("/no/such/call").await;
    assert_error(code, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    for (method, path) in [
        (Method::POST, "/capture/status"),
        (Method::POST, "/login/status"),
        (Method::POST, "/health"),
        (Method::DELETE, "/logout"),
        (Method::PUT, "/capture/send"),
        (Method::POST, "/capture/result/x"),
    ] {
        let (code, body) = s.request(method.clone(), path).await;
        assert_error(
            code,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        );
    }
    // The remote calls need an operator whose capture is done; unknown ids are 404.
    for call in [
        format!("/remote/verify/{PERSON_ENROLLED}"),
        format!("/remote/enroll/{PERSON_UNKNOWN}?email=ana@example.org"),
        "/remote/result/x/record?status=SEARCH_MATCH".to_string(),
    ] {
        let (code, body) = s.get(&call).await;
        assert_error(code, &body, StatusCode::CONFLICT, "INVALID_STATE");
        assert_eq!(body["state"], "NOT_LOGGED_IN", "{call}: {body}");
    }
    let (code, body) = s.get("/remote/verify/result/x").await;
    assert_error(code, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let s = Station::start().await;
    let doc = s.ok("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(
        paths.len(),
        19,
        "one path per call: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, item) in paths {
        let concrete = path
            .replace("{operatorId}", OPERATOR)
            .replace("{cpf}", PERSON_UNKNOWN)
            .replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ["get", "post"] {
            let documented = item.get(method).is_some();
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (code, body) = s.request(m, &concrete).await;
            if documented {
                assert_ne!(
                    code,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} documented but refused: {body}"
                );
            } else {
                assert_eq!(
                    code,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} answered but not documented"
                );
            }
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_enforced_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let s = Station::start_with(&format!(
        "[api]\ntoken_file = {:?}\n",
        token.display().to_string()
    ))
    .await;
    let (code, body) = s.get("/health").await;
    assert_error(code, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{}/health", s.api))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let wrong = client
        .get(format!("{}/health", s.api))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

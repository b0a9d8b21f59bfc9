//! Result life cycles driven by tokio's paused clock, calling the router directly (no sockets,
//! so the clock only moves when the test advances it).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::*;
use crate::server::seed::PERSON_UNKNOWN;

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(router: &axum::Router, server: &FakeSpidServer) -> String {
    let body = json!({"username": "spid", "password": "spid"});
    let (status, answer) = call(
        router,
        Method::POST,
        &server.config().token_path,
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    answer["token"].as_str().unwrap().to_string()
}

#[tokio::test(start_paused = true)]
async fn enroll_result_and_person_wait_for_the_enroll_delay() {
    let server = FakeSpidServer::new(ServerConfig {
        enroll_delay: Duration::from_secs(2),
        token_ttl: Duration::from_secs(60),
        ..ServerConfig::default()
    })
    .unwrap();
    let router = server.router();
    let token = login(&router, &server).await;
    let tx = transaction(PERSON_UNKNOWN, 77, &[0, 2]);
    let (status, created) = call(
        &router,
        Method::POST,
        &format!("{BASE_PATH}/people"),
        Some(&token),
        Some(tx),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "SEARCH_ENQUEUED");
    let result_path = format!(
        "{BASE_PATH}/people/transactions/{}",
        created["id"].as_str().unwrap()
    );
    let person_path = format!("{BASE_PATH}/people/{PERSON_UNKNOWN}");

    tokio::time::advance(Duration::from_millis(1999)).await;
    let (_, result) = call(&router, Method::GET, &result_path, Some(&token), None).await;
    assert_eq!(result["status"], "SEARCH_ENQUEUED");
    assert_eq!(
        call(&router, Method::GET, &person_path, Some(&token), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    tokio::time::advance(Duration::from_millis(1)).await;
    let (_, result) = call(&router, Method::GET, &result_path, Some(&token), None).await;
    assert_eq!(result["status"], "OK");
    assert_eq!(
        call(&router, Method::GET, &person_path, Some(&token), None)
            .await
            .0,
        StatusCode::OK
    );

    // The token's TTL runs on the same clock.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        call(&router, Method::GET, &person_path, Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(start_paused = true)]
async fn remote_capture_stays_pending_until_its_delay() {
    let server = FakeSpidServer::new(ServerConfig {
        remote_capture_delay: Some(Duration::from_secs(30)),
        ..ServerConfig::default()
    })
    .unwrap();
    let router = server.router();
    let token = login(&router, &server).await;
    let body = json!({"data": {"clientID": PERSON_UNKNOWN, "operatorID": crate::server::seed::OPERATOR_ENROLLED,
        "clientEmail": "ana@example.com"}});
    let (status, created) = call(
        &router,
        Method::POST,
        &format!("{BASE_PATH}/remote-capture/enroll"),
        Some(&token),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let tguid = created["tguid"].as_str().unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    let (status, _) = call(
        &router,
        Method::GET,
        &format!("{BASE_PATH}/remote-capture/biometrics/{tguid}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let due = server
        .inner
        .state
        .lock()
        .unwrap()
        .settle(tokio::time::Instant::now() + Duration::from_secs(1));
    assert_eq!(
        due.remote_due,
        vec![tguid.to_string()],
        "due exactly at the delay"
    );
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("spid-sim-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = ServerConfig {
        state_file: Some(dir.join("state.json")),
        ..quick_config()
    };
    let tguid = {
        let run = Running::start(config.clone()).await;
        let created: Value = run
            .post("/people", &transaction(PERSON_UNKNOWN, 88, &[2]))
            .await
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_string()
    };
    let run = Running::start(config).await;
    let r: Value = run
        .get(&format!("/people/transactions/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "OK");
    assert_eq!(
        run.get(&format!("/people/{PERSON_UNKNOWN}")).await.status(),
        200
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Fault modes seen from the wire, and the accepted-request log.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::server::seed::PERSON_UNKNOWN;

/// Sends one raw HTTP/1.1 request and reads until the server closes: returns what came back
/// (empty when the connection was dropped unanswered; a reset also counts as nothing).
async fn raw_exchange(run: &Running, request: String) -> Vec<u8> {
    let mut stream = TcpStream::connect(run.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    match read.expect("the server neither answered nor closed") {
        Ok(_) => answer,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => answer,
        Err(e) => panic!("unexpected read error {e}"),
    }
}

fn raw_post(run: &Running, path: &str, token: &str, body: &str) -> String {
    format!(
        "POST {BASE_PATH}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        run.addr,
        body.len()
    )
}

async fn set_mode(run: &Running, body: Value) {
    let r = run.control("/upstream", &body).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

#[tokio::test]
async fn reset_after_body_stores_and_records_but_never_answers() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    set_mode(&run, json!({"mode": "reset_after_body"})).await;
    let tx = transaction(PERSON_UNKNOWN, 1_700_000_000_777, &[2]).to_string();
    let answer = raw_exchange(&run, raw_post(&run, "/people", &token, &tx)).await;
    assert!(
        answer.is_empty(),
        "no status line: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // reqwest sees a transport error, not a status.
    let err = run
        .client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await;
    assert!(err.is_err());

    set_mode(&run, json!({"mode": "up"})).await;
    let list: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list[0]["timestamp"], 1_700_000_000_777_i64,
        "the transaction was stored"
    );
    let log: Value = run
        .client
        .get(run.sim("/upstream/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posts: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/gbs-spid-server/people")
        .collect();
    assert_eq!(posts.len(), 2, "both reached the handler");
    assert_eq!(posts[0]["body"]["data"]["userId"], PERSON_UNKNOWN);
    assert_eq!(posts[0]["status"], 201);
    assert_eq!(posts[1]["status"], 400);
}

#[tokio::test]
async fn down_drops_every_connection_and_processes_nothing() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    run.server.clear_requests();
    set_mode(&run, json!({"mode": "down"})).await;
    let tx = transaction(PERSON_UNKNOWN, 42, &[2]).to_string();
    let answer = raw_exchange(&run, raw_post(&run, "/people", &token, &tx)).await;
    assert!(answer.is_empty());
    assert!(run
        .client
        .get(run.url("/service/cluster"))
        .send()
        .await
        .is_err());
    // The control routes still answer.
    let mode: Value = run
        .client
        .get(run.sim("/upstream"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mode["mode"], "down");
    set_mode(&run, json!({"mode": "up"})).await;
    assert!(run.server.requests().is_empty());
    let list: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn error_5xx_answers_503_without_processing() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    run.server.clear_requests();
    set_mode(&run, json!({"mode": "error_5xx"})).await;
    let r = run
        .client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .json(&transaction(PERSON_UNKNOWN, 43, &[2]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (503, "INTERNAL_ERROR".into(), "SERVICE_UNAVAILABLE".into())
    );
    assert!(run.server.requests().is_empty());
    set_mode(&run, json!({"mode": "up"})).await;
    let list: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn slow_delays_the_answer_after_doing_the_work() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    set_mode(&run, json!({"mode": "slow", "latency_ms": 300})).await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let tx = transaction(PERSON_UNKNOWN, 44, &[2]);
    let timed_out = quick
        .post(run.url("/people"))
        .bearer_auth(&token)
        .json(&tx)
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    let started = Instant::now();
    let r = run
        .client
        .get(run.url("/client-version"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    set_mode(&run, json!({"mode": "up"})).await;
    // The timed-out enroll was stored all the same: the station must look before resending.
    let list: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["timestamp"], 44);
}

#[tokio::test]
async fn malformed_json_processes_but_garbles_the_answer() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    set_mode(&run, json!({"mode": "malformed_json"})).await;
    let r = run
        .client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .json(&transaction(PERSON_UNKNOWN, 45, &[2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());
    set_mode(&run, json!({"mode": "up"})).await;
    let list: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn flaky_follows_its_probabilities() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    set_mode(
        &run,
        json!({"mode": "flaky", "p_timeout": 0.0, "p_reset": 0.0, "p_5xx": 1.0, "burst": 2}),
    )
    .await;
    for _ in 0..3 {
        let r = run
            .client
            .get(run.url("/client-version"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
    }
    set_mode(
        &run,
        json!({"mode": "flaky", "p_timeout": 0.0, "p_reset": 1.0, "p_5xx": 0.0}),
    )
    .await;
    assert!(run
        .client
        .get(run.url("/client-version"))
        .bearer_auth(&token)
        .send()
        .await
        .is_err());
    set_mode(
        &run,
        json!({"mode": "flaky", "p_timeout": 0.0, "p_reset": 0.0, "p_5xx": 0.0}),
    )
    .await;
    let r = run
        .client
        .get(run.url("/client-version"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bad = run
        .control("/upstream", &json!({"mode": "flaky", "p_reset": 2.0}))
        .await;
    assert_eq!(bad.status(), 400);
    let bad = run.control("/upstream", &json!({"mode": "sideways"})).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn request_log_is_oldest_first_small_and_clearable() {
    let run = Running::start(quick_config()).await;
    let token = run.token().await;
    let r = run
        .client
        .delete(run.sim("/upstream/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let tx = transaction(PERSON_UNKNOWN, 46, &[2]);
    run.client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .json(&tx)
        .send()
        .await
        .unwrap();
    run.client
        .get(run.url("/client-version"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // Not accepted: no token, and a path no route serves.
    run.client
        .get(run.url("/client-version"))
        .send()
        .await
        .unwrap();
    run.client
        .get(run.url("/nowhere"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let log: Value = run
        .client
        .get(run.sim("/upstream/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/gbs-spid-server/people");
    let data = &log[0]["body"]["data"];
    assert_eq!(
        (data["userId"].as_str(), data["timestamp"].as_i64()),
        (Some(PERSON_UNKNOWN), Some(46))
    );
    assert!(data["biometrics"][0]["content"]
        .as_str()
        .unwrap()
        .ends_with(" chars]"));
    assert_eq!(log[1]["path"], "/gbs-spid-server/client-version");
    assert_eq!(log[1]["body"], Value::Null);
    run.client
        .delete(run.sim("/upstream/requests"))
        .send()
        .await
        .unwrap();
    assert!(run.server.requests().is_empty());
}

#[tokio::test]
async fn serve_stops_on_shutdown() {
    let server = FakeSpidServer::new(quick_config()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, server, async {
        let _ = stopped.await;
    }));
    assert!(TcpStream::connect(addr).await.is_ok());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

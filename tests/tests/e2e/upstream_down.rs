//! The SPID server goes away: offline login, refused verify, pending sends, exactly-once resend.

use reqwest::StatusCode;
use serde_json::Value;

use crate::station::*;

fn posts_of(requests: &[Value], cpf: &str) -> usize {
    requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/people"))
        .filter(|r| r["body"]["data"]["userId"] == cpf)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_station_keeps_working_and_delivers_once() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    s.ok("/logout").await;

    s.upstream_mode("down").await;
    let login = s.ok(&format!("/login/{OPERATOR}")).await;
    assert_eq!(login["status"], "OPERATOR_OFFLINE_OK", "{login}");
    assert_eq!(s.ok("/login/status").await["offline"], true);

    let (code, body) = s.get(&format!("/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVER_UNAVAILABLE");
    assert_eq!(s.ok("/capture/status").await["status"], "IDLE");

    let sent = s.enroll_flow(PERSON_UNKNOWN).await;
    assert_eq!(sent["status"], "CAPTURE_PENDING", "{sent}");
    assert_eq!(sent["tguid"], Value::Null);
    let id = sent["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.ok(&format!("/capture/result/{id}")).await["status"],
        "CAPTURE_PENDING"
    );
    let health = s.ok("/health").await;
    assert_eq!(health["status"], "DEGRADED");
    assert_eq!(health["outbox"]["pending"], 1);

    s.upstream_mode("up").await;
    let resend = s.ok("/capture/resend-all").await;
    assert_eq!(resend["status"], "RESEND_DONE");
    assert_eq!(resend["delivered"], 1, "{resend}");
    assert_eq!(resend["remaining"], 0, "{resend}");
    let again = s.post("/capture/resend-all").await.1;
    assert_eq!(again["attempted"], 0, "{again}");

    assert_eq!(posts_of(&s.upstream_requests().await, PERSON_UNKNOWN), 1);
    let result = s.ok(&format!("/capture/result/{id}")).await;
    assert_ne!(result["status"], "CAPTURE_PENDING", "{result}");
    assert!(result["tguid"].is_string());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_login_needs_the_server() {
    let s = Station::start().await;
    s.upstream_mode("down").await;
    let (code, body) = s.get(&format!("/login/{OPERATOR}")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "SERVER_UNAVAILABLE");
    assert_eq!(s.ok("/login/status").await["status"], "NOT_LOGGED_IN");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_send_is_not_delivered_twice() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    s.upstream_mode("reset_after_body").await;
    let sent = s.enroll_flow(PERSON_UNKNOWN).await;
    assert_eq!(sent["status"], "CAPTURE_PENDING", "{sent}");
    s.upstream_mode("up").await;
    let resend = s.ok("/capture/resend-all").await;
    assert_eq!(resend["delivered"], 1, "{resend}");
    assert_eq!(
        posts_of(&s.upstream_requests().await, PERSON_UNKNOWN),
        1,
        "the server got it once"
    );
    s.stop().await;
}

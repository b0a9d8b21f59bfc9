//! The presencial flows of the contract, end to end.

use reqwest::StatusCode;
use serde_json::json;

use crate::station::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_individual_is_enrolled_and_reported() {
    let s = Station::start().await;
    let login = s.login(OPERATOR).await;
    assert_eq!(login["operatorId"], OPERATOR);
    let status = s.ok("/login/status").await;
    assert_eq!(status["status"], "OPERATOR_OK");
    assert_eq!(status["offline"], false);
    assert!(
        status["loggedInAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{status}"
    );

    let verify = s.ok(&format!("/verify/{PERSON_UNKNOWN}")).await;
    assert_eq!(verify["status"], "PERSON_NOT_FOUND");
    assert_eq!(s.ok("/capture/status").await["status"], "IDLE");

    let enroll = s.ok("/enroll/390.533.447-05").await;
    assert_eq!(
        enroll,
        json!({"status": "CLIENT_CAPTURING", "cpf": PERSON_UNKNOWN, "mode": "ENROLL"})
    );
    let done = s
        .wait_for(&["CLIENT_CAPTURE_DONE", "CLIENT_CAPTURE_FAILED"])
        .await;
    assert_eq!(done["status"], "CLIENT_CAPTURE_DONE", "{done}");
    let captured: Vec<u64> = done["captured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(captured, vec![0, 2, 3, 7, 8]);
    assert!(
        done["captured"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["quality"].as_u64().unwrap() >= 40),
        "{done}"
    );

    assert_eq!(
        s.ok("/operator/capture").await["status"],
        "OPERATOR_CAPTURING"
    );
    let op = s
        .wait_for(&[
            "OPERATOR_CAPTURE_DONE",
            "OPERATOR_NOT_MATCHED",
            "OPERATOR_CAPTURE_FAILED",
        ])
        .await;
    assert_eq!(op["status"], "OPERATOR_CAPTURE_DONE", "{op}");

    let (code, sent) = s.post("/capture/send").await;
    assert_eq!(code, StatusCode::OK, "{sent}");
    assert_eq!(sent["status"], "CAPTURE_ENQUEUED");
    let id = sent["id"].as_str().unwrap().to_string();
    let tguid = sent["tguid"].as_str().unwrap().to_string();
    assert_eq!(s.ok("/capture/status").await["status"], "IDLE");
    assert_eq!(s.ok("/login/status").await["status"], "OPERATOR_OK");

    // The enroll reached the fake server once, with the contract's payload.
    let requests = s.upstream_requests().await;
    let people: Vec<_> = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/people"))
        .collect();
    assert_eq!(people.len(), 1, "{requests:?}");
    let data = &people[0]["body"]["data"];
    assert_eq!(data["userId"], PERSON_UNKNOWN);
    assert_eq!(data["operatorId"], OPERATOR);
    assert!(data["timestamp"].as_i64().unwrap() > 1_600_000_000_000);

    // Result by station id and by TGUID.
    for key in [&id, &tguid] {
        let result = s.ok(&format!("/capture/result/{key}")).await;
        assert_eq!(result["id"], id.as_str());
        assert_eq!(result["tguid"], tguid.as_str());
        assert!(
            result["status"]
                .as_str()
                .is_some_and(|st| st != "CAPTURE_PENDING"),
            "{result}"
        );
    }

    let pdf = s.raw(&format!("/capture/report/{id}")).await;
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let record = s.ok(&format!("/capture/report/{id}?format=json")).await;
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["positions"].as_array().unwrap().len(), 5, "{record}");
    assert!(
        !record.to_string().contains("content"),
        "no images in the station record"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_individual_is_verified() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    let verify = s.ok(&format!("/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(
        verify,
        json!({"status": "CLIENT_CAPTURING", "cpf": PERSON_ENROLLED, "mode": "VERIFY"})
    );
    let done = s
        .wait_for(&["CLIENT_CAPTURE_DONE", "CLIENT_CAPTURE_FAILED"])
        .await;
    assert_eq!(done["status"], "CLIENT_CAPTURE_DONE", "{done}");
    assert_eq!(done["mode"], "VERIFY");
    let captured: Vec<u64> = done["captured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(captured, vec![0, 2], "face plus the first verify finger");
    s.ok("/operator/capture").await;
    s.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
    let sent = s.ok("/capture/send").await;
    assert_eq!(sent["status"], "VERIFIED", "{sent}");
    let result = s
        .ok(&format!(
            "/capture/result/{}",
            sent["tguid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(result["status"], "SEARCH_MATCH", "{result}");
    let pdf = s
        .raw(&format!("/capture/report/{}", sent["id"].as_str().unwrap()))
        .await;
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_else_at_verify_does_not_match() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    s.sim("/sim/present", json!({"subject": "impostor"})).await;
    s.ok(&format!("/verify/{PERSON_ENROLLED}")).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    s.sim("/sim/present", json!({"subject": "expected"})).await;
    s.ok("/operator/capture").await;
    s.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
    let sent = s.ok("/capture/send").await;
    assert_eq!(sent["status"], "VERIFIED");
    let result = s
        .ok(&format!("/capture/result/{}", sent["id"].as_str().unwrap()))
        .await;
    assert_eq!(result["status"], "SEARCH_NOT_MATCH", "{result}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostor_operator_is_not_matched() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    s.sim("/sim/present", json!({"subject": "impostor"})).await;
    s.ok("/operator/capture").await;
    let status = s
        .wait_for(&["OPERATOR_NOT_MATCHED", "OPERATOR_CAPTURE_DONE"])
        .await;
    assert_eq!(status["status"], "OPERATOR_NOT_MATCHED", "{status}");
    let (code, body) = s.get("/capture/send").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "INVALID_STATE");
    assert_eq!(body["state"], "OPERATOR_NOT_MATCHED");
    // The real operator may try again; the client capture was kept.
    s.sim("/sim/present", json!({"subject": "expected"})).await;
    s.ok("/operator/capture").await;
    s.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
    assert_eq!(s.ok("/capture/send").await["status"], "CAPTURE_ENQUEUED");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poor_quality_is_retried_then_fails() {
    let s = Station::start_with("[capture]\nenroll_plan = [2, 3]\n").await;
    s.login(OPERATOR).await;
    s.sim("/sim/present", json!({"quality": "poor"})).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    let failed = s
        .wait_for(&["CLIENT_CAPTURE_FAILED", "CLIENT_CAPTURE_DONE"])
        .await;
    assert_eq!(failed["status"], "CLIENT_CAPTURE_FAILED", "{failed}");
    assert_eq!(failed["failure"]["code"], "QUALITY_TOO_LOW");
    assert_eq!(failed["current"], serde_json::Value::Null);
    // A new presentation of good quality succeeds.
    s.sim("/sim/present", json!({"quality": "good"})).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_finger_times_out() {
    let s = Station::start_with("[capture]\ntimeout = \"2s\"\nenroll_plan = [2]\n").await;
    s.login(OPERATOR).await;
    s.sim("/sim/present", json!({"absent": true})).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    let failed = s.wait_for(&["CLIENT_CAPTURE_FAILED"]).await;
    assert_eq!(failed["failure"]["code"], "TIMEOUT", "{failed}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_reader_fails_the_capture_and_degrades_health() {
    let s = Station::start_with("[capture]\nenroll_plan = [2]\n").await;
    s.login(OPERATOR).await;
    s.sim("/sim/devices", json!({"fingerprint": "absent"}))
        .await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    let failed = s.wait_for(&["CLIENT_CAPTURE_FAILED"]).await;
    assert_eq!(failed["failure"]["code"], "DEVICE_UNAVAILABLE", "{failed}");
    let health = s.ok("/health").await;
    assert_eq!(health["status"], "DEGRADED", "{health}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_missing_fingers_are_skipped_and_sent() {
    let s = Station::start().await;
    s.login(OPERATOR).await;
    s.ok(&format!(
        "/enroll/{PERSON_UNKNOWN}?missing=7:AMPUTATED,8:BANDAGED"
    ))
    .await;
    let done = s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    let captured: Vec<u64> = done["captured"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(captured, vec![0, 2, 3]);
    assert_eq!(
        done["missing"],
        json!([{"index": 7, "type": "AMPUTATED"}, {"index": 8, "type": "BANDAGED"}])
    );
    s.ok("/operator/capture").await;
    s.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
    s.ok("/capture/send").await;
    let requests = s.upstream_requests().await;
    let people = requests
        .iter()
        .find(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/people"))
        .unwrap();
    let missing = &people["body"]["data"]["missingBiometrics"];
    assert_eq!(missing[0]["index"], 7);
    assert_eq!(missing[0]["type"], "AMPUTATED");
    assert_eq!(missing[1]["index"], 8);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_operator_enrolls_on_first_access() {
    let s = Station::start().await;
    let login = s.ok(&format!("/login/{OPERATOR_PENDING}")).await;
    assert_eq!(login["status"], "OPERATOR_PENDING");
    // Only Operator Enroll is open to a pending operator.
    let (code, body) = s.get(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        s.ok("/operator/enroll").await["status"],
        "OPERATOR_CAPTURING"
    );
    let status = s
        .wait_for(&["OPERATOR_ENROLL_SENT", "OPERATOR_CAPTURE_FAILED"])
        .await;
    assert_eq!(status["status"], "OPERATOR_ENROLL_SENT", "{status}");
    assert_eq!(
        s.ok("/login/status").await["status"],
        "OPERATOR_IN_PROGRESS"
    );
    let requests = s.upstream_requests().await;
    let put = requests
        .iter()
        .find(|r| r["method"] == "PUT" && r["path"].as_str().unwrap().ends_with("/operator"));
    assert!(put.is_some(), "{requests:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_drops_the_capture_and_keeps_the_operator() {
    let s = Station::start_with("[capture]\ntimeout = \"30s\"\n").await;
    s.login(OPERATOR).await;
    s.sim("/sim/present", json!({"absent": true})).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    assert_eq!(s.ok("/capture/status").await["status"], "CLIENT_CAPTURING");
    assert_eq!(s.ok("/capture/cancel").await["status"], "IDLE");
    assert_eq!(s.ok("/capture/status").await["status"], "IDLE");
    assert_eq!(s.ok("/login/status").await["status"], "OPERATOR_OK");
    assert_eq!(s.ok("/logout").await["status"], "LOGGED_OUT");
    assert_eq!(s.ok("/login/status").await["status"], "NOT_LOGGED_IN");
    assert_eq!(s.ok("/capture/status").await["status"], "NOT_LOGGED_IN");
    s.stop().await;
}

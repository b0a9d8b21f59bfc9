//! People, enroll and verify transactions, listings, the report and remote capture.

use serde_json::{json, Value};

use super::*;
use crate::server::seed::{OPERATOR_ENROLLED, PERSON_ENROLLED, PERSON_UNKNOWN};

const NEW_PERSON: &str = "12345678909";

#[tokio::test]
async fn enroll_then_lookup_results_listing_and_transaction() {
    let run = Running::start(quick_config()).await;
    assert_eq!(
        run.get(&format!("/people/{PERSON_UNKNOWN}")).await.status(),
        404
    );
    assert_eq!(error_of(run.get("/people/1234567890a").await).await.0, 400);

    let tx = transaction(NEW_PERSON, 1_700_000_000_123, &[0, 2, 3, 7, 8]);
    let r = run.post("/people", &tx).await;
    assert_eq!(r.status(), 201);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["status"], "SEARCH_ENQUEUED");
    let tguid = result["id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&tguid).unwrap().get_version_num(), 4);

    let r: Value = run
        .get(&format!("/people/transactions/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"id": tguid, "status": "OK", "message": "enrolled"})
    );
    let person: Value = run
        .get(&format!("/people/{NEW_PERSON}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(person["transaction-guid"], tguid.as_str());
    assert_eq!(person["enroll-status"], "ENROLLED");
    assert_eq!(person["keys"]["cpf"], NEW_PERSON);
    assert_eq!(person["biometrics"], tx["data"]["biometrics"]);

    // Same individual and capture time again: refused.
    assert_eq!(
        error_of(run.post("/people", &tx).await).await,
        (409, "PROCESSING_ERROR".into(), "CONFLICT".into())
    );

    let list: Value = run
        .get(&format!("/transaction/people/{NEW_PERSON}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let entry = &list[0];
    assert_eq!(entry["id"], tguid.as_str());
    assert_eq!(entry["timestamp"], 1_700_000_000_123_i64);
    assert_eq!(entry["type"], "ENROLL");
    assert_eq!(entry["userId"], NEW_PERSON);
    assert_eq!(entry["operatorId"], OPERATOR_ENROLLED);
    assert_eq!(entry["status"], "OK");
    assert!(entry["psbioTcn"].as_str().unwrap().starts_with("TCN"));
    assert_eq!(
        entry["biometrics"][1],
        json!({"index": 2, "width": 48, "height": 40, "resolution": 500})
    );
    let none: Value = run
        .get(&format!("/transaction/people/{PERSON_UNKNOWN}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    let t: Value = run
        .get(&format!("/transaction/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (t["id"].as_str(), t["type"].as_str(), t["status"].as_str()),
        (Some(tguid.as_str()), Some("ENROLL"), Some("OK"))
    );
    assert_eq!(t["transaction"]["timestamp"], 1_700_000_000_123_i64);
    assert_eq!(run.get("/transaction/nope").await.status(), 404);
    // An enroll's id is not a verify result.
    assert_eq!(run.get(&format!("/verify/{tguid}")).await.status(), 404);
    assert_eq!(run.get("/people/transactions/nope").await.status(), 404);
}

#[tokio::test]
async fn transactions_are_validated() {
    let run = Running::start(quick_config()).await;
    let mut tx = transaction(NEW_PERSON, 5, &[2]);
    for (field, value) in [
        ("userId", json!("12345678900")),
        ("operatorId", json!("1")),
        ("timestamp", json!(0)),
    ] {
        let mut bad = tx.clone();
        bad["data"][field] = value;
        let r = run.post("/people", &bad).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["field"],
            format!("data.{field}"),
            "{field}"
        );
        assert_eq!(body["type"], "VALIDATION_ERROR");
    }
    tx["data"]["biometrics"] = json!([]);
    assert_eq!(error_of(run.post("/people", &tx).await).await.0, 422);
    assert_eq!(error_of(run.post("/verify", &tx).await).await.0, 422);
    let dup = transaction(NEW_PERSON, 5, &[2, 2]);
    assert_eq!(error_of(run.post("/people", &dup).await).await.0, 422);
    let mut missing = transaction(NEW_PERSON, 5, &[2]);
    missing["data"]["missingBiometrics"] = json!([{"index": 2, "type": "AMPUTATED"}]);
    assert_eq!(error_of(run.post("/people", &missing).await).await.0, 422);
    // Missing field: the body does not fit the schema.
    let r = run
        .post("/people", &json!({"data": {"userId": NEW_PERSON}}))
        .await;
    assert_eq!(error_of(r).await.0, 400);
    let token = run.token().await;
    let r = run
        .client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (400, "VALIDATION_ERROR".into(), "MALFORMED_REQUEST".into())
    );
    let r = run
        .client
        .post(run.url("/people"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 415);
    // A verify of someone not enrolled.
    let r = run
        .post("/verify", &transaction(PERSON_UNKNOWN, 9, &[2]))
        .await;
    assert_eq!(error_of(r).await.0, 404);
}

#[tokio::test]
async fn report_is_a_valid_pdf_naming_the_transaction() {
    let run = Running::start(quick_config()).await;
    let mut tx = transaction(NEW_PERSON, 1_700_000_000_000, &[0, 2, 7]);
    tx["data"]["missingBiometrics"] =
        json!([{"index": 3, "type": "AMPUTATED", "reason": "accident"}]);
    let tguid = run
        .post("/people", &tx)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run.get(&format!("/report/{tguid}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    crate::server::pdf::tests::assert_valid_pdf(&pdf);
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(&format!("(Transaction: {tguid})")));
    assert!(text.contains("(Individual CPF: 123.***.***-09)"));
    assert!(text.contains("(Fingers: 2, 7)"));
    assert!(text.contains("(Missing finger 3: AMPUTATED)"));
    assert!(!text.contains(NEW_PERSON), "the CPF is masked");
    assert_eq!(run.get("/report/unknown").await.status(), 404);
}

#[tokio::test]
async fn remote_capture_creation_and_pending_state() {
    let run = Running::start(quick_config()).await;
    let req = |client: &str, email: Option<&str>| json!({"data": {"clientID": client, "operatorID": OPERATOR_ENROLLED, "clientEmail": email}});
    assert_eq!(
        error_of(
            run.post("/remote-capture/verify", &req(PERSON_UNKNOWN, None))
                .await
        )
        .await
        .0,
        404
    );
    assert_eq!(
        error_of(run.post("/remote-capture/verify", &req("1", None)).await)
            .await
            .0,
        422
    );
    assert_eq!(
        error_of(
            run.post("/remote-capture/enroll", &req(NEW_PERSON, None))
                .await
        )
        .await
        .0,
        422
    );

    let r = run
        .post(
            "/remote-capture/enroll",
            &req(NEW_PERSON, Some("ana@example.com")),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let tguid = created["tguid"].as_str().unwrap().to_string();
    assert_eq!(
        created["dynamicLink"],
        format!("https://spid-remote.invalid/capture/{tguid}")
    );
    let r = run
        .get(&format!("/remote-capture/biometrics/{tguid}"))
        .await;
    assert_eq!(
        error_of(r).await,
        (409, "PROCESSING_ERROR".into(), "CAPTURE_PENDING".into())
    );
    let result: Value = run
        .get(&format!("/people/transactions/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "SEARCH_PENDING");
    assert_eq!(
        run.get(&format!("/people/{NEW_PERSON}")).await.status(),
        404
    );
    assert_eq!(
        run.get("/remote-capture/biometrics/unknown").await.status(),
        404
    );

    let r = run
        .post("/remote-capture/verify", &req(PERSON_ENROLLED, None))
        .await;
    assert_eq!(r.status(), 201);
    let tguid = r.json::<Value>().await.unwrap()["tguid"]
        .as_str()
        .unwrap()
        .to_string();
    let result: Value = run
        .get(&format!("/verify/{tguid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(result["status"], "SEARCH_PENDING");
    let listed: Value = run
        .get(&format!("/transaction/people/{PERSON_ENROLLED}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["type"], "REMOTE_VERIFY");
}

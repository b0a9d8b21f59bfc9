//! Authentication, version, liveness and the operator routes.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;
use crate::server::seed::{OPERATOR_ENROLLED, OPERATOR_WITHOUT_BIOMETRICS};

const NEW_OPERATOR: &str = "74682489070";

#[tokio::test]
async fn token_endpoint_and_bearer_checks() {
    let run = Running::start(quick_config()).await;
    let login = format!("http://{}{}", run.addr, run.server.config().token_path);
    let bad = run
        .client
        .post(&login)
        .json(&json!({"username": "spid", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(bad).await,
        (401, "SECURITY_ERROR".into(), "UNAUTHORIZED".into())
    );
    let text = run
        .client
        .post(&login)
        .body("username=spid")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let broken = run
        .client
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(broken).await,
        (400, "VALIDATION_ERROR".into(), "MALFORMED_REQUEST".into())
    );

    let anonymous = run
        .client
        .get(run.url("/service/cluster"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let forged = run
        .client
        .get(run.url("/service/cluster"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let token = run.token().await;
    let ok = run
        .client
        .get(run.url("/service/cluster"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "Cluster Proxy is running");

    // expire_tokens: the old token stops working, a new one works.
    let r = run
        .control("/upstream", &json!({"mode": "expire_tokens"}))
        .await;
    assert_eq!(r.status(), 200);
    let stale = run
        .client
        .get(run.url("/service/cluster"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    assert_eq!(run.get("/service/cluster").await.status(), 200);
}

#[tokio::test]
async fn token_ttl_is_configurable() {
    let run = Running::start(ServerConfig {
        token_ttl: std::time::Duration::ZERO,
        ..quick_config()
    })
    .await;
    let token = run.token().await;
    let r = run
        .client
        .get(run.url("/client-version"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a token with a zero TTL is expired at once"
    );
}

#[tokio::test]
async fn version_cluster_and_unknown_routes() {
    let run = Running::start(quick_config()).await;
    let v = run.get("/client-version").await;
    assert_eq!(v.status(), 200);
    assert_eq!(v.text().await.unwrap(), "4.2.12");
    assert_eq!(error_of(run.get("/no/such/thing").await).await.0, 404);
}

#[tokio::test]
async fn operator_lookup_list_and_enroll() {
    let run = Running::start(quick_config()).await;
    // Registered without biometrics: 200, empty body.
    let r = run
        .get(&format!("/operator/{OPERATOR_WITHOUT_BIOMETRICS}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(
        run.get(&format!("/operator/{NEW_OPERATOR}")).await.status(),
        404
    );
    assert_eq!(error_of(run.get("/operator/12345").await).await.0, 400);

    let list: Value = run.get("/operator/list").await.json().await.unwrap();
    let docs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["document"].as_str().unwrap())
        .collect();
    assert_eq!(docs, vec![OPERATOR_WITHOUT_BIOMETRICS, OPERATOR_ENROLLED]);
    assert_eq!(list[1]["status"], "VERIFIED");
    assert_eq!(list[0]["status"], "REGISTERED");

    let payload =
        |doc: &str, biometrics: Value| json!({"data": {"document": doc, "biometrics": biometrics}});
    let prints = json!([
        biometric(2, png_content(1)),
        biometric(7, png_content(2)),
        biometric(0, png_content(3))
    ]);
    let put = |body: Value| {
        let run = &run;
        async move { run.send(Method::PUT, "/operator", &body).await }
    };
    assert_eq!(
        error_of(put(payload(NEW_OPERATOR, prints.clone())).await)
            .await
            .0,
        404
    );
    assert_eq!(
        error_of(put(payload("123", prints.clone())).await).await.0,
        422
    );
    let (status, kind, _) =
        error_of(put(payload(OPERATOR_WITHOUT_BIOMETRICS, json!([]))).await).await;
    assert_eq!((status, kind.as_str()), (422, "VALIDATION_ERROR"));
    let bad_image = json!([{"index": 2, "content": "bm90IGFuIGltYWdl", "width": 1, "height": 1, "resolution": 500}]);
    assert_eq!(
        error_of(put(payload(OPERATOR_WITHOUT_BIOMETRICS, bad_image)).await)
            .await
            .0,
        422
    );
    assert_eq!(
        error_of(put(payload(OPERATOR_ENROLLED, prints.clone())).await)
            .await
            .0,
        409
    );

    let r = put(payload(OPERATOR_WITHOUT_BIOMETRICS, prints.clone())).await;
    assert_eq!(r.status(), 201);
    // The operator delay is zero here: the next lookup already sees VERIFIED.
    let r = run
        .get(&format!("/operator/{OPERATOR_WITHOUT_BIOMETRICS}"))
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        format!("{BASE_PATH}/operator/{OPERATOR_WITHOUT_BIOMETRICS}").as_str()
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["document"], OPERATOR_WITHOUT_BIOMETRICS);
    assert_eq!(body["status"], "VERIFIED");
    assert_eq!(body["biometrics"], prints);
    assert!(body["tguid"].as_str().unwrap().len() == 36);

    // An administrator's FAILED status shows through the 302 payload.
    let r = run
        .control(
            "/operators",
            &json!({"document": OPERATOR_WITHOUT_BIOMETRICS, "status": "FAILED"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = run
        .get(&format!("/operator/{OPERATOR_WITHOUT_BIOMETRICS}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "FAILED");
    // Registering a new operator through the control route makes it "registered, no biometrics".
    run.control("/operators", &json!({"document": NEW_OPERATOR}))
        .await;
    assert_eq!(
        run.get(&format!("/operator/{NEW_OPERATOR}")).await.status(),
        200
    );
}

#[tokio::test]
async fn operator_enroll_stays_in_progress_until_its_delay() {
    let run = Running::start(ServerConfig {
        operator_delay: std::time::Duration::from_secs(3600),
        ..quick_config()
    })
    .await;
    let body = json!({"data": {"document": OPERATOR_WITHOUT_BIOMETRICS, "biometrics": [biometric(2, png_content(9))]}});
    assert_eq!(
        run.send(Method::PUT, "/operator", &body).await.status(),
        201
    );
    let r = run
        .get(&format!("/operator/{OPERATOR_WITHOUT_BIOMETRICS}"))
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ENQUEUED");
    assert_eq!(
        run.client
            .post(run.sim("/settle"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = run
        .get(&format!("/operator/{OPERATOR_WITHOUT_BIOMETRICS}"))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "VERIFIED");
}

//! The Verify signals end to end: Unico IDToken and Claro Face Match on, failing, and called
//! once per transaction; provider secrets stay out of the logs.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::remote::{
    assert_no_secret_in, capture_logs, count, final_result, operator_first, provider_requests,
    providers_toml, SECRETS,
};
use crate::station::*;

/// Remote verify through by Unico, authenticated: the reference IDToken compares with.
async fn authenticated_by_unico(s: &Station, cpf: &str) -> String {
    operator_first(s).await;
    let created = s.ok(&format!("/remote/verify/{cpf}")).await;
    let process = created["tguid"].as_str().unwrap().to_string();
    s.sim(
        &format!("/sim/providers/unico/processes/{process}/complete"),
        json!({"result": "POSITIVE"}),
    )
    .await;
    assert_eq!(final_result(s, &process).await["status"], "SEARCH_MATCH");
    process
}

/// Verify, capture, operator capture, send; then waits for both signals' outcomes.
async fn verify_with_signals(s: &Station, cpf: &str) -> (Value, Value) {
    assert_eq!(
        s.ok(&format!("/verify/{cpf}")).await["status"],
        "CLIENT_CAPTURING"
    );
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    operator_first(s).await;
    let (code, sent) = s.post("/capture/send").await;
    assert_eq!(
        (code, sent["status"].clone()),
        (StatusCode::OK, json!("VERIFIED")),
        "{sent}"
    );
    let id = sent["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let result = s.ok(&format!("/capture/result/{id}")).await;
        let providers = result["providers"].as_array().cloned().unwrap_or_default();
        if providers.len() == 2 && providers.iter().all(|p| p["outcome"] != "PENDING") {
            return (
                result,
                s.ok(&format!("/capture/report/{id}?format=json")).await,
            );
        }
        assert!(started.elapsed() < WAIT, "signals unfinished: {result}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outcome<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {result}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_signals_idtoken_and_claro_are_recorded_and_secrets_stay_out_of_the_logs() {
    let logs = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let toml = providers_toml(dir.path(), "unico", &["by_unico", "unico_idtoken", "claro"]);
    let s = Station::start_with(&toml).await;
    s.login(OPERATOR).await;
    let process = authenticated_by_unico(&s, PERSON_ENROLLED).await;

    let (result, report) = verify_with_signals(&s, PERSON_ENROLLED).await;
    let idtoken = outcome(&result, "unico_idtoken");
    assert_eq!(idtoken["outcome"], "MATCH", "{result}");
    assert_eq!(idtoken["detail"]["referenceProcessId"], process.as_str());
    assert_eq!(idtoken["detail"]["liveness"], 1);
    let claro = outcome(&result, "claro");
    assert_eq!(claro["outcome"], "FOUND", "{result}");
    assert_eq!(claro["detail"]["biohashCount"], 1);
    assert_eq!(
        report["providers"], result["providers"],
        "the JSON report shows them too"
    );

    let requests = provider_requests(&s).await;
    let check = requests
        .iter()
        .find(|r| r["provider"] == "unico-id")
        .unwrap();
    assert_eq!(check["headers"]["apikey"], SECRETS[0].1);
    assert!(check["headers"]["authorization"]
        .as_str()
        .unwrap()
        .starts_with("Bearer unico-token-"));
    assert_eq!(
        count(&requests, "unico-identity", "/oauth2/token"),
        1,
        "one token for by Unico and IDToken"
    );
    let claro = requests
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/facialbiometrics"))
        .unwrap();
    assert_eq!(
        claro["headers"]["x-querystring"],
        format!("identificationType=CPF&IdentificationId={PERSON_ENROLLED}").as_str()
    );
    assert_eq!(claro["headers"]["accept"], "application/json");
    let token = requests
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/claro/oauth2/v1/token")
        })
        .unwrap();
    // `printf 'claro-key-9b0f44:claro-secret-71aa0d' | base64`
    assert_eq!(
        token["headers"]["x-client-auth"],
        "Basic Y2xhcm8ta2V5LTliMGY0NDpjbGFyby1zZWNyZXQtNzFhYTBk"
    );
    assert_eq!(token["body"], "grant_type=client_credentials");
    assert_eq!(
        count(&requests, "claro", "/facialbiometrics"),
        1,
        "Claro once per transaction"
    );
    s.stop().await;
    assert_no_secret_in(&logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_signals_never_block_the_flow_and_claro_is_called_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = providers_toml(dir.path(), "unico", &["by_unico", "unico_idtoken", "claro"]);
    let s = Station::start_with(&toml).await;
    s.login(OPERATOR).await;
    authenticated_by_unico(&s, PERSON_ENROLLED).await;

    // IDToken fails with 500 three times (retried with backoff); Claro is down (503, not
    // repeated: Claro bills every answer).
    s.sim(
        "/sim/providers/faults",
        json!({"provider": "unico-id", "status": 500, "count": 3, "casing": "Error"}),
    )
    .await;
    s.sim(
        "/sim/providers/faults",
        json!({"provider": "claro", "status": 503, "path_suffix": "/facialbiometrics"}),
    )
    .await;
    let (result, _) = verify_with_signals(&s, PERSON_ENROLLED).await;
    assert_eq!(
        outcome(&result, "unico_idtoken")["outcome"],
        "ERROR",
        "{result}"
    );
    assert_eq!(outcome(&result, "unico_idtoken")["detail"]["status"], 500);
    assert_eq!(outcome(&result, "claro")["outcome"], "ERROR");
    assert_eq!(outcome(&result, "claro")["detail"]["status"], 503);
    let requests = provider_requests(&s).await;
    assert_eq!(count(&requests, "unico-id", "/processes/v1"), 3);
    assert_eq!(count(&requests, "claro", "/facialbiometrics"), 1);

    // Not in Claro's base (422) is an outcome; an expired Unico token is replaced once, and a
    // refused token call is not retried.
    s.sim(
        "/sim/providers/claro/absent",
        json!({"cpf": PERSON_ENROLLED}),
    )
    .await;
    s.sim(
        "/sim/providers/faults",
        json!({"provider": "unico-id", "status": 403, "casing": "Error", "code": "10502"}),
    )
    .await;
    s.sim(
        "/sim/providers/faults",
        json!({"provider": "unico-identity", "status": 401}),
    )
    .await;
    let before = provider_requests(&s).await;
    let (result, _) = verify_with_signals(&s, PERSON_ENROLLED).await;
    assert_eq!(
        outcome(&result, "claro")["outcome"],
        "NOT_FOUND",
        "{result}"
    );
    let idtoken = outcome(&result, "unico_idtoken");
    assert_eq!(idtoken["outcome"], "ERROR", "{result}");
    assert!(
        idtoken["detail"]["message"]
            .as_str()
            .unwrap()
            .contains("refused the station's credentials"),
        "{idtoken}"
    );
    let after = provider_requests(&s).await;
    let new = &after[before.len()..];
    assert_eq!(
        count(new, "unico-identity", "/oauth2/token"),
        1,
        "no blind retry on 401"
    );
    assert_eq!(count(new, "unico-id", "/processes/v1"), 1);
    assert_eq!(count(new, "claro", "/facialbiometrics"), 1);
    s.stop().await;
}

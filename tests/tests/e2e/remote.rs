//! Remote capture (calls 14–16) through the SPID Server, by Unico and faceverify.ai, and the
//! helpers the provider tests share. The providers are the simulator's fakes, which check
//! signatures and credentials for real.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::station::*;

/// Test-only RSA key (see `daemon/tests/fixtures/README.md`).
pub(crate) const UNICO_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../daemon/tests/fixtures/unico-test-key.pem"
);

pub(crate) const SECRETS: [(&str, &str); 5] = [
    ("unico-api-key", "unico-apikey-5f1c9e"),
    ("faceverify-api-key", "fv-client-8a7d3b"),
    ("faceverify-secret", "fv-secret-2e64c1"),
    ("claro-key", "claro-key-9b0f44"),
    ("claro-secret", "claro-secret-71aa0d"),
];

/// Remote results are asked again quickly in tests.
const POLL: &str = "[remote]\npoll_initial = \"50ms\"\npoll_max = \"200ms\"\n";

/// Writes the provider secrets into `dir` and returns the TOML of the provider sections.
pub(crate) fn providers_toml(dir: &std::path::Path, remote: &str, sections: &[&str]) -> String {
    for (name, value) in SECRETS {
        std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
    }
    let file = |name: &str| dir.join(name).display().to_string();
    let mut toml = format!(
        "[remote]\nprovider = \"{remote}\"\npoll_initial = \"50ms\"\npoll_max = \"200ms\"\n"
    );
    for section in sections {
        toml.push_str(&match *section {
            "by_unico" => format!(
                "[providers.by_unico]\nservice_account = \"station-7\"\ntenant = \"branch-x\"\nprivate_key_file = \"{UNICO_KEY}\"\npurpose = \"creditprocess\"\n"
            ),
            "unico_idtoken" => format!(
                "[providers.unico_idtoken]\nservice_account = \"station-7\"\ntenant = \"branch-x\"\nprivate_key_file = \"{UNICO_KEY}\"\napi_key_file = \"{}\"\n",
                file("unico-api-key")
            ),
            "faceverify" => format!(
                "[providers.faceverify]\napi_key_file = \"{}\"\nsecret_file = \"{}\"\n",
                file("faceverify-api-key"),
                file("faceverify-secret")
            ),
            "claro" => format!(
                "[providers.claro]\nkey_file = \"{}\"\nsecret_file = \"{}\"\n",
                file("claro-key"),
                file("claro-secret")
            ),
            other => panic!("unknown section {other}"),
        });
    }
    toml
}

/// Every log line of this test process (nextest runs each test in its own process), at debug
/// level for every crate: the station's subscriber then finds one installed and keeps it.
pub(crate) fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buffer.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .try_init()
        .expect("the first subscriber of this process");
    buffer
}

pub(crate) fn assert_no_secret_in(logs: &Arc<Mutex<Vec<u8>>>) {
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.len() > 10_000,
        "the logs were captured: {} bytes",
        text.len()
    );
    assert!(text.contains("provider outcome") || text.contains("remote capture created"));
    for (name, value) in SECRETS {
        assert!(
            !text.contains(value),
            "the secret {name} appears in the logs"
        );
    }
    let key = std::fs::read_to_string(UNICO_KEY).unwrap();
    let body_line = key.lines().nth(1).unwrap();
    assert!(
        !text.contains(body_line),
        "the Unico private key appears in the logs"
    );
}

/// Logs in and captures the operator from idle (the remote flow's first step).
pub(crate) async fn operator_first(s: &Station) {
    assert_eq!(
        s.ok("/operator/capture").await["status"],
        "OPERATOR_CAPTURING"
    );
    let done = s
        .wait_for(&[
            "OPERATOR_CAPTURE_DONE",
            "OPERATOR_NOT_MATCHED",
            "OPERATOR_CAPTURE_FAILED",
        ])
        .await;
    assert_eq!(done["status"], "OPERATOR_CAPTURE_DONE", "{done}");
}

/// Polls Remote Verify Result by ID until its status is not `REMOTE_PENDING`.
pub(crate) async fn final_result(s: &Station, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let r = s.ok(&format!("/remote/verify/result/{id}")).await;
        if r["status"] != "REMOTE_PENDING" {
            return r;
        }
        assert!(started.elapsed() < WAIT, "still pending: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sim_get(s: &Station, path: &str) -> Value {
    reqwest::get(format!("{}{path}", s.sim))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn provider_requests(s: &Station) -> Vec<Value> {
    sim_get(s, "/sim/providers/requests")
        .await
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn count(requests: &[Value], provider: &str, path_end: &str) -> usize {
    requests
        .iter()
        .filter(|r| r["provider"] == provider && r["path"].as_str().unwrap().ends_with(path_end))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_verify_and_enroll_through_the_spid_server() {
    let s = Station::start_with(POLL).await;
    s.login(OPERATOR).await;
    // The operator is captured first: from idle, Remote Verify is not allowed.
    let (code, body) = s.get(&format!("/remote/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_STATE");
    assert_eq!(body["state"], "IDLE");

    operator_first(&s).await;
    // Not enrolled upstream: 404, and the operator's match is kept for another try.
    let (code, body) = s.get(&format!("/remote/verify/{PERSON_UNKNOWN}")).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        s.ok("/capture/status").await["status"],
        "OPERATOR_CAPTURE_DONE"
    );
    let (code, body) = s.get("/remote/verify/123").await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_CPF"))
    );

    let (code, created) = s.post(&format!("/remote/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(code, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "REMOTE_CREATED");
    let id = created["id"].as_str().unwrap().to_string();
    let tguid = created["tguid"].as_str().unwrap().to_string();
    assert!(
        created["url"].as_str().unwrap().ends_with(&tguid),
        "{created}"
    );
    assert_eq!(
        s.ok("/capture/status").await["status"],
        "IDLE",
        "the match is spent"
    );
    let sent: Vec<Value> = s
        .upstream_requests()
        .await
        .into_iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/remote-capture/verify")
        })
        .collect();
    assert_eq!(sent.len(), 2, "the refused one, then this one");
    assert_eq!(sent[0]["status"], 404);
    assert_eq!(
        sent[1]["body"],
        json!({"data": {"clientID": PERSON_ENROLLED, "operatorID": OPERATOR}})
    );

    let pending = s.ok(&format!("/remote/verify/result/{id}")).await;
    assert_eq!(pending["status"], "REMOTE_PENDING", "{pending}");
    // The SPID Server has its own result: the operator cannot record one by hand.
    let (code, body) = s
        .get(&format!("/remote/result/{id}/record?status=SEARCH_MATCH"))
        .await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_ARGUMENT")),
        "{body}"
    );
    assert_eq!(pending["tguid"], tguid.as_str());
    s.sim(&format!("/sim/remote-capture/{tguid}/complete"), json!({}))
        .await;
    let done = final_result(&s, &tguid).await;
    assert_eq!(done["status"], "SEARCH_MATCH", "{done}");
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["mode"], "VERIFY");

    // Remote Enroll needs an e-mail.
    operator_first(&s).await;
    let (code, body) = s.get(&format!("/remote/enroll/{PERSON_UNKNOWN}")).await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_ARGUMENT"))
    );
    let (code, body) = s
        .get(&format!(
            "/remote/enroll/{PERSON_UNKNOWN}?email=not-an-address"
        ))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        s.ok("/capture/status").await["status"],
        "OPERATOR_CAPTURE_DONE"
    );
    let created = s
        .ok(&format!(
            "/remote/enroll/{PERSON_UNKNOWN}?email=ana@example.org"
        ))
        .await;
    assert_eq!(created["status"], "REMOTE_CREATED");
    let tguid = created["tguid"].as_str().unwrap().to_string();
    let sent = s.upstream_requests().await;
    let enroll = sent
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/remote-capture/enroll")
        })
        .unwrap();
    assert_eq!(enroll["body"]["data"]["clientEmail"], "ana@example.org");
    s.sim(&format!("/sim/remote-capture/{tguid}/complete"), json!({}))
        .await;
    let done = final_result(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "OK", "{done}");
    assert_eq!(done["mode"], "ENROLL");

    let (code, _) = s.get("/remote/verify/result/no-such-id").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_verify_through_by_unico_polls_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let s = Station::start_with(&providers_toml(dir.path(), "unico", &["by_unico"])).await;
    s.login(OPERATOR).await;
    operator_first(&s).await;
    // A process refused with Unico's code 3 is an invalid argument and changes nothing.
    s.sim(
        "/sim/providers/faults",
        json!({"provider": "unico-cadastro", "status": 400, "casing": "error", "code": "3", "path_suffix": "/process"}),
    )
    .await;
    let (code, body) = s.get(&format!("/remote/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("code 3"),
        "{body}"
    );
    assert_eq!(
        s.ok("/capture/status").await["status"],
        "OPERATOR_CAPTURE_DONE"
    );

    let created = s.ok(&format!("/remote/verify/{PERSON_ENROLLED}")).await;
    assert_eq!(created["status"], "REMOTE_CREATED", "{created}");
    let process = created["tguid"].as_str().unwrap().to_string();
    assert_eq!(
        created["url"],
        format!("https://cadastro.unico.invalid/process/{process}").as_str()
    );
    let requests = provider_requests(&s).await;
    assert_eq!(
        count(&requests, "unico-identity", "/oauth2/token"),
        1,
        "one token, cached"
    );
    let token = requests
        .iter()
        .find(|r| r["provider"] == "unico-identity")
        .unwrap();
    assert!(token["body"].as_str().unwrap().starts_with(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
    ));
    assert_eq!(
        token["status"], 200,
        "the fake verified the RS256 assertion"
    );
    let create = requests
        .iter()
        .rev()
        .find(|r| r["method"] == "POST" && r["provider"] == "unico-cadastro")
        .unwrap();
    let body: Value = serde_json::from_str(create["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["person"],
        json!({"duiType": "DUI_TYPE_BR_CPF", "duiValue": PERSON_ENROLLED})
    );
    assert_eq!(
        (body["flow"].clone(), body["expiresIn"].clone()),
        (json!("idlive"), json!("3600s"))
    );

    let pending = s
        .ok(&format!(
            "/remote/verify/result/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pending["status"], "REMOTE_PENDING");
    s.sim(
        &format!("/sim/providers/unico/processes/{process}/complete"),
        json!({"result": "NEGATIVE"}),
    )
    .await;
    let done = final_result(&s, &process).await;
    assert_eq!(done["status"], "SEARCH_NOT_MATCH", "{done}");
    assert_eq!(done["providers"][0]["name"], "by_unico");
    assert_eq!(
        done["providers"][0]["detail"]["authenticationInfo"]["authenticationResult"],
        "AUTHENTICATION_RESULT_NEGATIVE"
    );
    let polls = count(&provider_requests(&s).await, "unico-cadastro", &process);
    assert!(polls >= 1, "polled until finished ({polls})");
    // Finished: nobody asks again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        count(&provider_requests(&s).await, "unico-cadastro", &process),
        polls
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faceverify_sessions_are_signed_and_their_result_recorded_by_the_operator() {
    let logs = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let s = Station::start_with(&providers_toml(dir.path(), "faceverify", &["faceverify"])).await;
    s.login(OPERATOR).await;
    operator_first(&s).await;
    let created = s
        .ok(&format!(
            "/remote/enroll/{PERSON_UNKNOWN}?email=ana@example.org"
        ))
        .await;
    assert_eq!(created["status"], "REMOTE_CREATED", "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created["url"]
        .as_str()
        .unwrap()
        .starts_with("https://start.faceverify.ai/new/"));
    let requests = provider_requests(&s).await;
    assert_eq!(requests.len(), 1);
    let session = &requests[0];
    assert_eq!(
        session["status"], 200,
        "the fake verified the HMAC signature: {session}"
    );
    assert_eq!(session["headers"]["x-auth-client"], SECRETS[1].1);
    assert_eq!(
        session["headers"]["x-hmac-signature"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        session["body"],
        format!("{{\"country\":\"BR\",\"uniqueIdentifier\":\"{id}\"}}").as_str()
    );

    // No result endpoint: pending until the operator records it; nothing is polled.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        s.ok(&format!("/remote/verify/result/{id}")).await["status"],
        "REMOTE_PENDING"
    );
    assert_eq!(provider_requests(&s).await.len(), 1);
    let (code, body) = s
        .get(&format!("/remote/result/{id}/record?status=MAYBE"))
        .await;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_ARGUMENT"))
    );
    let recorded = s
        .ok(&format!(
            "/remote/result/{id}/record?status=SEARCH_MATCH&message=seen%20on%20the%20console"
        ))
        .await;
    assert_eq!(recorded["status"], "SEARCH_MATCH", "{recorded}");
    let result = s.ok(&format!("/remote/verify/result/{id}")).await;
    assert_eq!(result["status"], "SEARCH_MATCH");
    assert_eq!(result["message"], "seen on the console");
    assert_eq!(result["providers"][0]["name"], "faceverify");
    assert_eq!(result["providers"][0]["detail"]["recordedBy"], OPERATOR);
    let (code, body) = s
        .post(&format!(
            "/remote/result/{id}/record?status=SEARCH_NOT_MATCH"
        ))
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "the first result stands: {body}"
    );
    // Logged out, nobody may record.
    s.ok("/logout").await;
    let (code, _) = s
        .get(&format!("/remote/result/{id}/record?status=SEARCH_MATCH"))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    s.stop().await;
    assert_no_secret_in(&logs);
}

//! A station under test: `spidd --simulate` started in-process on ephemeral ports, with a
//! client for its local API and for the simulator's control API.

use std::time::{Duration, Instant};

use daemon::app::{Options, Running};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const OPERATOR: &str = "52998224725";
pub const OPERATOR_PENDING: &str = "11144477735";
pub const PERSON_ENROLLED: &str = "93541134780";
pub const PERSON_UNKNOWN: &str = "39053344705";

/// Generous: captures run image processing in the dev profile on a shared 2-core machine.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Station {
    running: Option<Running>,
    pub api: String,
    pub sim: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Station {
    pub async fn start() -> Station {
        Station::start_with("").await
    }

    /// Starts with extra TOML configuration.
    pub async fn start_with(config: &str) -> Station {
        Station::start_full(config, None).await
    }

    /// Starts against an external SPID server (`--upstream`), simulated devices still.
    pub async fn start_external(upstream: &str) -> Station {
        Station::start_full("", Some(upstream.to_string())).await
    }

    async fn start_full(config: &str, upstream: Option<String>) -> Station {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("spidd.toml");
        std::fs::write(&config_path, config).expect("write config");
        let running = daemon::app::start(Options {
            config: Some(config_path),
            simulate: true,
            listen: Some("127.0.0.1:0".parse().unwrap()),
            sim_control: Some("127.0.0.1:0".parse().unwrap()),
            upstream,
            data_dir: Some(dir.path().join("data")),
            status_socket: None,
        })
        .await
        .expect("station starts");
        let api = format!("http://{}/gbs-spid-services/api", running.api_addr);
        let sim = format!("http://{}", running.sim_control_addr.expect("sim control"));
        Station {
            running: Some(running),
            api,
            sim,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    pub async fn request(&self, method: Method, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{}", self.api, path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body = response.bytes().await.expect("body");
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.request(Method::POST, path).await
    }

    /// GET that must answer 200; returns the body.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path} → {status} {body}");
        body
    }

    pub async fn raw(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.api, path))
            .send()
            .await
            .expect("request")
    }

    /// POSTs to the simulator's control API.
    pub async fn sim(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}{}", self.sim, path))
            .json(&body)
            .send()
            .await
            .expect("sim control");
        assert!(
            response.status().is_success(),
            "sim {path} {body} → {}",
            response.status()
        );
    }

    /// Accepted upstream requests, oldest first.
    pub async fn upstream_requests(&self) -> Vec<Value> {
        let response = self
            .http
            .get(format!("{}/sim/upstream/requests", self.sim))
            .send()
            .await
            .expect("sim requests");
        response.json::<Vec<Value>>().await.expect("requests json")
    }

    pub async fn upstream_mode(&self, mode: &str) {
        self.sim("/sim/upstream", json!({ "mode": mode })).await;
    }

    /// Polls Capture Status until its `status` is one of `states`.
    pub async fn wait_for(&self, states: &[&str]) -> Value {
        let started = Instant::now();
        loop {
            let status = self.ok("/capture/status").await;
            let word = status["status"].as_str().unwrap_or_default().to_string();
            if states.contains(&word.as_str()) {
                return status;
            }
            assert!(
                started.elapsed() < WAIT,
                "still {word} after {WAIT:?} waiting for {states:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn login(&self, operator: &str) -> Value {
        let body = self.ok(&format!("/login/{operator}")).await;
        assert_eq!(body["status"], "OPERATOR_OK", "{body}");
        body
    }

    /// Login, Enroll, capture, operator capture, send: returns the Send answer.
    pub async fn enroll_flow(&self, cpf: &str) -> Value {
        let body = self.ok(&format!("/enroll/{cpf}")).await;
        assert_eq!(body["status"], "CLIENT_CAPTURING", "{body}");
        self.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
        self.ok("/operator/capture").await;
        self.wait_for(&["OPERATOR_CAPTURE_DONE"]).await;
        let (status, body) = self.post("/capture/send").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The technician status socket (in the data directory under `--simulate`).
    pub fn status_socket(&self) -> std::path::PathBuf {
        self.running
            .as_ref()
            .expect("running")
            .status_socket
            .clone()
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.running.as_ref().expect("running").data_dir.clone()
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

/// One of the workspace's binaries (`spidd`, `spid-sim`), next to this test's own directory
/// (`target/<profile>/`).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --all-targets`, as scripts/test.sh does)",
        bin.display()
    );
    bin
}

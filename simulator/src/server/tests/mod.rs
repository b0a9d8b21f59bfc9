//! HTTP tests of the fake server against a real listener on 127.0.0.1:0, with reqwest.

mod api;
mod faults;
mod fixtures;
mod flows;
mod people;

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use image::{GrayImage, ImageFormat, Luma};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{serve, FakeSpidServer, ServerConfig, BASE_PATH};

/// A fake server running on an ephemeral port, stopped when dropped.
pub(super) struct Running {
    pub server: FakeSpidServer,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The default configuration with every delay zero (tests that want delays set them).
pub(super) fn quick_config() -> ServerConfig {
    ServerConfig {
        enroll_delay: Duration::ZERO,
        operator_delay: Duration::ZERO,
        remote_capture_delay: None,
        ..ServerConfig::default()
    }
}

impl Running {
    pub async fn start(config: ServerConfig) -> Running {
        let server = FakeSpidServer::new(config).unwrap();
        super::seed_fixtures(&server);
        Running::with(server).await
    }

    pub async fn with(server: FakeSpidServer) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, server.clone(), async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Running {
            server,
            addr,
            client,
            stop: Some(stop),
        }
    }

    /// `path` under the upstream base path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{BASE_PATH}{path}", self.addr)
    }

    pub fn sim(&self, path: &str) -> String {
        format!("http://{}/sim{path}", self.addr)
    }

    pub async fn token(&self) -> String {
        let r = self
            .client
            .post(format!(
                "http://{}{}",
                self.addr,
                self.server.config().token_path
            ))
            .json(&json!({"username": "spid", "password": "spid"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let token = self.token().await;
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        let token = self.token().await;
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn control(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.sim(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// base64 of a small grey PNG (distinct per `shade`): valid content that is no fingerprint.
pub(super) fn png_content(shade: u8) -> String {
    let img = GrayImage::from_fn(48, 40, |x, y| Luma([shade.wrapping_add((x * 3 + y) as u8)]));
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(png)
}

pub(super) fn biometric(index: i32, content: String) -> Value {
    json!({"index": index, "content": content, "width": 48, "height": 40, "resolution": 500})
}

/// A `UserTransactionRequest` with plain (non-fingerprint) images at `indexes`.
pub(super) fn transaction(user: &str, timestamp: i64, indexes: &[i32]) -> Value {
    let biometrics: Vec<Value> = indexes
        .iter()
        .map(|&i| biometric(i, png_content(i as u8 * 20)))
        .collect();
    json!({"data": {"biometrics": biometrics, "missingBiometrics": [],
        "userId": user, "operatorId": super::seed::OPERATOR_ENROLLED, "timestamp": timestamp}})
}

/// The `type` and first error code of an `ErrorResponse`.
pub(super) async fn error_of(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["type"].as_str().unwrap().to_string(),
        body["errors"][0]["code"].as_str().unwrap().to_string(),
    )
}

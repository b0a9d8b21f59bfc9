//! Test support: a tiny scripted HTTP server on 127.0.0.1:0 (each test writes its answers),
//! a listener that never answers, and a port where nothing listens.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::config::UpstreamSettings;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub method: String,
    /// Path below `/gbs-spid-server`.
    pub path: String,
    pub auth: Option<String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Handler = dyn Fn(Seen) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync;

pub(crate) struct TestServer {
    /// Base URL, `http://127.0.0.1:port/gbs-spid-server`.
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    /// Requests seen for `method path` (login included when asked for).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path == path)
            .count()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Starts a server whose every answer comes from `handler`; every request is recorded first.
pub(crate) async fn start<F, Fut>(handler: F) -> TestServer
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let handler: Arc<Handler> = Arc::new(move |s| Box::pin(handler(s)));
    let record = seen.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            let record = record.clone();
            async move {
                let seen = Seen {
                    method: method.to_string(),
                    path: uri
                        .path()
                        .strip_prefix("/gbs-spid-server")
                        .unwrap_or(uri.path())
                        .to_string(),
                    auth: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: body.to_vec(),
                };
                record.lock().unwrap().push(seen.clone());
                handler(seen).await
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    TestServer {
        url: format!("http://{addr}/gbs-spid-server"),
        seen,
    }
}

pub(crate) fn json(status: u16, value: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

pub(crate) fn text(status: u16, body: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response()
}

/// The login answer most tests use.
pub(crate) fn login_ok() -> Response {
    json(200, serde_json::json!({"token": "tok-1"}))
}

/// Accepts connections and never answers.
pub(crate) async fn silent() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}/gbs-spid-server")
}

/// A port where nothing listens (bound, then released).
pub(crate) fn refused() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/gbs-spid-server")
}

/// Short timeouts so tests do not wait long, yet long enough for a loaded CI machine.
pub(crate) fn settings(url: &str) -> UpstreamSettings {
    UpstreamSettings {
        url: url.to_string(),
        username: "spid".into(),
        password_file: None,
        token_path: "/auth/login".into(),
        connect_timeout: Duration::from_millis(1000),
        request_timeout: Duration::from_millis(1000),
        ca_bundle: None,
    }
}

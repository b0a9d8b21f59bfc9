//! A small HTTP/1.1 client for the status socket: hyper's connection API over a
//! `tokio::net::UnixStream`, one connection per request.

use std::io;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

/// Why a request did not get a successful answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach spidd at {path}: {reason}; is spidd running? systemctl status spidd")]
    Unreachable { path: PathBuf, reason: String },
    #[error("permission denied on {path}: add yourself to group spidd-tech (sudo usermod -aG spidd-tech $USER, then log in again){}", socket_group_note(.group))]
    PermissionDenied {
        path: PathBuf,
        /// The socket's group, when it could be read.
        group: Option<String>,
    },
    #[error("talking to spidd at {path} failed: {reason}")]
    Protocol { path: PathBuf, reason: String },
    /// spidd answered with an error.
    #[error("spidd refused: {message} ({code}, HTTP {status})")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClientError {
    fn connect(path: &Path, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
                path: path.to_path_buf(),
                group: socket_group(path),
            },
            _ => ClientError::Unreachable {
                path: path.to_path_buf(),
                reason: match e.kind() {
                    io::ErrorKind::NotFound => "the socket does not exist".to_string(),
                    io::ErrorKind::ConnectionRefused => "nobody listens on the socket".to_string(),
                    _ => e.to_string(),
                },
            },
        }
    }
}

/// A note when the socket belongs to another group than the packaged one (`status.group`).
fn socket_group_note(group: &Option<String>) -> String {
    match group.as_deref() {
        Some(g) if g != "spidd-tech" => format!("; this socket's group is {g}"),
        _ => String::new(),
    }
}

/// The name of the socket file's group (from `/etc/group`, else the number).
fn socket_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid();
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let name = groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| gid.to_string()))
}

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: PathBuf) -> Client {
        Client { socket }
    }

    fn protocol(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            path: self.socket.clone(),
            reason: e.to_string(),
        }
    }

    /// Sends one request; a non-2xx answer becomes [`ClientError::Refused`].
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        json_body: Option<&Value>,
    ) -> Result<Response<Incoming>, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| ClientError::connect(&self.socket, e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.protocol(e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let body = json_body.map(|v| v.to_string()).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::HOST, "spidd")
            .header(
                header::USER_AGENT,
                concat!("spidctl/", env!("CARGO_PKG_VERSION")),
            );
        if json_body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.protocol(e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.protocol(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = self.body(response).await.unwrap_or_default();
        Err(refused(status, &bytes))
    }

    /// The whole body.
    pub async fn body(&self, response: Response<Incoming>) -> Result<Bytes, ClientError> {
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.protocol(e))?
            .to_bytes())
    }

    /// GET, answered with JSON.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, ClientError> {
        let response = self.send(Method::GET, path_and_query, None).await?;
        let bytes = self.body(response).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.protocol(format!("the answer is not JSON: {e}")))
    }

    /// GET, answered with text.
    pub async fn get_text(&self, path_and_query: &str) -> Result<String, ClientError> {
        let response = self.send(Method::GET, path_and_query, None).await?;
        let bytes = self.body(response).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads an NDJSON body line by line, calling `each` as every line arrives.
    pub async fn lines(
        &self,
        response: Response<Incoming>,
        mut each: impl FnMut(Value),
    ) -> Result<(), ClientError> {
        let mut body = response.into_body();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.protocol(e))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = &line[..line.len() - 1];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let value = serde_json::from_slice(line)
                    .map_err(|e| self.protocol(format!("a progress line is not JSON: {e}")))?;
                each(value);
            }
        }
        if !pending.iter().all(u8::is_ascii_whitespace) {
            return Err(self.protocol("the progress stream ended in the middle of a line"));
        }
        Ok(())
    }
}

fn refused(status: StatusCode, body: &[u8]) -> ClientError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let text = |key: &str| error.and_then(|e| e[key].as_str()).map(str::to_string);
    ClientError::Refused {
        status: status.as_u16(),
        code: text("code")
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("ERROR").to_string()),
        message: text("message")
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string()),
    }
}

//! The log of accepted requests (`GET /sim/upstream/requests`), kept small: image contents are
//! replaced by their length and passwords are never kept.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Strings under a `content` key longer than this are replaced by a length marker.
const MAX_CONTENT_CHARS: usize = 64;

/// A request that reached a handler and was processed (answered or not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The status the handler produced (also for requests whose answer was then withheld).
    pub status: u16,
    /// The body as parsed JSON, or null when it was empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    pub fn new(method: &str, path: &str, status: u16, body: &[u8]) -> Self {
        let body = serde_json::from_slice::<Value>(body)
            .map(shrink)
            .unwrap_or(Value::Null);
        RecordedRequest {
            method: method.to_string(),
            path: path.to_string(),
            status,
            body,
        }
    }
}

/// Replaces long `content` strings by `"[N chars]"` and any `password` by `"***"`.
fn shrink(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("password", _) => Value::String("***".into()),
                        ("content", Value::String(s)) if s.len() > MAX_CONTENT_CHARS => {
                            Value::String(format!("[{} chars]", s.len()))
                        }
                        (_, v) => shrink(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(shrink).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_identifiers_and_drops_images_and_passwords() {
        let long = "A".repeat(1000);
        let body = json!({"data": {"userId": "93541134780", "operatorId": "52998224725",
            "timestamp": 1700000000000_i64,
            "biometrics": [{"index": 2, "content": long, "width": 1}, {"index": 3, "content": "short"}]}});
        let r = RecordedRequest::new(
            "POST",
            "/gbs-spid-server/people",
            201,
            body.to_string().as_bytes(),
        );
        assert_eq!(r.body["data"]["userId"], "93541134780");
        assert_eq!(r.body["data"]["operatorId"], "52998224725");
        assert_eq!(r.body["data"]["timestamp"], 1700000000000_i64);
        assert_eq!(r.body["data"]["biometrics"][0]["content"], "[1000 chars]");
        assert_eq!(r.body["data"]["biometrics"][1]["content"], "short");
        let login = RecordedRequest::new(
            "POST",
            "/x",
            200,
            br#"{"username":"spid","password":"secret"}"#,
        );
        assert_eq!(login.body, json!({"username": "spid", "password": "***"}));
        assert_eq!(
            RecordedRequest::new("GET", "/x", 200, b"").body,
            Value::Null
        );
        assert_eq!(
            RecordedRequest::new("POST", "/x", 400, b"{not json").body,
            Value::Null
        );
    }
}

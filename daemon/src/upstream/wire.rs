//! The SPID Server's JSON shapes (spec 4.2.12), field names exactly as on the wire. Only the
//! daemon knows them. Enum-like fields stay strings: the server's full enums are not public,
//! so unknown values are carried, never rejected. `Debug` never prints biometric content.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One image: `{index, content (base64), width, height, resolution (ppi)}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Biometric {
    pub index: i32,
    pub content: String,
    pub width: u32,
    pub height: u32,
    pub resolution: u32,
}

impl fmt::Debug for Biometric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Biometric")
            .field("index", &self.index)
            .field(
                "content",
                &format_args!("<{} base64 chars>", self.content.len()),
            )
            .field("width", &self.width)
            .field("height", &self.height)
            .field("resolution", &self.resolution)
            .finish()
    }
}

/// `{index, type (AMPUTATED, ...), reason}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingBiometric {
    pub index: i32,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub reason: String,
}

/// One client transaction as the server takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTransaction {
    pub biometrics: Vec<Biometric>,
    #[serde(default)]
    pub missing_biometrics: Vec<MissingBiometric>,
    /// The individual's CPF, 11 digits.
    pub user_id: String,
    /// The operator's CPF, 11 digits.
    pub operator_id: String,
    /// Capture time, epoch milliseconds: with `userId`, the transaction's identity.
    pub timestamp: u64,
}

/// `{data: UserTransaction}`: the body of `POST /people` and `POST /verify`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserTransactionRequest {
    pub data: UserTransaction,
}

/// The answer to a submit and to a result query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalResult {
    /// The TGUID.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// `OK`, `SEARCH_MATCH`, `ENROLL_…`, or any value the server invents.
    #[serde(default)]
    pub status: Option<String>,
}

/// An operator: the body of `GET /operator/{cpf}`'s 302, and of `PUT /operator`'s `data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorEnrollPayload {
    /// The operator's CPF.
    pub document: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub biometrics: Vec<Biometric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tguid: Option<String>,
}

/// `{data: OperatorEnrollPayload}`: the body of `PUT /operator`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorEnrollRequest {
    pub data: OperatorEnrollPayload,
}

/// `{errors: [Error], type: VALIDATION_ERROR|PROCESSING_ERROR|INTERNAL_ERROR|SECURITY_ERROR}`.
/// The `Error` schema is not public, so each entry is kept as raw JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub errors: Vec<Value>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

impl ErrorResponse {
    /// One line for logs and API messages: the type and each error's message.
    pub fn summary(&self) -> String {
        let texts: Vec<String> = self
            .errors
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => ["message", "description", "detail", "error", "code"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string()),
                other => other.to_string(),
            })
            .collect();
        match (&self.kind, texts.is_empty()) {
            (Some(k), true) => k.clone(),
            (Some(k), false) => format!("{k}: {}", texts.join("; ")),
            (None, _) => texts.join("; "),
        }
    }
}

/// `approvement` of a Person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approvement {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub comments: Option<Value>,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub user: Option<Value>,
}

/// `GET /people/{cpf}`'s answer. Shapes the spec leaves open are raw JSON.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Person {
    #[serde(rename = "person-guid", default)]
    pub person_guid: Option<String>,
    #[serde(rename = "transaction-guid", default)]
    pub transaction_guid: Option<String>,
    #[serde(rename = "enroll-status", default)]
    pub enroll_status: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub keys: Option<Value>,
    #[serde(default)]
    pub labels: Option<Value>,
    #[serde(default)]
    pub biographics: Option<Value>,
    #[serde(default)]
    pub biometrics: Option<Value>,
    #[serde(default)]
    pub auxiliaries: Option<Value>,
    #[serde(default)]
    pub approvement: Option<Approvement>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("person_guid", &self.person_guid)
            .field("transaction_guid", &self.transaction_guid)
            .field("enroll_status", &self.enroll_status)
            .finish_non_exhaustive()
    }
}

/// One entry of `GET /transaction/people/{cpf}`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServerTransaction {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub operator_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Epoch milliseconds on the wire; kept raw because servers differ (number or string).
    #[serde(default)]
    pub timestamp: Option<Value>,
    #[serde(default)]
    pub psbio_tcn: Option<Value>,
    #[serde(default)]
    pub biometrics: Option<Value>,
}

impl ServerTransaction {
    /// The capture timestamp in epoch milliseconds, from a number or a numeric string.
    pub fn timestamp_millis(&self) -> Option<u64> {
        match self.timestamp.as_ref()? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Debug for ServerTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTransaction")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_transaction_uses_the_spec_field_names() {
        let body = UserTransactionRequest {
            data: UserTransaction {
                biometrics: vec![Biometric {
                    index: 2,
                    content: "AAAA".into(),
                    width: 300,
                    height: 400,
                    resolution: 500,
                }],
                missing_biometrics: vec![MissingBiometric {
                    index: 8,
                    kind: "AMPUTATED".into(),
                    reason: "declared".into(),
                }],
                user_id: "52998224725".into(),
                operator_id: "11144477735".into(),
                timestamp: 1_700_000_000_123,
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"data": {
                "biometrics": [{"index": 2, "content": "AAAA", "width": 300, "height": 400, "resolution": 500}],
                "missingBiometrics": [{"index": 8, "type": "AMPUTATED", "reason": "declared"}],
                "userId": "52998224725", "operatorId": "11144477735", "timestamp": 1_700_000_000_123u64
            }})
        );
        assert!(
            !format!("{body:?}").contains("AAAA"),
            "Debug must not print image content"
        );
    }

    #[test]
    fn person_and_transactions_read_hyphenated_and_loose_fields() {
        let p: Person = serde_json::from_value(json!({
            "person-guid": "p1", "transaction-guid": "t1", "enroll-status": "ENQUEUED",
            "approvement": {"status": "APPROVED"}, "unknown": 1
        }))
        .unwrap();
        assert_eq!(p.person_guid.as_deref(), Some("p1"));
        assert_eq!(p.enroll_status.as_deref(), Some("ENQUEUED"));
        let t: ServerTransaction =
            serde_json::from_value(json!({"id": "g", "timestamp": "1700"})).unwrap();
        assert_eq!(t.timestamp_millis(), Some(1700));
        let t: ServerTransaction =
            serde_json::from_value(json!({"id": "g", "timestamp": 1701})).unwrap();
        assert_eq!(t.timestamp_millis(), Some(1701));
    }

    #[test]
    fn error_summary_reads_messages() {
        let e: ErrorResponse = serde_json::from_value(json!({
            "type": "VALIDATION_ERROR", "errors": [{"code": "X", "message": "userId is invalid"}, "second"]
        }))
        .unwrap();
        assert_eq!(e.summary(), "VALIDATION_ERROR: userId is invalid; second");
        let e: ErrorResponse = serde_json::from_value(json!({"errors": null})).unwrap();
        assert_eq!(e.summary(), "");
    }
}

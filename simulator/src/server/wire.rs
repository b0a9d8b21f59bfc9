//! The SPID Server 4.2.12 wire format as the fake server speaks it, written independently of
//! the daemon's client types, plus the `ErrorResponse` answers and CPF validation.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One biometric image: `content` is base64 of a PNG, JPEG or WSQ file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Biometric {
    pub index: i32,
    pub content: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub resolution: u32,
}

/// A position that could not be captured (`type` is carried through whatever it says).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingBiometric {
    pub index: i32,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTransaction {
    pub biometrics: Vec<Biometric>,
    #[serde(default)]
    pub missing_biometrics: Vec<MissingBiometric>,
    pub user_id: String,
    pub operator_id: String,
    /// Capture time, epoch milliseconds; with `user_id` it identifies a station transaction.
    pub timestamp: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UserTransactionRequest {
    pub data: UserTransaction,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalResult {
    pub id: String,
    pub message: String,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorEnrollPayload {
    pub document: String,
    #[serde(default)]
    pub biometrics: Vec<Biometric>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub tguid: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct OperatorEnrollRequest {
    pub data: OperatorEnrollPayload,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorSummary {
    pub document: String,
    pub status: String,
    pub tguid: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TransactionIdentifier {
    #[serde(rename = "clientID")]
    pub client_id: String,
    #[serde(rename = "operatorID")]
    pub operator_id: String,
    #[serde(rename = "clientEmail", default)]
    pub client_email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RemoteCaptureRequest {
    pub data: TransactionIdentifier,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCaptureResponse {
    pub tguid: String,
    pub dynamic_link: String,
}

/// `{username, password}` sent to the token endpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A biometric as listed inside transactions: everything but the image itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiometricSummary {
    pub index: i32,
    pub width: u32,
    pub height: u32,
    pub resolution: u32,
}

impl From<&Biometric> for BiometricSummary {
    fn from(b: &Biometric) -> Self {
        BiometricSummary {
            index: b.index,
            width: b.width,
            height: b.height,
            resolution: b.resolution,
        }
    }
}

/// One entry of `GET /transaction/people/{cpf}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionListing {
    pub id: String,
    pub user_id: String,
    pub operator_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub timestamp: i64,
    pub psbio_tcn: String,
    pub biometrics: Vec<BiometricSummary>,
}

/// The person record of `GET /people/{cpf}` (hyphenated keys, as the upstream spells them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRecord {
    #[serde(rename = "person-guid")]
    pub person_guid: String,
    #[serde(rename = "transaction-guid")]
    pub transaction_guid: String,
    #[serde(rename = "enroll-status")]
    pub enroll_status: String,
    pub timestamp: i64,
    pub keys: Value,
    pub labels: Vec<String>,
    pub biographics: Value,
    pub biometrics: Vec<Biometric>,
    pub auxiliaries: Vec<Value>,
    pub approvement: Approvement,
    pub metadata: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approvement {
    pub status: String,
    pub comments: String,
    pub timestamp: i64,
    pub user: String,
}

/// The `type` of an [`ErrorResponse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorType {
    ValidationError,
    ProcessingError,
    InternalError,
    SecurityError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub errors: Vec<ErrorItem>,
    #[serde(rename = "type")]
    pub kind: ErrorType,
}

/// An error answer: HTTP status plus an `ErrorResponse` body.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorResponse,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: ErrorType,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            body: ErrorResponse {
                errors: vec![ErrorItem {
                    code: code.to_string(),
                    message: message.into(),
                    field: None,
                }],
                kind,
            },
        }
    }

    /// 422: the request parsed but a field's value is not acceptable.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::ValidationError,
            "INVALID_FIELD",
            message,
        );
        e.body.errors[0].field = Some(field.to_string());
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::ValidationError,
            "MALFORMED_REQUEST",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorType::ProcessingError,
            "NOT_FOUND",
            message,
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::ProcessingError,
            "CONFLICT",
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::SecurityError,
            "UNAUTHORIZED",
            message,
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::InternalError,
            "SERVICE_UNAVAILABLE",
            message,
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::InternalError,
            "INTERNAL_ERROR",
            message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Parses a JSON request body the way the upstream does: a non-JSON content type is 415, a
/// body that is not JSON or does not fit the schema is 400.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::ValidationError,
            "UNSUPPORTED_MEDIA_TYPE",
            "expected Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// True when `cpf` is 11 digits, not all equal, with both check digits right.
pub fn valid_cpf(cpf: &str) -> bool {
    let digits: Vec<u32> = cpf.chars().filter_map(|c| c.to_digit(10)).collect();
    if cpf.len() != 11 || digits.len() != 11 || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = digits[..n]
            .iter()
            .enumerate()
            .map(|(i, &d)| d * (n as u32 + 1 - i as u32))
            .sum();
        let rest = (sum * 10) % 11;
        if rest == 10 {
            0
        } else {
            rest
        }
    };
    check(9) == digits[9] && check(10) == digits[10]
}

/// `93541134780` → `935.***.***-80`: enough to recognise, not enough to identify.
pub fn mask_cpf(cpf: &str) -> String {
    if cpf.len() == 11 && cpf.is_ascii() {
        format!("{}.***.***-{}", &cpf[..3], &cpf[9..])
    } else {
        "***".to_string()
    }
}

/// Rejects a path CPF that is not 11 digits with valid check digits.
pub fn path_cpf(cpf: &str) -> Result<(), ApiError> {
    if valid_cpf(cpf) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the CPF in the path is not 11 digits with valid check digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_check_digits() {
        for good in ["52998224725", "11144477735", "93541134780", "39053344705"] {
            assert!(valid_cpf(good), "{good}");
        }
        for bad in [
            "52998224724",
            "11111111111",
            "1114447773",
            "111444777350",
            "5299822472a",
            "",
        ] {
            assert!(!valid_cpf(bad), "{bad}");
        }
    }

    #[test]
    fn masks_cpf() {
        assert_eq!(mask_cpf("93541134780"), "935.***.***-80");
        assert_eq!(mask_cpf("123"), "***");
    }

    #[test]
    fn wire_names_match_the_upstream() {
        let tx: UserTransactionRequest = serde_json::from_str(
            r#"{"data":{"biometrics":[{"index":2,"content":"AA==","width":1,"height":1,"resolution":500}],
               "missingBiometrics":[{"index":3,"type":"AMPUTATED","reason":"x"}],
               "userId":"93541134780","operatorId":"52998224725","timestamp":1700000000000}}"#,
        )
        .unwrap();
        assert_eq!(tx.data.missing_biometrics[0].kind, "AMPUTATED");
        assert_eq!(tx.data.timestamp, 1_700_000_000_000);
        let r = serde_json::to_value(RemoteCaptureResponse {
            tguid: "t".into(),
            dynamic_link: "l".into(),
        })
        .unwrap();
        assert_eq!(r, serde_json::json!({"tguid":"t","dynamicLink":"l"}));
        let e = serde_json::to_value(ApiError::bad_request("x").body).unwrap();
        assert_eq!(e["type"], "VALIDATION_ERROR");
        assert_eq!(e["errors"][0]["message"], "x");
        let id: RemoteCaptureRequest = serde_json::from_str(
            r#"{"data":{"clientID":"1","operatorID":"2","clientEmail":"a@b"}}"#,
        )
        .unwrap();
        assert_eq!(id.data.client_email.as_deref(), Some("a@b"));
    }
}

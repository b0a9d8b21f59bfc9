//! The local API's JSON bodies (the contract's wire format; only this module knows it).

use serde::Serialize;
use state_machine::{CaptureStatus, LoginState, Millis};
use utoipa::ToSchema;

/// Login: `{"status": "OPERATOR_OK", "operatorId": "52998224725"}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginAnswer {
    /// `OPERATOR_OK`, `OPERATOR_OFFLINE_OK`, `OPERATOR_PENDING`, `OPERATOR_IN_PROGRESS`,
    /// `OPERATOR_NOT_FOUND`, `OPERATOR_FAILED`.
    pub status: &'static str,
    pub operator_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginStatusAnswer {
    /// The last Login's status, or `NOT_LOGGED_IN`.
    pub status: &'static str,
    pub operator_id: Option<String>,
    /// RFC 3339.
    pub logged_in_at: Option<String>,
    pub offline: bool,
}

impl LoginStatusAnswer {
    pub fn from_state(login: &LoginState) -> LoginStatusAnswer {
        LoginStatusAnswer {
            status: login.status.map_or("NOT_LOGGED_IN", |s| s.as_str()),
            operator_id: login.operator.as_ref().map(|c| c.digits().to_string()),
            logged_in_at: login.logged_in_at.map(rfc3339),
            offline: login.offline,
        }
    }
}

/// A bare status word: `LOGGED_OUT`, `OPERATOR_CAPTURING`, `IDLE`.
#[derive(Serialize, ToSchema)]
pub struct StatusAnswer {
    pub status: &'static str,
}

/// Verify and Enroll.
#[derive(Serialize, ToSchema)]
pub struct PersonAnswer {
    /// `PERSON_NOT_FOUND` or `CLIENT_CAPTURING`.
    pub status: &'static str,
    pub cpf: String,
    /// `ENROLL` or `VERIFY` while capturing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
}

/// Capture Send.
#[derive(Serialize, ToSchema)]
pub struct SendAnswer {
    /// `CAPTURE_ENQUEUED`, `VERIFIED` or `CAPTURE_PENDING`.
    pub status: &'static str,
    /// The station transaction id (UUID).
    pub id: String,
    /// The server's TGUID once known.
    pub tguid: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CurrentJson {
    pub index: u8,
    /// `FINGER` or `FACE`.
    pub kind: &'static str,
    pub attempt: u8,
    pub prompt: String,
}

#[derive(Serialize, ToSchema)]
pub struct CapturedJson {
    pub index: u8,
    pub kind: &'static str,
    pub quality: u8,
    pub attempts: u8,
}

#[derive(Serialize, ToSchema)]
pub struct MissingJson {
    pub index: u8,
    /// `AMPUTATED`, `BANDAGED`, `UNABLE_TO_CAPTURE`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct FailureJson {
    /// `DEVICE_UNAVAILABLE`, `DEVICE_ERROR`, `QUALITY_TOO_LOW`, `TIMEOUT`, `CANCELLED`.
    pub code: &'static str,
    pub message: &'static str,
}

/// Capture Status.
#[derive(Serialize, ToSchema)]
pub struct CaptureStatusAnswer {
    pub status: &'static str,
    pub mode: Option<&'static str>,
    pub cpf: Option<String>,
    pub current: Option<CurrentJson>,
    pub captured: Vec<CapturedJson>,
    pub pending: Vec<u8>,
    pub missing: Vec<MissingJson>,
    pub failure: Option<FailureJson>,
}

fn kind(is_face: bool) -> &'static str {
    if is_face {
        "FACE"
    } else {
        "FINGER"
    }
}

impl CaptureStatusAnswer {
    pub fn from_status(s: &CaptureStatus) -> CaptureStatusAnswer {
        CaptureStatusAnswer {
            status: s.state.as_str(),
            mode: s.mode.map(|m| m.as_str()),
            cpf: s.cpf.as_ref().map(|c| c.digits().to_string()),
            current: s.current.as_ref().map(|c| CurrentJson {
                index: c.position.index(),
                kind: kind(c.position.is_face()),
                attempt: c.attempt,
                prompt: c.prompt.clone(),
            }),
            captured: s
                .captured
                .iter()
                .map(|c| CapturedJson {
                    index: c.position.index(),
                    kind: kind(c.position.is_face()),
                    quality: c.quality,
                    attempts: c.attempts,
                })
                .collect(),
            pending: s.pending.iter().map(|p| p.index()).collect(),
            missing: s
                .missing
                .iter()
                .map(|m| MissingJson {
                    index: m.finger.code(),
                    kind: m.kind.as_str(),
                })
                .collect(),
            failure: s.failure.map(|f| FailureJson {
                code: f.code(),
                message: f.message(),
            }),
        }
    }
}

/// Capture Result by ID.
#[derive(Serialize, ToSchema)]
pub struct ResultAnswer {
    /// The upstream's status (`SEARCH_MATCH`, `SEARCH_NOT_MATCH`, `OK`, ...) or `CAPTURE_PENDING`.
    pub status: String,
    pub id: String,
    pub tguid: Option<String>,
    pub message: Option<String>,
    /// True when the upstream could not be asked and this is the last known status.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// The cloud providers' outcomes on this transaction (absent when none is configured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<super::remote::ProviderJson>,
}

/// Capture Resend All.
#[derive(Serialize, ToSchema)]
pub struct ResendAnswer {
    /// `RESEND_DONE`.
    pub status: &'static str,
    pub attempted: u64,
    pub delivered: u64,
    pub failed: u64,
    pub remaining: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceJson {
    /// `fingerprint` or `camera`.
    pub kind: &'static str,
    pub driver: String,
    pub address: String,
    pub name: String,
    /// `ready`, `unavailable` or `error`.
    pub state: &'static str,
    /// The device's id (`usb:05ba:000a@1-4`, `camera:0`, `sim:fingerprint`) when attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// The most recent device failure (kept after the device recovers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxJson {
    pub pending: u64,
}

/// Health.
#[derive(Serialize, ToSchema)]
pub struct HealthAnswer {
    /// `OK` or `DEGRADED`.
    pub status: &'static str,
    pub version: &'static str,
    /// The Capture Status state.
    pub state: &'static str,
    pub devices: Vec<DeviceJson>,
    pub outbox: OutboxJson,
    /// `reachable` or `unreachable`.
    pub upstream: &'static str,
}

/// RFC 3339 in UTC with millisecond precision.
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}

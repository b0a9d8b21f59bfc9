//! Read-only views of the flow: Login Status and Capture Status.

use crate::cpf::Cpf;
use crate::position::{Missing, Position};
use crate::Millis;

/// The statuses a Login answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginStatus {
    Ok,
    OfflineOk,
    Pending,
    InProgress,
    NotFound,
    Failed,
}

impl LoginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginStatus::Ok => "OPERATOR_OK",
            LoginStatus::OfflineOk => "OPERATOR_OFFLINE_OK",
            LoginStatus::Pending => "OPERATOR_PENDING",
            LoginStatus::InProgress => "OPERATOR_IN_PROGRESS",
            LoginStatus::NotFound => "OPERATOR_NOT_FOUND",
            LoginStatus::Failed => "OPERATOR_FAILED",
        }
    }
}

/// Login Status: the last Login's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginState {
    /// `None`: nobody logged in and no Login answered since start or Logout (`NOT_LOGGED_IN`).
    pub status: Option<LoginStatus>,
    pub operator: Option<Cpf>,
    pub logged_in_at: Option<Millis>,
    pub offline: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enroll,
    Verify,
    Operator,
    OperatorEnroll,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enroll => "ENROLL",
            Mode::Verify => "VERIFY",
            Mode::Operator => "OPERATOR",
            Mode::OperatorEnroll => "OPERATOR_ENROLL",
        }
    }
}

/// The Capture Status state words of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureState {
    NotLoggedIn,
    Idle,
    ClientCapturing,
    ClientCaptureDone,
    ClientCaptureFailed,
    OperatorCapturing,
    OperatorCaptureDone,
    OperatorNotMatched,
    OperatorCaptureFailed,
    OperatorEnrollSent,
}

impl CaptureState {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureState::NotLoggedIn => "NOT_LOGGED_IN",
            CaptureState::Idle => "IDLE",
            CaptureState::ClientCapturing => "CLIENT_CAPTURING",
            CaptureState::ClientCaptureDone => "CLIENT_CAPTURE_DONE",
            CaptureState::ClientCaptureFailed => "CLIENT_CAPTURE_FAILED",
            CaptureState::OperatorCapturing => "OPERATOR_CAPTURING",
            CaptureState::OperatorCaptureDone => "OPERATOR_CAPTURE_DONE",
            CaptureState::OperatorNotMatched => "OPERATOR_NOT_MATCHED",
            CaptureState::OperatorCaptureFailed => "OPERATOR_CAPTURE_FAILED",
            CaptureState::OperatorEnrollSent => "OPERATOR_ENROLL_SENT",
        }
    }
}

/// Capture failure codes of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFailure {
    DeviceUnavailable,
    DeviceError,
    QualityTooLow,
    Timeout,
    Cancelled,
    /// The operator's enrollment could not be uploaded (Operator Enroll only). Not among the
    /// contract's capture failure codes; it reuses the contract's error code for the upstream.
    ServerUnavailable,
}

impl CaptureFailure {
    pub fn code(self) -> &'static str {
        match self {
            CaptureFailure::DeviceUnavailable => "DEVICE_UNAVAILABLE",
            CaptureFailure::DeviceError => "DEVICE_ERROR",
            CaptureFailure::QualityTooLow => "QUALITY_TOO_LOW",
            CaptureFailure::Timeout => "TIMEOUT",
            CaptureFailure::Cancelled => "CANCELLED",
            CaptureFailure::ServerUnavailable => "SERVER_UNAVAILABLE",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CaptureFailure::DeviceUnavailable => {
                "The capture device is absent or was disconnected."
            }
            CaptureFailure::DeviceError => "The capture device reported an error.",
            CaptureFailure::QualityTooLow => "No attempt reached the required quality.",
            CaptureFailure::Timeout => "Nothing was presented to the device in time.",
            CaptureFailure::Cancelled => "The capture was cancelled.",
            CaptureFailure::ServerUnavailable => {
                "The SPID server did not take the operator's biometrics; run Operator Enroll again."
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CurrentCapture {
    pub position: Position,
    pub attempt: u8,
    pub prompt: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CapturedPosition {
    pub position: Position,
    pub quality: u8,
    pub attempts: u8,
}

/// Capture Status.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureStatus {
    pub state: CaptureState,
    pub mode: Option<Mode>,
    pub cpf: Option<Cpf>,
    pub current: Option<CurrentCapture>,
    pub captured: Vec<CapturedPosition>,
    pub pending: Vec<Position>,
    pub missing: Vec<Missing>,
    pub failure: Option<CaptureFailure>,
}

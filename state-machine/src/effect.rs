//! What the flow asks the daemon to do, in order.

use crate::cpf::Cpf;
use crate::input::{CaptureId, CommandId, RemoteLink, RequestId, SampleId};
use crate::position::{Missing, Position};
use crate::status::{LoginStatus, Mode};
use crate::Millis;

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Answer the API call `to`. Every command gets exactly one reply, sooner or later.
    Reply {
        to: CommandId,
        reply: Result<Answer, FlowError>,
    },
    /// Start capturing one position. A capture already running is stopped first by a
    /// [`Effect::StopCapture`] that comes before this effect.
    StartCapture(CaptureRequest),
    /// Stop a capture; its results, if any still arrive, are ignored.
    StopCapture { capture: CaptureId },
    /// Drop the samples of the abandoned or finished transaction (the daemon frees them).
    DiscardSamples { samples: Vec<SampleId> },
    /// Call the upstream; answer with [`crate::Input::Upstream`] carrying `request`.
    Upstream {
        request: RequestId,
        call: UpstreamCall,
    },
    /// Write the transaction durably to the outbox, then answer with [`crate::Input::Persisted`].
    Persist {
        request: RequestId,
        transaction: TransactionRecord,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaptureRequest {
    pub capture: CaptureId,
    pub position: Position,
    pub purpose: CapturePurpose,
    /// Whose biometrics are expected (the individual, or the operator).
    pub subject: Cpf,
    /// 1-based attempt number for this position.
    pub attempt: u8,
    /// When the flow gives up waiting for a presentation (`TIMEOUT`).
    pub deadline: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePurpose {
    /// The individual's enroll or verify capture.
    Client,
    /// The operator's finger, to be matched 1:1 with their stored biometrics.
    OperatorMatch,
    /// The operator's first-access enrollment.
    OperatorEnroll,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamCall {
    LookupOperator {
        operator: Cpf,
    },
    LookupPerson {
        cpf: Cpf,
    },
    /// `PUT /operator` with these samples (the operator enroll plan's best attempts).
    EnrollOperator {
        operator: Cpf,
        samples: Vec<KeptSample>,
    },
    /// First delivery attempt of a persisted transaction (station id from the outbox).
    Deliver {
        transaction: String,
        mode: Mode,
    },
    /// Create a remote capture (SPID Server or the configured remote provider) and record it.
    CreateRemote {
        mode: Mode,
        cpf: Cpf,
        operator: Cpf,
        email: Option<String>,
    },
}

/// The best attempt of one position.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptSample {
    pub position: Position,
    pub sample: SampleId,
    pub quality: u8,
    pub attempts: u8,
    pub captured_at: Millis,
}

/// One client transaction, complete, as it goes to the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct TransactionRecord {
    pub mode: Mode,
    pub cpf: Cpf,
    pub operator: Cpf,
    pub samples: Vec<KeptSample>,
    pub missing: Vec<Missing>,
    /// The operator's matched finger.
    pub operator_sample: KeptSample,
    /// When the client capture started.
    pub started_at: Millis,
    /// When the client capture completed: the upstream's `timestamp`, which with the CPF
    /// identifies the transaction (idempotency). Unique per station transaction.
    pub timestamp: Millis,
}

/// Successful answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// `OPERATOR_OK`, `OPERATOR_OFFLINE_OK`, `OPERATOR_PENDING`, `OPERATOR_IN_PROGRESS`,
    /// `OPERATOR_NOT_FOUND`, `OPERATOR_FAILED`.
    Login {
        status: LoginStatus,
        operator: Cpf,
    },
    LoggedOut,
    /// `OPERATOR_CAPTURING` (Operator Enroll and Operator Capture).
    OperatorCapturing,
    PersonNotFound {
        cpf: Cpf,
    },
    ClientCapturing {
        cpf: Cpf,
        mode: Mode,
    },
    Idle,
    Sent {
        status: SendStatus,
        id: String,
        tguid: Option<String>,
    },
    /// `REMOTE_CREATED`.
    RemoteCreated {
        link: RemoteLink,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendStatus {
    Enqueued,
    Verified,
    Pending,
}

impl SendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SendStatus::Enqueued => "CAPTURE_ENQUEUED",
            SendStatus::Verified => "VERIFIED",
            SendStatus::Pending => "CAPTURE_PENDING",
        }
    }
}

/// Why a command failed. A failed command changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowError {
    /// Not allowed now; `state` is the current Capture Status state word.
    InvalidState { state: &'static str },
    /// The upstream could not be reached for a call that cannot work offline.
    ServerUnavailable { reason: String },
    /// The upstream refused the transaction as invalid; it is kept in the outbox, marked rejected.
    Rejected { id: String, reason: String },
    /// The outbox could not store the transaction.
    Storage { reason: String },
    /// Any other upstream failure (Login `ERROR`).
    Upstream { reason: String },
    /// The command's arguments do not fit (e.g. every verify finger declared missing).
    InvalidArgument { reason: String },
    /// The upstream does not know what the command names (Remote Verify of someone not enrolled).
    NotFound { reason: String },
}

//! What the flow reacts to: API commands, device results, upstream answers, storage results, ticks.

use crate::cpf::Cpf;
use crate::position::{Finger, Missing};
use crate::status::Mode;
use crate::Millis;

/// Names one API call awaiting its answer. Chosen by the daemon, echoed in [`crate::Effect::Reply`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CommandId(pub u64);

/// Names one capture the flow started; device results for any other capture are stale and ignored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CaptureId(pub u64);

/// Names one upstream call or storage write the flow asked for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A biometric sample held by the daemon (image, template, quality report). The flow never
/// sees biometric data, only these handles.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SampleId(pub u64);

/// One input to [`crate::Station::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Command(CommandId, Command),
    Device(DeviceEvent),
    Upstream(UpstreamAnswer),
    /// The outbox write asked for by [`crate::Effect::Persist`] finished.
    Persisted {
        request: RequestId,
        /// The station's transaction id (a UUID made by the outbox), or why it could not be stored.
        result: Result<String, String>,
    },
    /// Time passed; deadlines are checked against `now`.
    Tick,
}

/// The state-changing API calls. Login Status and Capture Status are read with
/// [`crate::Station::login_status`] and [`crate::Station::capture_status`].
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Login {
        operator: Cpf,
    },
    Logout,
    OperatorEnroll,
    Verify {
        cpf: Cpf,
        missing: Vec<Missing>,
    },
    Enroll {
        cpf: Cpf,
        missing: Vec<Missing>,
    },
    OperatorCapture,
    Cancel,
    Send,
    /// Remote Verify / Remote Enroll (`mode` is `Verify` or `Enroll`): after the operator's
    /// match from an idle station, create a remote capture for `cpf`. `email` is required for
    /// `Enroll`.
    Remote {
        mode: Mode,
        cpf: Cpf,
        email: Option<String>,
    },
}

/// What a device reports for a capture the flow started.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceEvent {
    /// A sample was taken and judged. `matched` is set for operator-match captures only: the
    /// daemon compared it 1:1 with the operator's stored biometrics.
    Captured {
        capture: CaptureId,
        sample: SampleId,
        quality: u8,
        matched: Option<bool>,
    },
    /// No finger or face was presented before the device gave up.
    NothingPresented { capture: CaptureId },
    Failed {
        capture: CaptureId,
        failure: DeviceFailure,
    },
}

impl DeviceEvent {
    pub fn capture(&self) -> CaptureId {
        match self {
            DeviceEvent::Captured { capture, .. }
            | DeviceEvent::NothingPresented { capture }
            | DeviceEvent::Failed { capture, .. } => *capture,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFailure {
    /// The device is absent or disappeared.
    Unavailable,
    /// The device answered wrongly.
    Error,
}

/// An answer to an [`crate::UpstreamCall`].
#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamAnswer {
    Operator {
        request: RequestId,
        outcome: OperatorLookup,
    },
    Person {
        request: RequestId,
        outcome: PersonLookup,
    },
    /// `Err` carries a one-sentence reason.
    OperatorEnrolled {
        request: RequestId,
        outcome: Result<(), String>,
    },
    Delivered {
        request: RequestId,
        outcome: DeliveryOutcome,
    },
    /// The remote capture asked for by [`crate::UpstreamCall::CreateRemote`].
    RemoteCreated {
        request: RequestId,
        outcome: Result<RemoteLink, RemoteFailure>,
    },
}

impl UpstreamAnswer {
    pub fn request(&self) -> RequestId {
        match self {
            UpstreamAnswer::Operator { request, .. }
            | UpstreamAnswer::Person { request, .. }
            | UpstreamAnswer::OperatorEnrolled { request, .. }
            | UpstreamAnswer::Delivered { request, .. }
            | UpstreamAnswer::RemoteCreated { request, .. } => *request,
        }
    }
}

/// The operator lookup at Login (`GET /operator/{cpf}`), already interpreted by the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorLookup {
    /// Known with biometrics, status VERIFIED; the daemon stored them locally.
    Enrolled {
        fingers: Vec<Finger>,
    },
    /// Registered by an administrator, no biometrics yet.
    Registered,
    /// Biometrics sent, the server is still processing them.
    InProgress,
    NotFound,
    /// Enrollment failed on the server (or an unknown status; `reason` has the raw value).
    Failed {
        reason: String,
    },
    /// Connection error, timeout or 5xx. `local` is what the station holds for this operator.
    Unreachable {
        reason: String,
        local: Option<LocalOperator>,
    },
    /// Any other failure (malformed answer, 4xx, auth).
    Error {
        reason: String,
    },
}

/// Operator biometrics held in the station's own store.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalOperator {
    pub stored_at: Millis,
    pub fingers: Vec<Finger>,
}

/// The person lookup at Verify (`GET /people/{cpf}`).
#[derive(Clone, Debug, PartialEq)]
pub enum PersonLookup {
    /// Enrolled; `fingers` lists the enrolled finger positions when the server says so.
    Found {
        fingers: Option<Vec<Finger>>,
    },
    NotFound,
    Unreachable {
        reason: String,
    },
    Error {
        reason: String,
    },
}

/// The first delivery attempt of a persisted transaction (the daemon's courier makes it).
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    /// The server accepted it; `tguid` is its transaction id.
    Accepted { tguid: String },
    /// Not delivered now (unreachable, timeout, 5xx): it stays in the outbox.
    Pending { reason: String },
    /// 4xx: the server refused it as invalid; kept in the outbox marked rejected.
    Rejected { reason: String },
}

/// A created remote capture: the station's id (recorded by the daemon), the upstream's or
/// provider's id, and the link the individual opens.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteLink {
    pub id: String,
    pub tguid: Option<String>,
    pub url: String,
}

/// Why a remote capture could not be created. Each changes nothing in the flow.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteFailure {
    /// Connection error, timeout, 5xx, rate limit: try again later.
    Unreachable { reason: String },
    /// The upstream does not know the individual (Remote Verify of someone not enrolled).
    NotFound { reason: String },
    /// The upstream or provider refused the request's arguments (4xx).
    Refused { reason: String },
    /// Anything else: credentials, malformed answers, the station's own storage.
    Error { reason: String },
}

//! The station's presencial and remote SPID flows as a pure state machine.
//!
//! Nothing here does IO: no clock, no tokio, no HTTP, no USB, no SQLite. The daemon feeds
//! [`Input`]s with the current time and carries out the [`Effect`]s it gets back, in order.
//! Biometric samples never enter this crate: the daemon keeps them and the flow refers to them
//! by [`SampleId`].

mod config;
mod cpf;
mod effect;
mod input;
mod position;
mod station;
mod status;

pub use config::FlowConfig;
pub use cpf::{Cpf, CpfError};
pub use effect::{
    Answer, CapturePurpose, CaptureRequest, Effect, FlowError, KeptSample, SendStatus,
    TransactionRecord, UpstreamCall,
};
pub use input::{
    CaptureId, Command, CommandId, DeliveryOutcome, DeviceEvent, DeviceFailure, Input,
    LocalOperator, OperatorLookup, PersonLookup, RemoteFailure, RemoteLink, RequestId, SampleId,
    UpstreamAnswer,
};
pub use position::{Finger, Missing, MissingError, MissingType, Position};
pub use station::Station;
pub use status::{
    CaptureFailure, CaptureState, CaptureStatus, CapturedPosition, CurrentCapture, LoginState,
    LoginStatus, Mode,
};

/// Milliseconds since the Unix epoch. The daemon's clock, passed in; the flow never reads one.
pub type Millis = u64;

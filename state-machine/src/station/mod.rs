//! The station: operator session, client capture, operator capture and send, as one value.
//!
//! [`Station::handle`] takes one [`Input`] and returns the [`Effect`]s to carry out. A command
//! that fails is answered at once with an `Err` and changes nothing; commands that need the
//! upstream or the outbox (Login, Verify, Send) are answered when that answer comes in. While
//! such a command awaits, every other command except Logout is refused with `INVALID_STATE`.

mod capture;
mod flow;
mod operator;
mod remote;
mod send;
mod session;
#[cfg(test)]
mod tests;

use crate::config::FlowConfig;
use crate::cpf::Cpf;
use crate::effect::{Answer, Effect, FlowError, TransactionRecord};
use crate::input::{CaptureId, Command, CommandId, Input, RequestId, SampleId, UpstreamAnswer};
use crate::position::{Finger, Missing};
use crate::status::{CaptureState, CaptureStatus, LoginState, Mode};
use crate::Millis;

use flow::Flow;

/// The whole flow of one station. Cloning it gives an independent copy (tests compare
/// snapshots to check that a refused command changed nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Station {
    config: FlowConfig,
    /// Source of capture and request ids: every id the station hands out is new.
    next_id: u64,
    session: Option<Session>,
    /// Login Status: the last Login's outcome (see [`session`] for how it relates to the session).
    login: LoginState,
    /// Always [`Flow::Idle`] when nobody is logged in.
    flow: Flow,
    /// The one command waiting for the upstream or the outbox.
    awaiting: Option<Awaiting>,
    /// The last transaction timestamp written to the outbox, to keep them unique.
    last_timestamp: Option<Millis>,
}

/// The logged-in operator.
#[derive(Clone, Debug, PartialEq)]
struct Session {
    operator: Cpf,
    access: Access,
    /// The operator's enrolled fingers (online lookup or local store), for the 1:1 match.
    fingers: Vec<Finger>,
}

/// What a session may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// `OPERATOR_OK` / `OPERATOR_OFFLINE_OK`: every capture.
    Full,
    /// `OPERATOR_PENDING`: Operator Enroll (and Cancel) only.
    EnrollOnly,
    /// The operator's enrollment was uploaded (`OPERATOR_IN_PROGRESS`): nothing but a new
    /// Login or Logout until the server has processed it.
    EnrollSent,
}

/// A command whose answer waits for the upstream or the outbox. `detached` is set by a
/// Logout in between: the answer still produces the command's reply, but no longer touches
/// the (new) session or flow.
#[derive(Clone, Debug, PartialEq)]
enum Awaiting {
    Login {
        command: CommandId,
        request: RequestId,
        operator: Cpf,
        detached: bool,
    },
    Person {
        command: CommandId,
        request: RequestId,
        cpf: Cpf,
        missing: Vec<Missing>,
        detached: bool,
    },
    Persist {
        command: CommandId,
        request: RequestId,
        record: TransactionRecord,
        detached: bool,
    },
    Deliver {
        command: CommandId,
        request: RequestId,
        id: String,
        mode: Mode,
        samples: Vec<SampleId>,
        detached: bool,
    },
    /// Remote Verify / Remote Enroll waiting for the remote capture's creation.
    Remote {
        command: CommandId,
        request: RequestId,
        detached: bool,
    },
}

impl Awaiting {
    fn detach(&mut self) {
        match self {
            Awaiting::Login { detached, .. }
            | Awaiting::Person { detached, .. }
            | Awaiting::Persist { detached, .. }
            | Awaiting::Deliver { detached, .. }
            | Awaiting::Remote { detached, .. } => *detached = true,
        }
    }

    /// Samples the awaited write or delivery still needs; a Logout must not discard them.
    fn samples(&self) -> Vec<SampleId> {
        match self {
            Awaiting::Persist { record, .. } => record_samples(record),
            Awaiting::Deliver { samples, .. } => samples.clone(),
            Awaiting::Login { .. } | Awaiting::Person { .. } | Awaiting::Remote { .. } => {
                Vec::new()
            }
        }
    }
}

/// How a command is answered: now, or when the awaited answer comes in.
enum Outcome {
    Now(Result<Answer, FlowError>),
    Later,
}

impl Station {
    pub fn new(config: FlowConfig) -> Station {
        Station {
            config,
            next_id: 1,
            session: None,
            login: LoginState {
                status: None,
                operator: None,
                logged_in_at: None,
                offline: false,
            },
            flow: Flow::Idle,
            awaiting: None,
            last_timestamp: None,
        }
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Replaces the settings (configuration reload). They apply from the next decision: a
    /// capture plan already started keeps its positions, a running attempt its deadline.
    pub fn set_config(&mut self, config: FlowConfig) {
        self.config = config;
    }

    /// Feeds one input at time `now`; returns the effects to carry out, in order. A reply
    /// comes after the effects it depends on.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Command(id, command) => self.command(now, id, command, &mut out),
            Input::Device(event) => self.device(now, event, &mut out),
            Input::Upstream(answer) => self.upstream(now, answer, &mut out),
            Input::Persisted { request, result } => self.persisted(request, result, &mut out),
            Input::Tick => self.tick(now, &mut out),
        }
        out
    }

    /// The earliest time at which a [`Input::Tick`] would change something: the running
    /// capture's deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.flow.attempt().map(|a| a.deadline)
    }

    /// The Capture Status state word; `NOT_LOGGED_IN` when nobody is logged in (an
    /// `OPERATOR_PENDING` operator counts as logged in).
    pub fn state(&self) -> CaptureState {
        match self.session {
            None => CaptureState::NotLoggedIn,
            Some(_) => self.flow.state(),
        }
    }

    pub fn login_status(&self) -> LoginState {
        self.login.clone()
    }

    pub fn capture_status(&self) -> CaptureStatus {
        let mut status = self.flow.status();
        status.state = self.state();
        status
    }

    /// The capture whose device results the flow is waiting for.
    pub fn current_capture(&self) -> Option<CaptureId> {
        self.flow.attempt().map(|a| a.capture)
    }

    /// The logged-in operator (including an `OPERATOR_PENDING` one).
    pub fn operator(&self) -> Option<&Cpf> {
        self.session.as_ref().map(|s| &s.operator)
    }

    /// Whether a command is waiting for the upstream or the outbox (every command except
    /// Logout is refused meanwhile).
    pub fn is_awaiting(&self) -> bool {
        self.awaiting.is_some()
    }

    /// The remote flow's precondition: the operator's finger matched with no client capture
    /// held (`OPERATOR_CAPTURE_DONE` reached from an idle station) and nothing awaiting.
    pub fn remote_ready(&self) -> bool {
        self.awaiting.is_none()
            && self.has_access(Access::Full)
            && matches!(&self.flow, Flow::Matched { client: None, .. })
    }

    fn command(&mut self, now: Millis, id: CommandId, command: Command, out: &mut Vec<Effect>) {
        let outcome = match command {
            Command::Logout => Outcome::Now(Ok(self.logout(out))),
            _ if self.awaiting.is_some() => Outcome::Now(Err(self.invalid_state())),
            Command::Login { operator } => self.login(id, operator, out),
            Command::OperatorEnroll => self.operator_enroll(now, out),
            Command::Verify { cpf, missing } => self.verify(id, cpf, missing, out),
            Command::Enroll { cpf, missing } => self.enroll(now, cpf, missing, out),
            Command::OperatorCapture => self.operator_capture(now, out),
            Command::Cancel => self.cancel(out),
            Command::Send => self.send(id, out),
            Command::Remote { mode, cpf, email } => self.remote(id, mode, cpf, email, out),
        };
        if let Outcome::Now(reply) = outcome {
            out.push(Effect::Reply { to: id, reply });
        }
    }

    fn upstream(&mut self, now: Millis, answer: UpstreamAnswer, out: &mut Vec<Effect>) {
        match answer {
            UpstreamAnswer::Operator { request, outcome } => {
                self.operator_answer(now, request, outcome, out)
            }
            UpstreamAnswer::Person { request, outcome } => {
                self.person_answer(now, request, outcome, out)
            }
            UpstreamAnswer::OperatorEnrolled { request, outcome } => {
                self.enroll_uploaded(request, outcome, out)
            }
            UpstreamAnswer::Delivered { request, outcome } => self.delivered(request, outcome, out),
            UpstreamAnswer::RemoteCreated { request, outcome } => {
                self.remote_created(request, outcome, out)
            }
        }
    }

    fn invalid_state(&self) -> FlowError {
        FlowError::InvalidState {
            state: self.state().as_str(),
        }
    }

    fn has_access(&self, access: Access) -> bool {
        self.session.as_ref().is_some_and(|s| s.access == access)
    }

    fn next_capture_id(&mut self) -> CaptureId {
        CaptureId(self.bump())
    }

    fn next_request_id(&mut self) -> RequestId {
        RequestId(self.bump())
    }

    fn bump(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Abandons the flow: stops the running capture, discards every sample the flow holds
    /// (except those an awaited outbox write or delivery still needs) and goes idle.
    fn end_flow(&mut self, out: &mut Vec<Effect>) {
        let flow = std::mem::replace(&mut self.flow, Flow::Idle);
        if let Some(attempt) = flow.attempt() {
            out.push(Effect::StopCapture {
                capture: attempt.capture,
            });
        }
        let keep = self
            .awaiting
            .as_ref()
            .map(Awaiting::samples)
            .unwrap_or_default();
        let samples: Vec<SampleId> = flow
            .samples()
            .into_iter()
            .filter(|s| !keep.contains(s))
            .collect();
        discard(samples, out);
    }

    /// A copy with the id counter zeroed: what "changed nothing" compares, since a refused
    /// command that was answered later has spent an id on its request.
    #[cfg(test)]
    fn without_counters(&self) -> Station {
        let mut s = self.clone();
        s.next_id = 0;
        s
    }
}

fn discard(samples: Vec<SampleId>, out: &mut Vec<Effect>) {
    if !samples.is_empty() {
        out.push(Effect::DiscardSamples { samples });
    }
}

fn record_samples(record: &TransactionRecord) -> Vec<SampleId> {
    record
        .samples
        .iter()
        .map(|k| k.sample)
        .chain(std::iter::once(record.operator_sample.sample))
        .collect()
}

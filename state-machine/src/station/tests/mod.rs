//! Test drivers: a [`Rig`] owns a station and a virtual clock, plays the daemon's part
//! (device results, upstream answers, outbox results) and builds every reachable state.

mod check;
mod flows;
mod props;
mod reload;
mod remote;
mod session_flows;
mod table;

use super::Station;
use crate::{
    Answer, CaptureId, CaptureRequest, Command, CommandId, Cpf, DeliveryOutcome, DeviceEvent,
    DeviceFailure, Effect, Finger, FlowConfig, FlowError, Input, LocalOperator, Millis,
    OperatorLookup, PersonLookup, RequestId, SampleId, TransactionRecord, UpstreamAnswer,
    UpstreamCall,
};

pub(super) const START: Millis = 1_700_000_000_000;

pub(super) fn cpf(s: &str) -> Cpf {
    Cpf::parse(s).expect("test CPF")
}
pub(super) fn operator_a() -> Cpf {
    cpf("111.444.777-35")
}
pub(super) fn operator_b() -> Cpf {
    cpf("935.411.347-80")
}
pub(super) fn client_c() -> Cpf {
    cpf("529.982.247-25")
}
pub(super) fn client_d() -> Cpf {
    cpf("390.533.447-05")
}
pub(super) fn finger(code: u8) -> Finger {
    Finger::new(code).expect("finger code")
}

/// A station with a virtual clock and a record of everything it asked for.
pub(super) struct Rig {
    pub st: Station,
    pub now: Millis,
    next_command: u64,
    next_sample: u64,
    pub starts: Vec<CaptureRequest>,
    pub calls: Vec<(RequestId, UpstreamCall)>,
    pub persists: Vec<(RequestId, TransactionRecord)>,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with(FlowConfig::default())
    }

    pub fn with(config: FlowConfig) -> Rig {
        Rig {
            st: Station::new(config),
            now: START,
            next_command: 0,
            next_sample: 0,
            starts: Vec::new(),
            calls: Vec::new(),
            persists: Vec::new(),
        }
    }

    pub fn step(&mut self, input: Input) -> Vec<Effect> {
        let effects = self.st.handle(self.now, input);
        for e in &effects {
            match e {
                Effect::StartCapture(r) => self.starts.push(r.clone()),
                Effect::Upstream { request, call } => self.calls.push((*request, call.clone())),
                Effect::Persist {
                    request,
                    transaction,
                } => self.persists.push((*request, transaction.clone())),
                _ => {}
            }
        }
        effects
    }

    pub fn cmd(&mut self, command: Command) -> (CommandId, Vec<Effect>) {
        self.next_command += 1;
        let id = CommandId(self.next_command);
        (id, self.step(Input::Command(id, command)))
    }

    /// Runs a command that must be answered at once, and returns the answer.
    pub fn now_reply(&mut self, command: Command) -> Result<Answer, FlowError> {
        let (id, effects) = self.cmd(command);
        reply_to(&effects, id).unwrap_or_else(|| panic!("no reply to {id:?} in {effects:?}"))
    }

    pub fn advance(&mut self, ms: Millis) {
        self.now += ms;
    }

    pub fn fresh_sample(&mut self) -> SampleId {
        self.next_sample += 1;
        SampleId(self.next_sample)
    }

    /// The running capture's request.
    pub fn running(&self) -> CaptureRequest {
        let id = self.st.current_capture().expect("a capture is running");
        self.starts
            .iter()
            .rev()
            .find(|r| r.capture == id)
            .cloned()
            .expect("its StartCapture was seen")
    }

    pub fn present_sample(
        &mut self,
        quality: u8,
        matched: Option<bool>,
    ) -> (SampleId, Vec<Effect>) {
        let capture = self.running().capture;
        let sample = self.fresh_sample();
        let effects = self.step(Input::Device(DeviceEvent::Captured {
            capture,
            sample,
            quality,
            matched,
        }));
        (sample, effects)
    }

    pub fn present(&mut self, quality: u8) -> Vec<Effect> {
        self.present_sample(quality, None).1
    }

    pub fn present_match(&mut self, matched: bool) -> Vec<Effect> {
        self.present_sample(60, Some(matched)).1
    }

    pub fn device(&mut self, event: impl FnOnce(CaptureId) -> DeviceEvent) -> Vec<Effect> {
        let capture = self.running().capture;
        self.step(Input::Device(event(capture)))
    }

    /// Presents good samples until no plan capture is running.
    pub fn complete_plan(&mut self) {
        while self.st.current_capture().is_some() {
            self.present(90);
        }
    }

    pub fn last_call(&self) -> (RequestId, UpstreamCall) {
        self.calls
            .last()
            .cloned()
            .expect("an upstream call was made")
    }

    pub fn answer(&mut self, answer: impl FnOnce(RequestId) -> UpstreamAnswer) -> Vec<Effect> {
        let (request, _) = self.last_call();
        self.step(Input::Upstream(answer(request)))
    }

    pub fn answer_operator(&mut self, outcome: OperatorLookup) -> Vec<Effect> {
        self.answer(|request| UpstreamAnswer::Operator { request, outcome })
    }

    pub fn answer_person(&mut self, outcome: PersonLookup) -> Vec<Effect> {
        self.answer(|request| UpstreamAnswer::Person { request, outcome })
    }

    pub fn answer_delivery(&mut self, outcome: DeliveryOutcome) -> Vec<Effect> {
        self.answer(|request| UpstreamAnswer::Delivered { request, outcome })
    }

    pub fn persisted(&mut self, result: Result<String, String>) -> Vec<Effect> {
        let (request, _) = self
            .persists
            .last()
            .cloned()
            .expect("a persist was asked for");
        self.step(Input::Persisted { request, result })
    }

    /// Public views that "changed nothing" compares.
    pub fn views(&self) -> Views {
        Views {
            state: self.st.state().as_str(),
            capture: format!("{:?}", self.st.capture_status()),
            login: format!("{:?}", self.st.login_status()),
        }
    }
}

#[derive(Debug, PartialEq)]
pub(super) struct Views {
    state: &'static str,
    capture: String,
    login: String,
}

pub(super) fn reply_to(effects: &[Effect], id: CommandId) -> Option<Result<Answer, FlowError>> {
    let mut replies = effects.iter().filter_map(|e| match e {
        Effect::Reply { to, reply } if *to == id => Some(reply.clone()),
        _ => None,
    });
    let first = replies.next();
    assert!(replies.next().is_none(), "two replies to {id:?}");
    first
}

pub(super) fn discarded(effects: &[Effect]) -> Vec<SampleId> {
    effects
        .iter()
        .flat_map(|e| match e {
            Effect::DiscardSamples { samples } => samples.clone(),
            _ => Vec::new(),
        })
        .collect()
}

pub(super) fn stopped(effects: &[Effect]) -> Vec<CaptureId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::StopCapture { capture } => Some(*capture),
            _ => None,
        })
        .collect()
}

pub(super) fn started(effects: &[Effect]) -> Vec<CaptureRequest> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartCapture(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

// Builders, one per reachable state. Each ends with the station in the named state.

pub(super) fn not_logged_in() -> Rig {
    Rig::new()
}

pub(super) fn logged_in() -> Rig {
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    rig.answer_operator(OperatorLookup::Enrolled {
        fingers: vec![finger(7), finger(2)],
    });
    rig
}

pub(super) fn offline_logged_in() -> Rig {
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    let local = LocalOperator {
        stored_at: rig.now - 1000,
        fingers: vec![finger(2)],
    };
    rig.answer_operator(OperatorLookup::Unreachable {
        reason: "connection refused".into(),
        local: Some(local),
    });
    rig
}

pub(super) fn pending_login() -> Rig {
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    rig.answer_operator(OperatorLookup::Registered);
    rig
}

pub(super) fn client_capturing() -> Rig {
    let mut rig = logged_in();
    rig.cmd(Command::Enroll {
        cpf: client_c(),
        missing: vec![],
    });
    rig
}

pub(super) fn client_done() -> Rig {
    let mut rig = client_capturing();
    rig.complete_plan();
    rig
}

pub(super) fn client_failed() -> Rig {
    let mut rig = client_capturing();
    rig.present(90);
    rig.device(|capture| DeviceEvent::Failed {
        capture,
        failure: DeviceFailure::Unavailable,
    });
    rig
}

pub(super) fn matching() -> Rig {
    let mut rig = client_done();
    rig.cmd(Command::OperatorCapture);
    rig
}

pub(super) fn matched() -> Rig {
    let mut rig = matching();
    rig.present_match(true);
    rig
}

pub(super) fn remote_matched() -> Rig {
    let mut rig = logged_in();
    rig.cmd(Command::OperatorCapture);
    rig.present_match(true);
    rig
}

pub(super) fn not_matched() -> Rig {
    let mut rig = matching();
    for _ in 0..3 {
        rig.present_match(false);
    }
    rig
}

pub(super) fn match_failed() -> Rig {
    let mut rig = matching();
    rig.device(|capture| DeviceEvent::NothingPresented { capture });
    rig
}

pub(super) fn enroll_capturing() -> Rig {
    let mut rig = pending_login();
    rig.cmd(Command::OperatorEnroll);
    rig
}

pub(super) fn enroll_uploading() -> Rig {
    let mut rig = enroll_capturing();
    rig.complete_plan();
    rig
}

pub(super) fn enroll_failed() -> Rig {
    let mut rig = enroll_capturing();
    rig.device(|capture| DeviceEvent::Failed {
        capture,
        failure: DeviceFailure::Error,
    });
    rig
}

pub(super) fn enroll_sent() -> Rig {
    let mut rig = enroll_uploading();
    rig.answer(|request| UpstreamAnswer::OperatorEnrolled {
        request,
        outcome: Ok(()),
    });
    rig
}

pub(super) fn awaiting_login() -> Rig {
    let mut rig = client_capturing();
    rig.cmd(Command::Login {
        operator: operator_b(),
    });
    rig
}

pub(super) fn awaiting_person() -> Rig {
    let mut rig = logged_in();
    rig.cmd(Command::Verify {
        cpf: client_c(),
        missing: vec![],
    });
    rig
}

pub(super) fn awaiting_persist() -> Rig {
    let mut rig = matched();
    rig.cmd(Command::Send);
    rig
}

pub(super) fn awaiting_delivery() -> Rig {
    let mut rig = awaiting_persist();
    rig.persisted(Ok("tx-1".into()));
    rig
}

//! The property tests' referee: plays the daemon (fresh sample ids, answers to requests) and
//! checks the flow's invariants after every input.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Station;
use crate::{
    Answer, CaptureId, CapturePurpose, CaptureRequest, CommandId, Cpf, DeviceEvent, Effect,
    FlowConfig, FlowError, Input, Millis, RequestId, SampleId, TransactionRecord, UpstreamAnswer,
    UpstreamCall,
};

/// What an outstanding request is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Operator,
    Person,
    EnrollOperator,
    Deliver,
    Persist,
    Remote,
}

/// A sample the station accepted: which capture it came from, when, and what was reported.
#[derive(Clone, Debug)]
struct Reported {
    capture: CaptureId,
    step: usize,
    quality: u8,
    matched: Option<bool>,
}

#[derive(Default, Debug)]
pub(super) struct Coverage {
    pub states: BTreeSet<&'static str>,
    pub persists: usize,
    pub replies_ok: usize,
    pub replies_err: usize,
    pub deliveries: usize,
}

pub(super) struct Checker {
    pub st: Station,
    pub now: Millis,
    step: usize,
    next_command: u64,
    next_sample: u64,
    outstanding: BTreeSet<CommandId>,
    replied: BTreeSet<CommandId>,
    captures: HashMap<CaptureId, CaptureRequest>,
    running: Option<CaptureId>,
    requests: Vec<(RequestId, Kind)>,
    answered: Vec<RequestId>,
    reported: HashMap<SampleId, Reported>,
    discarded: BTreeSet<SampleId>,
    /// Samples of the transaction being written or delivered.
    in_flight: Vec<SampleId>,
    /// Persist request → record, to check timestamps when it is stored.
    records: BTreeMap<RequestId, TransactionRecord>,
    last_stored_timestamp: Option<Millis>,
    pub coverage: Coverage,
}

impl Checker {
    pub fn new(config: FlowConfig) -> Checker {
        Checker {
            st: Station::new(config),
            now: super::START,
            step: 0,
            next_command: 0,
            next_sample: 0,
            outstanding: BTreeSet::new(),
            replied: BTreeSet::new(),
            captures: HashMap::new(),
            running: None,
            requests: Vec::new(),
            answered: Vec::new(),
            reported: HashMap::new(),
            discarded: BTreeSet::new(),
            in_flight: Vec::new(),
            records: BTreeMap::new(),
            last_stored_timestamp: None,
            coverage: Coverage::default(),
        }
    }

    pub fn command(&mut self, command: crate::Command) {
        self.next_command += 1;
        let id = CommandId(self.next_command);
        let before = self.st.clone();
        let effects = self.feed(Input::Command(id, command));
        match super::reply_to(&effects, id) {
            None => {
                assert!(self.outstanding.insert(id));
                assert!(self.st.is_awaiting(), "a deferred command must be awaiting");
            }
            Some(Err(_)) => {
                assert_eq!(
                    effects.len(),
                    1,
                    "a refused command only replies: {effects:?}"
                );
                assert_eq!(self.st, before, "a refused command changed the station");
            }
            Some(Ok(_)) => {}
        }
        self.check_station();
    }

    /// A device result: `None` aims at the running capture, else at that id.
    pub fn device(
        &mut self,
        capture: Option<CaptureId>,
        event: impl FnOnce(CaptureId, SampleId) -> DeviceEvent,
    ) {
        let capture = capture
            .or(self.st.current_capture())
            .unwrap_or(CaptureId(u64::MAX));
        self.next_sample += 1;
        let sample = SampleId(self.next_sample);
        let event = event(capture, sample);
        let current = self.st.current_capture() == Some(capture);
        if current {
            if let DeviceEvent::Captured {
                quality, matched, ..
            } = &event
            {
                let reported = Reported {
                    capture,
                    step: self.step,
                    quality: *quality,
                    matched: *matched,
                };
                self.reported.insert(sample, reported);
            }
            // The device ended this capture itself.
            self.running = None;
        }
        let before = self.st.clone();
        let effects = self.feed(Input::Device(event));
        if !current {
            assert!(
                effects.is_empty(),
                "a stale device result had effects: {effects:?}"
            );
            assert_eq!(self.st, before);
        }
        self.check_station();
    }

    /// A stale capture id (started before, not running), if any.
    pub fn stale_capture(&self, pick: usize) -> Option<CaptureId> {
        let mut old: Vec<CaptureId> = self
            .captures
            .keys()
            .copied()
            .filter(|c| Some(*c) != self.running)
            .collect();
        old.sort();
        old.get(pick % old.len().max(1)).copied()
    }

    /// The outstanding request of this kind (the latest), if any.
    pub fn current_request(&self, kind: Kind) -> Option<RequestId> {
        self.requests
            .iter()
            .rev()
            .find(|(_, k)| *k == kind)
            .map(|(r, _)| *r)
    }

    pub fn latest_request(&self) -> Option<(RequestId, Kind)> {
        self.requests.last().copied()
    }

    pub fn stale_request(&self, pick: usize) -> RequestId {
        self.answered
            .get(pick % self.answered.len().max(1))
            .copied()
            .unwrap_or(RequestId(u64::MAX))
    }

    pub fn upstream(&mut self, answer: UpstreamAnswer) {
        self.answer(Input::Upstream(answer));
    }

    pub fn persisted(&mut self, request: RequestId, result: Result<String, String>) {
        self.answer(Input::Persisted { request, result });
    }

    fn answer(&mut self, input: Input) {
        let request = match &input {
            Input::Upstream(a) => a.request(),
            Input::Persisted { request, .. } => *request,
            _ => unreachable!("answers only"),
        };
        let kind_fits = self.requests.iter().any(|(r, k)| {
            *r == request
                && match &input {
                    Input::Persisted { .. } => *k == Kind::Persist,
                    Input::Upstream(UpstreamAnswer::Operator { .. }) => *k == Kind::Operator,
                    Input::Upstream(UpstreamAnswer::Person { .. }) => *k == Kind::Person,
                    Input::Upstream(UpstreamAnswer::OperatorEnrolled { .. }) => {
                        *k == Kind::EnrollOperator
                    }
                    Input::Upstream(UpstreamAnswer::Delivered { .. }) => *k == Kind::Deliver,
                    Input::Upstream(UpstreamAnswer::RemoteCreated { .. }) => *k == Kind::Remote,
                    _ => false,
                }
        });
        if let (Input::Persisted { result: Ok(_), .. }, true) = (&input, kind_fits) {
            let record = self.records.get(&request).expect("record of the persist");
            assert!(
                self.last_stored_timestamp < Some(record.timestamp),
                "timestamps must be unique"
            );
            self.last_stored_timestamp = Some(record.timestamp);
        }
        let settles = kind_fits
            && match &input {
                Input::Persisted { result, .. } => result.is_err(),
                _ => true,
            };
        if kind_fits {
            self.requests.retain(|(r, _)| *r != request);
            self.answered.push(request);
        }
        let before = self.st.clone();
        let views = (
            self.st.state(),
            self.st.capture_status(),
            self.st.login_status(),
        );
        let effects = self.feed_with(input, settles);
        if !kind_fits {
            assert!(
                effects.is_empty(),
                "an answer that fits nothing had effects: {effects:?}"
            );
            assert_eq!(self.st, before);
        }
        for e in &effects {
            if let Effect::Reply {
                reply: Err(err), ..
            } = e
            {
                if !matches!(err, FlowError::Rejected { .. }) {
                    let after = (
                        self.st.state(),
                        self.st.capture_status(),
                        self.st.login_status(),
                    );
                    assert_eq!(after, views, "a failed command changed the views: {err:?}");
                }
            }
        }
        self.check_station();
    }

    pub fn tick(&mut self, advance: Millis) {
        self.now += advance;
        if self.st.next_deadline().is_some_and(|d| self.now >= d) {
            self.coverage.states.insert("(timeout)");
        }
        self.feed(Input::Tick);
        self.check_station();
    }

    fn feed(&mut self, input: Input) -> Vec<Effect> {
        self.feed_with(input, false)
    }

    /// Feeds one input and checks its effects; `settles` says the input ends the write or
    /// delivery in flight (so its samples may be discarded now).
    fn feed_with(&mut self, input: Input, settles: bool) -> Vec<Effect> {
        self.step += 1;
        let effects = self.st.handle(self.now, input);
        for effect in &effects {
            self.check_effect(effect, settles);
        }
        if settles {
            self.in_flight.clear();
        }
        effects
    }

    fn check_effect(&mut self, effect: &Effect, settles: bool) {
        match effect {
            Effect::Reply { to, reply } => {
                assert!(
                    (1..=self.next_command).contains(&to.0),
                    "reply to an unknown command {to:?}"
                );
                assert!(self.replied.insert(*to), "a second reply to {to:?}");
                self.outstanding.remove(to);
                match reply {
                    Ok(Answer::Sent { .. }) | Err(FlowError::Rejected { .. }) => {
                        self.coverage.deliveries += 1
                    }
                    _ => {}
                }
                if reply.is_ok() {
                    self.coverage.replies_ok += 1;
                } else {
                    self.coverage.replies_err += 1;
                }
            }
            Effect::StartCapture(request) => {
                assert_eq!(
                    self.running, None,
                    "a capture started while another ran: {request:?}"
                );
                assert!(
                    !self.captures.contains_key(&request.capture),
                    "capture id reused"
                );
                assert_eq!(
                    request.deadline,
                    self.now + self.st.config().capture_timeout
                );
                assert!(request.attempt >= 1);
                self.running = Some(request.capture);
                self.captures.insert(request.capture, request.clone());
            }
            Effect::StopCapture { capture } => {
                assert_eq!(
                    Some(*capture),
                    self.running,
                    "stopping a capture that is not running"
                );
                self.running = None;
            }
            Effect::DiscardSamples { samples } => {
                assert!(!samples.is_empty());
                for s in samples {
                    assert!(
                        self.reported.contains_key(s),
                        "discarding an unknown sample {s:?}"
                    );
                    assert!(self.discarded.insert(*s), "sample {s:?} discarded twice");
                    assert!(
                        settles || !self.in_flight.contains(s),
                        "discarded a sample still being sent"
                    );
                }
            }
            Effect::Upstream { request, call } => {
                let kind = match call {
                    UpstreamCall::LookupOperator { .. } => Kind::Operator,
                    UpstreamCall::LookupPerson { .. } => Kind::Person,
                    UpstreamCall::EnrollOperator { operator, samples } => {
                        for k in samples {
                            let c = self.capture_of(k.sample);
                            assert_eq!(
                                (c.purpose, &c.subject),
                                (CapturePurpose::OperatorEnroll, operator)
                            );
                        }
                        Kind::EnrollOperator
                    }
                    UpstreamCall::Deliver { .. } => Kind::Deliver,
                    UpstreamCall::CreateRemote { .. } => Kind::Remote,
                };
                self.requests.push((*request, kind));
            }
            Effect::Persist {
                request,
                transaction,
            } => {
                self.check_record(transaction);
                self.in_flight = transaction
                    .samples
                    .iter()
                    .map(|k| k.sample)
                    .chain([transaction.operator_sample.sample])
                    .collect();
                self.records.insert(*request, transaction.clone());
                self.requests.push((*request, Kind::Persist));
                self.coverage.persists += 1;
            }
        }
    }

    fn capture_of(&self, sample: SampleId) -> CaptureRequest {
        let reported = self.reported.get(&sample).expect("a reported sample");
        self.captures
            .get(&reported.capture)
            .cloned()
            .expect("its capture was started")
    }

    /// One person, one operator, all samples alive, the operator matched after the client
    /// capture completed.
    fn check_record(&self, record: &TransactionRecord) {
        assert!(!record.samples.is_empty());
        assert_eq!(self.st.operator(), Some(&record.operator));
        let mut last_client_step = 0;
        for k in &record.samples {
            let c = self.capture_of(k.sample);
            let reported = &self.reported[&k.sample];
            assert_eq!(
                (c.purpose, &c.subject, c.position),
                (CapturePurpose::Client, &record.cpf, k.position)
            );
            assert_eq!(reported.quality, k.quality);
            assert!(!self.discarded.contains(&k.sample));
            last_client_step = last_client_step.max(reported.step);
        }
        let op = &record.operator_sample;
        let c = self.capture_of(op.sample);
        let reported = &self.reported[&op.sample];
        assert_eq!(
            (c.purpose, &c.subject),
            (CapturePurpose::OperatorMatch, &record.operator)
        );
        assert_eq!(reported.matched, Some(true));
        assert!(
            reported.step > last_client_step,
            "operator matched before the client capture completed"
        );
        assert!(!self.discarded.contains(&op.sample));
        assert!(record.timestamp >= record.started_at);
    }

    fn check_station(&mut self) {
        let st = &self.st;
        assert_eq!(
            self.running,
            st.current_capture(),
            "the flow dropped a capture without stopping it"
        );
        assert_eq!(st.next_deadline().is_some(), st.current_capture().is_some());
        let status = st.capture_status();
        assert_eq!(status.state, st.state());
        assert_eq!(status.current.is_some(), st.current_capture().is_some());
        assert_eq!(
            self.outstanding.len(),
            usize::from(st.is_awaiting()),
            "one awaiting command at most"
        );
        if st.operator().is_none() {
            assert_eq!(status.state.as_str(), "NOT_LOGGED_IN");
            assert!(status.mode.is_none() && status.cpf.is_none() && status.captured.is_empty());
        }
        if let Some(cpf) = &status.cpf {
            let running_subject: Option<&Cpf> = self
                .running
                .and_then(|c| self.captures.get(&c))
                .map(|r| &r.subject);
            assert!(
                running_subject.is_none_or(|s| s == cpf),
                "status shows a CPF other than the one captured"
            );
        }
        self.coverage.states.insert(status.state.as_str());
    }

    /// Answers every outstanding request, logs out, answers again: afterwards every command
    /// has its reply and every accepted sample was discarded exactly once.
    pub fn finish(&mut self) {
        self.drain();
        self.command(crate::Command::Logout);
        self.drain();
        assert!(
            self.outstanding.is_empty(),
            "commands never answered: {:?}",
            self.outstanding
        );
        let leaked: Vec<&SampleId> = self
            .reported
            .keys()
            .filter(|s| !self.discarded.contains(s))
            .collect();
        assert!(leaked.is_empty(), "samples never discarded: {leaked:?}");
    }

    fn drain(&mut self) {
        for _ in 0..16 {
            let Some((request, kind)) = self.requests.last().copied() else {
                return;
            };
            match kind {
                Kind::Persist => self.persisted(request, Ok(format!("tx-{}", request.0))),
                Kind::Operator => self.upstream(UpstreamAnswer::Operator {
                    request,
                    outcome: crate::OperatorLookup::NotFound,
                }),
                Kind::Person => self.upstream(UpstreamAnswer::Person {
                    request,
                    outcome: crate::PersonLookup::NotFound,
                }),
                Kind::EnrollOperator => self.upstream(UpstreamAnswer::OperatorEnrolled {
                    request,
                    outcome: Ok(()),
                }),
                Kind::Deliver => self.upstream(UpstreamAnswer::Delivered {
                    request,
                    outcome: crate::DeliveryOutcome::Pending {
                        reason: "drain".into(),
                    },
                }),
                Kind::Remote => self.upstream(UpstreamAnswer::RemoteCreated {
                    request,
                    outcome: Err(crate::RemoteFailure::Unreachable {
                        reason: "drain".into(),
                    }),
                }),
            }
        }
        panic!("requests keep coming: {:?}", self.requests);
    }
}

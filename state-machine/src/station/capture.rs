//! Plan captures (the client's enroll/verify, the operator's enroll), driven by device results
//! and deadlines; plus Verify, Enroll and Cancel, the commands that start and stop them.

use super::flow::{Attempt, Completed, Flow, PlanCapture};
use super::{discard, Access, Awaiting, Outcome, Station};
use crate::cpf::Cpf;
use crate::effect::{
    Answer, CapturePurpose, CaptureRequest, Effect, FlowError, KeptSample, UpstreamCall,
};
use crate::input::{CommandId, DeviceEvent, DeviceFailure, PersonLookup, RequestId, SampleId};
use crate::position::{Finger, Missing, Position};
use crate::status::{CaptureFailure, Mode};
use crate::Millis;

impl Station {
    /// Verify and Enroll need a fully logged-in operator and no capture in progress: idle, or
    /// a capture that ended without being sent (its samples are dropped when the new one
    /// starts). A completed client capture (`CLIENT_CAPTURE_DONE`, `OPERATOR_CAPTURE_DONE`)
    /// must be sent or cancelled first.
    fn can_start_client(&self) -> bool {
        self.has_access(Access::Full)
            && matches!(
                self.flow,
                Flow::Idle | Flow::Failed(_) | Flow::MatchEnded { .. } | Flow::EnrollSent(_)
            )
    }

    /// Verify first asks the upstream whether the person is enrolled (and with which fingers).
    pub(super) fn verify(
        &mut self,
        command: CommandId,
        cpf: Cpf,
        missing: Vec<Missing>,
        out: &mut Vec<Effect>,
    ) -> Outcome {
        if !self.can_start_client() {
            return Outcome::Now(Err(self.invalid_state()));
        }
        // Known before asking: without the face, at least one verify finger must be possible.
        if !self.config.verify_face
            && self
                .config
                .verify_fingers
                .iter()
                .all(|f| is_missing(&missing, *f))
        {
            return Outcome::Now(Err(no_verify_position()));
        }
        let request = self.next_request_id();
        out.push(Effect::Upstream {
            request,
            call: UpstreamCall::LookupPerson { cpf: cpf.clone() },
        });
        self.awaiting = Some(Awaiting::Person {
            command,
            request,
            cpf,
            missing,
            detached: false,
        });
        Outcome::Later
    }

    pub(super) fn person_answer(
        &mut self,
        now: Millis,
        request: RequestId,
        outcome: PersonLookup,
        out: &mut Vec<Effect>,
    ) {
        match self.awaiting.take() {
            Some(Awaiting::Person {
                command,
                request: awaited,
                cpf,
                missing,
                detached,
            }) if awaited == request => {
                let reply = if detached || !self.can_start_client() {
                    Err(self.invalid_state())
                } else {
                    match outcome {
                        PersonLookup::Found { fingers } => {
                            let plan = self.verify_plan(fingers.as_deref(), &missing);
                            if plan.is_empty() {
                                Err(no_verify_position())
                            } else {
                                self.start_client(
                                    now,
                                    Mode::Verify,
                                    cpf.clone(),
                                    missing,
                                    plan,
                                    out,
                                );
                                Ok(Answer::ClientCapturing {
                                    cpf,
                                    mode: Mode::Verify,
                                })
                            }
                        }
                        PersonLookup::NotFound => Ok(Answer::PersonNotFound { cpf }),
                        PersonLookup::Unreachable { reason } => {
                            Err(FlowError::ServerUnavailable { reason })
                        }
                        PersonLookup::Error { reason } => Err(FlowError::Upstream { reason }),
                    }
                };
                out.push(Effect::Reply { to: command, reply });
            }
            other => self.awaiting = other,
        }
    }

    /// The face (if configured) and the first preferred finger that the person has enrolled
    /// (when the server said which) and that is not declared missing.
    fn verify_plan(&self, enrolled: Option<&[Finger]>, missing: &[Missing]) -> Vec<Position> {
        let finger = self
            .config
            .verify_fingers
            .iter()
            .copied()
            .find(|f| !is_missing(missing, *f) && enrolled.is_none_or(|e| e.contains(f)));
        let face = self.config.verify_face.then_some(Position::Face);
        face.into_iter()
            .chain(finger.map(Position::Finger))
            .collect()
    }

    /// Enroll needs no upstream: the configured plan minus the fingers declared missing.
    pub(super) fn enroll(
        &mut self,
        now: Millis,
        cpf: Cpf,
        missing: Vec<Missing>,
        out: &mut Vec<Effect>,
    ) -> Outcome {
        if !self.can_start_client() {
            return Outcome::Now(Err(self.invalid_state()));
        }
        let plan: Vec<Position> = self
            .config
            .enroll_plan
            .iter()
            .copied()
            .filter(|p| !matches!(p, Position::Finger(f) if is_missing(&missing, *f)))
            .collect();
        if plan.is_empty() {
            return Outcome::Now(Err(FlowError::InvalidArgument {
                reason: "every position of the enroll plan is declared missing".to_string(),
            }));
        }
        self.start_client(now, Mode::Enroll, cpf.clone(), missing, plan, out);
        Outcome::Now(Ok(Answer::ClientCapturing {
            cpf,
            mode: Mode::Enroll,
        }))
    }

    fn start_client(
        &mut self,
        now: Millis,
        mode: Mode,
        cpf: Cpf,
        missing: Vec<Missing>,
        plan: Vec<Position>,
        out: &mut Vec<Effect>,
    ) {
        self.end_flow(out);
        self.start_plan(
            now,
            PlanCapture {
                mode,
                purpose: CapturePurpose::Client,
                subject: cpf,
                plan,
                missing,
                kept: Vec::new(),
                started_at: now,
            },
            out,
        );
    }

    pub(super) fn start_plan(&mut self, now: Millis, plan: PlanCapture, out: &mut Vec<Effect>) {
        self.flow = self.advance(now, plan, out);
    }

    /// Starts the plan's next position, or finishes the plan.
    fn advance(&mut self, now: Millis, plan: PlanCapture, out: &mut Vec<Effect>) -> Flow {
        let Some(position) = plan.next_position() else {
            return self.plan_complete(now, plan, out);
        };
        let attempt = self.start_attempt(now, position, plan.purpose, &plan.subject, 1, None, out);
        Flow::Capturing { plan, attempt }
    }

    fn plan_complete(&mut self, now: Millis, plan: PlanCapture, out: &mut Vec<Effect>) -> Flow {
        match plan.purpose {
            CapturePurpose::OperatorEnroll => {
                let request = self.next_request_id();
                out.push(Effect::Upstream {
                    request,
                    call: UpstreamCall::EnrollOperator {
                        operator: plan.subject.clone(),
                        samples: plan.kept.clone(),
                    },
                });
                Flow::EnrollUploading {
                    summary: plan.summary(None),
                    request,
                    samples: plan.samples().collect(),
                }
            }
            CapturePurpose::Client | CapturePurpose::OperatorMatch => Flow::ClientDone(Completed {
                capture: plan,
                completed_at: now,
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_attempt(
        &mut self,
        now: Millis,
        position: Position,
        purpose: CapturePurpose,
        subject: &Cpf,
        attempt: u8,
        best: Option<KeptSample>,
        out: &mut Vec<Effect>,
    ) -> Attempt {
        let capture = self.next_capture_id();
        let deadline = now.saturating_add(self.config.capture_timeout);
        out.push(Effect::StartCapture(CaptureRequest {
            capture,
            position,
            purpose,
            subject: subject.clone(),
            attempt,
            deadline,
        }));
        Attempt {
            capture,
            position,
            attempt,
            deadline,
            best,
        }
    }

    /// Needs a logged-in operator (`OPERATOR_PENDING` included); a no-op when idle.
    pub(super) fn cancel(&mut self, out: &mut Vec<Effect>) -> Outcome {
        if !(self.has_access(Access::Full) || self.has_access(Access::EnrollOnly)) {
            return Outcome::Now(Err(self.invalid_state()));
        }
        self.end_flow(out);
        Outcome::Now(Ok(Answer::Idle))
    }

    /// A device result; ignored unless it is for the running capture.
    pub(super) fn device(&mut self, now: Millis, event: DeviceEvent, out: &mut Vec<Effect>) {
        if self.current_capture() != Some(event.capture()) {
            return;
        }
        self.flow = match std::mem::replace(&mut self.flow, Flow::Idle) {
            Flow::Capturing { plan, attempt } => self.plan_event(now, plan, attempt, event, out),
            Flow::Matching {
                client,
                operator,
                finger,
                attempt,
            } => self.match_event(now, client, operator, finger, attempt, event, out),
            other => other,
        };
    }

    /// The running capture's deadline passed: the flow stops it and fails with `TIMEOUT`.
    pub(super) fn tick(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let Some(attempt) = self.flow.attempt() else {
            return;
        };
        if now < attempt.deadline {
            return;
        }
        let capture = attempt.capture;
        out.push(Effect::StopCapture { capture });
        self.device(now, DeviceEvent::NothingPresented { capture }, out);
    }

    fn plan_event(
        &mut self,
        now: Millis,
        plan: PlanCapture,
        attempt: Attempt,
        event: DeviceEvent,
        out: &mut Vec<Effect>,
    ) -> Flow {
        match event {
            DeviceEvent::Captured {
                sample, quality, ..
            } => self.plan_sample(now, plan, attempt, sample, quality, out),
            DeviceEvent::NothingPresented { .. } => {
                plan_failed(plan, attempt.best, CaptureFailure::Timeout, out)
            }
            DeviceEvent::Failed { failure, .. } => {
                plan_failed(plan, attempt.best, device_failure(failure), out)
            }
        }
    }

    /// Keeps the best attempt of the position; moves on once it reaches the threshold,
    /// retries below it, fails with `QUALITY_TOO_LOW` when the attempts are used up.
    fn plan_sample(
        &mut self,
        now: Millis,
        mut plan: PlanCapture,
        attempt: Attempt,
        sample: SampleId,
        quality: u8,
        out: &mut Vec<Effect>,
    ) -> Flow {
        let Attempt {
            position,
            attempt: n,
            best,
            ..
        } = attempt;
        let taken = KeptSample {
            position,
            sample,
            quality,
            attempts: n,
            captured_at: now,
        };
        // On a tie the earlier sample stays.
        let best = match best {
            Some(previous) if previous.quality >= quality => {
                discard(vec![sample], out);
                KeptSample {
                    attempts: n,
                    ..previous
                }
            }
            Some(previous) => {
                discard(vec![previous.sample], out);
                taken
            }
            None => taken,
        };
        if best.quality >= self.threshold(position) {
            plan.kept.push(best);
            self.advance(now, plan, out)
        } else if n < self.config.max_attempts.max(1) {
            let next = self.start_attempt(
                now,
                position,
                plan.purpose,
                &plan.subject,
                n + 1,
                Some(best),
                out,
            );
            Flow::Capturing {
                plan,
                attempt: next,
            }
        } else {
            plan_failed(plan, Some(best), CaptureFailure::QualityTooLow, out)
        }
    }

    fn threshold(&self, position: Position) -> u8 {
        match position {
            Position::Face => self.config.face_quality_threshold,
            Position::Finger(_) => self.config.finger_quality_threshold,
        }
    }
}

/// The plan failed: its samples are dropped; Capture Status keeps what was captured and why
/// it failed.
fn plan_failed(
    plan: PlanCapture,
    best: Option<KeptSample>,
    failure: CaptureFailure,
    out: &mut Vec<Effect>,
) -> Flow {
    let samples: Vec<SampleId> = plan.samples().chain(best.map(|b| b.sample)).collect();
    discard(samples, out);
    Flow::Failed(plan.summary(Some(failure)))
}

pub(super) fn device_failure(failure: DeviceFailure) -> CaptureFailure {
    match failure {
        DeviceFailure::Unavailable => CaptureFailure::DeviceUnavailable,
        DeviceFailure::Error => CaptureFailure::DeviceError,
    }
}

fn is_missing(missing: &[Missing], finger: Finger) -> bool {
    missing.iter().any(|m| m.finger == finger)
}

fn no_verify_position() -> FlowError {
    FlowError::InvalidArgument {
        reason: "no verify position is left: every enrolled verify finger is declared missing"
            .to_string(),
    }
}

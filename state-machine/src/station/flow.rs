//! The capture flow's states (one closed enum) and what Capture Status shows of each.

use crate::cpf::Cpf;
use crate::effect::{CapturePurpose, KeptSample};
use crate::input::{CaptureId, SampleId};
use crate::position::{Finger, Missing, Position};
use crate::status::{
    CaptureFailure, CaptureState, CaptureStatus, CapturedPosition, CurrentCapture, Mode,
};
use crate::Millis;

/// A plan captured position by position: a client enroll or verify, or an operator enroll.
/// Positions are done in plan order, so `kept[i]` is the best attempt of `plan[i]`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PlanCapture {
    pub mode: Mode,
    pub purpose: CapturePurpose,
    pub subject: Cpf,
    pub plan: Vec<Position>,
    pub missing: Vec<Missing>,
    pub kept: Vec<KeptSample>,
    pub started_at: Millis,
}

impl PlanCapture {
    /// The position to capture next, `None` when the plan is complete.
    pub fn next_position(&self) -> Option<Position> {
        self.plan.get(self.kept.len()).copied()
    }

    pub fn pending(&self) -> Vec<Position> {
        self.plan
            .get(self.kept.len()..)
            .map(<[Position]>::to_vec)
            .unwrap_or_default()
    }

    pub fn samples(&self) -> impl Iterator<Item = SampleId> + '_ {
        self.kept.iter().map(|k| k.sample)
    }

    /// What Capture Status keeps showing once the samples are gone (failed or uploaded).
    pub fn summary(&self, failure: Option<CaptureFailure>) -> Summary {
        Summary {
            mode: self.mode,
            cpf: self.subject.clone(),
            captured: self.kept.iter().map(captured).collect(),
            pending: self.pending(),
            missing: self.missing.clone(),
            failure,
        }
    }
}

/// A client capture whose plan is complete, with when it completed.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Completed {
    pub capture: PlanCapture,
    pub completed_at: Millis,
}

/// One running capture of one position.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Attempt {
    pub capture: CaptureId,
    pub position: Position,
    /// 1-based.
    pub attempt: u8,
    pub deadline: Millis,
    /// The best sample of this position so far (plan captures only; an operator match keeps
    /// nothing until it matches).
    pub best: Option<KeptSample>,
}

impl Attempt {
    fn current(&self) -> CurrentCapture {
        CurrentCapture {
            position: self.position,
            attempt: self.attempt,
            prompt: self.position.prompt(),
        }
    }
}

/// Capture Status of a capture whose samples the flow no longer holds.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Summary {
    pub mode: Mode,
    pub cpf: Cpf,
    pub captured: Vec<CapturedPosition>,
    pub pending: Vec<Position>,
    pub missing: Vec<Missing>,
    pub failure: Option<CaptureFailure>,
}

/// How an operator match ended without a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MatchEnd {
    NotMatched,
    Failed(CaptureFailure),
}

/// The capture flow of a logged-in station. `client` in the operator states is the completed
/// client capture the operator capture confirms (`None` in the remote flow, where the operator
/// is captured first).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Flow {
    Idle,
    /// `CLIENT_CAPTURING` (purpose Client) or `OPERATOR_CAPTURING` (purpose OperatorEnroll).
    Capturing {
        plan: PlanCapture,
        attempt: Attempt,
    },
    /// `CLIENT_CAPTURE_DONE`.
    ClientDone(Completed),
    /// `CLIENT_CAPTURE_FAILED`, or `OPERATOR_CAPTURE_FAILED` for an operator enroll.
    Failed(Summary),
    /// `OPERATOR_CAPTURING` while the operator's enroll samples are being uploaded.
    EnrollUploading {
        summary: Summary,
        request: crate::input::RequestId,
        samples: Vec<SampleId>,
    },
    /// `OPERATOR_ENROLL_SENT`.
    EnrollSent(Summary),
    /// `OPERATOR_CAPTURING` for a 1:1 match with the operator's stored biometrics.
    Matching {
        client: Option<Completed>,
        operator: Cpf,
        finger: Finger,
        attempt: Attempt,
    },
    /// `OPERATOR_CAPTURE_DONE`.
    Matched {
        client: Option<Completed>,
        operator: Cpf,
        sample: KeptSample,
    },
    /// `OPERATOR_NOT_MATCHED` or `OPERATOR_CAPTURE_FAILED`; the client capture is still held
    /// so that Operator Capture can be retried.
    MatchEnded {
        client: Option<Completed>,
        operator: Cpf,
        finger: Finger,
        end: MatchEnd,
    },
}

impl Flow {
    pub fn state(&self) -> CaptureState {
        match self {
            Flow::Idle => CaptureState::Idle,
            Flow::Capturing { plan, .. } => match plan.purpose {
                CapturePurpose::Client => CaptureState::ClientCapturing,
                _ => CaptureState::OperatorCapturing,
            },
            Flow::ClientDone(_) => CaptureState::ClientCaptureDone,
            Flow::Failed(s) if s.mode == Mode::OperatorEnroll => {
                CaptureState::OperatorCaptureFailed
            }
            Flow::Failed(_) => CaptureState::ClientCaptureFailed,
            Flow::EnrollUploading { .. } | Flow::Matching { .. } => CaptureState::OperatorCapturing,
            Flow::EnrollSent(_) => CaptureState::OperatorEnrollSent,
            Flow::Matched { .. } => CaptureState::OperatorCaptureDone,
            Flow::MatchEnded {
                end: MatchEnd::NotMatched,
                ..
            } => CaptureState::OperatorNotMatched,
            Flow::MatchEnded { .. } => CaptureState::OperatorCaptureFailed,
        }
    }

    /// The running capture, if any.
    pub fn attempt(&self) -> Option<&Attempt> {
        match self {
            Flow::Capturing { attempt, .. } | Flow::Matching { attempt, .. } => Some(attempt),
            _ => None,
        }
    }

    /// The completed client capture held in the operator states.
    pub fn client(&self) -> Option<&Completed> {
        match self {
            Flow::ClientDone(c) => Some(c),
            Flow::Matching { client, .. }
            | Flow::Matched { client, .. }
            | Flow::MatchEnded { client, .. } => client.as_ref(),
            _ => None,
        }
    }

    /// Every sample the flow holds (to discard when the flow is abandoned).
    pub fn samples(&self) -> Vec<SampleId> {
        let mut out: Vec<SampleId> = Vec::new();
        match self {
            Flow::Capturing { plan, attempt } => {
                out.extend(plan.samples());
                out.extend(attempt.best.as_ref().map(|b| b.sample));
            }
            Flow::EnrollUploading { samples, .. } => out.extend(samples.iter().copied()),
            Flow::Matched { sample, .. } => out.push(sample.sample),
            _ => {}
        }
        if let Some(c) = self.client() {
            out.extend(c.capture.samples());
        }
        out
    }

    /// Capture Status of a logged-in station. In the operator states `mode` is OPERATOR and
    /// `cpf` is the operator's: the status describes what is being captured now.
    pub fn status(&self) -> CaptureStatus {
        let state = self.state();
        let mut status = CaptureStatus {
            state,
            mode: None,
            cpf: None,
            current: None,
            captured: Vec::new(),
            pending: Vec::new(),
            missing: Vec::new(),
            failure: None,
        };
        match self {
            Flow::Idle => {}
            Flow::Capturing { plan, attempt } => {
                status.mode = Some(plan.mode);
                status.cpf = Some(plan.subject.clone());
                status.current = Some(attempt.current());
                status.captured = plan.kept.iter().map(captured).collect();
                status.pending = plan.pending();
                status.missing = plan.missing.clone();
            }
            Flow::ClientDone(c) => {
                let s = c.capture.summary(None);
                fill(&mut status, &s);
            }
            Flow::Failed(s) | Flow::EnrollSent(s) | Flow::EnrollUploading { summary: s, .. } => {
                fill(&mut status, s)
            }
            Flow::Matching {
                operator,
                finger,
                attempt,
                ..
            } => {
                status.mode = Some(Mode::Operator);
                status.cpf = Some(operator.clone());
                status.current = Some(attempt.current());
                status.pending = vec![Position::Finger(*finger)];
            }
            Flow::Matched {
                operator, sample, ..
            } => {
                status.mode = Some(Mode::Operator);
                status.cpf = Some(operator.clone());
                status.captured = vec![captured(sample)];
            }
            Flow::MatchEnded {
                operator,
                finger,
                end,
                ..
            } => {
                status.mode = Some(Mode::Operator);
                status.cpf = Some(operator.clone());
                status.pending = vec![Position::Finger(*finger)];
                status.failure = match end {
                    MatchEnd::NotMatched => None,
                    MatchEnd::Failed(f) => Some(*f),
                };
            }
        }
        status
    }
}

fn fill(status: &mut CaptureStatus, s: &Summary) {
    status.mode = Some(s.mode);
    status.cpf = Some(s.cpf.clone());
    status.captured = s.captured.clone();
    status.pending = s.pending.clone();
    status.missing = s.missing.clone();
    status.failure = s.failure;
}

pub(super) fn captured(k: &KeptSample) -> CapturedPosition {
    CapturedPosition {
        position: k.position,
        quality: k.quality,
        attempts: k.attempts,
    }
}

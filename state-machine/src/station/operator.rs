//! The operator's 1:1 match: Operator Capture and the device results of its attempts.

use super::capture::device_failure;
use super::flow::{Attempt, Completed, Flow, MatchEnd};
use super::{discard, Access, Outcome, Station};
use crate::cpf::Cpf;
use crate::effect::{Answer, CapturePurpose, Effect, FlowError, KeptSample};
use crate::input::DeviceEvent;
use crate::position::{Finger, Position};
use crate::status::CaptureFailure;
use crate::Millis;

impl Station {
    /// Operator Capture: after a completed client capture (presencial; also to retry after
    /// `OPERATOR_NOT_MATCHED` / `OPERATOR_CAPTURE_FAILED`), or from idle (remote flow).
    pub(super) fn operator_capture(&mut self, now: Millis, out: &mut Vec<Effect>) -> Outcome {
        let allowed = matches!(
            self.flow,
            Flow::Idle | Flow::ClientDone(_) | Flow::MatchEnded { .. }
        );
        let (operator, finger) = match &self.session {
            Some(s) if s.access == Access::Full && allowed => {
                (s.operator.clone(), s.fingers.first().copied())
            }
            _ => return Outcome::Now(Err(self.invalid_state())),
        };
        let Some(finger) = finger else {
            return Outcome::Now(Err(FlowError::InvalidArgument {
                reason: "the operator has no enrolled finger to match".to_string(),
            }));
        };
        let client = match std::mem::replace(&mut self.flow, Flow::Idle) {
            Flow::ClientDone(c) => Some(c),
            Flow::MatchEnded { client, .. } => client,
            _ => None,
        };
        let attempt = self.start_attempt(
            now,
            Position::Finger(finger),
            CapturePurpose::OperatorMatch,
            &operator,
            1,
            None,
            out,
        );
        self.flow = Flow::Matching {
            client,
            operator,
            finger,
            attempt,
        };
        Outcome::Now(Ok(Answer::OperatorCapturing))
    }

    /// Only a reported match counts; anything else is retried up to `operator_max_attempts`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn match_event(
        &mut self,
        now: Millis,
        client: Option<Completed>,
        operator: Cpf,
        finger: Finger,
        attempt: Attempt,
        event: DeviceEvent,
        out: &mut Vec<Effect>,
    ) -> Flow {
        let end = match event {
            DeviceEvent::Captured {
                sample,
                quality,
                matched: Some(true),
                ..
            } => {
                let sample = KeptSample {
                    position: Position::Finger(finger),
                    sample,
                    quality,
                    attempts: attempt.attempt,
                    captured_at: now,
                };
                return Flow::Matched {
                    client,
                    operator,
                    sample,
                };
            }
            DeviceEvent::Captured { sample, .. } => {
                discard(vec![sample], out);
                if attempt.attempt < self.config.operator_max_attempts.max(1) {
                    let position = Position::Finger(finger);
                    let purpose = CapturePurpose::OperatorMatch;
                    let next = self.start_attempt(
                        now,
                        position,
                        purpose,
                        &operator,
                        attempt.attempt + 1,
                        None,
                        out,
                    );
                    return Flow::Matching {
                        client,
                        operator,
                        finger,
                        attempt: next,
                    };
                }
                MatchEnd::NotMatched
            }
            DeviceEvent::NothingPresented { .. } => MatchEnd::Failed(CaptureFailure::Timeout),
            DeviceEvent::Failed { failure, .. } => MatchEnd::Failed(device_failure(failure)),
        };
        Flow::MatchEnded {
            client,
            operator,
            finger,
            end,
        }
    }
}

//! The operator session: Login (and its upstream answer), Logout, Operator Enroll's upload.
//!
//! Login Status and the session are kept apart on purpose. Only `OPERATOR_OK`,
//! `OPERATOR_OFFLINE_OK` and `OPERATOR_PENDING` replace the session (ending any capture of the
//! previous operator). `OPERATOR_IN_PROGRESS`, `OPERATOR_NOT_FOUND` and `OPERATOR_FAILED` are
//! answers, not logins: the previous operator stays logged in and their capture goes on, but
//! Login Status reports the latest Login (`loggedInAt` empty, since it logged nobody in). A
//! Login answered with an error (`SERVER_UNAVAILABLE`, upstream failure) changes nothing at all.

use super::flow::{Flow, Summary};
use super::{discard, Access, Awaiting, Outcome, Session, Station};
use crate::cpf::Cpf;
use crate::effect::{Answer, Effect, FlowError, UpstreamCall};
use crate::input::{CommandId, OperatorLookup, RequestId};
use crate::position::{Finger, Position};
use crate::status::{CaptureFailure, LoginState, LoginStatus};
use crate::Millis;

impl Station {
    /// Login asks the upstream; the reply comes with [`Station::operator_answer`].
    pub(super) fn login(
        &mut self,
        command: CommandId,
        operator: Cpf,
        out: &mut Vec<Effect>,
    ) -> Outcome {
        let request = self.next_request_id();
        out.push(Effect::Upstream {
            request,
            call: UpstreamCall::LookupOperator {
                operator: operator.clone(),
            },
        });
        self.awaiting = Some(Awaiting::Login {
            command,
            request,
            operator,
            detached: false,
        });
        Outcome::Later
    }

    /// Always allowed. A command still awaiting its answer is detached: it gets its reply when
    /// the answer comes (a Login or Verify then answers `INVALID_STATE`; a Send whose
    /// transaction is being written or delivered answers as usual, since the outbox has it).
    pub(super) fn logout(&mut self, out: &mut Vec<Effect>) -> Answer {
        self.end_flow(out);
        self.session = None;
        self.login = LoginState {
            status: None,
            operator: None,
            logged_in_at: None,
            offline: false,
        };
        if let Some(awaiting) = &mut self.awaiting {
            awaiting.detach();
        }
        Answer::LoggedOut
    }

    pub(super) fn operator_answer(
        &mut self,
        now: Millis,
        request: RequestId,
        outcome: OperatorLookup,
        out: &mut Vec<Effect>,
    ) {
        match self.awaiting.take() {
            Some(Awaiting::Login {
                command,
                request: awaited,
                operator,
                detached,
            }) if awaited == request => {
                let reply = if detached {
                    Err(self.invalid_state())
                } else {
                    self.apply_login(now, operator, outcome, out)
                };
                out.push(Effect::Reply { to: command, reply });
            }
            other => self.awaiting = other,
        }
    }

    fn apply_login(
        &mut self,
        now: Millis,
        operator: Cpf,
        outcome: OperatorLookup,
        out: &mut Vec<Effect>,
    ) -> Result<Answer, FlowError> {
        let login = match outcome {
            OperatorLookup::Enrolled { fingers } => NewLogin {
                status: LoginStatus::Ok,
                access: Access::Full,
                fingers,
                offline: false,
            },
            OperatorLookup::Registered => NewLogin {
                status: LoginStatus::Pending,
                access: Access::EnrollOnly,
                fingers: Vec::new(),
                offline: false,
            },
            OperatorLookup::InProgress => {
                return Ok(self.record_attempt(operator, LoginStatus::InProgress))
            }
            OperatorLookup::NotFound => {
                return Ok(self.record_attempt(operator, LoginStatus::NotFound))
            }
            OperatorLookup::Failed { .. } => {
                return Ok(self.record_attempt(operator, LoginStatus::Failed))
            }
            OperatorLookup::Unreachable { reason, local } => match local {
                Some(local)
                    if !local.fingers.is_empty()
                        && now.saturating_sub(local.stored_at) <= self.config.offline_max_age =>
                {
                    NewLogin {
                        status: LoginStatus::OfflineOk,
                        access: Access::Full,
                        fingers: local.fingers,
                        offline: true,
                    }
                }
                _ => {
                    return Err(FlowError::ServerUnavailable {
                        reason: format!(
                            "{reason} (no recent local biometrics for an offline login)"
                        ),
                    })
                }
            },
            OperatorLookup::Error { reason } => return Err(FlowError::Upstream { reason }),
        };
        self.end_flow(out);
        self.session = Some(Session {
            operator: operator.clone(),
            access: login.access,
            fingers: login.fingers,
        });
        self.login = LoginState {
            status: Some(login.status),
            operator: Some(operator.clone()),
            logged_in_at: Some(now),
            offline: login.offline,
        };
        Ok(Answer::Login {
            status: login.status,
            operator,
        })
    }

    /// A Login answer that logs nobody in: shown by Login Status, the session is untouched.
    fn record_attempt(&mut self, operator: Cpf, status: LoginStatus) -> Answer {
        self.login = LoginState {
            status: Some(status),
            operator: Some(operator.clone()),
            logged_in_at: None,
            offline: false,
        };
        Answer::Login { status, operator }
    }

    /// Only an `OPERATOR_PENDING` operator, idle or after a failed Operator Enroll. Captures
    /// the configured fingers, then the face; the samples are uploaded when all are done.
    pub(super) fn operator_enroll(&mut self, now: Millis, out: &mut Vec<Effect>) -> Outcome {
        let allowed = matches!(&self.flow, Flow::Idle)
            || matches!(&self.flow, Flow::Failed(s) if s.mode == crate::status::Mode::OperatorEnroll);
        let operator = match &self.session {
            Some(s) if s.access == Access::EnrollOnly && allowed => s.operator.clone(),
            _ => return Outcome::Now(Err(self.invalid_state())),
        };
        let plan: Vec<Position> = self
            .config
            .operator_enroll_fingers
            .iter()
            .copied()
            .map(Position::Finger)
            .chain(std::iter::once(Position::Face))
            .collect();
        self.end_flow(out);
        self.start_plan(
            now,
            super::flow::PlanCapture {
                mode: crate::status::Mode::OperatorEnroll,
                purpose: crate::effect::CapturePurpose::OperatorEnroll,
                subject: operator,
                plan,
                missing: Vec::new(),
                kept: Vec::new(),
                started_at: now,
            },
            out,
        );
        Outcome::Now(Ok(Answer::OperatorCapturing))
    }

    /// The upload of the operator's enrollment answered. Either way its samples are dropped:
    /// after a failure the operator runs Operator Enroll again (`OPERATOR_CAPTURE_FAILED` with
    /// failure `SERVER_UNAVAILABLE`), since no call of the contract re-sends held samples.
    pub(super) fn enroll_uploaded(
        &mut self,
        request: RequestId,
        outcome: Result<(), String>,
        out: &mut Vec<Effect>,
    ) {
        match std::mem::replace(&mut self.flow, Flow::Idle) {
            Flow::EnrollUploading {
                summary,
                request: awaited,
                samples,
            } if awaited == request => {
                discard(samples, out);
                match outcome {
                    Ok(()) => {
                        self.flow = Flow::EnrollSent(summary);
                        if let Some(session) = &mut self.session {
                            session.access = Access::EnrollSent;
                        }
                        self.login.status = Some(LoginStatus::InProgress);
                    }
                    Err(_) => {
                        self.flow = Flow::Failed(Summary {
                            failure: Some(CaptureFailure::ServerUnavailable),
                            ..summary
                        })
                    }
                }
            }
            other => self.flow = other,
        }
    }
}

struct NewLogin {
    status: LoginStatus,
    access: Access,
    fingers: Vec<Finger>,
    offline: bool,
}

//! The remote flow: the operator is captured first (a matched Operator Capture from an idle
//! station), then Remote Verify or Remote Enroll asks the daemon to create the remote capture
//! and answers with its link. The match is spent on one remote capture: the station goes idle.

use super::flow::Flow;
use super::{discard, Awaiting, Outcome, Station};
use crate::cpf::Cpf;
use crate::effect::{Answer, Effect, FlowError, UpstreamCall};
use crate::input::{CommandId, RemoteFailure, RemoteLink, RequestId};
use crate::status::Mode;

impl Station {
    /// Only when [`Station::remote_ready`]; a refused command changes nothing.
    pub(super) fn remote(
        &mut self,
        command: CommandId,
        mode: Mode,
        cpf: Cpf,
        email: Option<String>,
        out: &mut Vec<Effect>,
    ) -> Outcome {
        if !matches!(mode, Mode::Verify | Mode::Enroll) {
            return Outcome::Now(Err(FlowError::InvalidArgument {
                reason: format!(
                    "a remote capture is a verify or an enroll, not {}",
                    mode.as_str()
                ),
            }));
        }
        if !self.remote_ready() {
            return Outcome::Now(Err(self.invalid_state()));
        }
        let email = email.filter(|e| !e.trim().is_empty());
        if mode == Mode::Enroll && email.is_none() {
            return Outcome::Now(Err(FlowError::InvalidArgument {
                reason: "Remote Enroll needs the individual's e-mail address (query `email`)."
                    .to_string(),
            }));
        }
        let Flow::Matched { operator, .. } = &self.flow else {
            return Outcome::Now(Err(self.invalid_state()));
        };
        let operator = operator.clone();
        let request = self.next_request_id();
        out.push(Effect::Upstream {
            request,
            call: UpstreamCall::CreateRemote {
                mode,
                cpf,
                operator,
                email,
            },
        });
        self.awaiting = Some(Awaiting::Remote {
            command,
            request,
            detached: false,
        });
        Outcome::Later
    }

    /// Created: the operator's match is spent, the station goes idle (operator still logged
    /// in). Not created: nothing changes, so the integrator may try again.
    pub(super) fn remote_created(
        &mut self,
        request: RequestId,
        outcome: Result<RemoteLink, RemoteFailure>,
        out: &mut Vec<Effect>,
    ) {
        match self.awaiting.take() {
            Some(Awaiting::Remote {
                command,
                request: awaited,
                detached,
            }) if awaited == request => {
                let reply = match outcome {
                    Ok(link) => {
                        if !detached {
                            if let Flow::Matched { sample, .. } =
                                std::mem::replace(&mut self.flow, Flow::Idle)
                            {
                                discard(vec![sample.sample], out);
                            }
                        }
                        Ok(Answer::RemoteCreated { link })
                    }
                    Err(RemoteFailure::Unreachable { reason }) => {
                        Err(FlowError::ServerUnavailable { reason })
                    }
                    Err(RemoteFailure::NotFound { reason }) => Err(FlowError::NotFound { reason }),
                    Err(RemoteFailure::Refused { reason }) => {
                        Err(FlowError::InvalidArgument { reason })
                    }
                    Err(RemoteFailure::Error { reason }) => Err(FlowError::Upstream { reason }),
                };
                out.push(Effect::Reply { to: command, reply });
            }
            other => self.awaiting = other,
        }
    }
}

//! Capture Send: the transaction is written to the outbox first, then delivered once; the
//! command is answered with the first delivery's outcome.

use super::flow::Flow;
use super::{discard, record_samples, Access, Awaiting, Outcome, Station};
use crate::effect::{Answer, Effect, FlowError, SendStatus, TransactionRecord, UpstreamCall};
use crate::input::{CommandId, DeliveryOutcome, RequestId};
use crate::status::Mode;

impl Station {
    /// Only in `OPERATOR_CAPTURE_DONE` after a completed client capture. The station keeps
    /// showing `OPERATOR_CAPTURE_DONE` until the delivery answers.
    pub(super) fn send(&mut self, command: CommandId, out: &mut Vec<Effect>) -> Outcome {
        let record = match (&self.flow, self.has_access(Access::Full)) {
            (
                Flow::Matched {
                    client: Some(client),
                    operator,
                    sample,
                },
                true,
            ) => {
                let capture = &client.capture;
                // With the CPF the timestamp identifies the transaction upstream: never reuse one.
                let next_free = self.last_timestamp.map_or(0, |t| t.saturating_add(1));
                TransactionRecord {
                    mode: capture.mode,
                    cpf: capture.subject.clone(),
                    operator: operator.clone(),
                    samples: capture.kept.clone(),
                    missing: capture.missing.clone(),
                    operator_sample: sample.clone(),
                    started_at: capture.started_at,
                    timestamp: client.completed_at.max(next_free),
                }
            }
            _ => return Outcome::Now(Err(self.invalid_state())),
        };
        let request = self.next_request_id();
        out.push(Effect::Persist {
            request,
            transaction: record.clone(),
        });
        self.awaiting = Some(Awaiting::Persist {
            command,
            request,
            record,
            detached: false,
        });
        Outcome::Later
    }

    /// A failed write changes nothing (the capture stays ready to send); a stored one is
    /// delivered, even if the operator logged out meanwhile, since the outbox now holds it.
    pub(super) fn persisted(
        &mut self,
        request: RequestId,
        result: Result<String, String>,
        out: &mut Vec<Effect>,
    ) {
        match self.awaiting.take() {
            Some(Awaiting::Persist {
                command,
                request: awaited,
                record,
                detached,
            }) if awaited == request => match result {
                Ok(id) => {
                    self.last_timestamp = Some(record.timestamp);
                    let request = self.next_request_id();
                    out.push(Effect::Upstream {
                        request,
                        call: UpstreamCall::Deliver {
                            transaction: id.clone(),
                            mode: record.mode,
                        },
                    });
                    self.awaiting = Some(Awaiting::Deliver {
                        command,
                        request,
                        id,
                        mode: record.mode,
                        samples: record_samples(&record),
                        detached,
                    });
                }
                Err(reason) => {
                    if detached {
                        discard(record_samples(&record), out);
                    }
                    out.push(Effect::Reply {
                        to: command,
                        reply: Err(FlowError::Storage { reason }),
                    });
                }
            },
            other => self.awaiting = other,
        }
    }

    /// Whatever the first delivery did, the transaction now lives in the outbox: the station
    /// drops its samples and goes idle (operator still logged in).
    pub(super) fn delivered(
        &mut self,
        request: RequestId,
        outcome: DeliveryOutcome,
        out: &mut Vec<Effect>,
    ) {
        match self.awaiting.take() {
            Some(Awaiting::Deliver {
                command,
                request: awaited,
                id,
                mode,
                samples,
                detached,
            }) if awaited == request => {
                discard(samples, out);
                if !detached {
                    self.flow = Flow::Idle;
                }
                let reply = match outcome {
                    DeliveryOutcome::Accepted { tguid } => Ok(Answer::Sent {
                        status: match mode {
                            Mode::Verify => SendStatus::Verified,
                            _ => SendStatus::Enqueued,
                        },
                        id,
                        tguid: Some(tguid),
                    }),
                    DeliveryOutcome::Pending { .. } => Ok(Answer::Sent {
                        status: SendStatus::Pending,
                        id,
                        tguid: None,
                    }),
                    DeliveryOutcome::Rejected { reason } => Err(FlowError::Rejected { id, reason }),
                };
                out.push(Effect::Reply { to: command, reply });
            }
            other => self.awaiting = other,
        }
    }
}

//! Full presencial flows, step by step: enroll, verify, quality retries, capture failures,
//! missing fingers, operator match, send with storage and delivery outcomes.

use super::*;
use crate::{CaptureFailure, LoginStatus, Missing, MissingType, Mode, Position, SendStatus};

pub(super) fn login_reply(effects: &[Effect]) -> Result<Answer, FlowError> {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            _ => None,
        })
        .expect("a reply")
}

/// Operator capture, match, send, store: returns the record and the Send's id.
pub(super) fn send_and_store(rig: &mut Rig) -> (TransactionRecord, CommandId) {
    assert_eq!(
        rig.now_reply(Command::OperatorCapture),
        Ok(Answer::OperatorCapturing)
    );
    rig.present_match(true);
    assert_eq!(rig.st.state().as_str(), "OPERATOR_CAPTURE_DONE");
    let (send, effects) = rig.cmd(Command::Send);
    assert_eq!(reply_to(&effects, send), None);
    let (_, record) = rig.persists.last().cloned().expect("persist");
    let effects = rig.persisted(Ok(format!("tx-{}", rig.persists.len())));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Upstream {
            call: UpstreamCall::Deliver { .. },
            ..
        }]
    ));
    (record, send)
}

#[test]
fn new_individual_is_enrolled_after_person_not_found() {
    let mut rig = Rig::new();
    assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
    let (login, _) = rig.cmd(Command::Login {
        operator: operator_a(),
    });
    assert!(
        matches!(rig.last_call().1, UpstreamCall::LookupOperator { ref operator } if *operator == operator_a())
    );
    let effects = rig.answer_operator(OperatorLookup::Enrolled {
        fingers: vec![finger(2)],
    });
    assert_eq!(
        reply_to(&effects, login),
        Some(Ok(Answer::Login {
            status: LoginStatus::Ok,
            operator: operator_a()
        }))
    );
    let status = rig.st.login_status();
    assert_eq!(
        (status.status, status.logged_in_at, status.offline),
        (Some(LoginStatus::Ok), Some(rig.now), false)
    );

    let (verify, _) = rig.cmd(Command::Verify {
        cpf: client_c(),
        missing: vec![],
    });
    let effects = rig.answer_person(PersonLookup::NotFound);
    assert_eq!(
        reply_to(&effects, verify),
        Some(Ok(Answer::PersonNotFound { cpf: client_c() }))
    );
    assert_eq!(rig.st.state().as_str(), "IDLE");

    let started_at = rig.now;
    let answer = rig.now_reply(Command::Enroll {
        cpf: client_c(),
        missing: vec![],
    });
    assert_eq!(
        answer,
        Ok(Answer::ClientCapturing {
            cpf: client_c(),
            mode: Mode::Enroll
        })
    );
    let mut positions = Vec::new();
    while rig.st.current_capture().is_some() {
        let request = rig.running();
        assert_eq!(
            (request.purpose, request.subject.clone(), request.attempt),
            (crate::CapturePurpose::Client, client_c(), 1)
        );
        positions.push(request.position);
        rig.advance(1_000);
        rig.present(80);
    }
    assert_eq!(positions, rig.st.config().enroll_plan);
    assert_eq!(rig.st.state().as_str(), "CLIENT_CAPTURE_DONE");
    let completed_at = rig.now;
    assert_eq!(rig.st.capture_status().captured.len(), 5);

    rig.advance(5_000);
    let (record, send) = send_and_store(&mut rig);
    assert_eq!(
        (record.mode, record.cpf.clone(), record.operator.clone()),
        (Mode::Enroll, client_c(), operator_a())
    );
    assert_eq!(
        record
            .samples
            .iter()
            .map(|k| k.position)
            .collect::<Vec<_>>(),
        positions
    );
    assert_eq!(record.operator_sample.position, Position::Finger(finger(2)));
    assert_eq!(
        (record.started_at, record.timestamp),
        (started_at, completed_at)
    );

    let effects = rig.answer_delivery(DeliveryOutcome::Accepted {
        tguid: "T-1".into(),
    });
    let mut gone = discarded(&effects);
    gone.sort();
    let mut held: Vec<SampleId> = record.samples.iter().map(|k| k.sample).collect();
    held.push(record.operator_sample.sample);
    held.sort();
    assert_eq!(gone, held);
    assert_eq!(
        reply_to(&effects, send),
        Some(Ok(Answer::Sent {
            status: SendStatus::Enqueued,
            id: "tx-1".into(),
            tguid: Some("T-1".into())
        }))
    );
    assert_eq!(rig.st.state().as_str(), "IDLE");
    assert_eq!(rig.st.operator(), Some(&operator_a()));
}

#[test]
fn known_individual_is_verified_with_face_and_one_finger() {
    let mut rig = logged_in();
    let missing = vec![Missing {
        finger: finger(7),
        kind: MissingType::Bandaged,
    }];
    let (verify, effects) = rig.cmd(Command::Verify {
        cpf: client_d(),
        missing: missing.clone(),
    });
    assert!(reply_to(&effects, verify).is_none());
    // Enrolled 7 and 8; 2 is not enrolled and 7 is bandaged: the face and 8.
    let effects = rig.answer_person(PersonLookup::Found {
        fingers: Some(vec![finger(7), finger(8)]),
    });
    assert_eq!(
        reply_to(&effects, verify),
        Some(Ok(Answer::ClientCapturing {
            cpf: client_d(),
            mode: Mode::Verify
        }))
    );
    let status = rig.st.capture_status();
    assert_eq!(
        status.pending,
        vec![Position::Face, Position::Finger(finger(8))]
    );
    assert_eq!(status.missing, missing);
    rig.complete_plan();
    let (record, send) = send_and_store(&mut rig);
    assert_eq!(record.mode, Mode::Verify);
    assert_eq!(record.missing, missing);
    let effects = rig.answer_delivery(DeliveryOutcome::Accepted {
        tguid: "T-9".into(),
    });
    assert!(matches!(
        reply_to(&effects, send),
        Some(Ok(Answer::Sent {
            status: SendStatus::Verified,
            ..
        }))
    ));
}

#[test]
fn verify_without_finger_list_uses_the_first_preferred_finger() {
    let mut rig = logged_in();
    rig.cmd(Command::Verify {
        cpf: client_d(),
        missing: vec![],
    });
    rig.answer_person(PersonLookup::Found { fingers: None });
    assert_eq!(
        rig.st.capture_status().pending,
        vec![Position::Face, Position::Finger(finger(2))]
    );
}

#[test]
fn poor_samples_are_retried_and_the_best_is_kept() {
    let mut rig = client_capturing();
    let (first, effects) = rig.present_sample(30, None);
    let retry = started(&effects);
    assert_eq!(
        (retry.len(), retry[0].attempt, retry[0].position),
        (1, 2, Position::Face)
    );
    assert_eq!(rig.st.capture_status().current.map(|c| c.attempt), Some(2));
    let (second, effects) = rig.present_sample(70, None);
    assert_eq!(discarded(&effects), vec![first]);
    let captured = rig.st.capture_status().captured;
    assert_eq!((captured[0].quality, captured[0].attempts), (70, 2));
    assert_eq!(rig.running().position, Position::Finger(finger(2)));

    // A tie keeps the earlier sample.
    let (a, _) = rig.present_sample(20, None);
    let (b, effects) = rig.present_sample(20, None);
    assert_eq!(discarded(&effects), vec![b]);
    rig.complete_plan();
    let client = rig.st.flow.client().expect("client capture").clone();
    assert_eq!(client.capture.kept[0].sample, second);
    assert!(client.capture.kept.iter().all(|k| k.sample != a));
}

#[test]
fn quality_too_low_after_max_attempts_discards_everything() {
    let mut rig = client_capturing();
    let (face, _) = rig.present_sample(90, None);
    let (s1, _) = rig.present_sample(20, None);
    let (s2, effects) = rig.present_sample(35, None);
    assert_eq!(discarded(&effects), vec![s1]);
    let (s3, effects) = rig.present_sample(10, None);
    // The third attempt is dropped at once, then the failure drops the face and the best (35).
    assert_eq!(discarded(&effects), vec![s3, face, s2]);
    assert!(started(&effects).is_empty());
    let status = rig.st.capture_status();
    assert_eq!(status.state.as_str(), "CLIENT_CAPTURE_FAILED");
    assert_eq!(status.failure, Some(CaptureFailure::QualityTooLow));
    assert_eq!(
        (status.mode, status.cpf),
        (Some(Mode::Enroll), Some(client_c()))
    );
    assert_eq!(status.captured.len(), 1);
    assert_eq!(status.pending[0], Position::Finger(finger(2)));
    // A new capture can start straight from the failure.
    let answer = rig.now_reply(Command::Enroll {
        cpf: client_d(),
        missing: vec![],
    });
    assert!(answer.is_ok(), "{answer:?}");
}

#[test]
fn timeout_via_tick_stops_the_capture() {
    let mut rig = client_capturing();
    let (face, _) = rig.present_sample(90, None);
    let running = rig.running();
    rig.now = running.deadline;
    let effects = rig.step(Input::Tick);
    assert_eq!(
        effects,
        vec![
            Effect::StopCapture {
                capture: running.capture
            },
            Effect::DiscardSamples {
                samples: vec![face]
            },
        ]
    );
    assert_eq!(
        rig.st.capture_status().failure,
        Some(CaptureFailure::Timeout)
    );
    assert_eq!(rig.st.next_deadline(), None);
    // A late result of the stopped capture is ignored.
    let late = rig.step(Input::Device(DeviceEvent::Captured {
        capture: running.capture,
        sample: SampleId(77),
        quality: 99,
        matched: None,
    }));
    assert!(late.is_empty());
}

#[test]
fn device_unavailable_fails_the_capture() {
    let mut rig = client_failed();
    let status = rig.st.capture_status();
    assert_eq!(status.failure, Some(CaptureFailure::DeviceUnavailable));
    assert_eq!(status.captured.len(), 1);
    assert_eq!(rig.now_reply(Command::Cancel), Ok(Answer::Idle));
    assert_eq!(rig.st.capture_status().failure, None);
}

#[test]
fn declared_missing_fingers_shape_the_plans() {
    let mut rig = logged_in();
    let missing = Missing::parse_list("3:AMPUTATED,8:BANDAGED").expect("list");
    rig.now_reply(Command::Enroll {
        cpf: client_c(),
        missing: missing.clone(),
    })
    .expect("enroll");
    let status = rig.st.capture_status();
    assert_eq!(
        status.pending,
        vec![
            Position::Face,
            Position::Finger(finger(2)),
            Position::Finger(finger(7))
        ]
    );
    assert_eq!(status.missing, missing);

    // Every finger missing, no face in the plan: nothing to capture.
    let config = FlowConfig {
        enroll_plan: vec![Position::Finger(finger(2))],
        verify_face: false,
        ..FlowConfig::default()
    };
    let mut rig = Rig::with(config);
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    rig.answer_operator(OperatorLookup::Enrolled {
        fingers: vec![finger(2)],
    });
    let all = Missing::parse_list("2:AMPUTATED,3:AMPUTATED,7:AMPUTATED,8:AMPUTATED").expect("list");
    let before = rig.st.clone();
    assert!(matches!(
        rig.now_reply(Command::Enroll {
            cpf: client_c(),
            missing: all.clone()
        }),
        Err(FlowError::InvalidArgument { .. })
    ));
    assert!(matches!(
        rig.now_reply(Command::Verify {
            cpf: client_c(),
            missing: all
        }),
        Err(FlowError::InvalidArgument { .. })
    ));
    assert_eq!(rig.st, before);
    assert_eq!(
        rig.calls.len(),
        1,
        "no person lookup for an impossible verify"
    );

    // Known only after the lookup: the person has no finger left to verify with.
    let before = rig.st.without_counters();
    let (verify, _) = rig.cmd(Command::Verify {
        cpf: client_c(),
        missing: vec![],
    });
    let effects = rig.answer_person(PersonLookup::Found {
        fingers: Some(vec![]),
    });
    assert!(matches!(
        reply_to(&effects, verify),
        Some(Err(FlowError::InvalidArgument { .. }))
    ));
    assert_eq!(rig.st.without_counters(), before);
}

#[test]
fn operator_not_matched_after_three_attempts_then_retried() {
    let mut rig = matching();
    let mut attempts = vec![rig.running().attempt];
    for _ in 0..3 {
        let (sample, effects) = rig.present_sample(80, Some(false));
        assert_eq!(discarded(&effects)[0], sample);
        attempts.extend(started(&effects).iter().map(|r| r.attempt));
    }
    assert_eq!(attempts, vec![1, 2, 3]);
    assert_eq!(rig.st.state().as_str(), "OPERATOR_NOT_MATCHED");
    // The client capture is still held: Send is refused, Operator Capture may be retried.
    assert!(rig.st.flow.client().is_some());
    assert!(matches!(
        rig.now_reply(Command::Send),
        Err(FlowError::InvalidState {
            state: "OPERATOR_NOT_MATCHED"
        })
    ));
    let (record, _) = send_and_store(&mut rig);
    assert_eq!(record.cpf, client_c());
}

#[test]
fn unknown_match_result_counts_as_no_match() {
    let mut rig = matching();
    rig.present_sample(90, None);
    assert_eq!(rig.st.state().as_str(), "OPERATOR_CAPTURING");
    assert_eq!(rig.running().attempt, 2);
}

#[test]
fn storage_failure_changes_nothing_then_send_succeeds() {
    let mut rig = matched();
    let before = rig.st.without_counters();
    let (send, _) = rig.cmd(Command::Send);
    let effects = rig.persisted(Err("disk full".into()));
    assert_eq!(
        effects,
        vec![Effect::Reply {
            to: send,
            reply: Err(FlowError::Storage {
                reason: "disk full".into()
            })
        }]
    );
    assert_eq!(rig.st.without_counters(), before);

    let (send, _) = rig.cmd(Command::Send);
    let first = rig.persists[0].1.clone();
    assert_eq!(
        rig.persists[1].1, first,
        "the retry writes the same transaction"
    );
    rig.persisted(Ok("tx-a".into()));
    let effects = rig.answer_delivery(DeliveryOutcome::Pending {
        reason: "timeout".into(),
    });
    assert_eq!(
        reply_to(&effects, send),
        Some(Ok(Answer::Sent {
            status: SendStatus::Pending,
            id: "tx-a".into(),
            tguid: None
        }))
    );
    assert_eq!(rig.st.state().as_str(), "IDLE");
}

#[test]
fn rejected_delivery_answers_rejected_and_goes_idle() {
    let mut rig = awaiting_delivery();
    let send = CommandId(rig.next_command);
    let effects = rig.answer_delivery(DeliveryOutcome::Rejected {
        reason: "bad template".into(),
    });
    assert_eq!(
        reply_to(&effects, send),
        Some(Err(FlowError::Rejected {
            id: "tx-1".into(),
            reason: "bad template".into()
        }))
    );
    assert_eq!(discarded(&effects).len(), 6);
    assert_eq!(rig.st.state().as_str(), "IDLE");
}

#[test]
fn timestamps_are_unique_per_transaction() {
    let mut rig = logged_in();
    let mut stamps = Vec::new();
    for _ in 0..3 {
        rig.now_reply(Command::Enroll {
            cpf: client_c(),
            missing: vec![],
        })
        .expect("enroll");
        rig.complete_plan();
        let (record, _) = send_and_store(&mut rig);
        rig.answer_delivery(DeliveryOutcome::Accepted { tguid: "T".into() });
        stamps.push(record.timestamp);
    }
    // All three completed at the same millisecond.
    assert_eq!(stamps, vec![rig.now, rig.now + 1, rig.now + 2]);
}

#[test]
fn verify_upstream_failures_change_nothing() {
    for (outcome, unavailable) in [
        (
            PersonLookup::Unreachable {
                reason: "refused".into(),
            },
            true,
        ),
        (
            PersonLookup::Error {
                reason: "500".into(),
            },
            false,
        ),
    ] {
        let mut rig = not_matched();
        let before = rig.st.without_counters();
        let (verify, _) = rig.cmd(Command::Verify {
            cpf: client_d(),
            missing: vec![],
        });
        let effects = rig.answer_person(outcome);
        let reply = reply_to(&effects, verify).expect("reply");
        assert_eq!(
            matches!(reply, Err(FlowError::ServerUnavailable { .. })),
            unavailable
        );
        assert!(reply.is_err());
        assert_eq!(effects.len(), 1);
        assert_eq!(rig.st.without_counters(), before);
    }
}

#[test]
fn a_new_verify_drops_the_held_client_capture() {
    let mut rig = not_matched();
    let held: Vec<SampleId> = rig.st.flow.samples();
    assert_eq!(held.len(), 5);
    rig.cmd(Command::Verify {
        cpf: client_d(),
        missing: vec![],
    });
    let effects = rig.answer_person(PersonLookup::Found { fingers: None });
    assert_eq!(discarded(&effects), held);
    assert_eq!(rig.running().subject, client_d());
}

#[test]
fn cancel_drops_everything_but_the_session() {
    let mut rig = matched();
    let held = rig.st.flow.samples();
    let (cancel, effects) = rig.cmd(Command::Cancel);
    assert_eq!(discarded(&effects), held);
    assert_eq!(reply_to(&effects, cancel), Some(Ok(Answer::Idle)));
    assert_eq!(
        (rig.st.state().as_str(), rig.st.operator()),
        ("IDLE", Some(&operator_a()))
    );

    let mut rig = client_capturing();
    let running = rig.running();
    let effects = rig.cmd(Command::Cancel).1;
    assert_eq!(stopped(&effects), vec![running.capture]);
}

#[test]
fn remote_flow_captures_the_operator_first() {
    let mut rig = remote_matched();
    assert!(rig.st.remote_ready());
    assert!(matches!(
        rig.now_reply(Command::Send),
        Err(FlowError::InvalidState {
            state: "OPERATOR_CAPTURE_DONE"
        })
    ));
    rig.now_reply(Command::Cancel).expect("cancel");
    assert!(!rig.st.remote_ready());
}

#[test]
fn an_operator_without_fingers_cannot_be_matched() {
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    rig.answer_operator(OperatorLookup::Enrolled { fingers: vec![] });
    let before = rig.st.clone();
    assert!(matches!(
        rig.now_reply(Command::OperatorCapture),
        Err(FlowError::InvalidArgument { .. })
    ));
    assert_eq!(rig.st, before);
}

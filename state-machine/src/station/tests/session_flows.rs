//! Operator session flows: online and offline login, a login replacing another, operator
//! enroll, and Logout in the middle of an awaited answer.

use super::flows::login_reply;
use super::*;
use crate::{CaptureFailure, LoginStatus, Position, SendStatus};

#[test]
fn offline_login_needs_recent_local_biometrics() {
    let rig = offline_logged_in();
    let status = rig.st.login_status();
    assert_eq!(
        (status.status, status.offline),
        (Some(LoginStatus::OfflineOk), true)
    );
    let max_age = FlowConfig::default().offline_max_age;
    let cases = [
        Some(LocalOperator {
            stored_at: START - max_age - 1,
            fingers: vec![finger(2)],
        }),
        Some(LocalOperator {
            stored_at: START,
            fingers: vec![],
        }),
        None,
    ];
    for local in cases {
        let mut rig = logged_in();
        let before = rig.views();
        let (login, _) = rig.cmd(Command::Login {
            operator: operator_b(),
        });
        let effects = rig.answer_operator(OperatorLookup::Unreachable {
            reason: "timeout".into(),
            local,
        });
        assert!(matches!(
            reply_to(&effects, login),
            Some(Err(FlowError::ServerUnavailable { .. }))
        ));
        assert_eq!(rig.views(), before);
        assert_eq!(rig.st.operator(), Some(&operator_a()));
    }
    // Exactly at the limit is still fresh.
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_b(),
    });
    let local = Some(LocalOperator {
        stored_at: START - max_age,
        fingers: vec![finger(8)],
    });
    let effects = rig.answer_operator(OperatorLookup::Unreachable {
        reason: "timeout".into(),
        local,
    });
    assert!(matches!(
        login_reply(&effects),
        Ok(Answer::Login {
            status: LoginStatus::OfflineOk,
            ..
        })
    ));
    rig.cmd(Command::OperatorCapture);
    assert_eq!(rig.running().position, Position::Finger(finger(8)));
}

#[test]
fn pending_operator_enrolls_and_goes_in_progress() {
    let mut rig = pending_login();
    assert_eq!(rig.st.login_status().status, Some(LoginStatus::Pending));
    assert!(matches!(
        rig.now_reply(Command::Enroll {
            cpf: client_c(),
            missing: vec![]
        }),
        Err(FlowError::InvalidState { .. })
    ));
    assert_eq!(
        rig.now_reply(Command::OperatorEnroll),
        Ok(Answer::OperatorCapturing)
    );
    let request = rig.running();
    assert_eq!(
        (request.purpose, request.subject),
        (crate::CapturePurpose::OperatorEnroll, operator_a())
    );
    rig.complete_plan();
    let (_, call) = rig.last_call();
    let UpstreamCall::EnrollOperator { operator, samples } = call else {
        panic!("enroll call: {call:?}")
    };
    assert_eq!(operator, operator_a());
    assert_eq!(
        samples.iter().map(|k| k.position).collect::<Vec<_>>(),
        vec![
            Position::Finger(finger(2)),
            Position::Finger(finger(7)),
            Position::Face
        ]
    );
    assert_eq!(rig.st.state().as_str(), "OPERATOR_CAPTURING");

    let effects = rig.answer(|request| UpstreamAnswer::OperatorEnrolled {
        request,
        outcome: Ok(()),
    });
    assert_eq!(
        discarded(&effects),
        samples.iter().map(|k| k.sample).collect::<Vec<_>>()
    );
    assert_eq!(rig.st.state().as_str(), "OPERATOR_ENROLL_SENT");
    assert_eq!(rig.st.login_status().status, Some(LoginStatus::InProgress));
    assert!(matches!(
        rig.now_reply(Command::OperatorEnroll),
        Err(FlowError::InvalidState {
            state: "OPERATOR_ENROLL_SENT"
        })
    ));
}

#[test]
fn failed_operator_upload_can_be_retried() {
    let mut rig = enroll_uploading();
    rig.answer(|request| UpstreamAnswer::OperatorEnrolled {
        request,
        outcome: Err("503".into()),
    });
    let status = rig.st.capture_status();
    assert_eq!(status.state.as_str(), "OPERATOR_CAPTURE_FAILED");
    assert_eq!(status.failure, Some(CaptureFailure::ServerUnavailable));
    assert_eq!(rig.st.login_status().status, Some(LoginStatus::Pending));
    assert_eq!(
        rig.now_reply(Command::OperatorEnroll),
        Ok(Answer::OperatorCapturing)
    );
}

#[test]
fn logout_during_delivery_still_replies() {
    let mut rig = awaiting_delivery();
    let send = CommandId(rig.next_command);
    let effects = rig.cmd(Command::Logout).1;
    assert!(
        discarded(&effects).is_empty(),
        "the delivery still needs its samples"
    );
    assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
    assert!(matches!(
        rig.now_reply(Command::Login {
            operator: operator_a()
        }),
        Err(FlowError::InvalidState {
            state: "NOT_LOGGED_IN"
        })
    ));
    let effects = rig.answer_delivery(DeliveryOutcome::Accepted {
        tguid: "T-2".into(),
    });
    assert!(matches!(
        reply_to(&effects, send),
        Some(Ok(Answer::Sent {
            status: SendStatus::Enqueued,
            ..
        }))
    ));
    assert_eq!(discarded(&effects).len(), 6);
    assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
    assert!(!rig.st.is_awaiting());
}

#[test]
fn logout_during_persist_keeps_the_write_going() {
    for stored in [true, false] {
        let mut rig = awaiting_persist();
        let send = CommandId(rig.next_command);
        assert!(discarded(&rig.cmd(Command::Logout).1).is_empty());
        if stored {
            rig.persisted(Ok("tx-z".into()));
            let effects = rig.answer_delivery(DeliveryOutcome::Pending { reason: "x".into() });
            assert!(matches!(
                reply_to(&effects, send),
                Some(Ok(Answer::Sent {
                    status: SendStatus::Pending,
                    ..
                }))
            ));
        } else {
            let effects = rig.persisted(Err("io".into()));
            assert!(matches!(
                reply_to(&effects, send),
                Some(Err(FlowError::Storage { .. }))
            ));
            assert_eq!(discarded(&effects).len(), 6);
        }
        assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
    }
}

#[test]
fn logout_during_login_or_verify_answers_invalid_state_later() {
    for build in [awaiting_login, awaiting_person] {
        let mut rig = build();
        let pending = CommandId(rig.next_command);
        let effects = rig.cmd(Command::Logout).1;
        assert_eq!(
            reply_to(&effects, CommandId(rig.next_command)),
            Some(Ok(Answer::LoggedOut))
        );
        let (request, call) = rig.last_call();
        let answer = match call {
            UpstreamCall::LookupOperator { .. } => UpstreamAnswer::Operator {
                request,
                outcome: OperatorLookup::Enrolled {
                    fingers: vec![finger(2)],
                },
            },
            _ => UpstreamAnswer::Person {
                request,
                outcome: PersonLookup::Found { fingers: None },
            },
        };
        let effects = rig.step(Input::Upstream(answer));
        assert_eq!(
            effects,
            vec![Effect::Reply {
                to: pending,
                reply: Err(FlowError::InvalidState {
                    state: "NOT_LOGGED_IN"
                })
            }]
        );
        assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
        assert_eq!(rig.st.login_status().status, None);
    }
}

#[test]
fn a_new_login_replaces_the_operator_and_ends_the_capture() {
    let mut rig = awaiting_login();
    let (face, _) = rig.present_sample(90, None);
    let running = rig.running();
    let effects = rig.answer_operator(OperatorLookup::Enrolled {
        fingers: vec![finger(3)],
    });
    assert_eq!(stopped(&effects), vec![running.capture]);
    assert_eq!(discarded(&effects), vec![face]);
    assert_eq!(
        (rig.st.state().as_str(), rig.st.operator()),
        ("IDLE", Some(&operator_b()))
    );
}

#[test]
fn a_login_that_logs_nobody_in_leaves_the_session() {
    for (outcome, status) in [
        (OperatorLookup::NotFound, LoginStatus::NotFound),
        (OperatorLookup::InProgress, LoginStatus::InProgress),
        (
            OperatorLookup::Failed {
                reason: "REJECTED".into(),
            },
            LoginStatus::Failed,
        ),
    ] {
        let mut rig = awaiting_login();
        let effects = rig.answer_operator(outcome);
        assert_eq!(
            login_reply(&effects),
            Ok(Answer::Login {
                status,
                operator: operator_b()
            })
        );
        assert_eq!(
            rig.st.state().as_str(),
            "CLIENT_CAPTURING",
            "the capture goes on"
        );
        assert_eq!(rig.st.operator(), Some(&operator_a()));
        let login = rig.st.login_status();
        assert_eq!(
            (login.status, login.operator, login.logged_in_at),
            (Some(status), Some(operator_b()), None)
        );
    }
    let mut rig = awaiting_login();
    let before = rig.views();
    let effects = rig.answer_operator(OperatorLookup::Error {
        reason: "401".into(),
    });
    assert!(matches!(
        login_reply(&effects),
        Err(FlowError::Upstream { .. })
    ));
    assert_eq!(rig.views(), before);
}

#[test]
fn logout_ends_the_capture_and_the_session() {
    let mut rig = matching();
    let running = rig.running();
    let held = rig.st.flow.samples();
    let effects = rig.cmd(Command::Logout).1;
    assert_eq!(stopped(&effects), vec![running.capture]);
    assert_eq!(discarded(&effects), held);
    let login = rig.st.login_status();
    assert_eq!(
        (login.status, login.operator, login.offline),
        (None, None, false)
    );
    assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
}

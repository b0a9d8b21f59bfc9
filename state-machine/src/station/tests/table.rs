//! Tables of (state, input) → (state, effects): every reachable state against every command,
//! every device result, deadlines, and answers that do not fit.

use super::*;
use crate::{CaptureFailure, CapturePurpose, Mode, Position};

/// What a command should do in a state.
#[derive(Clone, Copy, Debug)]
enum Exp {
    /// Refused with `INVALID_STATE` carrying the current state word; nothing changes.
    Invalid,
    /// Not answered yet: an upstream call or outbox write is asked for; views unchanged.
    Later,
    /// Answered `Ok` at once, leaving the station in this state.
    Now(&'static str),
}
use Exp::{Invalid as I, Later as L, Now as N};

const NLI: Exp = N("NOT_LOGGED_IN");

fn commands() -> [(&'static str, Command); 8] {
    [
        (
            "login",
            Command::Login {
                operator: operator_b(),
            },
        ),
        ("logout", Command::Logout),
        ("operator_enroll", Command::OperatorEnroll),
        (
            "verify",
            Command::Verify {
                cpf: client_d(),
                missing: vec![],
            },
        ),
        (
            "enroll",
            Command::Enroll {
                cpf: client_d(),
                missing: vec![],
            },
        ),
        ("operator_capture", Command::OperatorCapture),
        ("cancel", Command::Cancel),
        ("send", Command::Send),
    ]
}

type Row = (&'static str, fn() -> Rig, &'static str, [Exp; 8]);

/// Columns: login, logout, operator enroll, verify, enroll, operator capture, cancel, send.
fn rows() -> Vec<Row> {
    const CC: Exp = N("CLIENT_CAPTURING");
    const OC: Exp = N("OPERATOR_CAPTURING");
    const IDLE: Exp = N("IDLE");
    vec![
        (
            "not logged in",
            not_logged_in,
            "NOT_LOGGED_IN",
            [L, NLI, I, I, I, I, I, I],
        ),
        ("idle", logged_in, "IDLE", [L, NLI, I, L, CC, OC, IDLE, I]),
        (
            "idle offline",
            offline_logged_in,
            "IDLE",
            [L, NLI, I, L, CC, OC, IDLE, I],
        ),
        (
            "idle pending",
            pending_login,
            "IDLE",
            [L, NLI, OC, I, I, I, IDLE, I],
        ),
        (
            "client capturing",
            client_capturing,
            "CLIENT_CAPTURING",
            [L, NLI, I, I, I, I, IDLE, I],
        ),
        (
            "client done",
            client_done,
            "CLIENT_CAPTURE_DONE",
            [L, NLI, I, I, I, OC, IDLE, I],
        ),
        (
            "client failed",
            client_failed,
            "CLIENT_CAPTURE_FAILED",
            [L, NLI, I, L, CC, I, IDLE, I],
        ),
        (
            "matching",
            matching,
            "OPERATOR_CAPTURING",
            [L, NLI, I, I, I, I, IDLE, I],
        ),
        (
            "matched",
            matched,
            "OPERATOR_CAPTURE_DONE",
            [L, NLI, I, I, I, I, IDLE, L],
        ),
        (
            "remote matched",
            remote_matched,
            "OPERATOR_CAPTURE_DONE",
            [L, NLI, I, I, I, I, IDLE, I],
        ),
        (
            "not matched",
            not_matched,
            "OPERATOR_NOT_MATCHED",
            [L, NLI, I, L, CC, OC, IDLE, I],
        ),
        (
            "match failed",
            match_failed,
            "OPERATOR_CAPTURE_FAILED",
            [L, NLI, I, L, CC, OC, IDLE, I],
        ),
        (
            "operator enrolling",
            enroll_capturing,
            "OPERATOR_CAPTURING",
            [L, NLI, I, I, I, I, IDLE, I],
        ),
        (
            "operator uploading",
            enroll_uploading,
            "OPERATOR_CAPTURING",
            [L, NLI, I, I, I, I, IDLE, I],
        ),
        (
            "operator enroll failed",
            enroll_failed,
            "OPERATOR_CAPTURE_FAILED",
            [L, NLI, OC, I, I, I, IDLE, I],
        ),
        (
            "operator enroll sent",
            enroll_sent,
            "OPERATOR_ENROLL_SENT",
            [L, NLI, I, I, I, I, I, I],
        ),
        (
            "awaiting login",
            awaiting_login,
            "CLIENT_CAPTURING",
            [I, NLI, I, I, I, I, I, I],
        ),
        (
            "awaiting person",
            awaiting_person,
            "IDLE",
            [I, NLI, I, I, I, I, I, I],
        ),
        (
            "awaiting persist",
            awaiting_persist,
            "OPERATOR_CAPTURE_DONE",
            [I, NLI, I, I, I, I, I, I],
        ),
        (
            "awaiting delivery",
            awaiting_delivery,
            "OPERATOR_CAPTURE_DONE",
            [I, NLI, I, I, I, I, I, I],
        ),
    ]
}

#[test]
fn every_state_against_every_command() {
    let mut checked = 0;
    for (name, build, word, expects) in rows() {
        assert_eq!(build().st.state().as_str(), word, "{name}: builder state");
        for ((label, command), exp) in commands().into_iter().zip(expects) {
            let mut rig = build();
            let before = rig.st.clone();
            let views = rig.views();
            let (id, effects) = rig.cmd(command);
            let reply = reply_to(&effects, id);
            let ctx = format!("{name} × {label}: {effects:?}");
            match exp {
                Exp::Invalid => {
                    assert_eq!(
                        reply,
                        Some(Err(FlowError::InvalidState { state: word })),
                        "{ctx}"
                    );
                    assert_eq!(effects.len(), 1, "{ctx}");
                    assert_eq!(
                        rig.st, before,
                        "{ctx}: a refused command changed the station"
                    );
                }
                Exp::Later => {
                    assert_eq!(reply, None, "{ctx}");
                    assert!(
                        effects
                            .iter()
                            .any(|e| matches!(e, Effect::Upstream { .. } | Effect::Persist { .. })),
                        "{ctx}"
                    );
                    assert_eq!(rig.views(), views, "{ctx}: views changed before the answer");
                    assert!(rig.st.is_awaiting(), "{ctx}");
                }
                Exp::Now(after) => {
                    assert!(matches!(reply, Some(Ok(_))), "{ctx}");
                    assert_eq!(rig.st.state().as_str(), after, "{ctx}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20 * 8);
}

/// Inputs that belong to nothing current are ignored in every state.
#[test]
fn stale_inputs_change_nothing_anywhere() {
    let stale = RequestId(9_999_999);
    let inputs = || {
        vec![
            Input::Device(DeviceEvent::Captured {
                capture: CaptureId(9_999_999),
                sample: SampleId(9_999_999),
                quality: 99,
                matched: Some(true),
            }),
            Input::Device(DeviceEvent::NothingPresented {
                capture: CaptureId(9_999_999),
            }),
            Input::Device(DeviceEvent::Failed {
                capture: CaptureId(9_999_999),
                failure: DeviceFailure::Error,
            }),
            Input::Upstream(UpstreamAnswer::Operator {
                request: stale,
                outcome: OperatorLookup::Enrolled { fingers: vec![] },
            }),
            Input::Upstream(UpstreamAnswer::Person {
                request: stale,
                outcome: PersonLookup::NotFound,
            }),
            Input::Upstream(UpstreamAnswer::OperatorEnrolled {
                request: stale,
                outcome: Ok(()),
            }),
            Input::Upstream(UpstreamAnswer::Delivered {
                request: stale,
                outcome: DeliveryOutcome::Pending { reason: "x".into() },
            }),
            Input::Persisted {
                request: stale,
                result: Ok("x".into()),
            },
            Input::Tick,
        ]
    };
    for (name, build, _, _) in rows() {
        for input in inputs() {
            let mut rig = build();
            let before = rig.st.clone();
            let effects = rig.step(input.clone());
            assert!(effects.is_empty(), "{name} × {input:?}: {effects:?}");
            assert_eq!(rig.st, before, "{name} × {input:?}");
        }
    }
}

/// An answer of the wrong kind for an awaited request does not fit either.
#[test]
fn answers_of_the_wrong_kind_are_ignored() {
    for build in [awaiting_login, awaiting_person, awaiting_delivery] {
        let mut rig = build();
        let (request, call) = rig.last_call();
        let before = rig.st.clone();
        let wrong = match call {
            UpstreamCall::LookupPerson { .. } => UpstreamAnswer::Delivered {
                request,
                outcome: DeliveryOutcome::Pending { reason: "x".into() },
            },
            _ => UpstreamAnswer::Person {
                request,
                outcome: PersonLookup::NotFound,
            },
        };
        assert!(rig.step(Input::Upstream(wrong)).is_empty());
        assert!(rig
            .step(Input::Persisted {
                request,
                result: Ok("x".into())
            })
            .is_empty());
        assert_eq!(rig.st, before);
    }
}

type Event = (&'static str, fn(&mut Rig) -> Vec<Effect>);

fn events() -> [Event; 6] {
    [
        ("good sample", |r| r.present_sample(90, Some(true)).1),
        ("poor sample", |r| r.present_sample(5, Some(false)).1),
        ("nothing presented", |r| {
            r.device(|capture| DeviceEvent::NothingPresented { capture })
        }),
        ("unavailable", |r| {
            r.device(|capture| DeviceEvent::Failed {
                capture,
                failure: DeviceFailure::Unavailable,
            })
        }),
        ("device error", |r| {
            r.device(|capture| DeviceEvent::Failed {
                capture,
                failure: DeviceFailure::Error,
            })
        }),
        ("deadline", |r| {
            r.now = r.st.next_deadline().expect("deadline");
            r.step(Input::Tick)
        }),
    ]
}

/// Expected (state, failure, whether a new capture starts, whether the flow stops one).
type Outcome = (&'static str, Option<CaptureFailure>, bool, bool);

type EventRow = (&'static str, fn() -> Rig, [Outcome; 6]);

#[test]
fn running_captures_against_device_results() {
    use CaptureFailure::*;
    let table: [EventRow; 3] = [
        (
            "client capturing",
            client_capturing,
            [
                ("CLIENT_CAPTURING", None, true, false),
                ("CLIENT_CAPTURING", None, true, false),
                ("CLIENT_CAPTURE_FAILED", Some(Timeout), false, false),
                (
                    "CLIENT_CAPTURE_FAILED",
                    Some(DeviceUnavailable),
                    false,
                    false,
                ),
                ("CLIENT_CAPTURE_FAILED", Some(DeviceError), false, false),
                ("CLIENT_CAPTURE_FAILED", Some(Timeout), false, true),
            ],
        ),
        (
            "matching",
            matching,
            [
                ("OPERATOR_CAPTURE_DONE", None, false, false),
                ("OPERATOR_CAPTURING", None, true, false),
                ("OPERATOR_CAPTURE_FAILED", Some(Timeout), false, false),
                (
                    "OPERATOR_CAPTURE_FAILED",
                    Some(DeviceUnavailable),
                    false,
                    false,
                ),
                ("OPERATOR_CAPTURE_FAILED", Some(DeviceError), false, false),
                ("OPERATOR_CAPTURE_FAILED", Some(Timeout), false, true),
            ],
        ),
        (
            "operator enrolling",
            enroll_capturing,
            [
                ("OPERATOR_CAPTURING", None, true, false),
                ("OPERATOR_CAPTURING", None, true, false),
                ("OPERATOR_CAPTURE_FAILED", Some(Timeout), false, false),
                (
                    "OPERATOR_CAPTURE_FAILED",
                    Some(DeviceUnavailable),
                    false,
                    false,
                ),
                ("OPERATOR_CAPTURE_FAILED", Some(DeviceError), false, false),
                ("OPERATOR_CAPTURE_FAILED", Some(Timeout), false, true),
            ],
        ),
    ];
    for (name, build, outcomes) in table {
        for ((label, event), (word, failure, starts, stops)) in events().into_iter().zip(outcomes) {
            let mut rig = build();
            let running = rig.running();
            let effects = event(&mut rig);
            let ctx = format!("{name} × {label}: {effects:?}");
            assert_eq!(rig.st.state().as_str(), word, "{ctx}");
            assert_eq!(rig.st.capture_status().failure, failure, "{ctx}");
            assert_eq!(!started(&effects).is_empty(), starts, "{ctx}");
            assert_eq!(
                stopped(&effects),
                if stops { vec![running.capture] } else { vec![] },
                "{ctx}"
            );
            assert!(
                effects.iter().all(|e| !matches!(e, Effect::Reply { .. })),
                "{ctx}"
            );
            // A started capture is always for the same subject and purpose.
            for next in started(&effects) {
                assert_eq!(
                    (next.subject, next.purpose),
                    (running.subject.clone(), running.purpose),
                    "{ctx}"
                );
                assert!(next.capture != running.capture, "{ctx}");
            }
        }
    }
}

#[test]
fn ticks_before_the_deadline_do_nothing() {
    let mut rig = client_capturing();
    let deadline = rig.st.next_deadline().expect("deadline");
    assert_eq!(deadline, rig.now + rig.st.config().capture_timeout);
    rig.now = deadline - 1;
    let before = rig.st.clone();
    assert!(rig.step(Input::Tick).is_empty());
    assert_eq!(rig.st, before);
}

#[test]
fn capture_status_fields_in_each_state() {
    let status = client_capturing().st.capture_status();
    assert_eq!(status.mode, Some(Mode::Enroll));
    assert_eq!(status.cpf, Some(client_c()));
    let current = status.current.expect("current");
    assert_eq!((current.position, current.attempt), (Position::Face, 1));
    assert_eq!(current.prompt, "Look at the camera");
    assert_eq!(status.pending.len(), 5);

    let status = client_failed().st.capture_status();
    assert_eq!(status.captured.len(), 1);
    assert_eq!(status.pending.len(), 4);
    assert!(status.current.is_none());

    let status = matching().st.capture_status();
    assert_eq!(
        (status.mode, status.cpf),
        (Some(Mode::Operator), Some(operator_a()))
    );
    // The operator's first enrolled finger (the login answer listed 7 first).
    assert_eq!(status.pending, vec![Position::Finger(finger(7))]);

    let status = enroll_capturing().st.capture_status();
    assert_eq!(status.mode, Some(Mode::OperatorEnroll));
    assert_eq!(
        status.pending,
        vec![
            Position::Finger(finger(2)),
            Position::Finger(finger(7)),
            Position::Face
        ]
    );

    let status = enroll_sent().st.capture_status();
    assert_eq!(status.captured.len(), 3);
    assert!(status.pending.is_empty() && status.failure.is_none());

    let status = not_logged_in().st.capture_status();
    assert_eq!(status.state.as_str(), "NOT_LOGGED_IN");
    assert!(status.mode.is_none() && status.cpf.is_none());

    for build in [client_done, not_matched, match_failed] {
        assert!(build().st.next_deadline().is_none());
    }
    assert!(remote_matched().st.remote_ready());
    assert!(!matched().st.remote_ready());
    let started_for_match = matching().running();
    assert_eq!(started_for_match.purpose, CapturePurpose::OperatorMatch);
}

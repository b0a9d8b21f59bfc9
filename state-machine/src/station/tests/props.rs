//! Property tests: random sequences of commands, device results (current, stale, random ids),
//! upstream answers, outbox results and ticks, refereed by [`super::check::Checker`].

// `u8::is_multiple_of` needs Rust 1.87; the workspace's rust-version is 1.85.
#![allow(clippy::manual_is_multiple_of)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use super::check::{Checker, Kind};
use super::{client_c, client_d, cpf, finger, operator_a, operator_b};
use crate::{
    CaptureId, Command, DeliveryOutcome, DeviceEvent, DeviceFailure, FlowConfig, LocalOperator,
    Missing, MissingType, OperatorLookup, PersonLookup, UpstreamAnswer,
};

/// Which id an answer or device result carries.
#[derive(Clone, Debug)]
enum Aim {
    Current,
    /// An id handed out before (answered, stopped or finished).
    Stale(usize),
    /// Any small id at all (may hit a real one).
    Random(u64),
}

#[derive(Clone, Debug)]
enum Step {
    Login(usize),
    Logout,
    OperatorEnroll,
    Verify(usize, u8),
    Enroll(usize, u8),
    OperatorCapture,
    Cancel,
    Send,
    /// Remote Verify (even) or Remote Enroll (odd; with an e-mail unless divisible by 3).
    Remote(usize, u8),
    Captured(Aim, u8, Option<bool>),
    NothingPresented(Aim),
    DeviceFailed(Aim, bool),
    Operator(Aim, u8, Vec<u8>),
    Person(Aim, u8, Vec<u8>),
    OperatorEnrolled(Aim, bool),
    Delivered(Aim, u8),
    RemoteCreated(Aim, u8),
    Persisted(Aim, bool),
    Tick(u64),
    /// Whatever moves the flow forward from here (a cooperative integrator and daemon); the
    /// number picks among the sensible choices.
    Progress(u8),
}

fn aim() -> impl Strategy<Value = Aim> {
    prop_oneof![
        8 => Just(Aim::Current),
        1 => any::<usize>().prop_map(Aim::Stale),
        1 => (0u64..40).prop_map(Aim::Random),
    ]
}

fn fingers() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(2u8), Just(3), Just(7), Just(8), Just(1)],
        0..3,
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..4).prop_map(Step::Login),
        1 => Just(Step::Logout),
        2 => Just(Step::OperatorEnroll),
        3 => (0usize..4, any::<u8>()).prop_map(|(c, m)| Step::Verify(c, m)),
        3 => (0usize..4, any::<u8>()).prop_map(|(c, m)| Step::Enroll(c, m)),
        3 => Just(Step::OperatorCapture),
        1 => Just(Step::Cancel),
        3 => Just(Step::Send),
        2 => (0usize..4, any::<u8>()).prop_map(|(c, m)| Step::Remote(c, m)),
        2 => (aim(), 0u8..5).prop_map(|(a, o)| Step::RemoteCreated(a, o)),
        14 => (aim(), prop_oneof![3 => 60u8..=100, 1 => 0u8..60], prop_oneof![Just(None), Just(Some(true)), Just(Some(false))])
            .prop_map(|(a, q, m)| Step::Captured(a, q, m)),
        1 => aim().prop_map(Step::NothingPresented),
        1 => (aim(), any::<bool>()).prop_map(|(a, u)| Step::DeviceFailed(a, u)),
        3 => (aim(), 0u8..10, fingers()).prop_map(|(a, o, f)| Step::Operator(a, o, f)),
        3 => (aim(), 0u8..6, fingers()).prop_map(|(a, o, f)| Step::Person(a, o, f)),
        2 => (aim(), any::<bool>()).prop_map(|(a, ok)| Step::OperatorEnrolled(a, ok)),
        3 => (aim(), 0u8..3).prop_map(|(a, o)| Step::Delivered(a, o)),
        3 => (aim(), prop_oneof![3 => Just(true), 1 => Just(false)]).prop_map(|(a, ok)| Step::Persisted(a, ok)),
        2 => prop_oneof![0u64..1_000, 25_000u64..40_000].prop_map(Step::Tick),
        30 => any::<u8>().prop_map(Step::Progress),
    ]
}

fn pool(i: usize) -> crate::Cpf {
    match i % 4 {
        0 => client_c(),
        1 => client_d(),
        2 => operator_a(),
        _ => cpf("123.456.789-09"),
    }
}

fn missing(mask: u8) -> Vec<Missing> {
    [2u8, 3, 7, 8]
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, &code)| Missing {
            finger: finger(code),
            kind: MissingType::Amputated,
        })
        .collect()
}

fn to_fingers(codes: &[u8]) -> Vec<crate::Finger> {
    codes.iter().map(|&c| finger(c)).collect()
}

fn request_for(ch: &Checker, aim: &Aim, kind: Kind) -> crate::RequestId {
    match aim {
        Aim::Current => ch.current_request(kind).unwrap_or(ch.stale_request(0)),
        Aim::Stale(i) => ch.stale_request(*i),
        Aim::Random(n) => crate::RequestId(*n),
    }
}

fn capture_for(ch: &Checker, aim: &Aim) -> Option<CaptureId> {
    match aim {
        Aim::Current => None,
        Aim::Stale(i) => Some(ch.stale_capture(*i).unwrap_or(CaptureId(u64::MAX))),
        Aim::Random(n) => Some(CaptureId(*n)),
    }
}

fn play(ch: &mut Checker, step: &Step) {
    match step {
        Step::Login(i) => ch.command(Command::Login {
            operator: [operator_a(), operator_b(), client_c(), operator_a()][i % 4].clone(),
        }),
        Step::Logout => ch.command(Command::Logout),
        Step::OperatorEnroll => ch.command(Command::OperatorEnroll),
        Step::Verify(c, m) => ch.command(Command::Verify {
            cpf: pool(*c),
            missing: missing(*m),
        }),
        Step::Enroll(c, m) => ch.command(Command::Enroll {
            cpf: pool(*c),
            missing: missing(*m),
        }),
        Step::OperatorCapture => ch.command(Command::OperatorCapture),
        Step::Cancel => ch.command(Command::Cancel),
        Step::Send => ch.command(Command::Send),
        Step::Remote(c, m) => ch.command(Command::Remote {
            mode: if m % 2 == 0 {
                crate::Mode::Verify
            } else {
                crate::Mode::Enroll
            },
            cpf: pool(*c),
            email: (m % 3 != 0).then(|| "someone@example.org".to_string()),
        }),
        Step::Captured(a, quality, matched) => {
            let (quality, matched) = (*quality, *matched);
            ch.device(capture_for(ch, a), |capture, sample| {
                DeviceEvent::Captured {
                    capture,
                    sample,
                    quality,
                    matched,
                }
            })
        }
        Step::NothingPresented(a) => ch.device(capture_for(ch, a), |capture, _| {
            DeviceEvent::NothingPresented { capture }
        }),
        Step::DeviceFailed(a, unavailable) => {
            let failure = if *unavailable {
                DeviceFailure::Unavailable
            } else {
                DeviceFailure::Error
            };
            ch.device(capture_for(ch, a), |capture, _| DeviceEvent::Failed {
                capture,
                failure,
            })
        }
        Step::Operator(a, o, f) => {
            let request = request_for(ch, a, Kind::Operator);
            let fresh = ch.now - 1_000;
            let stale = ch
                .now
                .saturating_sub(FlowConfig::default().offline_max_age + 1);
            let outcome = match o {
                0..=3 => OperatorLookup::Enrolled {
                    fingers: to_fingers(f),
                },
                4 => OperatorLookup::Registered,
                5 => OperatorLookup::InProgress,
                6 => OperatorLookup::NotFound,
                7 => OperatorLookup::Failed { reason: "x".into() },
                8 => OperatorLookup::Unreachable {
                    reason: "down".into(),
                    local: Some(LocalOperator {
                        stored_at: if f.len() == 1 { stale } else { fresh },
                        fingers: to_fingers(f),
                    }),
                },
                _ => OperatorLookup::Error {
                    reason: "bad".into(),
                },
            };
            ch.upstream(UpstreamAnswer::Operator { request, outcome })
        }
        Step::Person(a, o, f) => {
            let request = request_for(ch, a, Kind::Person);
            let outcome = match o {
                0 | 1 => PersonLookup::Found {
                    fingers: Some(to_fingers(f)),
                },
                2 => PersonLookup::Found { fingers: None },
                3 => PersonLookup::NotFound,
                4 => PersonLookup::Unreachable {
                    reason: "down".into(),
                },
                _ => PersonLookup::Error {
                    reason: "bad".into(),
                },
            };
            ch.upstream(UpstreamAnswer::Person { request, outcome })
        }
        Step::OperatorEnrolled(a, ok) => {
            let request = request_for(ch, a, Kind::EnrollOperator);
            let outcome = if *ok { Ok(()) } else { Err("refused".into()) };
            ch.upstream(UpstreamAnswer::OperatorEnrolled { request, outcome })
        }
        Step::Delivered(a, o) => {
            let request = request_for(ch, a, Kind::Deliver);
            let outcome = match o {
                0 => DeliveryOutcome::Accepted { tguid: "T".into() },
                1 => DeliveryOutcome::Pending {
                    reason: "down".into(),
                },
                _ => DeliveryOutcome::Rejected {
                    reason: "bad".into(),
                },
            };
            ch.upstream(UpstreamAnswer::Delivered { request, outcome })
        }
        Step::RemoteCreated(a, o) => {
            let request = request_for(ch, a, Kind::Remote);
            let reason = "x".to_string();
            let outcome = match o {
                0 | 1 => Ok(crate::RemoteLink {
                    id: format!("r-{}", request.0),
                    tguid: None,
                    url: "https://link.invalid".into(),
                }),
                2 => Err(crate::RemoteFailure::Unreachable { reason }),
                3 => Err(crate::RemoteFailure::NotFound { reason }),
                _ => Err(crate::RemoteFailure::Refused { reason }),
            };
            ch.upstream(UpstreamAnswer::RemoteCreated { request, outcome })
        }
        Step::Persisted(a, ok) => {
            let request = request_for(ch, a, Kind::Persist);
            let result = if *ok {
                Ok(format!("tx-{}", request.0))
            } else {
                Err("disk".into())
            };
            ch.persisted(request, result)
        }
        Step::Tick(ms) => ch.tick(*ms),
        Step::Progress(n) => progress(ch, *n),
    }
}

fn progress(ch: &mut Checker, n: u8) {
    if let Some((_, kind)) = ch.latest_request() {
        let step = match kind {
            Kind::Operator => {
                Step::Operator(Aim::Current, if n % 4 == 0 { 4 } else { 0 }, vec![2, 7])
            }
            Kind::Person => Step::Person(Aim::Current, if n % 4 == 0 { 3 } else { 2 }, vec![]),
            Kind::EnrollOperator => Step::OperatorEnrolled(Aim::Current, n % 4 != 0),
            Kind::Deliver => Step::Delivered(Aim::Current, n % 3),
            Kind::Persist => Step::Persisted(Aim::Current, n % 5 != 0),
            Kind::Remote => Step::RemoteCreated(Aim::Current, n % 5),
        };
        return play(ch, &step);
    }
    let pending = ch.st.login_status().status == Some(crate::LoginStatus::Pending);
    let step = match ch.st.state().as_str() {
        "NOT_LOGGED_IN" | "OPERATOR_ENROLL_SENT" => Step::Login(usize::from(n % 2)),
        "IDLE" if pending => Step::OperatorEnroll,
        "IDLE" if n % 5 == 0 => Step::OperatorCapture,
        "IDLE" if n % 2 == 0 => Step::Verify(usize::from(n), n / 16),
        "IDLE" => Step::Enroll(usize::from(n), n / 16),
        "CLIENT_CAPTURING" | "OPERATOR_CAPTURING" => {
            Step::Captured(Aim::Current, 50 + n % 51, Some(n % 3 != 0))
        }
        "CLIENT_CAPTURE_DONE" => Step::OperatorCapture,
        "OPERATOR_CAPTURE_DONE" if n % 7 == 0 => Step::Cancel,
        "OPERATOR_CAPTURE_DONE" if ch.st.remote_ready() => Step::Remote(usize::from(n), n),
        "OPERATOR_CAPTURE_DONE" => Step::Send,
        _ if pending => Step::OperatorEnroll,
        _ if n % 3 == 0 => Step::Cancel,
        _ if n % 3 == 1 => Step::OperatorCapture,
        _ => Step::Enroll(usize::from(n), 0),
    };
    play(ch, &step)
}

/// The default settings, or tighter ones: fewer attempts, no face at verify, short plans.
fn config() -> impl Strategy<Value = FlowConfig> {
    let plans = prop_oneof![
        Just(FlowConfig::default().enroll_plan),
        Just(vec![crate::Position::Finger(finger(2))]),
        Just(vec![
            crate::Position::Face,
            crate::Position::Finger(finger(7))
        ]),
    ];
    prop_oneof![
        2 => Just(FlowConfig::default()),
        1 => (0u8..4, 0u8..4, any::<bool>(), plans, 0usize..3).prop_map(|(max, op_max, face, plan, n)| FlowConfig {
            max_attempts: max,
            operator_max_attempts: op_max,
            verify_face: face,
            enroll_plan: plan,
            verify_fingers: FlowConfig::default().verify_fingers.into_iter().take(n + 1).collect(),
            operator_enroll_fingers: FlowConfig::default().operator_enroll_fingers.into_iter().take(n).collect(),
            ..FlowConfig::default()
        }),
    ]
}

fn run(config: FlowConfig, steps: &[Step]) -> Checker {
    let mut ch = Checker::new(config);
    for step in steps {
        play(&mut ch, step);
    }
    ch.finish();
    ch
}

fn sequences() -> impl Strategy<Value = (FlowConfig, Vec<Step>)> {
    (config(), proptest::collection::vec(step(), 0..=60))
}

proptest! {
    #![proptest_config(Config { cases: 256, ..Config::default() })]

    #[test]
    fn no_sequence_breaks_an_invariant((config, steps) in sequences()) {
        run(config, &steps);
    }
}

/// Guards the property test against vacuity: the same generator, seeded, reaches every state
/// word and the outbox.
#[test]
fn random_sequences_reach_every_state() {
    let mut runner = TestRunner::deterministic();
    let strategy = sequences();
    let mut states = std::collections::BTreeSet::new();
    let (mut persists, mut deliveries, mut errs) = (0, 0, 0);
    for _ in 0..400 {
        let (config, steps) = strategy.new_tree(&mut runner).expect("sequence").current();
        let ch = run(config, &steps);
        states.extend(ch.coverage.states.iter().copied());
        persists += ch.coverage.persists;
        deliveries += ch.coverage.deliveries;
        errs += ch.coverage.replies_err;
    }
    let words = [
        "NOT_LOGGED_IN",
        "IDLE",
        "CLIENT_CAPTURING",
        "CLIENT_CAPTURE_DONE",
        "CLIENT_CAPTURE_FAILED",
        "OPERATOR_CAPTURING",
        "OPERATOR_CAPTURE_DONE",
        "OPERATOR_NOT_MATCHED",
        "OPERATOR_CAPTURE_FAILED",
        "OPERATOR_ENROLL_SENT",
        "(timeout)",
    ];
    let missed: Vec<&&str> = words.iter().filter(|w| !states.contains(**w)).collect();
    println!("coverage over 400 sequences: persists {persists}, deliveries {deliveries}, error replies {errs}, missed {missed:?}");
    assert!(missed.is_empty(), "never reached: {missed:?}");
    assert!(
        persists >= 10 && deliveries >= 10,
        "persists {persists}, deliveries {deliveries}"
    );
}

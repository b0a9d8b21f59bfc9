//! The remote flow: Remote Verify / Remote Enroll after the operator's match from idle.

use super::*;
use crate::{Mode, RemoteFailure, RemoteLink};

fn remote(mode: Mode, email: Option<&str>) -> Command {
    Command::Remote {
        mode,
        cpf: client_c(),
        email: email.map(str::to_string),
    }
}

fn link() -> RemoteLink {
    RemoteLink {
        id: "station-id".into(),
        tguid: Some("tguid-1".into()),
        url: "https://link.invalid/1".into(),
    }
}

#[test]
fn remote_verify_asks_the_daemon_then_goes_idle_and_spends_the_match() {
    let mut rig = remote_matched();
    let operator_sample = match rig.st.flow.clone() {
        super::super::flow::Flow::Matched { sample, .. } => sample.sample,
        other => panic!("{other:?}"),
    };
    let (id, effects) = rig.cmd(remote(Mode::Verify, None));
    assert!(reply_to(&effects, id).is_none(), "answered when created");
    let (_, call) = rig.last_call();
    assert_eq!(
        call,
        UpstreamCall::CreateRemote {
            mode: Mode::Verify,
            cpf: client_c(),
            operator: operator_a(),
            email: None,
        }
    );
    assert!(rig.st.is_awaiting());
    let effects = rig.answer(|request| UpstreamAnswer::RemoteCreated {
        request,
        outcome: Ok(link()),
    });
    assert_eq!(
        reply_to(&effects, id),
        Some(Ok(Answer::RemoteCreated { link: link() }))
    );
    assert_eq!(discarded(&effects), vec![operator_sample]);
    assert_eq!(rig.st.state().as_str(), "IDLE");
    assert!(!rig.st.remote_ready(), "one match, one remote capture");
}

#[test]
fn a_failed_creation_changes_nothing() {
    for (failure, expected) in [
        (
            RemoteFailure::Unreachable { reason: "x".into() },
            FlowError::ServerUnavailable { reason: "x".into() },
        ),
        (
            RemoteFailure::NotFound { reason: "x".into() },
            FlowError::NotFound { reason: "x".into() },
        ),
        (
            RemoteFailure::Refused { reason: "x".into() },
            FlowError::InvalidArgument { reason: "x".into() },
        ),
        (
            RemoteFailure::Error { reason: "x".into() },
            FlowError::Upstream { reason: "x".into() },
        ),
    ] {
        let mut rig = remote_matched();
        let before = rig.st.without_counters();
        let (id, _) = rig.cmd(remote(Mode::Enroll, Some("a@b.example")));
        let effects = rig.answer(|request| UpstreamAnswer::RemoteCreated {
            request,
            outcome: Err(failure),
        });
        assert_eq!(reply_to(&effects, id), Some(Err(expected)));
        assert!(discarded(&effects).is_empty());
        assert_eq!(rig.st.without_counters(), before);
        assert!(rig.st.remote_ready());
    }
}

#[test]
fn remote_needs_a_match_without_client_capture_and_enroll_needs_an_email() {
    for build in [logged_in, client_done, matched, matching] {
        let mut rig = build();
        let before = rig.st.clone();
        assert!(matches!(
            rig.now_reply(remote(Mode::Verify, None)),
            Err(FlowError::InvalidState { .. })
        ));
        assert_eq!(rig.st, before);
    }
    let mut rig = remote_matched();
    let before = rig.st.clone();
    for email in [None, Some("  ")] {
        assert!(matches!(
            rig.now_reply(remote(Mode::Enroll, email)),
            Err(FlowError::InvalidArgument { .. })
        ));
    }
    assert!(matches!(
        rig.now_reply(remote(Mode::Operator, None)),
        Err(FlowError::InvalidArgument { .. })
    ));
    assert_eq!(rig.st, before);
}

#[test]
fn logout_while_creating_still_answers_and_keeps_the_new_session_apart() {
    let mut rig = remote_matched();
    let (id, _) = rig.cmd(remote(Mode::Verify, None));
    let effects = rig.cmd(Command::Logout).1;
    assert_eq!(discarded(&effects).len(), 1, "the match's sample is freed");
    let effects = rig.answer(|request| UpstreamAnswer::RemoteCreated {
        request,
        outcome: Ok(link()),
    });
    assert_eq!(
        reply_to(&effects, id),
        Some(Ok(Answer::RemoteCreated { link: link() }))
    );
    assert!(discarded(&effects).is_empty());
    assert_eq!(rig.st.state().as_str(), "NOT_LOGGED_IN");
}

//! Configuration reload: new settings apply from the next decision, never to a running attempt.

use super::*;

#[test]
fn reloaded_settings_apply_from_the_next_decision() {
    let mut rig = Rig::new();
    rig.cmd(Command::Login {
        operator: operator_a(),
    });
    rig.answer_operator(OperatorLookup::Enrolled {
        fingers: vec![finger(2)],
    });
    rig.now_reply(Command::Enroll {
        cpf: client_c(),
        missing: vec![],
    })
    .unwrap();
    let first = rig.running();
    assert_eq!(first.deadline, rig.now + 30_000);
    let mut config = rig.st.config().clone();
    config.max_attempts = 1;
    config.capture_timeout = 1_000;
    rig.st.set_config(config);
    assert_eq!(
        rig.running().deadline,
        first.deadline,
        "the running attempt keeps its deadline"
    );
    rig.present(5);
    assert_eq!(
        rig.st.state().as_str(),
        "CLIENT_CAPTURE_FAILED",
        "one attempt allowed now"
    );
    rig.now_reply(Command::Enroll {
        cpf: client_c(),
        missing: vec![],
    })
    .unwrap();
    assert_eq!(
        rig.running().deadline,
        rig.now + 1_000,
        "the new timeout applies"
    );
}

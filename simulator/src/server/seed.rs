//! The fixtures `spidd --simulate` and `spid-sim server` start with. Their images are rendered
//! by the synthetic generator on first use, so seeding itself is instant.

use super::store::{self, Operator, Person, StoredBiometrics};
use super::{now_ms, FakeSpidServer};

/// Operator enrolled with fingers 2 and 7 and a face; status `VERIFIED`.
pub const OPERATOR_ENROLLED: &str = "52998224725";
/// Operator registered by an administrator, without biometrics (lookup: 200, no body).
pub const OPERATOR_WITHOUT_BIOMETRICS: &str = "11144477735";
/// Individual enrolled with fingers 2, 3, 7 and 8 and a face.
pub const PERSON_ENROLLED: &str = "93541134780";
/// A valid CPF nobody enrolled.
pub const PERSON_UNKNOWN: &str = "39053344705";

pub const OPERATOR_FINGERS: [u8; 2] = [2, 7];
pub const PERSON_FINGERS: [u8; 4] = [2, 3, 7, 8];
/// The synthetic impression the fixtures were enrolled with (0 and 1 are reserved for
/// enrollment; a simulated reader presenting impression 2 or later must still match).
pub const ENROLL_IMPRESSION: u32 = 0;

/// Adds the fixtures that are not there yet (an existing state file keeps its own records).
pub fn seed_fixtures(server: &FakeSpidServer) {
    server.with_state(|s| {
        s.operators
            .entry(OPERATOR_ENROLLED.to_string())
            .or_insert_with(|| Operator {
                document: OPERATOR_ENROLLED.to_string(),
                status: store::OPERATOR_VERIFIED.to_string(),
                biometrics: Some(synthetic(OPERATOR_ENROLLED, &OPERATOR_FINGERS)),
                tguid: Some(uuid::Uuid::new_v4().to_string()),
                due: None,
            });
        s.operators
            .entry(OPERATOR_WITHOUT_BIOMETRICS.to_string())
            .or_insert_with(|| Operator {
                document: OPERATOR_WITHOUT_BIOMETRICS.to_string(),
                status: store::OPERATOR_REGISTERED.to_string(),
                biometrics: None,
                tguid: None,
                due: None,
            });
        s.people
            .entry(PERSON_ENROLLED.to_string())
            .or_insert_with(|| Person {
                cpf: PERSON_ENROLLED.to_string(),
                person_guid: uuid::Uuid::new_v4().to_string(),
                transaction_guid: uuid::Uuid::new_v4().to_string(),
                enrolled_at_ms: now_ms(),
                biometrics: synthetic(PERSON_ENROLLED, &PERSON_FINGERS),
                missing: vec![],
            });
    });
}

fn synthetic(subject: &str, fingers: &[u8]) -> StoredBiometrics {
    StoredBiometrics::Synthetic {
        subject: subject.to_string(),
        fingers: fingers.to_vec(),
        face: true,
        impression: ENROLL_IMPRESSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ServerConfig;

    #[test]
    fn seeding_is_idempotent_and_lazy() {
        let server = FakeSpidServer::new(ServerConfig::default()).unwrap();
        seed_fixtures(&server);
        seed_fixtures(&server);
        let state = crate::server::lock(&server.inner.state);
        assert_eq!(state.operators.len(), 2);
        assert_eq!(state.people.len(), 1);
        assert!(!state.people.contains_key(PERSON_UNKNOWN));
        assert!(state.operators[OPERATOR_WITHOUT_BIOMETRICS]
            .biometrics
            .is_none());
        assert_eq!(
            state.people[PERSON_ENROLLED].biometrics.positions(),
            vec![0, 2, 3, 7, 8]
        );
        assert!(
            server.inner.renders.lock().unwrap().is_empty(),
            "nothing rendered yet"
        );
    }
}

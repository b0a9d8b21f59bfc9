//! What the fake server holds: operators, people and transactions, their life cycles
//! (pending → final after a deadline), and the optional JSON state file.
//!
//! Deadlines are tokio [`Instant`]s evaluated lazily by [`State::settle`] at the start of every
//! request, so there are no background timers and tests can drive time with a paused clock.
//! Deadlines are not persisted: a pending record loaded from a state file is due at once.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::wire::{Biometric, MissingBiometric};

/// Status of an operator enrolled and usable.
pub const OPERATOR_VERIFIED: &str = "VERIFIED";
/// Status of an operator whose biometrics were sent and are being processed.
pub const OPERATOR_IN_PROGRESS: &str = "ENQUEUED";
/// Status of an operator registered by an administrator, without biometrics.
pub const OPERATOR_REGISTERED: &str = "REGISTERED";
/// Status of an operator whose biometric enrollment failed (set through `/sim/operators`).
pub const OPERATOR_FAILED: &str = "FAILED";

pub const ENROLL_PENDING: &str = "SEARCH_ENQUEUED";
pub const ENROLL_DONE: &str = "OK";
pub const SEARCH_PENDING: &str = "SEARCH_PENDING";
pub const SEARCH_MATCH: &str = "SEARCH_MATCH";
pub const SEARCH_NOT_MATCH: &str = "SEARCH_NOT_MATCH";
/// `enroll-status` of a person whose enrollment completed.
pub const PERSON_ENROLLED: &str = "ENROLLED";

/// Where a record's images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum StoredBiometrics {
    /// Rendered on first use by the synthetic generator (seed fixtures, remote captures):
    /// fingers as impression `impression` of `subject`, plus the face when `face`.
    Synthetic {
        subject: String,
        fingers: Vec<u8>,
        face: bool,
        impression: u32,
    },
    /// Images as received.
    Images { biometrics: Vec<Biometric> },
}

impl StoredBiometrics {
    /// The same record without its face (matching needs fingers only; faces are costly).
    pub fn fingers_only(&self) -> StoredBiometrics {
        match self {
            StoredBiometrics::Synthetic {
                subject,
                fingers,
                impression,
                ..
            } => StoredBiometrics::Synthetic {
                subject: subject.clone(),
                fingers: fingers.clone(),
                face: false,
                impression: *impression,
            },
            StoredBiometrics::Images { biometrics } => StoredBiometrics::Images {
                biometrics: biometrics
                    .iter()
                    .filter(|b| b.index != 0)
                    .cloned()
                    .collect(),
            },
        }
    }

    /// Positions held (0 is the face).
    pub fn positions(&self) -> Vec<i32> {
        match self {
            StoredBiometrics::Synthetic { fingers, face, .. } => {
                let mut p: Vec<i32> = fingers.iter().map(|&f| i32::from(f)).collect();
                if *face {
                    p.insert(0, 0);
                }
                p
            }
            StoredBiometrics::Images { biometrics } => biometrics.iter().map(|b| b.index).collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Operator {
    pub document: String,
    pub status: String,
    /// `None`: registered by an administrator without biometrics (lookup answers 200, no body).
    pub biometrics: Option<StoredBiometrics>,
    pub tguid: Option<String>,
    #[serde(skip)]
    pub due: Option<Instant>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Person {
    pub cpf: String,
    pub person_guid: String,
    /// The enroll transaction that made this record; also keys the template cache.
    pub transaction_guid: String,
    pub enrolled_at_ms: i64,
    pub biometrics: StoredBiometrics,
    pub missing: Vec<MissingBiometric>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxKind {
    Enroll,
    Verify,
    RemoteEnroll,
    RemoteVerify,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Enroll => "ENROLL",
            TxKind::Verify => "VERIFY",
            TxKind::RemoteEnroll => "REMOTE_ENROLL",
            TxKind::RemoteVerify => "REMOTE_VERIFY",
        }
    }
    pub fn is_enroll(self) -> bool {
        matches!(self, TxKind::Enroll | TxKind::RemoteEnroll)
    }
}

/// The status and message a transaction takes when its deadline passes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteCapture {
    pub client_email: Option<String>,
    pub dynamic_link: String,
    /// What the remote individual presented, once the capture is done.
    pub captured: Option<StoredBiometrics>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub kind: TxKind,
    pub user_id: String,
    pub operator_id: String,
    /// The station's capture time (epoch ms), or the creation time for remote captures.
    pub timestamp: i64,
    pub received_at_ms: i64,
    pub psbio_tcn: String,
    pub biometrics: Vec<Biometric>,
    pub missing: Vec<MissingBiometric>,
    pub status: String,
    pub message: String,
    /// Set while pending: applied when `due` passes.
    pub outcome: Option<Outcome>,
    pub remote: Option<RemoteCapture>,
    #[serde(skip)]
    pub due: Option<Instant>,
}

impl Transaction {
    /// The images this transaction carries (received, or captured remotely).
    pub fn stored_biometrics(&self) -> StoredBiometrics {
        match self.remote.as_ref().and_then(|r| r.captured.clone()) {
            Some(captured) => captured,
            None => StoredBiometrics::Images {
                biometrics: self.biometrics.clone(),
            },
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub operators: BTreeMap<String, Operator>,
    pub people: BTreeMap<String, Person>,
    /// Oldest first.
    pub transactions: Vec<Transaction>,
    pub tcn_counter: u64,
}

/// What [`State::settle`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Settled {
    pub changed: bool,
    /// Remote captures whose deadline passed; completing them needs the generator.
    pub remote_due: Vec<String>,
}

impl State {
    pub fn load(path: &Path) -> Result<State, super::ServerError> {
        let bytes = std::fs::read(path)
            .map_err(|e| super::ServerError::State(path.into(), e.to_string()))?;
        let mut state: State = serde_json::from_slice(&bytes)
            .map_err(|e| super::ServerError::State(path.into(), e.to_string()))?;
        let now = Instant::now();
        for op in state.operators.values_mut() {
            if op.status == OPERATOR_IN_PROGRESS {
                op.due = Some(now);
            }
        }
        for tx in &mut state.transactions {
            let remote_pending = tx.remote.as_ref().is_some_and(|r| r.captured.is_none());
            if tx.outcome.is_some() || remote_pending {
                tx.due = Some(now);
            }
        }
        Ok(state)
    }

    /// Writes the state atomically (temporary file, then rename).
    pub fn save(bytes: &[u8], path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    pub fn next_tcn(&mut self) -> String {
        self.tcn_counter += 1;
        format!("TCN{:010}", self.tcn_counter)
    }

    pub fn transaction(&self, id: &str) -> Option<&Transaction> {
        self.transactions.iter().find(|t| t.id == id)
    }

    pub fn transaction_mut(&mut self, id: &str) -> Option<&mut Transaction> {
        self.transactions.iter_mut().find(|t| t.id == id)
    }

    /// Moves every record whose deadline is at or before `now` to its final state.
    pub fn settle(&mut self, now: Instant) -> Settled {
        let mut settled = Settled::default();
        for op in self.operators.values_mut() {
            if op.status == OPERATOR_IN_PROGRESS && op.due.is_some_and(|d| d <= now) {
                op.status = OPERATOR_VERIFIED.to_string();
                op.due = None;
                settled.changed = true;
            }
        }
        let mut enrolled = Vec::new();
        for tx in &mut self.transactions {
            if tx.due.is_none_or(|d| d > now) {
                continue;
            }
            let remote_pending = tx.remote.as_ref().is_some_and(|r| r.captured.is_none());
            if remote_pending {
                settled.remote_due.push(tx.id.clone());
                continue;
            }
            if let Some(outcome) = tx.outcome.take() {
                tx.status = outcome.status;
                tx.message = outcome.message;
                tx.due = None;
                settled.changed = true;
                if tx.kind.is_enroll() && tx.status == ENROLL_DONE {
                    enrolled.push(tx.clone());
                }
            }
        }
        for tx in enrolled {
            self.enroll_person(&tx);
        }
        settled
    }

    /// Makes `tx`'s individual known, replacing an earlier enrollment of the same CPF.
    pub fn enroll_person(&mut self, tx: &Transaction) {
        let person_guid = self
            .people
            .get(&tx.user_id)
            .map(|p| p.person_guid.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.people.insert(
            tx.user_id.clone(),
            Person {
                cpf: tx.user_id.clone(),
                person_guid,
                transaction_guid: tx.id.clone(),
                enrolled_at_ms: tx.received_at_ms,
                biometrics: tx.stored_biometrics(),
                missing: tx.missing.clone(),
            },
        );
    }

    /// Makes every pending deadline due now (the `/sim/settle` control).
    pub fn hurry(&mut self, now: Instant) {
        for op in self.operators.values_mut() {
            if op.status == OPERATOR_IN_PROGRESS {
                op.due = Some(now);
            }
        }
        for tx in &mut self.transactions {
            let remote_pending = tx.remote.as_ref().is_some_and(|r| r.captured.is_none());
            if tx.outcome.is_some() || remote_pending {
                tx.due = Some(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn enroll_tx(id: &str, cpf: &str, due: Instant) -> Transaction {
        Transaction {
            id: id.into(),
            kind: TxKind::Enroll,
            user_id: cpf.into(),
            operator_id: "52998224725".into(),
            timestamp: 1,
            received_at_ms: 2,
            psbio_tcn: "TCN1".into(),
            biometrics: vec![],
            missing: vec![],
            status: ENROLL_PENDING.into(),
            message: "enqueued".into(),
            outcome: Some(Outcome {
                status: ENROLL_DONE.into(),
                message: "enrolled".into(),
            }),
            remote: None,
            due: Some(due),
        }
    }

    #[test]
    fn enroll_settles_at_its_deadline_and_makes_the_person_known() {
        let t0 = Instant::now();
        let mut state = State::default();
        state
            .transactions
            .push(enroll_tx("a", "93541134780", t0 + Duration::from_secs(2)));
        assert!(!state.settle(t0 + Duration::from_millis(1999)).changed);
        assert_eq!(state.transactions[0].status, ENROLL_PENDING);
        assert!(state.people.is_empty());
        assert!(state.settle(t0 + Duration::from_secs(2)).changed);
        assert_eq!(state.transactions[0].status, ENROLL_DONE);
        assert_eq!(state.people["93541134780"].transaction_guid, "a");
        assert!(!state.settle(t0 + Duration::from_secs(3)).changed);
    }

    #[test]
    fn operator_in_progress_becomes_verified() {
        let t0 = Instant::now();
        let mut state = State::default();
        state.operators.insert(
            "1".into(),
            Operator {
                document: "1".into(),
                status: OPERATOR_IN_PROGRESS.into(),
                biometrics: None,
                tguid: None,
                due: Some(t0 + Duration::from_secs(1)),
            },
        );
        state.settle(t0);
        assert_eq!(state.operators["1"].status, OPERATOR_IN_PROGRESS);
        state.settle(t0 + Duration::from_secs(1));
        assert_eq!(state.operators["1"].status, OPERATOR_VERIFIED);
    }

    #[test]
    fn pending_records_loaded_from_a_file_are_due_at_once() {
        let t0 = Instant::now();
        let mut state = State::default();
        state.transactions.push(enroll_tx(
            "a",
            "93541134780",
            t0 + Duration::from_secs(3600),
        ));
        let dir = std::env::temp_dir().join(format!("spid-sim-state-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        State::save(&serde_json::to_vec(&state).unwrap(), &path).unwrap();
        let mut loaded = State::load(&path).unwrap();
        assert!(loaded.settle(Instant::now()).changed);
        assert!(loaded.people.contains_key("93541134780"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

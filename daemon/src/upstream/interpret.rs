//! What the server's answers mean for the flow: the operator's status words and the person's
//! enrolled fingers. Pure functions over the wire types.

use serde_json::Value;
use state_machine::{Finger, PersonLookup};

use super::wire::{Biometric, OperatorEnrollPayload, Person};
use super::UpstreamError;

/// `GET /operator/{cpf}`, interpreted.
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorRecord {
    /// Biometrics present and status `VERIFIED` → `OPERATOR_OK`.
    Enrolled { biometrics: Vec<Biometric> },
    /// Registered by an administrator, no biometrics yet → `OPERATOR_PENDING`.
    Registered,
    /// Biometrics sent, the server is processing them → `OPERATOR_IN_PROGRESS`.
    InProgress { status: String },
    /// Enrollment failed, or a status nobody knows (kept raw) → `OPERATOR_FAILED`.
    Failed { raw: String },
    /// 404 → `OPERATOR_NOT_FOUND`.
    NotFound,
}

impl OperatorRecord {
    /// The finger positions among the operator's biometrics (the face, index 0, left out).
    pub fn fingers(&self) -> Vec<Finger> {
        match self {
            OperatorRecord::Enrolled { biometrics } => {
                let mut out: Vec<Finger> = biometrics
                    .iter()
                    .filter_map(|b| u8::try_from(b.index).ok().and_then(Finger::new))
                    .collect();
                out.sort();
                out.dedup();
                out
            }
            _ => Vec::new(),
        }
    }
}

/// `GET /people/{cpf}` when the person exists.
#[derive(Clone, Debug, PartialEq)]
pub struct PersonRecord {
    pub person: Person,
    /// The enrolled finger positions, when the answer lists them.
    pub fingers: Option<Vec<Finger>>,
}

fn is_failed_word(s: &str) -> bool {
    [
        "FAIL", "REJECT", "ERROR", "DENIED", "INVALID", "CANCEL", "REFUSED",
    ]
    .iter()
    .any(|w| s.contains(w))
}

fn is_in_progress_word(s: &str) -> bool {
    [
        "PROGRESS",
        "ENQUEUED",
        "QUEUED",
        "PROCESSING",
        "SEARCH_PENDING",
        "WAITING_VERIFICATION",
    ]
    .iter()
    .any(|w| s.contains(w))
}

fn is_registered_word(s: &str) -> bool {
    matches!(
        s,
        "" | "REGISTERED" | "CREATED" | "NEW" | "PENDING" | "ACTIVE"
    )
}

/// Maps the operator payload to a record. The order matters: a failure word wins; `VERIFIED`
/// needs biometrics (without them there is nothing to match against, so the operator must
/// enroll); an in-progress word next; a payload without biometrics and with no status, or a
/// registration-like one, is a registration. Anything else is an unknown status: logged and
/// treated as a failure with the raw value, as the spec says.
pub(crate) fn operator_record(payload: OperatorEnrollPayload) -> OperatorRecord {
    let raw = payload.status.clone().unwrap_or_default();
    let word = raw.trim().to_ascii_uppercase();
    let has_biometrics = !payload.biometrics.is_empty();
    if is_failed_word(&word) {
        OperatorRecord::Failed { raw }
    } else if word == "VERIFIED" {
        if has_biometrics {
            OperatorRecord::Enrolled {
                biometrics: payload.biometrics,
            }
        } else {
            OperatorRecord::Registered
        }
    } else if is_in_progress_word(&word) || (has_biometrics && word.contains("PENDING")) {
        OperatorRecord::InProgress { status: raw }
    } else if !has_biometrics && is_registered_word(&word) {
        OperatorRecord::Registered
    } else {
        tracing::warn!(status = %raw, biometrics = payload.biometrics.len(), "unknown operator status from the SPID server; treated as failed");
        OperatorRecord::Failed {
            raw: if raw.is_empty() {
                "(no status)".into()
            } else {
                raw
            },
        }
    }
}

/// The enrolled fingers, when `biometrics` lists them: an array of indexes or of objects with
/// an integer `index` (or `position`). Any other shape, or an empty list, says nothing (`None`):
/// guessing would make Verify ask for a finger the person may not have.
pub(crate) fn enrolled_fingers(person: &Person) -> Option<Vec<Finger>> {
    let items = person.biometrics.as_ref()?.as_array()?;
    if items.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for item in items {
        let index = match item {
            Value::Number(n) => n.as_i64(),
            Value::Object(o) => o
                .get("index")
                .or_else(|| o.get("position"))
                .and_then(Value::as_i64),
            _ => None,
        }?;
        match index {
            0 => {} // the face
            i => out.push(u8::try_from(i).ok().and_then(Finger::new)?),
        }
    }
    out.sort();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// The person lookup as the flow wants it.
pub fn person_lookup(result: Result<Option<PersonRecord>, UpstreamError>) -> PersonLookup {
    match result {
        Ok(Some(p)) => PersonLookup::Found { fingers: p.fingers },
        Ok(None) => PersonLookup::NotFound,
        Err(e) if e.is_transient() => PersonLookup::Unreachable {
            reason: e.to_string(),
        },
        Err(e) => PersonLookup::Error {
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(status: Option<&str>, fingers: &[i32]) -> OperatorEnrollPayload {
        OperatorEnrollPayload {
            document: "52998224725".into(),
            biometrics: fingers
                .iter()
                .map(|&index| Biometric {
                    index,
                    content: "x".into(),
                    width: 1,
                    height: 1,
                    resolution: 500,
                })
                .collect(),
            status: status.map(str::to_string),
            tguid: None,
        }
    }

    #[test]
    fn operator_statuses_map_to_login_outcomes() {
        let r = operator_record(payload(Some("VERIFIED"), &[0, 7, 2]));
        assert!(matches!(r, OperatorRecord::Enrolled { .. }));
        assert_eq!(r.fingers(), vec![Finger::RIGHT_INDEX, Finger::LEFT_INDEX]);
        assert_eq!(
            operator_record(payload(Some("VERIFIED"), &[])),
            OperatorRecord::Registered
        );
        assert_eq!(
            operator_record(payload(None, &[])),
            OperatorRecord::Registered
        );
        assert_eq!(
            operator_record(payload(Some("REGISTERED"), &[])),
            OperatorRecord::Registered
        );
        assert_eq!(
            operator_record(payload(Some("ENQUEUED"), &[2])),
            OperatorRecord::InProgress {
                status: "ENQUEUED".into()
            }
        );
        assert_eq!(
            operator_record(payload(Some("IN_PROGRESS"), &[])),
            OperatorRecord::InProgress {
                status: "IN_PROGRESS".into()
            }
        );
        assert_eq!(
            operator_record(payload(Some("ENROLL_FAILED"), &[2])),
            OperatorRecord::Failed {
                raw: "ENROLL_FAILED".into()
            }
        );
        assert_eq!(
            operator_record(payload(Some("PENDING"), &[2])),
            OperatorRecord::InProgress {
                status: "PENDING".into()
            }
        );
        assert_eq!(
            operator_record(payload(Some("PENDING"), &[])),
            OperatorRecord::Registered
        );
        assert_eq!(
            operator_record(payload(Some("BANANA"), &[2])),
            OperatorRecord::Failed {
                raw: "BANANA".into()
            }
        );
        assert_eq!(
            operator_record(payload(None, &[2])),
            OperatorRecord::Failed {
                raw: "(no status)".into()
            }
        );
    }

    #[test]
    fn person_fingers_only_when_listed() {
        let p = |b: serde_json::Value| Person {
            biometrics: Some(b),
            ..Person::default()
        };
        let f = |c| Finger::new(c).unwrap();
        assert_eq!(
            enrolled_fingers(&p(json!([{"index": 7}, {"index": 0}, {"index": 2}]))),
            Some(vec![f(2), f(7)])
        );
        assert_eq!(enrolled_fingers(&p(json!([3, 8]))), Some(vec![f(3), f(8)]));
        assert_eq!(enrolled_fingers(&p(json!([]))), None);
        assert_eq!(enrolled_fingers(&p(json!([{"index": 12}]))), None);
        assert_eq!(enrolled_fingers(&p(json!({"fingers": 2}))), None);
        assert_eq!(enrolled_fingers(&p(json!([{"index": 0}]))), None);
        assert_eq!(enrolled_fingers(&Person::default()), None);
    }

    #[test]
    fn person_lookup_sorts_errors() {
        assert_eq!(person_lookup(Ok(None)), PersonLookup::NotFound);
        assert!(matches!(
            person_lookup(Err(UpstreamError::Server {
                status: 503,
                message: "x".into()
            })),
            PersonLookup::Unreachable { .. }
        ));
        assert!(matches!(
            person_lookup(Err(UpstreamError::Unauthorized)),
            PersonLookup::Error { .. }
        ));
    }
}

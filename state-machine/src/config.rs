//! The flow's settings: capture plans, quality gates, attempts and time limits.

use crate::position::{Finger, Position};
use crate::Millis;

/// Everything the flow needs to decide; the daemon builds it from the validated TOML config.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowConfig {
    /// Positions captured for an Enroll, in order (default: face, 2, 3, 7, 8).
    pub enroll_plan: Vec<Position>,
    /// Whether a Verify captures the face too (default true).
    pub verify_face: bool,
    /// Preference order of the one finger a Verify captures (default 2, 7, 3, 8): the first
    /// that the person has enrolled and that is not declared missing.
    pub verify_fingers: Vec<Finger>,
    /// Fingers captured at Operator Enroll (default 2 and 7); the face is captured too.
    pub operator_enroll_fingers: Vec<Finger>,
    /// A finger attempt below this quality (0–100) is retried (default 40).
    pub finger_quality_threshold: u8,
    /// A face attempt below this quality (0–100) is retried (default 50).
    pub face_quality_threshold: u8,
    /// Attempts per position before `QUALITY_TOO_LOW` (default 3).
    pub max_attempts: u8,
    /// How long one position waits for a finger or a face (default 30 s).
    pub capture_timeout: Millis,
    /// Non-matching operator attempts before `OPERATOR_NOT_MATCHED` (default 3).
    pub operator_max_attempts: u8,
    /// How old the locally stored operator biometrics may be for an offline login (default 7 days).
    pub offline_max_age: Millis,
}

impl Default for FlowConfig {
    fn default() -> Self {
        let f = |c| Finger::new(c).expect("valid finger code");
        FlowConfig {
            enroll_plan: vec![
                Position::Face,
                Position::Finger(f(2)),
                Position::Finger(f(3)),
                Position::Finger(f(7)),
                Position::Finger(f(8)),
            ],
            verify_face: true,
            verify_fingers: vec![f(2), f(7), f(3), f(8)],
            operator_enroll_fingers: vec![f(2), f(7)],
            finger_quality_threshold: 40,
            face_quality_threshold: 50,
            max_attempts: 3,
            capture_timeout: 30_000,
            operator_max_attempts: 3,
            offline_max_age: 7 * 24 * 3600 * 1000,
        }
    }
}

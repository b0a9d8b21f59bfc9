//! Synthetic fingerprints, SFinGe style. (Interface fixed; being written.)

use drivers::FingerImage;

/// How the finger is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Good,
    /// Dry/smudged/low-contrast: the quality gate must reject it.
    Poor,
}

/// Impression number `impression` of finger `finger` (ANSI/NIST code 1–10) of `subject`
/// (any string, usually a CPF's 11 digits), 500 ppi. Deterministic.
pub fn impression(subject: &str, finger: u8, impression: u32, condition: Condition) -> FingerImage {
    let _ = (subject, finger, impression, condition);
    unimplemented!("being written")
}

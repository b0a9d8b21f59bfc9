//! The outcome of each face check (value, bounds, verdict) and the 0–100 capture score
//! aggregated from how far inside or outside its bounds each value lies.

use std::fmt;

/// One automatic face check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaceCheck {
    /// Frame width in pixels.
    FrameWidth,
    /// Frame height in pixels.
    FrameHeight,
    /// Number of faces found (exactly one required).
    OneFace,
    /// Estimated chin-to-crown height as a fraction of the frame height.
    FaceHeight,
    /// Horizontal offset of the face centre from the frame centre, fraction of frame width.
    CentreX,
    /// Vertical offset of the head centre from the frame centre, fraction of frame height.
    CentreY,
    /// Mean luminance (0–255) in the face box.
    Brightness,
    /// Standard deviation of luminance in the face box.
    Contrast,
    /// Variance of the Laplacian of luminance in the face box.
    Sharpness,
}

impl FaceCheck {
    /// Stable snake_case name, for logs and the operator UI.
    pub fn name(self) -> &'static str {
        match self {
            FaceCheck::FrameWidth => "frame_width",
            FaceCheck::FrameHeight => "frame_height",
            FaceCheck::OneFace => "one_face",
            FaceCheck::FaceHeight => "face_height",
            FaceCheck::CentreX => "centre_x",
            FaceCheck::CentreY => "centre_y",
            FaceCheck::Brightness => "brightness",
            FaceCheck::Contrast => "contrast",
            FaceCheck::Sharpness => "sharpness",
        }
    }
}

impl fmt::Display for FaceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A measured value against its bounds (inclusive; `None` means unbounded on that side).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOutcome {
    pub check: FaceCheck,
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub passed: bool,
}

impl CheckOutcome {
    pub(crate) fn new(check: FaceCheck, value: f64, min: Option<f64>, max: Option<f64>) -> Self {
        let passed = min.is_none_or(|lo| value >= lo) && max.is_none_or(|hi| value <= hi);
        CheckOutcome {
            check,
            value,
            min,
            max,
            passed,
        }
    }

    /// For a passing value, how comfortably inside the bounds it lies: 0 at a bound, 1 at
    /// the middle of a two-sided range or at twice a lone minimum. Checks that are simply
    /// met (a lone minimum of 0, equal bounds) count as fully comfortable.
    fn margin(&self) -> f64 {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) if hi > lo => {
                ((self.value - lo).min(hi - self.value) / ((hi - lo) / 2.0)).clamp(0.0, 1.0)
            }
            (Some(lo), None) if lo > 0.0 => ((self.value - lo) / lo).clamp(0.0, 1.0),
            (None, Some(hi)) if hi > 0.0 => ((hi - self.value) / hi).clamp(0.0, 1.0),
            _ => 1.0,
        }
    }

    /// For a failing value, how far outside it lies, 0 (just outside) to 1 (far outside),
    /// relative to the width of the range or half the violated bound, whichever is larger
    /// (a narrow range alone would saturate at once and stop ranking bad frames).
    fn shortfall(&self) -> f64 {
        if self.value.is_nan() {
            return 1.0;
        }
        let below = self.min.map_or(0.0, |lo| lo - self.value).max(0.0);
        let above = self.max.map_or(0.0, |hi| self.value - hi).max(0.0);
        let bound = if below > 0.0 { self.min } else { self.max };
        let range = match (self.min, self.max) {
            (Some(lo), Some(hi)) => hi - lo,
            _ => 0.0,
        };
        let scale = range.max(bound.map_or(0.0, |b| b.abs() / 2.0));
        if scale > 0.0 {
            ((below + above) / scale).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }
}

/// Result of checking one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceReport {
    /// Every check passed.
    pub passed: bool,
    /// 0–100 overall quality used as the capture gate: 0 without exactly one face, 70–100
    /// when every check passes (higher = further inside the bounds), 0–49 when any check
    /// fails (lower = further out of bounds).
    pub score: u8,
    /// Every face the detector found, in frame pixel coordinates, best first.
    pub faces: Vec<super::FaceBox>,
    /// Every check that could be measured, in a fixed order. Without exactly one face only
    /// the frame and face-count checks are present (there is no face box to measure).
    pub checks: Vec<CheckOutcome>,
}

impl FaceReport {
    pub(crate) fn new(faces: Vec<super::FaceBox>, checks: Vec<CheckOutcome>) -> FaceReport {
        let passed = checks.iter().all(|c| c.passed);
        let score = aggregate_score(&checks);
        FaceReport {
            passed,
            score,
            faces,
            checks,
        }
    }

    /// The outcome of one check, if it was measured.
    pub fn check(&self, check: FaceCheck) -> Option<&CheckOutcome> {
        self.checks.iter().find(|c| c.check == check)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// 0 without exactly one face; when all pass, 70 + 30 × mean margin; otherwise
/// 49 × Π(1 − shortfall) over the failed checks, so any failure stays below the default
/// gate of 50, a compliant frame always clears 70, and each failure pulls the score down by
/// how far its value is out of bounds.
fn aggregate_score(checks: &[CheckOutcome]) -> u8 {
    let one_face = checks
        .iter()
        .any(|c| c.check == FaceCheck::OneFace && c.passed);
    if !one_face {
        return 0;
    }
    let score = if checks.iter().all(|c| c.passed) {
        let margins: f64 = checks.iter().map(CheckOutcome::margin).sum();
        70.0 + 30.0 * margins / checks.len() as f64
    } else {
        let credit: f64 = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| 1.0 - c.shortfall())
            .product();
        // Floor, not round: a barely failing check must not reach the gate.
        (49.0 * credit).floor()
    };
    score.round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_face() -> CheckOutcome {
        CheckOutcome::new(FaceCheck::OneFace, 1.0, Some(1.0), Some(1.0))
    }

    #[test]
    fn bounds_are_inclusive_and_optional() {
        assert!(CheckOutcome::new(FaceCheck::FaceHeight, 0.7, Some(0.7), Some(0.8)).passed);
        assert!(!CheckOutcome::new(FaceCheck::FaceHeight, 0.81, Some(0.7), Some(0.8)).passed);
        assert!(CheckOutcome::new(FaceCheck::Sharpness, 1e9, Some(20.0), None).passed);
        assert!(!CheckOutcome::new(FaceCheck::Sharpness, 19.0, Some(20.0), None).passed);
    }

    #[test]
    fn margin_is_one_in_the_middle_and_zero_at_a_bound() {
        let mid = CheckOutcome::new(FaceCheck::CentreX, 0.0, Some(-0.1), Some(0.1));
        let edge = CheckOutcome::new(FaceCheck::CentreX, 0.1, Some(-0.1), Some(0.1));
        assert!((mid.margin() - 1.0).abs() < 1e-9);
        assert!(edge.margin().abs() < 1e-9);
        let sharp = CheckOutcome::new(FaceCheck::Sharpness, 30.0, Some(20.0), None);
        assert!((sharp.margin() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn shortfall_grows_with_distance_outside() {
        let near = CheckOutcome::new(FaceCheck::FaceHeight, 0.82, Some(0.7), Some(0.8));
        let far = CheckOutcome::new(FaceCheck::FaceHeight, 0.95, Some(0.7), Some(0.8));
        assert!(near.shortfall() < far.shortfall());
        // Scale is half the violated bound (0.4), wider than the range (0.1).
        assert!((far.shortfall() - 0.375).abs() < 1e-9);
        let gone = CheckOutcome::new(FaceCheck::FaceHeight, 0.0, Some(0.7), Some(0.8));
        assert_eq!(gone.shortfall(), 1.0);
        let blurred = CheckOutcome::new(FaceCheck::Sharpness, 5.0, Some(20.0), None);
        assert!((blurred.shortfall() - 1.0).abs() < 1e-9);
        let soft = CheckOutcome::new(FaceCheck::Sharpness, 15.0, Some(20.0), None);
        assert!((soft.shortfall() - 0.5).abs() < 1e-9);
        let unmeasured = CheckOutcome::new(FaceCheck::Brightness, f64::NAN, Some(60.0), None);
        assert!(!unmeasured.passed);
        assert_eq!(unmeasured.shortfall(), 1.0);
    }

    #[test]
    fn no_face_scores_zero() {
        let none = CheckOutcome::new(FaceCheck::OneFace, 0.0, Some(1.0), Some(1.0));
        let report = FaceReport::new(Vec::new(), vec![none]);
        assert!(!report.passed);
        assert_eq!(report.score, 0);
    }

    #[test]
    fn all_passing_scores_at_least_70_and_a_failure_below_50() {
        let edge = CheckOutcome::new(FaceCheck::FaceHeight, 0.7, Some(0.7), Some(0.8));
        let pass = FaceReport::new(Vec::new(), vec![one_face(), edge]);
        assert!(pass.passed);
        assert!((70..=100).contains(&pass.score), "{}", pass.score);

        let just_out = CheckOutcome::new(FaceCheck::FaceHeight, 0.6999, Some(0.7), Some(0.8));
        let fail = FaceReport::new(Vec::new(), vec![one_face(), just_out]);
        assert!(!fail.passed);
        assert!(fail.score < 50, "{}", fail.score);
        assert_eq!(fail.failures().count(), 1);
    }

    #[test]
    fn names_are_snake_case_and_distinct() {
        let all = [
            FaceCheck::FrameWidth,
            FaceCheck::FrameHeight,
            FaceCheck::OneFace,
            FaceCheck::FaceHeight,
            FaceCheck::CentreX,
            FaceCheck::CentreY,
            FaceCheck::Brightness,
            FaceCheck::Contrast,
            FaceCheck::Sharpness,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|c| c.to_string()).collect();
        assert_eq!(names.len(), all.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}

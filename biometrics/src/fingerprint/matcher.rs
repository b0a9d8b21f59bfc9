//! 1:1 comparison of two minutiae templates: pairing (see `pairing`), then a score from the
//! paired evidence, calibrated so that `THRESHOLD` sits at a false match rate of 1/10,000.

use super::pairing::{best_pairing, Graph, Pairing, Point};
use super::Template;

/// Decision threshold: `matched = score >= THRESHOLD`, set for FMR = 1/10,000.
pub const THRESHOLD: f64 = 40.0;

/// The outcome of a 1:1 comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchResult {
    /// 0 = no evidence; grows with the paired evidence (see `THRESHOLD`).
    pub score: f64,
    pub matched: bool,
}

/// Minutiae as points in a y-up frame at 500 ppi.
fn points(t: &Template) -> Vec<Point> {
    let sx = 197.0 / t.resolution_x.max(1) as f32;
    let sy = 197.0 / t.resolution_y.max(1) as f32;
    // An ISO view holds at most 255 minutiae; the cap also keeps pairing indices in u16.
    t.minutiae
        .iter()
        .take(255)
        .map(|m| Point {
            x: m.x as f32 * sx,
            y: -(m.y as f32) * sy,
            dir: m.radians(),
        })
        .collect()
}

/// Templates denser than this (minutiae, geometric mean of the two) make chance agreements
/// proportionally likelier, so their evidence is scaled down.
const TYPICAL_MINUTIAE: f32 = 50.0;

/// Raw evidence of a pairing: the agreeing edges that close cycles among the paired minutiae.
/// Growing from a root always yields a tree of agreeing edges, even between unrelated prints
/// with similar ridge flow; only a true correspondence makes the other edges agree as well.
fn evidence(p: &Pairing, probe_minutiae: usize, candidate_minutiae: usize) -> f32 {
    let n = p.pairs.len();
    if n < 3 {
        return 0.0;
    }
    let extra = p.supporting_edges.saturating_sub(n - 1) as f32;
    let density = ((probe_minutiae * candidate_minutiae) as f32).sqrt();
    extra * (TYPICAL_MINUTIAE / density).min(1.0)
}

/// A comparison with the evidence behind its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchDetails {
    pub result: MatchResult,
    /// Minutiae paired between the two templates.
    pub paired: usize,
    /// Agreeing edges among the paired minutiae.
    pub supporting_edges: usize,
    pub probe_minutiae: usize,
    pub candidate_minutiae: usize,
}

pub fn compare(probe: &Template, candidate: &Template) -> MatchResult {
    compare_detailed(probe, candidate).result
}

pub fn compare_detailed(probe: &Template, candidate: &Template) -> MatchDetails {
    let (gp, gc) = (Graph::new(points(probe)), Graph::new(points(candidate)));
    let (np, nc) = (probe.minutiae.len(), candidate.minutiae.len());
    let best = best_pairing(&gp, &gc, |p| evidence(p, np, nc));
    let score = calibrate(evidence(&best, np, nc)) as f64;
    MatchDetails {
        result: MatchResult {
            score,
            matched: score >= THRESHOLD,
        },
        paired: best.pairs.len(),
        supporting_edges: best.supporting_edges,
        probe_minutiae: probe.minutiae.len(),
        candidate_minutiae: candidate.minutiae.len(),
    }
}

/// Maps raw evidence onto the score scale: score = 10·log10(1/FMR), so 40 ⇔ FMR 1/10,000,
/// 30 ⇔ 1/1,000, 50 ⇔ 1/100,000. The impostor tail of the evidence is exponential; on the
/// 316,800 cross-finger comparisons of the synthetic 100 × 8 set it falls one decade per
/// 8.7 units of evidence and reaches 1/10,000 at 54 (`examples/matcher_eval --extended`).
fn calibrate(raw: f32) -> f32 {
    const DECADE: f32 = 8.7;
    const AT_1E4: f32 = 54.0;
    (40.0 + 10.0 * (raw - AT_1E4) / DECADE).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Minutia, MinutiaKind};

    fn template(minutiae: Vec<Minutia>) -> Template {
        Template {
            width: 400,
            height: 500,
            resolution_x: 197,
            resolution_y: 197,
            equipment_certification: 0,
            capture_device_type: 0,
            finger_position: 0,
            view_number: 0,
            impression_type: 0,
            finger_quality: 60,
            minutiae,
        }
    }

    #[test]
    fn empty_templates_do_not_match() {
        let r = compare(&template(vec![]), &template(vec![]));
        assert_eq!(r.score, 0.0);
        assert!(!r.matched);
    }

    #[test]
    fn a_template_matches_itself() {
        let mut s = 7u32;
        let mut next = |m: u32| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) % m
        };
        let ms: Vec<Minutia> = (0..35)
            .map(|_| Minutia {
                x: 40 + next(320) as u16,
                y: 40 + next(420) as u16,
                angle: next(256) as u8,
                kind: MinutiaKind::Ending,
                quality: 60,
            })
            .collect();
        let t = template(ms);
        let r = compare(&t, &t);
        assert!(r.matched, "{r:?}");
    }
}

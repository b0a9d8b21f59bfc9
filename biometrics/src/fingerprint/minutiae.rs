//! Minutiae from the ridge skeleton: endings and bifurcations with position, direction and
//! quality, after removing the usual artefacts of thinning (spurs, short ridges, bridges,
//! lakes, broken ridges, border endings and clusters).

use super::field::Field;
use super::frequency::TYPICAL_PERIOD;
use super::skeleton::{graph, Binary, Node, SegmentEnd};
use std::f32::consts::PI;

/// ISO/IEC 19794-2 minutia types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MinutiaKind {
    Other,
    Ending,
    Bifurcation,
}

/// One minutia in ISO/IEC 19794-2 units: pixels from the top-left corner at the template's
/// resolution, direction counter-clockwise from the x axis in steps of 1.40625° (256 per
/// turn), quality 1–100 (0 = not reported). Endings point up the ridge, bifurcations down
/// the valley between the branches (so a ridge/valley swap keeps the direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Minutia {
    pub x: u16,
    pub y: u16,
    pub angle: u8,
    pub kind: MinutiaKind,
    pub quality: u8,
}

impl Minutia {
    /// Direction in radians, counter-clockwise from the x axis (the ISO convention).
    pub fn radians(&self) -> f32 {
        self.angle as f32 * (2.0 * PI / 256.0)
    }
}

/// Upper bound kept per template; more is noise on any real sensor.
pub const MAX_MINUTIAE: usize = 120;
/// Tracing limit for skeleton segments, px.
const MAX_TRACE: usize = 40;
/// Minutiae closer than this many blocks to the background or the image edge are dropped:
/// the skeleton is cut there, which fakes endings.
const BORDER_BLOCKS: usize = 2;

#[derive(Clone, Copy, Debug)]
struct Candidate {
    node: usize,
    x: f32,
    y: f32,
    /// Image-coordinate direction (radians, y down).
    dir: f32,
    kind: MinutiaKind,
}

/// Extracts minutiae from a skeleton; `period_map` gives the local ridge period per block.
pub fn detect(skel: &Binary, field: &Field, period_map: &[f32]) -> Vec<Minutia> {
    let nodes = graph(skel, MAX_TRACE);
    let grid = field.grid;
    let period_at = |x: f32, y: f32| {
        let b = grid.block_of(x.max(0.0) as usize, y.max(0.0) as usize);
        period_map.get(b).copied().unwrap_or(TYPICAL_PERIOD)
    };
    let degree = |n: &Node| n.segments.len();
    let mut removed = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let t = period_at(node.x, node.y);
        let deg = degree(node);
        let mut lake_partner: Vec<usize> = Vec::new();
        for seg in &node.segments {
            let SegmentEnd::Node(j) = seg.to else {
                continue;
            };
            let len = seg.length as f32;
            let other = degree(&nodes[j]);
            let kill = match (deg, other) {
                // Dots and short ridges (islands).
                (1, 1) => len < 1.8 * t,
                // Spurs hanging off a ridge.
                (1, d) | (d, 1) if d >= 3 => len < 1.2 * t,
                // A junction looping onto itself: a small lake.
                (_, _) if j == i => len < 3.0 * t,
                // Bridges between neighbouring ridges.
                (a, b) if a >= 3 && b >= 3 => {
                    if len < 3.0 * t {
                        lake_partner.push(j);
                    }
                    len < 1.2 * t
                }
                _ => false,
            };
            if kill {
                removed[i] = true;
                removed[j] = true;
            }
        }
        // Two short segments to the same junction enclose a lake.
        lake_partner.sort_unstable();
        for w in lake_partner.windows(2) {
            if w[0] == w[1] {
                removed[i] = true;
                removed[w[0]] = true;
            }
        }
    }

    let inner = field.inner_mask(BORDER_BLOCKS);
    let mut cands: Vec<Candidate> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let kind = match degree(node) {
            1 => MinutiaKind::Ending,
            3 => MinutiaKind::Bifurcation,
            _ => continue,
        };
        if removed[i] || !inner[grid.block_of(node.x as usize, node.y as usize)] {
            continue;
        }
        let traced = match kind {
            MinutiaKind::Ending => {
                let p = node.segments[0].probe;
                (p.1 - node.y).atan2(p.0 - node.x)
            }
            _ => bifurcation_direction(node),
        };
        // The smoothed field is more precise than a 10-px skeleton trace; the trace only
        // says which way along the ridge the minutia points.
        let theta = field.orientation[grid.block_of(node.x as usize, node.y as usize)];
        let dir = if angle_between(theta, traced) <= PI / 2.0 {
            theta
        } else {
            theta + PI
        };
        cands.push(Candidate {
            node: i,
            x: node.x,
            y: node.y,
            dir,
            kind,
        });
    }

    remove_broken_ridges(&mut cands, &period_at);
    remove_clusters(&mut cands);

    let mut out: Vec<(Minutia, f32)> = cands
        .iter()
        .map(|c| {
            let b = grid.block_of(c.x as usize, c.y as usize);
            let contrast = (field.std_dev[b] / 25.0).min(1.0);
            let q = 100.0 * field.coherence[b].sqrt() * contrast;
            let iso_angle = (-c.dir).rem_euclid(2.0 * PI);
            let m = Minutia {
                x: c.x.round().clamp(0.0, 16383.0) as u16,
                y: c.y.round().clamp(0.0, 16383.0) as u16,
                angle: ((iso_angle / (2.0 * PI) * 256.0).round() as u32 % 256) as u8,
                kind: c.kind,
                quality: q.round().clamp(1.0, 100.0) as u8,
            };
            (m, q)
        })
        .collect();
    out.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then((a.0.y, a.0.x).cmp(&(b.0.y, b.0.x)))
    });
    out.truncate(MAX_MINUTIAE);
    out.into_iter().map(|(m, _)| m).collect()
}

/// Smallest angle between two directions, in [0, π].
fn angle_between(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(2.0 * PI);
    d.min(2.0 * PI - d)
}

/// Bisector of the two branches that are closest in angle: it runs down the valley between
/// them, away from the stem.
fn bifurcation_direction(node: &Node) -> f32 {
    let dirs: Vec<f32> = node
        .segments
        .iter()
        .map(|s| (s.probe.1 - node.y).atan2(s.probe.0 - node.x))
        .collect();
    let mut best = (f32::MAX, 0.0);
    for a in 0..dirs.len() {
        for b in a + 1..dirs.len() {
            let gap = angle_between(dirs[a], dirs[b]);
            if gap < best.0 {
                let (sx, sy) = (dirs[a].cos() + dirs[b].cos(), dirs[a].sin() + dirs[b].sin());
                best = (gap, sy.atan2(sx));
            }
        }
    }
    best.1
}

/// Two endings facing each other across a short gap in line with the ridge are one broken
/// ridge (a scratch, a pore, a dry patch): both go.
fn remove_broken_ridges(cands: &mut Vec<Candidate>, period_at: &impl Fn(f32, f32) -> f32) {
    let mut kill = vec![false; cands.len()];
    for a in 0..cands.len() {
        if cands[a].kind != MinutiaKind::Ending {
            continue;
        }
        for b in a + 1..cands.len() {
            if cands[b].kind != MinutiaKind::Ending {
                continue;
            }
            let (ca, cb) = (&cands[a], &cands[b]);
            let (dx, dy) = (cb.x - ca.x, cb.y - ca.y);
            let dist = dx.hypot(dy);
            if dist > 2.0 * period_at(ca.x, ca.y) || dist < 1e-3 {
                continue;
            }
            let ab = dy.atan2(dx);
            // Each ending points into its own ridge body, i.e. away from the gap.
            let facing = angle_between(ab, ca.dir + PI) < PI / 5.0
                && angle_between(ab + PI, cb.dir + PI) < PI / 5.0;
            if facing {
                kill[a] = true;
                kill[b] = true;
            }
        }
    }
    retain_unkilled(cands, &kill);
}

/// Minutiae within a few pixels of each other are thinning noise.
fn remove_clusters(cands: &mut Vec<Candidate>) {
    let mut kill = vec![false; cands.len()];
    for a in 0..cands.len() {
        for b in a + 1..cands.len() {
            if (cands[a].x - cands[b].x).hypot(cands[a].y - cands[b].y) < 5.0
                && cands[a].node != cands[b].node
            {
                kill[a] = true;
                kill[b] = true;
            }
        }
    }
    retain_unkilled(cands, &kill);
}

fn retain_unkilled(cands: &mut Vec<Candidate>, kill: &[bool]) {
    let mut k = kill.iter();
    cands.retain(|_| !*k.next().unwrap_or(&false));
}

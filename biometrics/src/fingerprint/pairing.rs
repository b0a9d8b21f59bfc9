//! Minutia pairing between two templates without a global alignment: rotation- and
//! translation-invariant edges (two minutiae: distance and both directions relative to the
//! edge) find candidate root pairs, and each root grows a pairing along matching edges,
//! best first. Only neighbouring minutiae have to agree, so elastic distortion that bends
//! the print as a whole does not break the pairing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::f32::consts::PI;

/// A minutia in a y-up Euclidean frame at 500 ppi; `dir` counter-clockwise, radians.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub x: f32,
    pub y: f32,
    pub dir: f32,
}

/// A directed edge from one minutia to a neighbour, described by rotation-invariant features.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub to: u16,
    pub length: f32,
    /// Edge direction relative to the source minutia's direction.
    pub from_angle: f32,
    /// Edge direction relative to the target minutia's direction.
    pub to_angle: f32,
}

/// Neighbours kept per minutia.
const NEIGHBOURS: usize = 10;
/// Edges longer than this (px at 500 ppi, ≈ 7.6 mm) say little under distortion.
const MAX_EDGE: f32 = 150.0;
/// Angle tolerance for edge features.
const ANGLE_TOL: f32 = PI / 10.0;
/// Candidate root pairs grown per comparison.
const ROOTS: usize = 24;

#[inline]
fn length_tol(len: f32) -> f32 {
    4.0 + 0.1 * len
}

/// Smallest absolute difference of two angles, in [0, π].
#[inline]
pub fn angle_diff(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(2.0 * PI);
    d.min(2.0 * PI - d)
}

/// Points with their neighbourhood edges, each list sorted by length.
#[derive(Clone, Debug)]
pub struct Graph {
    pub points: Vec<Point>,
    pub edges: Vec<Vec<Edge>>,
}

impl Graph {
    pub fn new(points: Vec<Point>) -> Graph {
        let edges = (0..points.len())
            .map(|i| {
                let p = points[i];
                let mut near: Vec<(f32, usize)> = (0..points.len())
                    .filter(|&j| j != i)
                    .map(|j| ((points[j].x - p.x).hypot(points[j].y - p.y), j))
                    .filter(|&(d, _)| d <= MAX_EDGE && d > 1.0)
                    .collect();
                near.sort_by(|a, b| a.0.total_cmp(&b.0));
                near.truncate(NEIGHBOURS);
                near.into_iter()
                    .map(|(d, j)| {
                        let q = points[j];
                        let phi = (q.y - p.y).atan2(q.x - p.x);
                        Edge {
                            to: j as u16,
                            length: d,
                            from_angle: (phi - p.dir).rem_euclid(2.0 * PI),
                            to_angle: (phi - q.dir).rem_euclid(2.0 * PI),
                        }
                    })
                    .collect()
            })
            .collect();
        Graph { points, edges }
    }
}

/// How badly two edges disagree (in tolerance units, < 3 when they match), or None.
#[inline]
fn edge_error(a: &Edge, b: &Edge) -> Option<f32> {
    let tol = length_tol(a.length.min(b.length));
    let dl = (a.length - b.length).abs();
    if dl > tol {
        return None;
    }
    let da = angle_diff(a.from_angle, b.from_angle);
    if da > ANGLE_TOL {
        return None;
    }
    let db = angle_diff(a.to_angle, b.to_angle);
    if db > ANGLE_TOL {
        return None;
    }
    Some(dl / tol + da / ANGLE_TOL + db / ANGLE_TOL)
}

/// Calls `f` for every matching pair of edges from two length-sorted lists.
#[inline]
fn matching_edges(a: &[Edge], b: &[Edge], mut f: impl FnMut(&Edge, &Edge, f32)) {
    let mut start = 0;
    for ea in a {
        let tol = length_tol(ea.length);
        while start < b.len() && b[start].length < ea.length - tol {
            start += 1;
        }
        for eb in &b[start..] {
            if eb.length > ea.length + tol {
                break;
            }
            if let Some(err) = edge_error(ea, eb) {
                f(ea, eb, err);
            }
        }
    }
}

/// The result of growing one root.
#[derive(Clone, Debug, Default)]
pub struct Pairing {
    /// (probe index, candidate index) pairs, root first.
    pub pairs: Vec<(u16, u16)>,
    /// Matching edges between paired minutiae (including the ones that built the tree).
    pub supporting_edges: usize,
    /// Sum of the errors of the tree edges.
    pub error: f32,
}

/// The best pairing over the most promising roots, judged by `rank`.
pub fn best_pairing(p: &Graph, c: &Graph, rank: impl Fn(&Pairing) -> f32) -> Pairing {
    let (np, nc) = (p.points.len(), c.points.len());
    if np < 2 || nc < 2 {
        return Pairing::default();
    }
    // Local similarity: how many neighbourhood edges of i and k agree.
    let mut roots: Vec<(f32, u16, u16)> = Vec::new();
    for i in 0..np {
        for k in 0..nc {
            let mut votes = 0.0f32;
            matching_edges(&p.edges[i], &c.edges[k], |_, _, err| {
                votes += 1.0 - err / 4.0
            });
            if votes >= 1.5 {
                roots.push((votes, i as u16, k as u16));
            }
        }
    }
    roots.sort_by(|a, b| b.0.total_cmp(&a.0));
    roots.truncate(ROOTS);
    let mut best = Pairing::default();
    let mut best_rank = f32::MIN;
    let mut scratch = Scratch::new(np, nc);
    for &(_, i, k) in &roots {
        if scratch.tried(i, k) {
            continue;
        }
        let pairing = grow(p, c, i, k, &mut scratch);
        let r = rank(&pairing);
        if r > best_rank {
            best_rank = r;
            best = pairing;
        }
    }
    best
}

/// Reusable buffers for growing pairings.
struct Scratch {
    probe_to: Vec<u16>,
    cand_to: Vec<u16>,
    /// Root pairs already contained in an earlier pairing grow the same result.
    seen: Vec<(u16, u16)>,
    heap: BinaryHeap<Reverse<(u32, u16, u16)>>,
}

const NONE: u16 = u16::MAX;

impl Scratch {
    fn new(np: usize, nc: usize) -> Scratch {
        Scratch {
            probe_to: vec![NONE; np],
            cand_to: vec![NONE; nc],
            seen: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }
    fn tried(&self, i: u16, k: u16) -> bool {
        self.seen.contains(&(i, k))
    }
}

/// The rigid transform implied by the root pair. Pairs grown from the root must stay near
/// it, with a tolerance that widens with distance from the root (skin stretches), so a chain
/// of individually plausible steps cannot drift across an unrelated print.
struct Anchor {
    probe: Point,
    cand: Point,
    cos: f32,
    sin: f32,
    rotation: f32,
    /// Sums of the unit vectors of every pair's rotation: their mean refines the root's.
    sum_cos: f32,
    sum_sin: f32,
}

/// Position tolerance at the root, px, and its growth per px of distance from the root.
const ANCHOR_POS_TOL: f32 = 10.0;
const ANCHOR_POS_GROWTH: f32 = 0.1;
/// Direction tolerance relative to the pairing's rotation.
const ANCHOR_ANGLE_TOL: f32 = PI / 7.0;

impl Anchor {
    fn new(probe: Point, cand: Point) -> Anchor {
        let mut a = Anchor {
            probe,
            cand,
            cos: 1.0,
            sin: 0.0,
            rotation: 0.0,
            sum_cos: 0.0,
            sum_sin: 0.0,
        };
        a.add(&probe, &cand);
        a
    }

    fn add(&mut self, p: &Point, c: &Point) {
        let r = c.dir - p.dir;
        self.sum_cos += r.cos();
        self.sum_sin += r.sin();
        self.rotation = self.sum_sin.atan2(self.sum_cos);
        self.cos = self.rotation.cos();
        self.sin = self.rotation.sin();
    }

    fn agrees(&self, p: &Point, c: &Point) -> bool {
        if angle_diff(c.dir - p.dir, self.rotation) > ANCHOR_ANGLE_TOL {
            return false;
        }
        let (dx, dy) = (p.x - self.probe.x, p.y - self.probe.y);
        let ex = self.cand.x + dx * self.cos - dy * self.sin - c.x;
        let ey = self.cand.y + dx * self.sin + dy * self.cos - c.y;
        let tol = ANCHOR_POS_TOL + ANCHOR_POS_GROWTH * dx.hypot(dy);
        ex * ex + ey * ey <= tol * tol
    }
}

fn grow(p: &Graph, c: &Graph, root_p: u16, root_c: u16, s: &mut Scratch) -> Pairing {
    s.probe_to.iter_mut().for_each(|v| *v = NONE);
    s.cand_to.iter_mut().for_each(|v| *v = NONE);
    s.heap.clear();
    let mut out = Pairing::default();
    let mut anchor = Anchor::new(p.points[root_p as usize], c.points[root_c as usize]);
    s.heap.push(Reverse((0, root_p, root_c)));
    let mut first = true;
    while let Some(Reverse((err, a, b))) = s.heap.pop() {
        if s.probe_to[a as usize] != NONE
            || s.cand_to[b as usize] != NONE
            || !anchor.agrees(&p.points[a as usize], &c.points[b as usize])
        {
            continue;
        }
        s.probe_to[a as usize] = b;
        s.cand_to[b as usize] = a;
        out.pairs.push((a, b));
        if !first {
            out.error += err as f32 / 1000.0;
            anchor.add(&p.points[a as usize], &c.points[b as usize]);
        }
        first = false;
        let (probe_to, cand_to, heap, anchor) = (&s.probe_to, &s.cand_to, &mut s.heap, &anchor);
        matching_edges(&p.edges[a as usize], &c.edges[b as usize], |ea, eb, e| {
            let (pa, pc) = (probe_to[ea.to as usize], cand_to[eb.to as usize]);
            if pa == eb.to {
                out.supporting_edges += 1;
            } else if pa == NONE
                && pc == NONE
                && anchor.agrees(&p.points[ea.to as usize], &c.points[eb.to as usize])
            {
                heap.push(Reverse(((e * 1000.0) as u32, ea.to, eb.to)));
            }
        });
    }
    // Every tree edge joined an unpaired minutia, so it was not counted as support yet.
    out.supporting_edges += out.pairs.len().saturating_sub(1);
    s.seen.extend_from_slice(&out.pairs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(points: &[Point], rot: f32, dx: f32, dy: f32) -> Vec<Point> {
        points
            .iter()
            .map(|p| Point {
                x: p.x * rot.cos() - p.y * rot.sin() + dx,
                y: p.x * rot.sin() + p.y * rot.cos() + dy,
                dir: p.dir + rot,
            })
            .collect()
    }

    fn scatter(n: usize, seed: u32) -> Vec<Point> {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32
        };
        (0..n)
            .map(|_| Point {
                x: next() * 300.0,
                y: next() * 400.0,
                dir: next() * 2.0 * PI,
            })
            .collect()
    }

    #[test]
    fn pairs_all_points_of_a_rotated_copy() {
        let a = scatter(40, 1);
        let b = transform(&a, 0.6, 50.0, -30.0);
        let best = best_pairing(&Graph::new(a), &Graph::new(b), |p| p.pairs.len() as f32);
        assert!(best.pairs.len() >= 38, "{}", best.pairs.len());
        assert!(best.pairs.iter().all(|&(i, k)| i == k));
    }

    #[test]
    fn unrelated_sets_pair_few() {
        let a = scatter(40, 1);
        let b = scatter(40, 99);
        let best = best_pairing(&Graph::new(a), &Graph::new(b), |p| p.pairs.len() as f32);
        assert!(best.pairs.len() < 12, "{}", best.pairs.len());
    }
}

//! Binarisation, thinning to a one-pixel ridge skeleton, and the skeleton's graph: endings,
//! junctions and the ridge segments between them.

use super::raster::Plane;

/// A binary image: `true` = ridge.
#[derive(Clone, Debug)]
pub struct Binary {
    pub width: usize,
    pub height: usize,
    pub data: Vec<bool>,
}

impl Binary {
    #[inline]
    pub fn at(&self, x: isize, y: isize) -> bool {
        x >= 0
            && y >= 0
            && (x as usize) < self.width
            && (y as usize) < self.height
            && self.data[y as usize * self.width + x as usize]
    }
}

/// Neighbour offsets in cyclic order: E, NE, N, NW, W, SW, S, SE.
pub const RING: [(isize, isize); 8] = [
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

pub fn binarize(enhanced: &Plane) -> Binary {
    Binary {
        width: enhanced.width,
        height: enhanced.height,
        data: enhanced.data.iter().map(|&v| v > 0.0).collect(),
    }
}

fn ring(b: &Binary, x: isize, y: isize) -> [bool; 8] {
    let mut r = [false; 8];
    for (k, (dx, dy)) in RING.iter().enumerate() {
        r[k] = b.at(x + dx, y + dy);
    }
    r
}

/// Zhang–Suen thinning followed by removal of staircase corners, leaving a skeleton where
/// every ridge pixel has exactly two neighbours except at endings and junctions. Decisions
/// depend only on the 8-neighbourhood, so they are looked up from 256-entry tables.
pub fn thin(b: Binary) -> Binary {
    let (w, h) = (b.width, b.height);
    let pw = w + 2;
    let mut pad = vec![false; pw * (h + 2)];
    for y in 0..h {
        pad[(y + 1) * pw + 1..(y + 1) * pw + 1 + w].copy_from_slice(&b.data[y * w..(y + 1) * w]);
    }
    let offsets: [isize; 8] = RING.map(|(dx, dy)| dy * pw as isize + dx);
    let code = |pad: &[bool], i: usize| {
        let mut c = 0usize;
        for (k, off) in offsets.iter().enumerate() {
            c |= (pad[(i as isize + off) as usize] as usize) << k;
        }
        c
    };
    let tables = [deletable_table(0), deletable_table(1)];
    let mut candidates: Vec<usize> = (0..pad.len()).filter(|&i| pad[i]).collect();
    let mut to_clear = Vec::new();
    loop {
        let mut changed = false;
        for table in &tables {
            to_clear.clear();
            to_clear.extend(
                candidates
                    .iter()
                    .copied()
                    .filter(|&i| pad[i] && table[code(&pad, i)]),
            );
            for &i in &to_clear {
                pad[i] = false;
            }
            changed |= !to_clear.is_empty();
        }
        candidates.retain(|&i| pad[i]);
        if !changed {
            break;
        }
    }
    // Staircases: a pixel with one 4-neighbour horizontally and one vertically is redundant
    // when removing it keeps the skeleton 8-connected. Sequential, so both pixels of a
    // 2×2 block are never removed together.
    let stairs = staircase_table();
    for &i in &candidates {
        if stairs[code(&pad, i)] {
            pad[i] = false;
        }
    }
    let mut data = vec![false; w * h];
    for y in 0..h {
        data[y * w..(y + 1) * w].copy_from_slice(&pad[(y + 1) * pw + 1..(y + 1) * pw + 1 + w]);
    }
    Binary {
        width: w,
        height: h,
        data,
    }
}

fn ring_of(code: usize) -> [bool; 8] {
    std::array::from_fn(|k| code >> k & 1 == 1)
}

/// Zhang–Suen deletion rule for sub-iteration `pass`, by neighbourhood code.
fn deletable_table(pass: usize) -> [bool; 256] {
    std::array::from_fn(|c| {
        let r = ring_of(c);
        let n = r.iter().filter(|&&v| v).count();
        let (e, nn, wst, s) = (r[0], r[2], r[4], r[6]);
        (2..=6).contains(&n)
            && transitions(&r) == 1
            && if pass == 0 {
                // Not both E and S with N or W: the south-east boundary goes first.
                !(e && s && (nn || wst))
            } else {
                !(nn && wst && (e || s))
            }
    })
}

fn staircase_table() -> [bool; 256] {
    std::array::from_fn(|c| {
        let r = ring_of(c);
        let n = r.iter().filter(|&&v| v).count();
        n >= 2 && (r[0] || r[4]) && (r[2] || r[6]) && connectivity8(&r) == 1
    })
}

/// Number of 0→1 transitions around the ring (Zhang–Suen's A(P)).
fn transitions(r: &[bool; 8]) -> usize {
    (0..8).filter(|&k| !r[k] && r[(k + 1) % 8]).count()
}

/// Yokoi's 8-connectivity number: 1 means the centre pixel is simple (removable).
fn connectivity8(r: &[bool; 8]) -> usize {
    let c = |k: usize| !r[k % 8];
    [0usize, 2, 4, 6]
        .iter()
        .filter(|&&k| c(k) && !(c(k + 1) && c(k + 2)))
        .count()
}

fn neighbours(b: &Binary, x: isize, y: isize) -> usize {
    ring(b, x, y).iter().filter(|&&v| v).count()
}

/// Crossing number: half the number of ridge/background changes around the ring.
pub fn crossing_number(b: &Binary, x: isize, y: isize) -> usize {
    let r = ring(b, x, y);
    (0..8).filter(|&k| r[k] != r[(k + 1) % 8]).count() / 2
}

/// One end of a traced ridge segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Reached the node with this index.
    Node(usize),
    /// The segment went on longer than the tracing limit.
    Open,
}

/// A node of the skeleton graph: a ridge ending (one segment) or a junction (three or more).
#[derive(Clone, Debug)]
pub struct Node {
    pub x: f32,
    pub y: f32,
    /// Traced segments leaving the node: where they lead, their length in pixels, and the
    /// pixel `DIRECTION_REACH` steps along them (for the minutia direction).
    pub segments: Vec<Segment>,
}

#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub to: SegmentEnd,
    pub length: usize,
    pub probe: (f32, f32),
}

/// How far along a segment the direction probe is taken, in pixels (≈ one ridge period).
pub const DIRECTION_REACH: usize = 10;

/// Builds the skeleton graph, tracing each segment at most `max_len` pixels.
pub fn graph(skel: &Binary, max_len: usize) -> Vec<Node> {
    let (w, h) = (skel.width as isize, skel.height as isize);
    let idx = |x: isize, y: isize| (y * w + x) as usize;
    // Junction pixels (≥3 ridge transitions) are grouped into clusters: one node each.
    let mut node_of = vec![usize::MAX; skel.data.len()];
    let mut nodes: Vec<Node> = Vec::new();
    let mut members: Vec<Vec<(isize, isize)>> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if !skel.at(x, y) || node_of[idx(x, y)] != usize::MAX {
                continue;
            }
            let cn = crossing_number(skel, x, y);
            if cn == 1 || ring(skel, x, y).iter().filter(|&&v| v).count() == 1 {
                node_of[idx(x, y)] = nodes.len();
                nodes.push(Node {
                    x: x as f32,
                    y: y as f32,
                    segments: Vec::new(),
                });
                members.push(vec![(x, y)]);
            } else if cn >= 3 {
                let id = nodes.len();
                let mut cluster = vec![(x, y)];
                node_of[idx(x, y)] = id;
                let mut k = 0;
                while k < cluster.len() {
                    let (cx, cy) = cluster[k];
                    for (dx, dy) in RING {
                        let (nx, ny) = (cx + dx, cy + dy);
                        // Neighbours with three or more ridge neighbours belong to the same
                        // junction, else two branches could start on adjacent pixels.
                        if skel.at(nx, ny)
                            && node_of[idx(nx, ny)] == usize::MAX
                            && (crossing_number(skel, nx, ny) >= 3 || neighbours(skel, nx, ny) >= 3)
                        {
                            node_of[idx(nx, ny)] = id;
                            cluster.push((nx, ny));
                        }
                    }
                    k += 1;
                }
                let n = cluster.len() as f32;
                let mx = cluster.iter().map(|p| p.0 as f32).sum::<f32>() / n;
                let my = cluster.iter().map(|p| p.1 as f32).sum::<f32>() / n;
                nodes.push(Node {
                    x: mx,
                    y: my,
                    segments: Vec::new(),
                });
                members.push(cluster);
            }
        }
    }
    for id in 0..nodes.len() {
        let mut starts = Vec::new();
        for &(x, y) in &members[id] {
            for (dx, dy) in RING {
                let (nx, ny) = (x + dx, y + dy);
                if skel.at(nx, ny) && node_of[idx(nx, ny)] != id && !starts.contains(&(nx, ny)) {
                    starts.push((nx, ny));
                }
            }
        }
        // Of 8-adjacent start pixels only one begins a branch; keep the 4-connected ones first.
        let mut branches: Vec<(isize, isize)> = Vec::new();
        for &s in &starts {
            if !branches
                .iter()
                .any(|b| (b.0 - s.0).abs() <= 1 && (b.1 - s.1).abs() <= 1)
            {
                branches.push(s);
            }
        }
        for start in branches {
            let seg = trace(skel, &node_of, id, &members[id], start, max_len, w);
            nodes[id].segments.push(seg);
        }
    }
    nodes
}

fn trace(
    skel: &Binary,
    node_of: &[usize],
    from: usize,
    from_pixels: &[(isize, isize)],
    start: (isize, isize),
    max_len: usize,
    w: isize,
) -> Segment {
    let idx = |x: isize, y: isize| (y * w + x) as usize;
    let mut recent: Vec<(isize, isize)> = Vec::with_capacity(4);
    let mut cur = start;
    let mut probe = (start.0 as f32, start.1 as f32);
    for length in 1..=max_len {
        if length <= DIRECTION_REACH {
            probe = (cur.0 as f32, cur.1 as f32);
        }
        let n = node_of[idx(cur.0, cur.1)];
        if n != usize::MAX && n != from {
            return Segment {
                to: SegmentEnd::Node(n),
                length,
                probe,
            };
        }
        if n == from && length > 3 {
            // Came back to the junction it left: a small loop (a lake).
            return Segment {
                to: SegmentEnd::Node(from),
                length,
                probe,
            };
        }
        let next = RING
            .iter()
            .map(|(dx, dy)| (cur.0 + dx, cur.1 + dy))
            .filter(|&(x, y)| {
                skel.at(x, y)
                    && !recent.contains(&(x, y))
                    && !(length <= 3 && from_pixels.contains(&(x, y)))
            })
            // Prefer 4-neighbours, then node pixels, so a diagonal step never skips a node.
            .min_by_key(|&(x, y)| {
                (
                    (x - cur.0).abs() + (y - cur.1).abs(),
                    node_of[idx(x, y)] == usize::MAX,
                )
            });
        match next {
            Some(n) => {
                if recent.len() == 3 {
                    recent.remove(0);
                }
                recent.push(cur);
                cur = n;
            }
            None => {
                return Segment {
                    to: SegmentEnd::Open,
                    length,
                    probe,
                }
            }
        }
    }
    Segment {
        to: SegmentEnd::Open,
        length: max_len + 1,
        probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_rows(rows: &[&str]) -> Binary {
        let h = rows.len();
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| c == '#'))
            .collect();
        Binary {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn thick_line_thins_to_single_pixel() {
        let mut rows = vec![".".repeat(30); 9];
        for r in rows.iter_mut().take(6).skip(3) {
            *r = format!("..{}..", "#".repeat(26));
        }
        let rows: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
        let t = thin(from_rows(&rows));
        for x in 5..25 {
            let col: usize = (0..9).filter(|&y| t.at(x, y)).count();
            assert_eq!(col, 1, "column {x}");
        }
        let nodes = graph(&t, 100);
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        assert!(nodes.iter().all(|n| n.segments.len() == 1));
        assert_eq!(nodes[0].segments[0].to, SegmentEnd::Node(1));
    }

    #[test]
    fn y_junction_is_one_node_with_three_segments() {
        let rows = [
            "................",
            ".#.........#....",
            "..#.......#.....",
            "...#.....#......",
            "....#...#.......",
            ".....#.#........",
            "......#.........",
            "......#.........",
            "......#.........",
            "......#.........",
            "................",
        ];
        let nodes = graph(&from_rows(&rows), 100);
        let junctions: Vec<&Node> = nodes.iter().filter(|n| n.segments.len() == 3).collect();
        assert_eq!(junctions.len(), 1, "{nodes:?}");
        assert_eq!(nodes.iter().filter(|n| n.segments.len() == 1).count(), 3);
    }
}

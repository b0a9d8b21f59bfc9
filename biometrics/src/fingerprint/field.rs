//! Gradient-based ridge orientation field, its certainty (coherence), and the foreground
//! (finger vs. background) segmentation, all on the 8-px block grid.

use super::raster::{block_sums, window_sum, Grid, Plane};
use std::f32::consts::PI;

/// Ridge orientation, coherence and foreground mask per block.
#[derive(Clone, Debug)]
pub struct Field {
    pub grid: Grid,
    /// Ridge direction in radians, [0, π), image coordinates (x right, y down).
    pub orientation: Vec<f32>,
    /// Orientation certainty in [0, 1] over a ~24 px window (1 = perfectly parallel ridges).
    pub coherence: Vec<f32>,
    /// Grey-level standard deviation over a ~24 px window.
    pub std_dev: Vec<f32>,
    pub foreground: Vec<bool>,
}

/// Below this local standard deviation a block is flat: no ridges whatever the coherence.
const MIN_STD: f32 = 7.0;
/// Below this coherence a block is noise or background; white noise gives ≈0.1 here.
const MIN_COHERENCE: f32 = 0.3;
/// Foreground components smaller than this many blocks (≈ 2.5 mm²) are dirt, not a finger.
const MIN_COMPONENT_BLOCKS: usize = 16;

impl Field {
    pub fn compute(img: &Plane) -> Field {
        let grid = Grid::for_plane(img);
        let (w, h) = (img.width, img.height);
        let (gx, gy) = sobel(img);
        let a = block_sums(grid, w, h, |i| gx[i] * gx[i] - gy[i] * gy[i]);
        let b = block_sums(grid, w, h, |i| 2.0 * gx[i] * gy[i]);
        let e = block_sums(grid, w, h, |i| gx[i] * gx[i] + gy[i] * gy[i]);
        let s1 = block_sums(grid, w, h, |i| img.data[i]);
        let s2 = block_sums(grid, w, h, |i| img.data[i] * img.data[i]);
        let n = block_sums(grid, w, h, |_| 1.0);

        let (a1, b1, e1) = (
            window_sum(grid, &a, 1),
            window_sum(grid, &b, 1),
            window_sum(grid, &e, 1),
        );
        let (s1, s2, n) = (
            window_sum(grid, &s1, 1),
            window_sum(grid, &s2, 1),
            window_sum(grid, &n, 1),
        );
        let coherence: Vec<f32> = (0..grid.len())
            .map(|i| {
                if e1[i] > 1e-3 {
                    (a1[i].hypot(b1[i]) / e1[i]).min(1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let mean: Vec<f32> = (0..grid.len()).map(|i| s1[i] / n[i]).collect();
        let std_dev: Vec<f32> = (0..grid.len())
            .map(|i| (s2[i] / n[i] - mean[i] * mean[i]).max(0.0).sqrt())
            .collect();

        let raw: Vec<bool> = (0..grid.len())
            .map(|i| std_dev[i] >= MIN_STD && coherence[i] >= MIN_COHERENCE)
            .collect();
        let foreground = clean_mask(grid, &raw);

        // Orientation from a wider (40 px) window, then a second, coherence-weighted
        // smoothing of the doubled-angle vectors so noisy blocks follow their neighbours.
        let (a2, b2) = (window_sum(grid, &a, 2), window_sum(grid, &b, 2));
        let mut vx = vec![0.0f32; grid.len()];
        let mut vy = vec![0.0f32; grid.len()];
        for i in 0..grid.len() {
            let norm = a2[i].hypot(b2[i]);
            if norm > 1e-6 {
                let weight = coherence[i] * if foreground[i] { 1.0 } else { 0.1 };
                vx[i] = a2[i] / norm * weight;
                vy[i] = b2[i] / norm * weight;
            }
        }
        let (sx, sy) = (window_sum(grid, &vx, 1), window_sum(grid, &vy, 1));
        let orientation = (0..grid.len())
            .map(|i| {
                let (x, y) = if sx[i].hypot(sy[i]) > 1e-6 {
                    (sx[i], sy[i])
                } else {
                    (a2[i], b2[i])
                };
                // The gradient's doubled angle; the ridge runs perpendicular to it.
                wrap_pi(0.5 * y.atan2(x) + PI / 2.0)
            })
            .collect();

        Field {
            grid,
            orientation,
            coherence,
            std_dev,
            foreground,
        }
    }

    pub fn foreground_count(&self) -> usize {
        self.foreground.iter().filter(|&&f| f).count()
    }

    /// Foreground blocks at least `margin` blocks away from the background and the image edge.
    pub fn inner_mask(&self, margin: usize) -> Vec<bool> {
        let g = self.grid;
        let mut mask = self.foreground.clone();
        for _ in 0..margin {
            let prev = mask.clone();
            for y in 0..g.rows {
                for x in 0..g.cols {
                    let i = y * g.cols + x;
                    if !prev[i] {
                        continue;
                    }
                    let edge = x == 0 || y == 0 || x + 1 == g.cols || y + 1 == g.rows;
                    let hole = !edge
                        && (!prev[i - 1] || !prev[i + 1] || !prev[i - g.cols] || !prev[i + g.cols]);
                    if edge || hole {
                        mask[i] = false;
                    }
                }
            }
        }
        mask
    }
}

/// Wraps an undirected angle into [0, π).
#[inline]
pub fn wrap_pi(a: f32) -> f32 {
    let r = a.rem_euclid(PI);
    if r >= PI {
        0.0
    } else {
        r
    }
}

fn sobel(img: &Plane) -> (Vec<f32>, Vec<f32>) {
    let (w, h) = (img.width, img.height);
    let mut gx = vec![0.0f32; w * h];
    let mut gy = vec![0.0f32; w * h];
    if w < 3 || h < 3 {
        return (gx, gy);
    }
    let d = &img.data;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let (n, s) = (i - w, i + w);
            gx[i] = (d[n + 1] + 2.0 * d[i + 1] + d[s + 1]) - (d[n - 1] + 2.0 * d[i - 1] + d[s - 1]);
            gy[i] = (d[s - 1] + 2.0 * d[s] + d[s + 1]) - (d[n - 1] + 2.0 * d[n] + d[n + 1]);
        }
    }
    (gx, gy)
}

/// Majority smoothing, removal of small components and filling of enclosed holes (cores and
/// deltas have low coherence but are finger).
fn clean_mask(grid: Grid, raw: &[bool]) -> Vec<bool> {
    let (cols, rows) = (grid.cols, grid.rows);
    let mut mask = vec![false; raw.len()];
    for y in 0..rows {
        for x in 0..cols {
            let mut on = 0;
            let mut all = 0;
            for yy in y.saturating_sub(1)..=(y + 1).min(rows - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(cols - 1) {
                    all += 1;
                    on += raw[yy * cols + xx] as usize;
                }
            }
            mask[y * cols + x] = on * 2 > all;
        }
    }
    let labels = components(grid, &mask, true);
    for (i, m) in mask.iter_mut().enumerate() {
        if *m && labels.sizes[labels.label[i]] < MIN_COMPONENT_BLOCKS {
            *m = false;
        }
    }
    let holes = components(grid, &mask, false);
    for (i, m) in mask.iter_mut().enumerate() {
        if !*m && !holes.touches_edge[holes.label[i]] {
            *m = true;
        }
    }
    mask
}

struct Components {
    label: Vec<usize>,
    sizes: Vec<usize>,
    touches_edge: Vec<bool>,
}

/// 4-connected components of the blocks whose mask value equals `value`.
fn components(grid: Grid, mask: &[bool], value: bool) -> Components {
    let (cols, rows) = (grid.cols, grid.rows);
    let mut label = vec![usize::MAX; mask.len()];
    let mut sizes = Vec::new();
    let mut touches_edge = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if mask[start] != value || label[start] != usize::MAX {
            continue;
        }
        let id = sizes.len();
        let (mut size, mut edge) = (0, false);
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % cols, i / cols);
            edge |= x == 0 || y == 0 || x + 1 == cols || y + 1 == rows;
            let mut visit = |j: usize| {
                if mask[j] == value && label[j] == usize::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < cols {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - cols);
            }
            if y + 1 < rows {
                visit(i + cols);
            }
        }
        sizes.push(size);
        touches_edge.push(edge);
    }
    // Blocks of the other value keep usize::MAX; give them a dummy label with size 0.
    let dummy = sizes.len();
    sizes.push(0);
    touches_edge.push(true);
    for l in label.iter_mut() {
        if *l == usize::MAX {
            *l = dummy;
        }
    }
    Components {
        label,
        sizes,
        touches_edge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::testutil::ridges;

    fn angle_diff(a: f32, b: f32) -> f32 {
        let d = (a - b).rem_euclid(PI);
        d.min(PI - d)
    }

    #[test]
    fn recovers_orientation_of_parallel_ridges() {
        for deg in [0.0f32, 30.0, 60.0, 90.0, 135.0] {
            let theta = deg.to_radians();
            let img = ridges(200, 200, theta, 9.0);
            let f = Field::compute(&img);
            let g = f.grid;
            let i = (g.rows / 2) * g.cols + g.cols / 2;
            assert!(
                angle_diff(f.orientation[i], theta) < 0.05,
                "{deg}: {}",
                f.orientation[i]
            );
            assert!(f.coherence[i] > 0.8);
            assert!(f.foreground[i]);
        }
    }

    #[test]
    fn flat_image_has_no_foreground() {
        let img = Plane {
            width: 120,
            height: 100,
            data: vec![128.0; 12000],
        };
        let f = Field::compute(&img);
        assert_eq!(f.foreground_count(), 0);
    }

    #[test]
    fn inner_mask_shrinks() {
        let img = ridges(160, 160, 0.3, 9.0);
        let f = Field::compute(&img);
        let inner = f.inner_mask(2);
        let n = inner.iter().filter(|&&v| v).count();
        assert_eq!(n, (20 - 4) * (20 - 4));
    }
}

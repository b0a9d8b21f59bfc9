//! The master finger: pattern class, singular points, orientation (zero-pole) and ridge-period
//! maps, finger outline, and the ridge pattern grown by iterative Gabor filtering.

use std::sync::OnceLock;

use super::gabor::{GaborBank, Padded};
use super::seed::{Draw, ValueNoise};

/// Master canvas at 500 ppi (full resolution); ridges are grown and stored at half of it.
pub(crate) const FULL_WIDTH: f32 = 464.0;
pub(crate) const FULL_HEIGHT: f32 = 592.0;
const GRID_WIDTH: usize = 232;
const GRID_HEIGHT: usize = 296;
const SCALE: f32 = 2.0;

/// Henry classes with SFinGe's natural frequencies (A 3.7 %, T 2.9 %, L 33.8 %, R 31.7 %,
/// W 27.9 %).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatternClass {
    Arch,
    TentedArch,
    LeftLoop,
    RightLoop,
    Whorl,
}

impl PatternClass {
    fn draw(rng: &mut impl Draw) -> PatternClass {
        let u = rng.unit();
        match u {
            _ if u < 0.037 => PatternClass::Arch,
            _ if u < 0.066 => PatternClass::TentedArch,
            _ if u < 0.404 => PatternClass::LeftLoop,
            _ if u < 0.721 => PatternClass::RightLoop,
            _ => PatternClass::Whorl,
        }
    }
}

/// The finger's contact outline: a half-ellipse fingertip, straight sides, a rounded bottom.
#[derive(Clone, Debug)]
pub(crate) struct FingerShape {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    half_width: f32,
    top: f32,
    middle: f32,
    bottom: f32,
}

impl FingerShape {
    /// Below 1 inside the finger, 1 on the outline, growing outwards (full-resolution coords).
    pub(crate) fn level(&self, x: f32, y: f32) -> f32 {
        let dx = (x - self.cx).abs() / self.half_width;
        let dy = y - self.cy;
        if dy < 0.0 {
            let v = dy / self.top;
            (dx * dx + v * v).sqrt()
        } else if dy <= self.middle {
            dx
        } else {
            let v = (dy - self.middle) / self.bottom;
            (dx.powf(2.5) + v.powf(2.5)).powf(0.4)
        }
    }
}

pub(crate) struct Master {
    pub(crate) class: PatternClass,
    pub(crate) shape: FingerShape,
    /// Ridge wave on the half-resolution grid, about `[-1, 1]`, positive on ridges.
    ridges: Vec<f32>,
}

/// Singular points and the smooth extras that make up the orientation field.
struct OrientationModel {
    class: PatternClass,
    cores: Vec<(f32, f32)>,
    deltas: Vec<(f32, f32)>,
    arch_centre: (f32, f32),
    arch_width: f32,
    arch_height: f32,
    tip_curvature: f32,
    wobble: ValueNoise,
    wobble_amplitude: f32,
}

impl OrientationModel {
    fn draw(rng: &mut impl Draw, class: PatternClass, shape: &FingerShape) -> OrientationModel {
        let (cx, cy) = (shape.cx, shape.cy);
        let mut cores = Vec::new();
        let mut deltas = Vec::new();
        match class {
            PatternClass::Arch => {}
            PatternClass::TentedArch => {
                let core = (
                    cx + rng.uniform(-20.0, 20.0) as f32,
                    cy + rng.uniform(-40.0, -5.0) as f32,
                );
                cores.push(core);
                deltas.push((
                    core.0 + rng.uniform(-10.0, 10.0) as f32,
                    core.1 + rng.uniform(55.0, 85.0) as f32,
                ));
            }
            PatternClass::LeftLoop | PatternClass::RightLoop => {
                let side = if class == PatternClass::LeftLoop {
                    1.0
                } else {
                    -1.0
                };
                let core = (
                    cx + rng.uniform(-25.0, 25.0) as f32,
                    cy + rng.uniform(-50.0, -5.0) as f32,
                );
                cores.push(core);
                deltas.push((
                    core.0 + side * rng.uniform(85.0, 135.0) as f32,
                    core.1 + rng.uniform(95.0, 145.0) as f32,
                ));
            }
            PatternClass::Whorl => {
                let centre = (
                    cx + rng.uniform(-20.0, 20.0) as f32,
                    cy + rng.uniform(-40.0, 0.0) as f32,
                );
                let half_gap = rng.uniform(10.0, 22.0) as f32;
                let lean = rng.uniform(-8.0, 8.0) as f32;
                cores.push((centre.0 - lean, centre.1 - half_gap));
                cores.push((centre.0 + lean, centre.1 + half_gap));
                for side in [-1.0, 1.0] {
                    deltas.push((
                        centre.0 + side * rng.uniform(95.0, 140.0) as f32,
                        centre.1 + rng.uniform(95.0, 145.0) as f32,
                    ));
                }
            }
        }
        OrientationModel {
            class,
            cores,
            deltas,
            arch_centre: (
                cx + rng.uniform(-20.0, 20.0) as f32,
                cy + rng.uniform(-10.0, 40.0) as f32,
            ),
            arch_width: rng.uniform(55.0, 80.0) as f32,
            arch_height: rng.uniform(60.0, 100.0) as f32,
            tip_curvature: rng.uniform(0.5, 0.9) as f32,
            wobble: ValueNoise::new(rng, FULL_WIDTH, FULL_HEIGHT, 110.0),
            wobble_amplitude: rng.uniform(0.08, 0.16) as f32,
        }
    }

    /// Ridge direction at a full-resolution point, radians (y grows downwards).
    fn theta(&self, shape: &FingerShape, x: f32, y: f32) -> f32 {
        let mut theta = 0.0;
        if self.class == PatternClass::Arch {
            let (ax, ay) = self.arch_centre;
            let u = (x - ax) / self.arch_width;
            let fade = (-((y - ay) / 130.0).powi(2)).exp();
            // Ridges y = y0 - h·exp(-u²/2) bow upwards over the arch centre.
            theta += (self.arch_height * fade * u / self.arch_width * (-0.5 * u * u).exp()).atan();
        } else {
            for &(px, py) in &self.cores {
                theta += 0.5 * (y - py).atan2(x - px);
            }
            for &(px, py) in &self.deltas {
                theta -= 0.5 * (y - py).atan2(x - px);
            }
        }
        // Above the pattern, ridges follow the rounded fingertip.
        let top_ref = self
            .cores
            .iter()
            .map(|c| c.1)
            .fold(shape.cy - 30.0, f32::min);
        let above = ((top_ref - y) / 120.0).clamp(0.0, 1.0);
        theta += above * (self.tip_curvature * (x - shape.cx) / shape.half_width).atan();
        theta + self.wobble_amplitude * self.wobble.at(x, y)
    }
}

/// Ridge period map in full-resolution pixels, within about 8–11 px (500 ppi).
struct PeriodModel {
    base: f32,
    variation: ValueNoise,
    core_y: f32,
    /// Period swing along x. Arch ridges run nearly straight across the finger, and only a
    /// ridge count that changes from column to column forces endings and bifurcations there.
    ripple: f32,
    ripple_phase: f32,
}

impl PeriodModel {
    fn period(&self, x: f32, y: f32) -> f32 {
        // Ridges run wider below the cores and a little tighter around them.
        let below = ((y - self.core_y) / 220.0).clamp(0.0, 1.0);
        let ripple = self.ripple * (x / 20.0 + self.ripple_phase).sin();
        (self.base + 0.9 * self.variation.at(x, y) + 0.7 * below + ripple).clamp(8.0, 11.0)
    }
}

/// Half-resolution banks: periods 8–11 px at full resolution are 4–5.5 px here. Arches get
/// shorter kernels: long ones bridge the seams of their near-parallel ridges, leaving an arch
/// with too few minutiae.
fn growth_bank(class: PatternClass) -> &'static GaborBank {
    static LONG: OnceLock<GaborBank> = OnceLock::new();
    static SHORT: OnceLock<GaborBank> = OnceLock::new();
    let periods = || -> Vec<f32> { (0..7).map(|i| (8.0 + 0.5 * i as f32) / SCALE).collect() };
    match class {
        PatternClass::Arch => SHORT.get_or_init(|| GaborBank::new(7, 32, &periods(), 0.45, 0.55)),
        _ => LONG.get_or_init(|| GaborBank::new(7, 32, &periods(), 0.45, 0.8)),
    }
}

impl Master {
    pub(crate) fn generate(rng: &mut impl Draw) -> Master {
        let class = PatternClass::draw(rng);
        let shape = FingerShape {
            cx: FULL_WIDTH / 2.0 + rng.uniform(-6.0, 6.0) as f32,
            cy: 300.0 + rng.uniform(-8.0, 8.0) as f32,
            half_width: rng.uniform(150.0, 178.0) as f32,
            top: rng.uniform(175.0, 205.0) as f32,
            middle: rng.uniform(60.0, 100.0) as f32,
            bottom: rng.uniform(110.0, 150.0) as f32,
        };
        let orientation = OrientationModel::draw(rng, class, &shape);
        let periods = PeriodModel {
            base: rng.uniform(8.6, 9.6) as f32,
            variation: ValueNoise::new(rng, FULL_WIDTH, FULL_HEIGHT, 110.0),
            core_y: orientation.cores.first().map_or(shape.cy, |c| c.1),
            ripple: if class == PatternClass::Arch {
                1.5
            } else {
                0.0
            },
            ripple_phase: rng.uniform(0.0, std::f64::consts::TAU) as f32,
        };
        let ridges = grow_ridges(rng, &shape, &orientation, &periods);
        Master {
            class,
            shape,
            ridges,
        }
    }

    /// The ridge wave at a full-resolution point (Catmull-Rom interpolation of the grid).
    pub(crate) fn ridge(&self, x: f32, y: f32) -> f32 {
        let gx = x / SCALE;
        let gy = y / SCALE;
        if gx < 1.0 || gy < 1.0 || gx >= (GRID_WIDTH - 3) as f32 || gy >= (GRID_HEIGHT - 3) as f32 {
            return 0.0;
        }
        let (ix, iy) = (gx as usize, gy as usize);
        let wx = catmull_rom(gx - ix as f32);
        let wy = catmull_rom(gy - iy as f32);
        let mut acc = 0.0;
        for (j, wyj) in wy.iter().enumerate() {
            let row = &self.ridges[(iy + j - 1) * GRID_WIDTH + ix - 1..][..4];
            acc += wyj * (row[0] * wx[0] + row[1] * wx[1] + row[2] * wx[2] + row[3] * wx[3]);
        }
        acc
    }
}

fn catmull_rom(t: f32) -> [f32; 4] {
    let t2 = t * t;
    let t3 = t2 * t;
    [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ]
}

/// SFinGe's ridge growth: a few seeds, then filter-and-saturate until the finger is covered.
/// Fewer seeds mean fewer places where growing fronts meet out of phase, i.e. fewer minutiae.
fn grow_ridges(
    rng: &mut impl Draw,
    shape: &FingerShape,
    orientation: &OrientationModel,
    periods: &PeriodModel,
) -> Vec<f32> {
    let bank = growth_bank(orientation.class);
    let (w, h) = (GRID_WIDTH, GRID_HEIGHT);
    let mut kernel_of = vec![u16::MAX; w * h];
    let mut inside = Vec::new();
    for gy in 0..h {
        for gx in 0..w {
            let (x, y) = (gx as f32 * SCALE, gy as f32 * SCALE);
            if shape.level(x, y) < 1.08 {
                let theta = orientation.theta(shape, x, y);
                kernel_of[gy * w + gx] = bank.index(theta, periods.period(x, y) / SCALE);
                if shape.level(x, y) < 0.9 {
                    inside.push((gx, gy));
                }
            }
        }
    }
    let mut image = Padded::new(w, h, bank.radius());
    // Parallel fronts of an arch merge almost seamlessly, so arches need more seeds to carry
    // as many minutiae as the other classes.
    let seeds = match orientation.class {
        PatternClass::Arch => 16 + rng.below(6) as usize,
        PatternClass::TentedArch => 16 + rng.below(6) as usize,
        _ => 6 + rng.below(6) as usize,
    };
    for _ in 0..seeds {
        let (sx, sy) = inside[rng.below(inside.len() as u32) as usize];
        let value = rng.sign() as f32;
        for dy in 0..2 {
            for dx in 0..2 {
                image.set((sx + dx).min(w - 1), (sy + dy).min(h - 1), value);
            }
        }
    }
    let covered_target =
        (0.995 * kernel_of.iter().filter(|&&k| k != u16::MAX).count() as f64) as usize;
    let mut out = vec![0.0f32; w * h];
    // After the fronts have met, a few more saturating passes settle the seams into crisp
    // endings and bifurcations instead of grey blends.
    let mut settling = 5;
    for _ in 0..80 {
        bank.filter(&image, &kernel_of, &mut out);
        let covered = out.iter().filter(|v| v.abs() > 0.2).count();
        image.load(&out, |v| (2.5 * v).clamp(-1.0, 1.0));
        if covered >= covered_target {
            if settling == 0 {
                break;
            }
            settling -= 1;
        }
    }
    // A last linear pass turns the saturated square wave into a smooth ridge wave.
    bank.filter(&image, &kernel_of, &mut out);
    let mut magnitudes: Vec<f32> = out.iter().map(|v| v.abs()).filter(|&v| v > 0.0).collect();
    magnitudes.sort_by(f32::total_cmp);
    let norm = magnitudes
        .get(magnitudes.len() * 9 / 10)
        .copied()
        .unwrap_or(1.0)
        .max(1e-3);
    out.iter_mut()
        .for_each(|v| *v = (*v / norm).clamp(-1.5, 1.5));
    out
}

/// How many of `n` masters fall in each class (in `PatternClass` order).
#[cfg(test)]
pub(crate) fn class_counts(n: u32) -> [u32; 5] {
    let mut counts = [0; 5];
    let mut rng = super::seed::SeedHasher::new("class-test").rng();
    for _ in 0..n {
        counts[PatternClass::draw(&mut rng) as usize] += 1;
    }
    counts
}

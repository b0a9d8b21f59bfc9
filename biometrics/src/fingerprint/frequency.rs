//! Ridge period and ridge-valley structure from oriented signatures: a window is rotated onto
//! the local ridge direction and averaged along the ridges, giving a 1-D grey profile across
//! them. Its dominant period is the ridge period; how well a sinusoid explains it, and how
//! constant the grey level is along the ridges, measure clarity.

use super::field::Field;
use super::raster::{Grid, Plane};
use std::f32::consts::PI;

/// Plausible ridge periods at 500 ppi, in pixels (0.2 mm – 0.8 mm centre to centre).
pub const MIN_PERIOD: f32 = 4.0;
pub const MAX_PERIOD: f32 = 20.0;
/// Typical adult ridge period at 500 ppi (≈0.46 mm).
pub const TYPICAL_PERIOD: f32 = 9.0;

/// Half-length of the signature across the ridges and half-width along them, in pixels.
const HALF_ACROSS: i32 = 16;
const HALF_ALONG: i32 = 7;
/// Signatures are taken on every `STEP`-th block in each direction.
const STEP: usize = 2;

/// Structure measures of one sampled block.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockProfile {
    /// Dominant period across the ridges, in pixels.
    pub period: f32,
    /// Fraction of the profile's variance a single sinusoid explains (0–1).
    pub periodicity: f32,
    /// Fraction of the window's variance that is across the ridges rather than along them
    /// (1 = grey level constant along each ridge; noise gives ≈ 1/15).
    pub along_consistency: f32,
    /// Mean dark-run (ridge) width over mean light-run (valley) width, when measurable.
    pub ridge_valley_ratio: Option<f32>,
}

/// Profiles of the sampled foreground blocks plus a dense, smoothed period map.
#[derive(Clone, Debug)]
pub struct RidgeStructure {
    /// One entry per sampled foreground block.
    pub profiles: Vec<BlockProfile>,
    /// Smoothed ridge period for every block of the grid (pixels).
    pub period_map: Vec<f32>,
    /// Median period over the reliable profiles, if any.
    pub median_period: Option<f32>,
}

impl RidgeStructure {
    pub fn compute(img: &Plane, field: &Field) -> RidgeStructure {
        let grid = field.grid;
        let sub = Grid {
            cols: grid.cols.div_ceil(STEP),
            rows: grid.rows.div_ceil(STEP),
        };
        let mut sampled: Vec<Option<BlockProfile>> = vec![None; sub.len()];
        let mut profiles = Vec::new();
        let bank = SinusoidBank::new();
        for sy in 0..sub.rows {
            for sx in 0..sub.cols {
                let i = (sy * STEP).min(grid.rows - 1) * grid.cols + (sx * STEP).min(grid.cols - 1);
                if !field.foreground[i] {
                    continue;
                }
                let (cx, cy) = grid.centre(i);
                let p = profile(img, cx, cy, field.orientation[i], &bank);
                sampled[sy * sub.cols + sx] = Some(p);
                profiles.push(p);
            }
        }
        let mut reliable: Vec<f32> = profiles
            .iter()
            .filter(|p| p.periodicity >= 0.5)
            .map(|p| p.period)
            .collect();
        reliable.sort_by(f32::total_cmp);
        let median_period = (!reliable.is_empty()).then(|| reliable[reliable.len() / 2]);
        let fallback = median_period.unwrap_or(TYPICAL_PERIOD);

        // Weighted average of reliable neighbours over a 5×5 window of sampled blocks.
        let mut smooth = vec![fallback; sub.len()];
        for sy in 0..sub.rows {
            for sx in 0..sub.cols {
                let (mut sum, mut wsum) = (0.0, 0.0);
                for yy in sy.saturating_sub(2)..=(sy + 2).min(sub.rows - 1) {
                    for xx in sx.saturating_sub(2)..=(sx + 2).min(sub.cols - 1) {
                        if let Some(p) = sampled[yy * sub.cols + xx] {
                            if p.periodicity >= 0.3 {
                                let w = p.periodicity;
                                sum += p.period * w;
                                wsum += w;
                            }
                        }
                    }
                }
                if wsum > 0.5 {
                    smooth[sy * sub.cols + sx] = sum / wsum;
                }
            }
        }
        let period_map = (0..grid.len())
            .map(|i| {
                let (bx, by) = (i % grid.cols, i / grid.cols);
                smooth[((by + STEP / 2) / STEP).min(sub.rows - 1) * sub.cols
                    + ((bx + STEP / 2) / STEP).min(sub.cols - 1)]
            })
            .collect();
        RidgeStructure {
            profiles,
            period_map,
            median_period,
        }
    }
}

/// Cosine and sine tables for the candidate frequencies over the signature length.
struct SinusoidBank {
    freqs: Vec<f32>,
    cos: Vec<Vec<f32>>,
    sin: Vec<Vec<f32>>,
}

impl SinusoidBank {
    fn new() -> SinusoidBank {
        let n = (2 * HALF_ACROSS + 1) as usize;
        let (f_lo, f_hi) = (1.0 / MAX_PERIOD, 1.0 / MIN_PERIOD);
        let steps = 48;
        let freqs: Vec<f32> = (0..=steps)
            .map(|k| f_lo + (f_hi - f_lo) * k as f32 / steps as f32)
            .collect();
        let cos = freqs
            .iter()
            .map(|f| (0..n).map(|k| (2.0 * PI * f * k as f32).cos()).collect())
            .collect();
        let sin = freqs
            .iter()
            .map(|f| (0..n).map(|k| (2.0 * PI * f * k as f32).sin()).collect())
            .collect();
        SinusoidBank { freqs, cos, sin }
    }
}

fn profile(img: &Plane, cx: f32, cy: f32, theta: f32, bank: &SinusoidBank) -> BlockProfile {
    let (along_x, along_y) = (theta.cos(), theta.sin());
    let (across_x, across_y) = (-along_y, along_x);
    let n = (2 * HALF_ACROSS + 1) as usize;
    let m = (2 * HALF_ALONG + 1) as f32;
    let mut sig = vec![0.0f32; n];
    let (mut total, mut total_sq) = (0.0f32, 0.0f32);
    for (k, s) in sig.iter_mut().enumerate() {
        let a = k as f32 - HALF_ACROSS as f32;
        let (bx, by) = (cx + a * across_x, cy + a * across_y);
        let mut sum = 0.0;
        for t in -HALF_ALONG..=HALF_ALONG {
            let v = img.sample(bx + t as f32 * along_x, by + t as f32 * along_y);
            sum += v;
            total_sq += v * v;
        }
        total += sum;
        *s = sum / m;
    }
    let count = n as f32 * m;
    let mean = total / count;
    let var_all = (total_sq / count - mean * mean).max(1e-6);
    for s in sig.iter_mut() {
        *s -= mean;
    }
    let var_sig = sig.iter().map(|v| v * v).sum::<f32>() / n as f32;
    let along_consistency = (var_sig / var_all).min(1.0);

    // Sinusoid fit at each candidate frequency; take the best, refined by a parabola.
    let powers: Vec<f32> = (0..bank.freqs.len())
        .map(|j| {
            let (mut c, mut s) = (0.0, 0.0);
            for ((v, cos), sin) in sig.iter().zip(&bank.cos[j]).zip(&bank.sin[j]) {
                c += v * cos;
                s += v * sin;
            }
            c * c + s * s
        })
        .collect();
    let (best, &p_best) = powers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .unwrap_or((0, &0.0));
    let mut freq = bank.freqs[best];
    if best > 0 && best + 1 < powers.len() {
        let (l, r) = (powers[best - 1], powers[best + 1]);
        let denom = l - 2.0 * p_best + r;
        if denom.abs() > 1e-9 {
            let shift = (0.5 * (l - r) / denom).clamp(-0.5, 0.5);
            freq += shift * (bank.freqs[1] - bank.freqs[0]);
        }
    }
    let sum_sq = var_sig * n as f32;
    let periodicity = if sum_sq > 1e-6 {
        (2.0 * p_best / n as f32 / sum_sq).min(1.0)
    } else {
        0.0
    };
    BlockProfile {
        period: (1.0 / freq).clamp(MIN_PERIOD, MAX_PERIOD),
        periodicity,
        along_consistency,
        ridge_valley_ratio: ridge_valley_ratio(&sig),
    }
}

/// Ratio of mean dark-run length to mean light-run length over the complete runs of a
/// zero-mean profile (dark = ridge on an optical reader).
fn ridge_valley_ratio(sig: &[f32]) -> Option<f32> {
    let mut runs: Vec<(bool, usize)> = Vec::new();
    for &v in sig {
        let dark = v < 0.0;
        match runs.last_mut() {
            Some((d, len)) if *d == dark => *len += 1,
            _ => runs.push((dark, 1)),
        }
    }
    if runs.len() < 4 {
        return None;
    }
    let inner = &runs[1..runs.len() - 1];
    let mean = |dark: bool| {
        let v: Vec<usize> = inner.iter().filter(|r| r.0 == dark).map(|r| r.1).collect();
        (!v.is_empty()).then(|| v.iter().sum::<usize>() as f32 / v.len() as f32)
    };
    Some(mean(true)? / mean(false)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::testutil::{add_noise, ridges};

    #[test]
    fn measures_known_periods() {
        for period in [6.0f32, 8.0, 9.5, 12.0] {
            let img = ridges(160, 160, 0.7, period);
            let f = Field::compute(&img);
            let rs = RidgeStructure::compute(&img, &f);
            let med = rs.median_period.expect("periodic");
            assert!((med - period).abs() < 0.4, "period {period}: {med}");
            let p = rs.profiles[rs.profiles.len() / 2];
            assert!(p.periodicity > 0.7, "{p:?}");
            assert!(p.along_consistency > 0.55, "{p:?}");
            let r = p.ridge_valley_ratio.unwrap();
            assert!((r - 1.0).abs() < 0.35, "{r}");
        }
    }

    #[test]
    fn noise_lowers_clarity() {
        let mut img = ridges(160, 160, 1.2, 9.0);
        add_noise(&mut img, 60.0, 7);
        let f = Field::compute(&img);
        let rs = RidgeStructure::compute(&img, &f);
        let clean = RidgeStructure::compute(&ridges(160, 160, 1.2, 9.0), &f);
        let mean = |r: &RidgeStructure| {
            r.profiles.iter().map(|p| p.along_consistency).sum::<f32>()
                / r.profiles.len().max(1) as f32
        };
        assert!(mean(&rs) < mean(&clean) - 0.2);
    }
}

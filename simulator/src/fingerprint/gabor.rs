//! A bank of oriented Gabor kernels and the space-variant filter that grows ridges: each pixel
//! is filtered with the kernel matching the local ridge orientation and period.

use std::f32::consts::{PI, TAU};

/// Even-symmetric Gabor kernels for `orientations` directions × the given ridge periods.
pub(crate) struct GaborBank {
    radius: usize,
    orientations: usize,
    periods: Vec<f32>,
    /// Kernel `p * orientations + o`, each `(2r+1)²` taps, row-major.
    kernels: Vec<f32>,
}

impl GaborBank {
    /// `across`/`along` are the Gaussian widths as fractions of the period: a window longer
    /// along the ridge than across it keeps ridges continuous, which keeps spurious minutiae
    /// down.
    pub(crate) fn new(
        radius: usize,
        orientations: usize,
        periods: &[f32],
        across: f32,
        along: f32,
    ) -> GaborBank {
        let side = 2 * radius + 1;
        let mut kernels = Vec::with_capacity(periods.len() * orientations * side * side);
        for &period in periods {
            for o in 0..orientations {
                let theta = o as f32 * PI / orientations as f32;
                kernels.extend(kernel(
                    radius,
                    theta,
                    period,
                    across * period,
                    along * period,
                ));
            }
        }
        GaborBank {
            radius,
            orientations,
            periods: periods.to_vec(),
            kernels,
        }
    }

    pub(crate) fn radius(&self) -> usize {
        self.radius
    }

    /// The kernel for ridge direction `theta` (radians, any range) and `period` (pixels).
    pub(crate) fn index(&self, theta: f32, period: f32) -> u16 {
        let n = self.orientations as f32;
        let o = ((theta.rem_euclid(PI) / PI * n).round() as usize) % self.orientations;
        let p = self
            .periods
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - period).abs().total_cmp(&(b.1 - period).abs()))
            .map(|(i, _)| i)
            .unwrap_or(0);
        (p * self.orientations + o) as u16
    }

    /// Filters `src` (zero-padded by `radius` on every side) into `out` (`width × height`),
    /// only where `kernel_of` is not `u16::MAX`.
    pub(crate) fn filter(&self, src: &Padded, kernel_of: &[u16], out: &mut [f32]) {
        let side = 2 * self.radius + 1;
        let taps = side * side;
        let stride = src.stride();
        for y in 0..src.height {
            for x in 0..src.width {
                let k = kernel_of[y * src.width + x];
                if k == u16::MAX {
                    out[y * src.width + x] = 0.0;
                    continue;
                }
                let kernel = &self.kernels[k as usize * taps..][..taps];
                let mut acc = 0.0f32;
                for (ky, krow) in kernel.chunks_exact(side).enumerate() {
                    let row = &src.data[(y + ky) * stride + x..][..side];
                    acc += row.iter().zip(krow).map(|(a, b)| a * b).sum::<f32>();
                }
                out[y * src.width + x] = acc;
            }
        }
    }
}

fn kernel(radius: usize, theta: f32, period: f32, s_across: f32, s_along: f32) -> Vec<f32> {
    let r = radius as isize;
    let (sin, cos) = theta.sin_cos();
    let mut gauss = Vec::new();
    let mut wave = Vec::new();
    for dy in -r..=r {
        for dx in -r..=r {
            let (dx, dy) = (dx as f32, dy as f32);
            let along = dx * cos + dy * sin;
            let across = -dx * sin + dy * cos;
            gauss.push(
                (-(across * across) / (2.0 * s_across * s_across)
                    - (along * along) / (2.0 * s_along * s_along))
                    .exp(),
            );
            wave.push((TAU * across / period).cos());
        }
    }
    let g_sum: f32 = gauss.iter().sum();
    let k_sum: f32 = gauss.iter().zip(&wave).map(|(g, w)| g * w).sum();
    // No DC: flat regions must not grow ridges.
    let mut k: Vec<f32> = gauss
        .iter()
        .zip(&wave)
        .map(|(g, w)| g * w - g * k_sum / g_sum)
        .collect();
    // Unit gain for a matched unit-amplitude ridge wave.
    let gain: f32 = k.iter().zip(&wave).map(|(k, w)| k * w).sum();
    for v in &mut k {
        *v /= gain;
    }
    k
}

/// An image with a zero border of `pad` pixels, so the filter needs no bounds checks.
pub(crate) struct Padded {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pad: usize,
    pub(crate) data: Vec<f32>,
}

impl Padded {
    pub(crate) fn new(width: usize, height: usize, pad: usize) -> Padded {
        Padded {
            width,
            height,
            pad,
            data: vec![0.0; (width + 2 * pad) * (height + 2 * pad)],
        }
    }

    fn stride(&self) -> usize {
        self.width + 2 * self.pad
    }

    #[cfg(test)]
    pub(crate) fn get(&self, x: usize, y: usize) -> f32 {
        self.data[(y + self.pad) * self.stride() + x + self.pad]
    }

    pub(crate) fn set(&mut self, x: usize, y: usize, v: f32) {
        let stride = self.stride();
        self.data[(y + self.pad) * stride + x + self.pad] = v;
    }

    /// Copies an unpadded `width × height` buffer into the interior.
    pub(crate) fn load(&mut self, values: &[f32], map: impl Fn(f32) -> f32) {
        let stride = self.stride();
        for (y, row) in values.chunks_exact(self.width).enumerate() {
            let start = (y + self.pad) * stride + self.pad;
            for (d, &v) in self.data[start..start + self.width].iter_mut().zip(row) {
                *d = map(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_wave_passes_with_unit_gain_and_flat_is_rejected() {
        let bank = GaborBank::new(6, 16, &[5.0], 0.45, 0.75);
        let (w, h) = (40, 40);
        let theta = PI / 4.0;
        let k = bank.index(theta, 5.0);
        let mut wave = Padded::new(w, h, 6);
        let mut flat = Padded::new(w, h, 6);
        for y in 0..h {
            for x in 0..w {
                let across = -(x as f32) * theta.sin() + y as f32 * theta.cos();
                wave.set(x, y, (TAU * across / 5.0).cos());
                flat.set(x, y, 1.0);
            }
        }
        let mut out = vec![0.0; w * h];
        bank.filter(&wave, &vec![k; w * h], &mut out);
        let centre = 20 * w + 20;
        assert!(
            (out[centre] - wave.get(20, 20)).abs() < 0.05,
            "{}",
            out[centre]
        );
        bank.filter(&flat, &vec![k; w * h], &mut out);
        assert!(out[centre].abs() < 1e-3);
        // A wave at the crossing orientation is suppressed.
        let crossing = bank.index(theta + PI / 2.0, 5.0);
        bank.filter(&wave, &vec![crossing; w * h], &mut out);
        assert!(out[centre].abs() < 0.2, "{}", out[centre]);
    }
}

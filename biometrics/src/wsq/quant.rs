//! Scalar quantisation of the subbands: variance estimates, the standard's bit allocation
//! that picks per-subband bin widths for a target bit rate, and the quantiser itself.

use super::wavelet::{Layout, CODED_SUBBANDS};

/// Subbands below this variance carry no information worth coding.
const VARIANCE_FLOOR: f64 = 1.01;
/// If the four coarsest subbands together vary less than this, the whole subband area is used
/// for the variance estimates instead of the central window.
const SMALL_VARIANCE_SUM: f64 = 20_000.0;
/// Dead-zone width as a multiple of the bin width.
pub(crate) const ZERO_BIN_RATIO: f32 = 1.2;
/// Reconstruction point inside a bin, as a fraction of the bin width (transmitted in the DQT).
pub(crate) const BIN_CENTER: f32 = 0.44;

/// First subband of each entropy-coded block; block 3 ends at [`CODED_SUBBANDS`].
pub(crate) const BLOCK_STARTS: [usize; 3] = [0, 19, 52];

/// Bin widths per subband; zero means the subband is not transmitted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BinWidths {
    pub q: [f32; 64],
    pub z: [f32; 64],
}

/// Unbiased variance of every coded subband, over the window the standard prescribes.
pub(crate) fn subband_variances(coeffs: &[f32], layout: &Layout) -> [f64; CODED_SUBBANDS] {
    let stride = layout.width;
    let window_variance = |k: usize, central: bool| {
        let r = layout.subbands[k];
        let window = (r.x + r.w / 8, r.y + 9 * r.h / 32, 3 * r.w / 4, 7 * r.h / 16);
        // Tiny subbands (images near the minimum size) have too small a central window.
        let (x0, y0, w, h) = if central && window.2 * window.3 >= 2 {
            window
        } else {
            (r.x, r.y, r.w, r.h)
        };
        let n = w * h;
        if n < 2 {
            return 0.0;
        }
        let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
        for row in y0..y0 + h {
            for &v in &coeffs[row * stride + x0..row * stride + x0 + w] {
                let v = f64::from(v);
                sum += v;
                sum_sq += v * v;
            }
        }
        ((sum_sq - sum * sum / n as f64) / (n as f64 - 1.0)).max(0.0)
    };
    let mut var = [0.0; CODED_SUBBANDS];
    for (k, v) in var.iter_mut().enumerate().take(4) {
        *v = window_variance(k, true);
    }
    let whole = var[..4].iter().sum::<f64>() < SMALL_VARIANCE_SUM;
    let first = if whole { 0 } else { 4 };
    for (k, v) in var.iter_mut().enumerate().skip(first) {
        *v = window_variance(k, !whole);
    }
    var
}

/// Chooses bin widths so the coded subbands average `bitrate` bits per pixel, following the
/// standard's iterative allocation: subbands that would get a non-positive bit rate are dropped
/// from the allocation set and the proportionality constant recomputed.
pub(crate) fn allocate_bins(var: &[f64; CODED_SUBBANDS], bitrate: f64) -> BinWidths {
    // Relative weights of the finest subbands (the standard's 'A').
    const WEIGHT_52: [f64; 8] = [1.32, 1.08, 1.42, 1.08, 1.32, 1.42, 1.08, 1.08];
    let weight = |k: usize| if k >= 52 { WEIGHT_52[k - 52] } else { 1.0 };
    // Fraction of the image each subband covers (one over the standard's 'm').
    let share = |k: usize| match k {
        0..=3 => 1.0 / 1024.0,
        4..=50 => 1.0 / 256.0,
        _ => 1.0 / 16.0,
    };

    let active: Vec<usize> = (0..CODED_SUBBANDS)
        .filter(|&k| var[k] >= VARIANCE_FLOOR)
        .collect();
    let mut relative = [0.0f64; CODED_SUBBANDS];
    let mut sigma = [0.0f64; CODED_SUBBANDS];
    for &k in &active {
        relative[k] = if k < 4 {
            1.0
        } else {
            10.0 / (weight(k) * var[k].ln())
        };
        sigma[k] = var[k].sqrt();
    }

    let mut set = active.clone();
    let mut q = f64::INFINITY;
    while !set.is_empty() {
        let s: f64 = set.iter().map(|&k| share(k)).sum();
        let log_p: f64 = set
            .iter()
            .map(|&k| share(k) * (sigma[k] / relative[k]).ln())
            .sum();
        q = (2f64.powf(bitrate / s - 1.0) / 2.5) / (log_p / s).exp();
        let before = set.len();
        set.retain(|&k| relative[k] / q < 5.0 * sigma[k]);
        if set.len() == before {
            break;
        }
    }

    let mut bins = BinWidths {
        q: [0.0; 64],
        z: [0.0; 64],
    };
    if set.is_empty() || !q.is_finite() || q <= 0.0 {
        return bins;
    }
    // Like the reference encoder, every subband above the variance floor keeps a bin width,
    // including those the iteration dropped: they then quantise to (almost) all zeros.
    for &k in &active {
        let width = (relative[k] / q) as f32;
        bins.q[k] = width;
        bins.z[k] = ZERO_BIN_RATIO * width;
    }
    bins
}

/// Quantises the coded subbands in subband order (rows within a subband), returning the
/// symbols and how many belong to each of the three blocks.
pub(crate) fn quantize(
    coeffs: &[f32],
    layout: &Layout,
    bins: &BinWidths,
) -> (Vec<i16>, [usize; 3]) {
    let stride = layout.width;
    let mut out = Vec::with_capacity(coeffs.len());
    let mut block_len = [0usize; 3];
    for k in 0..CODED_SUBBANDS {
        let q = bins.q[k];
        if q == 0.0 {
            continue;
        }
        let half_zero = bins.z[k] / 2.0;
        let r = layout.subbands[k];
        let start = out.len();
        for row in r.y..r.y + r.h {
            out.extend(
                coeffs[row * stride + r.x..row * stride + r.x + r.w]
                    .iter()
                    .map(|&c| {
                        let v = if c > half_zero {
                            (c - half_zero) / q + 1.0
                        } else if c < -half_zero {
                            (c + half_zero) / q - 1.0
                        } else {
                            0.0
                        };
                        // Truncation toward zero is the standard's rounding; the clamp keeps the value
                        // inside what the 16-bit escape codes can carry.
                        v.clamp(-32767.0, 32767.0) as i16
                    }),
            );
        }
        block_len[block_of(k)] += out.len() - start;
    }
    (out, block_len)
}

pub(crate) fn block_of(subband: usize) -> usize {
    BLOCK_STARTS
        .iter()
        .rposition(|&s| subband >= s)
        .unwrap_or(0)
}

/// Number of symbols the decoder expects for the given bin widths.
pub(crate) fn coded_len(layout: &Layout, bins: &BinWidths) -> usize {
    (0..CODED_SUBBANDS)
        .filter(|&k| bins.q[k] != 0.0)
        .map(|k| layout.subbands[k].area())
        .sum()
}

/// Rebuilds subband coefficients from symbols (the inverse of [`quantize`] up to the bin
/// reconstruction point). `symbols.len()` must equal [`coded_len`].
pub(crate) fn dequantize(
    symbols: &[i16],
    layout: &Layout,
    bins: &BinWidths,
    bin_center: f32,
) -> Vec<f32> {
    let stride = layout.width;
    let mut out = vec![0.0f32; layout.width * layout.height];
    let mut next = symbols.iter();
    for k in 0..CODED_SUBBANDS {
        let q = bins.q[k];
        if q == 0.0 {
            continue;
        }
        let half_zero = bins.z[k] / 2.0;
        let r = layout.subbands[k];
        for row in r.y..r.y + r.h {
            for (o, &s) in out[row * stride + r.x..row * stride + r.x + r.w]
                .iter_mut()
                .zip(&mut next)
            {
                let s = f32::from(s);
                *o = if s > 0.0 {
                    q * (s - bin_center) + half_zero
                } else if s < 0.0 {
                    q * (s + bin_center) - half_zero
                } else {
                    0.0
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_standard() {
        assert_eq!(block_of(0), 0);
        assert_eq!(block_of(18), 0);
        assert_eq!(block_of(19), 1);
        assert_eq!(block_of(51), 1);
        assert_eq!(block_of(52), 2);
        assert_eq!(block_of(59), 2);
    }

    #[test]
    fn flat_subbands_are_not_coded() {
        let mut var = [500.0; CODED_SUBBANDS];
        var[10] = 0.5;
        let bins = allocate_bins(&var, 0.75);
        assert_eq!(bins.q[10], 0.0);
        assert!(bins.q[11] > 0.0);
        assert!((bins.z[11] / bins.q[11] - 1.2).abs() < 1e-6);
        assert!(bins.q[60..].iter().all(|&q| q == 0.0));
    }

    #[test]
    fn higher_bitrate_means_finer_bins() {
        let var: [f64; CODED_SUBBANDS] = std::array::from_fn(|k| 5000.0 / (1.0 + k as f64));
        let coarse = allocate_bins(&var, 0.75);
        let fine = allocate_bins(&var, 2.25);
        assert!((0..CODED_SUBBANDS).all(|k| fine.q[k] <= coarse.q[k]));
        assert!(fine.q[0] < coarse.q[0]);
    }

    #[test]
    fn no_active_subband_gives_no_bins() {
        let bins = allocate_bins(&[0.0; CODED_SUBBANDS], 0.75);
        assert!(bins.q.iter().all(|&q| q == 0.0));
    }

    #[test]
    fn quantizer_dead_zone_and_reconstruction() {
        let layout = Layout::new(256, 256);
        let mut bins = BinWidths {
            q: [0.0; 64],
            z: [0.0; 64],
        };
        bins.q[0] = 2.0;
        bins.z[0] = 2.4;
        let r = layout.subbands[0];
        let mut coeffs = vec![0.0f32; 256 * 256];
        coeffs[r.y * 256 + r.x] = 1.1; // inside the dead zone
        coeffs[r.y * 256 + r.x + 1] = 3.3; // (3.3 - 1.2) / 2 + 1 = 2.05 -> 2
        coeffs[r.y * 256 + r.x + 2] = -3.3;
        let (syms, blocks) = quantize(&coeffs, &layout, &bins);
        assert_eq!(&syms[..3], &[0, 2, -2]);
        assert_eq!(blocks, [r.area(), 0, 0]);
        assert_eq!(coded_len(&layout, &bins), r.area());
        let back = dequantize(&syms, &layout, &bins, BIN_CENTER);
        assert_eq!(back[r.y * 256 + r.x], 0.0);
        assert!((back[r.y * 256 + r.x + 1] - (2.0 * 1.56 + 1.2)).abs() < 1e-5);
        assert!((back[r.y * 256 + r.x + 2] + (2.0 * 1.56 + 1.2)).abs() < 1e-5);
    }
}

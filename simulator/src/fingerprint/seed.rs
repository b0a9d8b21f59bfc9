//! Seeded randomness for the synthetic world: a stable identity hash (FNV-1a, fixed basis) that
//! seeds ChaCha, plus smooth value noise. Nothing here depends on std's randomised hashers.

use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a over length-prefixed fields, so `("ab","c")` and `("a","bc")` differ.
#[derive(Clone, Debug)]
pub(crate) struct SeedHasher(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl SeedHasher {
    /// `domain` separates the streams of unrelated generators (prints, faces, impressions).
    pub(crate) fn new(domain: &str) -> SeedHasher {
        let mut hasher = SeedHasher(FNV_OFFSET);
        hasher.str(domain);
        hasher
    }

    fn raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn str(&mut self, s: &str) -> &mut SeedHasher {
        self.raw(&(s.len() as u64).to_le_bytes());
        self.raw(s.as_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut SeedHasher {
        self.raw(&v.to_le_bytes());
        self
    }

    #[cfg(test)]
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }

    /// A ChaCha stream keyed by the hash; the 64-bit state is spread over the 256-bit key with
    /// SplitMix64 so that nearby hashes give unrelated keys.
    pub(crate) fn rng(&self) -> ChaCha8Rng {
        let mut state = self.0;
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        ChaCha8Rng::from_seed(seed)
    }
}

/// Uniform and normal draws written out here so the streams stay byte-stable whatever `rand`
/// does to its distribution code.
pub(crate) trait Draw {
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64;
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in `0..n` (n > 0).
    fn below(&mut self, n: u32) -> u32 {
        ((self.unit() * f64::from(n)) as u32).min(n - 1)
    }
    fn sign(&mut self) -> f64 {
        if self.unit() < 0.5 {
            -1.0
        } else {
            1.0
        }
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

impl<R: RngCore> Draw for R {
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Smooth random field in about `[-1, 1]`: random values on a coarse grid, smoothstep-blended.
#[derive(Clone, Debug)]
pub(crate) struct ValueNoise {
    cell: f32,
    cols: usize,
    rows: usize,
    values: Vec<f32>,
}

impl ValueNoise {
    /// Covers `[0, width) × [0, height)` with cells of `cell` pixels (outside, edges repeat).
    pub(crate) fn new(rng: &mut impl Draw, width: f32, height: f32, cell: f32) -> ValueNoise {
        let cols = (width / cell).ceil() as usize + 2;
        let rows = (height / cell).ceil() as usize + 2;
        let values = (0..cols * rows)
            .map(|_| rng.uniform(-1.0, 1.0) as f32)
            .collect();
        ValueNoise {
            cell,
            cols,
            rows,
            values,
        }
    }

    pub(crate) fn at(&self, x: f32, y: f32) -> f32 {
        let gx = (x / self.cell).clamp(0.0, (self.cols - 1) as f32 - 1e-3);
        let gy = (y / self.cell).clamp(0.0, (self.rows - 1) as f32 - 1e-3);
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = (smooth(gx - ix as f32), smooth(gy - iy as f32));
        let v = |cx: usize, cy: usize| self.values[cy * self.cols + cx];
        let top = v(ix, iy) + (v(ix + 1, iy) - v(ix, iy)) * fx;
        let bottom = v(ix, iy + 1) + (v(ix + 1, iy + 1) - v(ix, iy + 1)) * fx;
        top + (bottom - top) * fy
    }
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Hermite step from 0 (at `edge0`) to 1 (at `edge1`).
pub(crate) fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    smooth(((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_field_separated() {
        let h = |a: &str, b: &str| SeedHasher::new("t").str(a).str(b).finish();
        assert_eq!(h("ab", "c"), h("ab", "c"));
        assert_ne!(h("ab", "c"), h("a", "bc"));
        // Pinned value: a change here silently changes every synthetic print.
        assert_eq!(SeedHasher::new("").finish(), 0xa8c7_f832_281a_39c5);
    }

    #[test]
    fn draws_are_reproducible_and_in_range() {
        let mut a = SeedHasher::new("x").u64(7).rng();
        let mut b = SeedHasher::new("x").u64(7).rng();
        for _ in 0..1000 {
            let (u, v) = (a.unit(), b.unit());
            assert_eq!(u, v);
            assert!((0.0..1.0).contains(&u));
        }
        let noise = ValueNoise::new(&mut a, 100.0, 100.0, 10.0);
        for i in 0..100 {
            let v = noise.at(i as f32 * 1.3, i as f32 * 0.7);
            assert!((-1.0..=1.0).contains(&v));
        }
    }
}

//! Synthetic ridge patterns with known orientation, period and minutiae for unit tests.

use super::raster::Plane;
use image::GrayImage;
use std::f32::consts::PI;

/// Parallel dark ridges running in direction `theta` (radians, image coordinates).
pub fn ridges(w: usize, h: usize, theta: f32, period: f32) -> Plane {
    let (nx, ny) = (-theta.sin(), theta.cos());
    let mut p = Plane::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let phase = 2.0 * PI * (x as f32 * nx + y as f32 * ny) / period;
            p.data[y * w + x] = 128.0 + 80.0 * phase.cos();
        }
    }
    p
}

/// A ridge field whose phase carries a spiral (a minutia) at each of `minutiae`; the sign of
/// each entry's third value selects which way the spiral turns (ending vs. bifurcation of
/// the dark ridges).
pub fn ridges_with_minutiae(
    w: usize,
    h: usize,
    theta: f32,
    period: f32,
    minutiae: &[(f32, f32, f32)],
) -> Plane {
    let (nx, ny) = (-theta.sin(), theta.cos());
    let mut p = Plane::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let mut phase = 2.0 * PI * (fx * nx + fy * ny) / period;
            for &(mx, my, sign) in minutiae {
                phase += sign * (fy - my).atan2(fx - mx);
            }
            p.data[y * w + x] = 128.0 + 80.0 * phase.cos();
        }
    }
    p
}

/// A fingerprint-like image: concentric-arc ridges (a loop-ish pattern) inside an elliptical
/// finger on a light background, with a few spiral minutiae, at 500 ppi.
pub fn finger(
    w: usize,
    h: usize,
    period: f32,
    contrast: f32,
    minutiae: &[(f32, f32, f32)],
) -> Plane {
    finger_view(w, h, period, contrast, minutiae, &Placement::default())
}

/// How a finger lies on the sensor: rotation (radians) about the image centre, shift (px),
/// and a smooth elastic warp of up to `warp` px.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement {
    pub rotation: f32,
    pub shift: (f32, f32),
    pub warp: f32,
}

/// `finger`, placed on the sensor as `placement` says (the same finger, another impression).
pub fn finger_view(
    w: usize,
    h: usize,
    period: f32,
    contrast: f32,
    minutiae: &[(f32, f32, f32)],
    placement: &Placement,
) -> Plane {
    let (ox, oy) = (w as f32 * 0.5, h as f32 * 0.5);
    let (sin, cos) = (-placement.rotation).sin_cos();
    let (cx, cy) = (w as f32 * 0.5, h as f32 * 0.35);
    let (rx, ry) = (w as f32 * 0.42, h as f32 * 0.46);
    let (ex, ey) = (w as f32 * 0.5, h as f32 * 0.52);
    let mut p = Plane::new(w, h);
    for y in 0..h {
        for x in 0..w {
            // Sensor pixel → finger coordinates.
            let (dx, dy) = (
                x as f32 - ox - placement.shift.0,
                y as f32 - oy - placement.shift.1,
            );
            let mut fx = ox + dx * cos - dy * sin;
            let mut fy = oy + dx * sin + dy * cos;
            fx += placement.warp * (fy / 90.0).sin();
            fy += placement.warp * (fx / 110.0).cos();
            let inside = ((fx - ex) / rx).powi(2) + ((fy - ey) / ry).powi(2);
            if inside > 1.0 {
                p.data[y * w + x] = 225.0;
                continue;
            }
            // Distance to an off-image centre bends the ridges into arcs.
            let r = (fx - cx).hypot(fy - cy + h as f32 * 0.8);
            let mut phase = 2.0 * PI * r / period;
            for &(mx, my, sign) in minutiae {
                phase += sign * (fy - my).atan2(fx - mx);
            }
            let fade = ((1.0 - inside) * 8.0).min(1.0);
            p.data[y * w + x] = 225.0 - fade * contrast * (0.5 + 0.5 * phase.cos());
        }
    }
    p
}

/// Adds zero-mean pseudo-random noise of roughly `sigma` (uniform, deterministic).
pub fn add_noise(p: &mut Plane, sigma: f32, seed: u64) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let amp = sigma * 3f32.sqrt();
    for v in p.data.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let u = (s >> 40) as f32 / (1u64 << 24) as f32;
        *v += (2.0 * u - 1.0) * amp;
    }
}

/// Box blur of radius `r` (smudging).
pub fn blur(p: &Plane, r: usize) -> Plane {
    let mut out = p.clone();
    for y in 0..p.height {
        for x in 0..p.width {
            let (mut s, mut n) = (0.0, 0.0);
            for yy in y.saturating_sub(r)..=(y + r).min(p.height - 1) {
                for xx in x.saturating_sub(r)..=(x + r).min(p.width - 1) {
                    s += p.get(xx, yy);
                    n += 1.0;
                }
            }
            out.data[y * p.width + x] = s / n;
        }
    }
    out
}

pub fn to_gray(p: &Plane) -> GrayImage {
    GrayImage::from_raw(
        p.width as u32,
        p.height as u32,
        p.data
            .iter()
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect(),
    )
    .expect("buffer size matches")
}

/// The real AES3500 capture from libfprint's test suite, as grey.
pub fn aes3500() -> GrayImage {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/libfprint-aes3500/capture.png"
    );
    image::open(path).expect("fixture readable").to_luma8()
}

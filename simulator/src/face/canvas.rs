//! Painting primitives for the synthetic face frames: soft ellipses, strokes, Gaussian shading,
//! and the lens/sensor finish.

use image::{Rgb, RgbImage};

use super::{SceneLight, FRAME_HEIGHT, FRAME_WIDTH};
use crate::fingerprint::seed::{smoothstep, Draw, ValueNoise};

pub(crate) type Colour = [f32; 3];

pub(crate) struct Canvas {
    px: Vec<Colour>,
}

impl Canvas {
    pub(crate) fn background(scene: &SceneLight, rng: &mut impl Draw) -> Canvas {
        let (w, h) = (FRAME_WIDTH as f32, FRAME_HEIGHT as f32);
        let blotch = ValueNoise::new(rng, w, h, 160.0);
        let mut px = Vec::with_capacity((FRAME_WIDTH * FRAME_HEIGHT) as usize);
        for y in 0..FRAME_HEIGHT {
            for x in 0..FRAME_WIDTH {
                let (fx, fy) = (x as f32, y as f32);
                // Light falls off towards the frame corners, as with a room light above.
                let falloff = 1.0 - 0.12 * (((fx - w / 2.0) / w).powi(2) + (fy / h).powi(2));
                let k = falloff + 0.03 * blotch.at(fx, fy);
                px.push(scene.wall.map(|c| c * k));
            }
        }
        Canvas { px }
    }

    /// Blends `colour(x, y)` in over a soft ellipse (`soft` pixels of edge).
    pub(crate) fn ellipse(
        &mut self,
        (cx, cy): (f32, f32),
        (rx, ry): (f32, f32),
        soft: f32,
        alpha: f32,
        colour: impl Fn(f32, f32) -> Colour,
    ) {
        self.region(
            cx - rx - soft,
            cy - ry - soft,
            cx + rx + soft,
            cy + ry + soft,
            |x, y| {
                let r = (((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2)).sqrt();
                let d = (r - 1.0) * rx.min(ry);
                (alpha * smoothstep(soft, -soft, d), colour(x, y))
            },
        );
    }

    /// Multiplies the pixels by a Gaussian dip of depth `amount` (negative brightens).
    pub(crate) fn shade(&mut self, (cx, cy): (f32, f32), (sx, sy): (f32, f32), amount: f32) {
        let (x0, y0, x1, y1) = (cx - 3.0 * sx, cy - 3.0 * sy, cx + 3.0 * sx, cy + 3.0 * sy);
        for_each_pixel(x0, y0, x1, y1, |x, y| {
            let g = (-0.5 * (((x - cx) / sx).powi(2) + ((y - cy) / sy).powi(2))).exp();
            let k = 1.0 - amount * g;
            let i = (y as usize) * FRAME_WIDTH as usize + x as usize;
            self.px[i] = self.px[i].map(|c| c * k);
        });
    }

    /// A soft-edged stroke along the polyline `points`, `width` pixels wide.
    pub(crate) fn stroke(&mut self, points: &[(f32, f32)], width: f32, alpha: f32, colour: Colour) {
        let pad = width + 2.0;
        let x0 = points.iter().map(|p| p.0).fold(f32::MAX, f32::min) - pad;
        let y0 = points.iter().map(|p| p.1).fold(f32::MAX, f32::min) - pad;
        let x1 = points.iter().map(|p| p.0).fold(f32::MIN, f32::max) + pad;
        let y1 = points.iter().map(|p| p.1).fold(f32::MIN, f32::max) + pad;
        self.region(x0, y0, x1, y1, |x, y| {
            let d = points
                .windows(2)
                .map(|s| segment_distance((x, y), s[0], s[1]))
                .fold(f32::MAX, f32::min);
            (
                alpha * smoothstep(width / 2.0 + 1.0, width / 2.0 - 1.0, d),
                colour,
            )
        });
    }

    /// Blends in `cover(x, y) = (alpha, colour)` over a bounding box.
    pub(crate) fn region(
        &mut self,
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        mut cover: impl FnMut(f32, f32) -> (f32, Colour),
    ) {
        for_each_pixel(x0, y0, x1, y1, |x, y| {
            let (a, c) = cover(x, y);
            if a > 0.0 {
                let i = (y as usize) * FRAME_WIDTH as usize + x as usize;
                let p = &mut self.px[i];
                for k in 0..3 {
                    p[k] += (c[k] - p[k]) * a;
                }
            }
        });
    }

    /// Lens softness, exposure and sensor noise, then quantisation.
    pub(crate) fn finish(mut self, scene: &SceneLight, rng: &mut impl Draw) -> RgbImage {
        let (w, h) = (FRAME_WIDTH as usize, FRAME_HEIGHT as usize);
        let src = self.px.clone();
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0.0f32; 3];
                for (dy, wy) in [(-1isize, 0.25f32), (0, 0.5), (1, 0.25)] {
                    for (dx, wx) in [(-1isize, 0.25f32), (0, 0.5), (1, 0.25)] {
                        let sx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                        let sy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                        let p = src[sy * w + sx];
                        for k in 0..3 {
                            acc[k] += p[k] * wx * wy;
                        }
                    }
                }
                self.px[y * w + x] = acc;
            }
        }
        let mut image = RgbImage::new(FRAME_WIDTH, FRAME_HEIGHT);
        for (out, p) in image.pixels_mut().zip(&self.px) {
            let n = scene.noise_sigma * rng.normal() as f32;
            *out = Rgb(p.map(|c| (c * scene.exposure + n).round().clamp(0.0, 255.0) as u8));
        }
        image
    }
}

fn for_each_pixel(x0: f32, y0: f32, x1: f32, y1: f32, mut f: impl FnMut(f32, f32)) {
    let xs = x0.floor().max(0.0) as u32..(x1.ceil().max(0.0) as u32).min(FRAME_WIDTH);
    for y in y0.floor().max(0.0) as u32..(y1.ceil().max(0.0) as u32).min(FRAME_HEIGHT) {
        for x in xs.clone() {
            f(x as f32, y as f32);
        }
    }
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (vx * vx + vy * vy).max(1e-6);
    let t = (((p.0 - a.0) * vx + (p.1 - a.1) * vy) / len2).clamp(0.0, 1.0);
    ((p.0 - a.0 - t * vx).powi(2) + (p.1 - a.1 - t * vy).powi(2)).sqrt()
}

pub(crate) fn scale(c: Colour, k: f32) -> Colour {
    c.map(|v| (v * k).clamp(0.0, 255.0))
}

/// Points of an arc from `left` to `right` bulging by `bulge` in y (negative = up).
pub(crate) fn arc(left: (f32, f32), right: (f32, f32), bulge: f32) -> Vec<(f32, f32)> {
    (0..=12)
        .map(|i| {
            let t = i as f32 / 12.0;
            let x = left.0 + (right.0 - left.0) * t;
            let y = left.1 + (right.1 - left.1) * t + bulge * 4.0 * t * (1.0 - t);
            (x, y)
        })
        .collect()
}

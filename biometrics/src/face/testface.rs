//! Procedural shaded faces for tests and the face benchmark: a frontal head with hair, eye
//! sockets, a lit nose bridge, mouth and shoulders that the SeetaFace detector finds with
//! scores like real faces, plus the degradations (blur, darkening, flattening) the checks catch.
//! Self-contained (only `image`) so `examples/face_bench.rs` can include it by path.

#![allow(dead_code)]

use image::{Rgb, RgbImage};

type Colour = [f32; 3];

const HAIR: Colour = [45.0, 35.0, 30.0];
const SKIN: Colour = [215.0, 170.0, 140.0];

/// 1 inside (`v < edge`), 0 outside, with a linear ramp `soft` wide (anti-aliasing).
fn inside(edge: f32, v: f32, soft: f32) -> f32 {
    ((edge - v) / soft + 0.5).clamp(0.0, 1.0)
}

/// Elliptical radius of (x, y) around (cx, cy): 1 on the ellipse.
fn ellipse(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> f32 {
    (((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2)).sqrt()
}

fn gauss(x: f32, y: f32, cx: f32, cy: f32, sx: f32, sy: f32) -> f32 {
    (-(((x - cx) / sx).powi(2) + ((y - cy) / sy).powi(2)) / 2.0).exp()
}

fn mix(a: Colour, b: Colour, t: f32) -> Colour {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Colour of the face's own features at head coordinates (x, y) (unit = crown-to-chin height,
/// origin on the eye line), over skin shaded like a sphere.
fn face_skin(x: f32, y: f32, d: f32, px: f32) -> Colour {
    let shade = 1.0 - 0.35 * d.min(1.0).powi(3);
    let mut c = [SKIN[0] * shade, SKIN[1] * shade, SKIN[2] * shade];
    for ex in [-0.155f32, 0.155] {
        c = mix(
            c,
            [120.0, 85.0, 70.0],
            0.55 * gauss(x, y, ex, 0.0, 0.075, 0.045),
        );
    }
    c = mix(
        c,
        [240.0, 205.0, 180.0],
        0.5 * gauss(x, y, 0.0, 0.08, 0.03, 0.12),
    );
    for nx in [-0.045f32, 0.045] {
        c = mix(
            c,
            [150.0, 110.0, 90.0],
            0.35 * gauss(x, y, nx, 0.12, 0.02, 0.07),
        );
    }
    c = mix(
        c,
        [120.0, 80.0, 65.0],
        0.5 * gauss(x, y, 0.0, 0.205, 0.06, 0.018),
    );
    for nx in [-0.03f32, 0.03] {
        c = mix(
            c,
            [60.0, 35.0, 30.0],
            0.8 * gauss(x, y, nx, 0.195, 0.013, 0.009),
        );
    }
    for cx in [-0.22f32, 0.22] {
        c = mix(
            c,
            [170.0, 125.0, 100.0],
            0.3 * gauss(x, y, cx, 0.2, 0.06, 0.1),
        );
    }
    let lips = inside(1.0, ellipse(x, y, 0.0, 0.29, 0.1, 0.028), 1.5 * px);
    c = mix(c, [150.0, 75.0, 70.0], lips);
    let mouth_line = inside(0.0, (y - 0.29).abs() - 0.004, 1.2 * px) * inside(0.1, x.abs(), px);
    c = mix(c, [70.0, 30.0, 30.0], mouth_line);
    c = mix(
        c,
        [160.0, 120.0, 95.0],
        0.4 * gauss(x, y, 0.0, 0.4, 0.08, 0.03),
    );
    for ex in [-0.155f32, 0.155] {
        let r = ((x - ex).powi(2) + y.powi(2)).sqrt();
        let eye = inside(1.0, ellipse(x, y, ex, 0.0, 0.06, 0.022), 1.2 * px);
        let mut e = mix(
            [235.0, 235.0, 230.0],
            [90.0, 60.0, 40.0],
            inside(0.021, r, 1.2 * px),
        );
        e = mix(e, [15.0, 10.0, 10.0], inside(0.009, r, px));
        c = mix(c, e, eye);
        let lid = inside(1.0, ellipse(x, y, ex, -0.004, 0.064, 0.027), 1.2 * px) * (1.0 - eye);
        c = mix(c, [70.0, 45.0, 40.0], 0.8 * lid);
        let brow = inside(
            1.0,
            ellipse(x, y, ex * 1.03, -0.075, 0.075, 0.014),
            1.5 * px,
        );
        c = mix(c, [55.0, 40.0, 35.0], brow);
    }
    // Hairline across the forehead, curving down at the temples.
    mix(c, HAIR, inside(0.0, y + 0.25 - 0.8 * x * x, 2.0 * px))
}

/// Draws a frontal head and shoulders whose eye line is centred at (`cx`, `cy`) and whose
/// crown-to-chin height is `head` pixels.
pub fn draw_face(img: &mut RgbImage, cx: f32, cy: f32, head: f32) {
    let px = 1.0 / head;
    let (w, h) = img.dimensions();
    // Only the figure's bounding box needs the (costly) per-pixel shading.
    let x0 = (cx - 0.8 * head).max(0.0) as u32;
    let x1 = ((cx + 0.8 * head).max(0.0) as u32).min(w);
    let y0 = (cy - 0.55 * head).max(0.0) as u32;
    for yy in y0..h {
        for xx in x0..x1 {
            let x = (xx as f32 + 0.5 - cx) / head;
            let y = (yy as f32 + 0.5 - cy) / head;
            let mut c = img.get_pixel(xx, yy).0.map(f32::from);
            let torso = inside(1.0, ellipse(x, y, 0.0, 0.95, 0.75, 0.42), 2.0 * px);
            c = mix(c, [60.0, 70.0, 95.0], torso);
            let neck = inside(0.13, x.abs(), 2.0 * px) * inside(-0.35, -y, 2.0 * px);
            c = mix(c, [175.0, 135.0, 110.0], neck * inside(0.75, y, 2.0 * px));
            let hair = inside(1.0, ellipse(x, y, 0.0, -0.02, 0.40, 0.48), 2.0 * px);
            c = mix(c, HAIR, hair * inside(0.1, y, 3.0 * px));
            let d = ellipse(x, y, 0.0, 0.04, 0.36, 0.46);
            let skin = inside(1.0, d, 2.0 * px);
            if skin > 0.0 {
                c = mix(c, face_skin(x, y, d, px), skin);
            }
            for ex in [-0.37f32, 0.37] {
                let ear = inside(1.0, ellipse(x, y, ex, 0.04, 0.035, 0.09), 1.5 * px);
                c = mix(c, [190.0, 140.0, 115.0], ear * (1.0 - skin));
            }
            img.put_pixel(xx, yy, Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8)));
        }
    }
}

/// A `w`×`h` studio-like backdrop: a soft vertical grey-blue gradient.
pub fn backdrop(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |_, y| {
        let f = y as f32 / h.max(1) as f32;
        Rgb([
            (170.0 - 40.0 * f) as u8,
            (175.0 - 40.0 * f) as u8,
            (185.0 - 35.0 * f) as u8,
        ])
    })
}

/// Adds deterministic sensor-like noise of about ±`amplitude` levels (xorshift).
pub fn add_noise(img: &mut RgbImage, amplitude: f32, seed: u32) {
    let mut state = seed | 1;
    for p in img.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = ((state >> 24) as f32 / 255.0 - 0.5) * 2.0 * amplitude;
        p.0 = p.0.map(|v| (v as f32 + n).clamp(0.0, 255.0) as u8);
    }
}

/// A `w`×`h` portrait frame with one face, with mild noise like a webcam sensor.
pub fn portrait(w: u32, h: u32, cx: f32, cy: f32, head: f32) -> RgbImage {
    let mut img = backdrop(w, h);
    draw_face(&mut img, cx, cy, head);
    add_noise(&mut img, 4.0, 0x9e37_79b9);
    img
}

/// Every channel multiplied by `factor` (under- or over-exposure).
pub fn exposed(img: &RgbImage, factor: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 = p.0.map(|v| (v as f32 * factor).clamp(0.0, 255.0) as u8);
    }
    out
}

/// Pulls every pixel towards mid-grey by `amount` (0 = unchanged, 1 = flat grey): haze.
pub fn flattened(img: &RgbImage, amount: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 = p.0.map(|v| (v as f32 + (128.0 - v as f32) * amount) as u8);
    }
    out
}

/// Three passes of a separable box blur of `radius` (close to a Gaussian): defocus.
pub fn blurred(img: &RgbImage, radius: u32) -> RgbImage {
    let mut out = img.clone();
    for _ in 0..3 {
        out = box_pass(&out, radius, true);
        out = box_pass(&out, radius, false);
    }
    out
}

fn box_pass(img: &RgbImage, radius: u32, horizontal: bool) -> RgbImage {
    let (w, h) = img.dimensions();
    let r = radius as i64;
    RgbImage::from_fn(w, h, |x, y| {
        let mut sum = [0u32; 3];
        for k in -r..=r {
            let (sx, sy) = if horizontal {
                ((x as i64 + k).clamp(0, w as i64 - 1) as u32, y)
            } else {
                (x, (y as i64 + k).clamp(0, h as i64 - 1) as u32)
            };
            let p = img.get_pixel(sx, sy).0;
            for c in 0..3 {
                sum[c] += p[c] as u32;
            }
        }
        let n = 2 * radius + 1;
        Rgb(sum.map(|s| ((s + n / 2) / n) as u8))
    })
}

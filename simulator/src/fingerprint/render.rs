//! One impression of a master finger: placement on the sensor, elastic skin distortion,
//! pressure and dryness, grey mapping of an optical reader, noise and blur.

use image::GrayImage;

use super::master::Master;
use super::seed::{smoothstep, Draw, ValueNoise};
use super::{Condition, IMPRESSION_HEIGHT, IMPRESSION_WIDTH};

/// Everything random about one presentation, drawn up front.
struct Presentation {
    rotation: f32,
    shift: (f32, f32),
    scale: f32,
    /// Skin stretch, zero in the close-contact centre and growing outwards.
    warp: (ValueNoise, ValueNoise),
    warp_amplitude: f32,
    /// Ridge-wave threshold: lower is more pressure, thicker ridges.
    threshold: f32,
    threshold_noise: ValueNoise,
    /// Contact outline, as a level of the finger shape.
    contact: f32,
    contact_noise: ValueNoise,
    dryness: ValueNoise,
    dry_cut: f32,
    smudge: ValueNoise,
    smudge_cut: f32,
    background: f32,
    background_noise: ValueNoise,
    ridge_grey: f32,
    noise_sigma: f32,
    blur_passes: usize,
}

impl Presentation {
    fn draw(rng: &mut impl Draw, condition: Condition) -> Presentation {
        let (w, h) = (IMPRESSION_WIDTH as f32, IMPRESSION_HEIGHT as f32);
        let poor = condition == Condition::Poor;
        let max_shift = if poor { 60.0 } else { 30.0 };
        let background = rng.uniform(200.0, 230.0) as f32;
        Presentation {
            rotation: rng.uniform(-17.0, 17.0).to_radians() as f32,
            shift: (
                rng.uniform(-max_shift, max_shift) as f32,
                rng.uniform(-max_shift, max_shift) as f32,
            ),
            scale: rng.uniform(0.97, 1.03) as f32,
            warp: (
                ValueNoise::new(rng, w, h, 150.0),
                ValueNoise::new(rng, w, h, 150.0),
            ),
            warp_amplitude: rng.uniform(4.0, 10.0) as f32,
            threshold: if poor {
                rng.uniform(0.3, 0.5) as f32
            } else {
                rng.uniform(-0.2, 0.2) as f32
            },
            threshold_noise: ValueNoise::new(rng, w, h, 70.0),
            contact: if poor {
                rng.uniform(0.6, 0.75) as f32
            } else {
                rng.uniform(0.9, 1.0) as f32
            },
            contact_noise: ValueNoise::new(rng, w, h, 40.0),
            dryness: ValueNoise::new(rng, w, h, if poor { 10.0 } else { 18.0 }),
            dry_cut: if poor { 0.0 } else { 0.65 },
            smudge: ValueNoise::new(rng, w, h, 60.0),
            smudge_cut: if poor { 0.0 } else { 2.0 },
            background,
            background_noise: ValueNoise::new(rng, w, h, 200.0),
            ridge_grey: if poor {
                background - rng.uniform(22.0, 38.0) as f32
            } else {
                rng.uniform(30.0, 75.0) as f32
            },
            noise_sigma: if poor {
                rng.uniform(7.0, 10.0) as f32
            } else {
                rng.uniform(2.5, 5.0) as f32
            },
            blur_passes: if poor { 4 } else { 1 },
        }
    }
}

pub(crate) fn render(master: &Master, rng: &mut impl Draw, condition: Condition) -> GrayImage {
    let p = Presentation::draw(rng, condition);
    let (w, h) = (IMPRESSION_WIDTH as usize, IMPRESSION_HEIGHT as usize);
    // The sensor centre sits a little below the finger centre, so the tip shows near the top.
    let anchor_out = (w as f32 / 2.0, h as f32 / 2.0 - 20.0);
    let anchor_master = (master.shape.cx, master.shape.cy);
    let (sin, cos) = (-p.rotation).sin_cos();
    let mut grey = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let dx = fx - anchor_out.0 - p.shift.0;
            let dy = fy - anchor_out.1 - p.shift.1;
            let r = (dx * dx + dy * dy).sqrt();
            let stretch = p.warp_amplitude * smoothstep(40.0, 220.0, r);
            let dx = dx + stretch * p.warp.0.at(fx, fy);
            let dy = dy + stretch * p.warp.1.at(fx, fy);
            let mx = anchor_master.0 + (dx * cos - dy * sin) / p.scale;
            let my = anchor_master.1 + (dx * sin + dy * cos) / p.scale;
            grey[y * w + x] = shade(master, &p, fx, fy, mx, my);
        }
    }
    for _ in 0..p.blur_passes {
        binomial_blur(&mut grey, w, h);
    }
    let mut image = GrayImage::new(IMPRESSION_WIDTH, IMPRESSION_HEIGHT);
    for (pixel, &g) in image.pixels_mut().zip(&grey) {
        let noisy = g + p.noise_sigma * rng.normal() as f32;
        pixel.0[0] = noisy.round().clamp(0.0, 255.0) as u8;
    }
    image
}

/// Grey level before blur and sensor noise; (`x`,`y`) on the sensor, (`mx`,`my`) on the master.
fn shade(master: &Master, p: &Presentation, x: f32, y: f32, mx: f32, my: f32) -> f32 {
    let background = p.background + 8.0 * p.background_noise.at(x, y);
    let level = master.shape.level(mx, my) + 0.04 * p.contact_noise.at(x, y);
    // Pressure falls off towards the rim of the contact area, so ridges fade there.
    let contact = smoothstep(p.contact, p.contact - 0.12, level);
    if contact <= 0.0 {
        return background;
    }
    let threshold = p.threshold + 0.12 * p.threshold_noise.at(x, y);
    let wave = master.ridge(mx, my);
    let mut ridge = smoothstep(threshold - 0.25, threshold + 0.25, wave);
    // Dry skin leaves ridges broken into islands.
    let dry = smoothstep(p.dry_cut, p.dry_cut + 0.25, p.dryness.at(x, y));
    ridge *= 1.0 - 0.85 * dry;
    let mut value = background - (background - p.ridge_grey) * ridge * contact;
    // Grease smears flatten the pattern into a mid-grey stain.
    let smudge = smoothstep(p.smudge_cut, p.smudge_cut + 0.3, p.smudge.at(x, y));
    value += (0.5 * (background + p.ridge_grey) - value) * smudge * contact;
    value
}

/// In-place separable [1 2 1]/4 blur with clamped edges.
fn binomial_blur(data: &mut [f32], w: usize, h: usize) {
    let mut tmp = vec![0.0f32; data.len()];
    for y in 0..h {
        let row = &data[y * w..][..w];
        for x in 0..w {
            let l = row[x.saturating_sub(1)];
            let r = row[(x + 1).min(w - 1)];
            tmp[y * w + x] = 0.25 * l + 0.5 * row[x] + 0.25 * r;
        }
    }
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            data[y * w + x] =
                0.25 * tmp[up * w + x] + 0.5 * tmp[y * w + x] + 0.25 * tmp[down * w + x];
        }
    }
}

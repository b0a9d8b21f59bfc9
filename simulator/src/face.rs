//! Synthetic face frames: a shaded procedural head and shoulders on a wall, 640×480, that a
//! frontal face detector finds; each subject has its own look, each variation its own pose
//! offset, lighting and sensor noise. (Interface fixed.)

use image::RgbImage;

mod canvas;

use crate::fingerprint::seed::{smoothstep, Draw, SeedHasher};
use canvas::{arc, scale, Canvas, Colour};

pub const FRAME_WIDTH: u32 = 640;
pub const FRAME_HEIGHT: u32 = 480;

/// A 640×480 frame of `subject`'s synthetic face; `variation` changes pose/lighting slightly.
/// The head (crown to chin) spans about 70–78 % of the frame height, roughly centred.
pub fn frame(subject: &str, variation: u32) -> RgbImage {
    let look = Look::of(subject);
    let mut rng = SeedHasher::new("spid-sim/face/variation/v1")
        .str(subject)
        .u64(u64::from(variation))
        .rng();
    let scene = SceneLight::draw(&mut rng);
    let mut canvas = Canvas::background(&scene, &mut rng);
    let pose = Pose {
        cx: 320.0 + rng.uniform(-12.0, 12.0) as f32,
        crown: 52.0 + rng.uniform(-8.0, 8.0) as f32,
        height: look.head_height * rng.uniform(0.98, 1.02) as f32,
    };
    paint_person(&mut canvas, &look, &pose, &scene);
    canvas.finish(&scene, &mut rng)
}

/// A 640×480 frame with nobody in it.
pub fn empty_frame(variation: u32) -> RgbImage {
    let mut rng = SeedHasher::new("spid-sim/face/empty/v1")
        .u64(u64::from(variation))
        .rng();
    let scene = SceneLight::draw(&mut rng);
    let canvas = Canvas::background(&scene, &mut rng);
    canvas.finish(&scene, &mut rng)
}

/// What stays the same about a subject from frame to frame.
struct Look {
    skin: Colour,
    hair: Colour,
    iris: Colour,
    shirt: Colour,
    long_hair: bool,
    head_height: f32,
    width_ratio: f32,
    eye_spacing: f32,
}

impl Look {
    fn of(subject: &str) -> Look {
        let mut rng = SeedHasher::new("spid-sim/face/subject/v1")
            .str(subject)
            .rng();
        const SKINS: [Colour; 6] = [
            [236.0, 200.0, 172.0],
            [226.0, 180.0, 150.0],
            [205.0, 155.0, 120.0],
            [178.0, 128.0, 95.0],
            [140.0, 96.0, 68.0],
            [105.0, 72.0, 52.0],
        ];
        const HAIRS: [Colour; 6] = [
            [28.0, 24.0, 22.0],
            [55.0, 38.0, 28.0],
            [95.0, 65.0, 42.0],
            [175.0, 145.0, 100.0],
            [140.0, 138.0, 135.0],
            [120.0, 60.0, 35.0],
        ];
        const IRISES: [Colour; 4] = [
            [70.0, 45.0, 30.0],
            [40.0, 30.0, 25.0],
            [70.0, 100.0, 130.0],
            [80.0, 100.0, 70.0],
        ];
        let jitter = |rng: &mut rand_chacha::ChaCha8Rng, c: Colour| {
            let k = rng.uniform(0.94, 1.06) as f32;
            c.map(|v| (v * k).min(255.0))
        };
        let skin = SKINS[rng.below(6) as usize];
        let skin = jitter(&mut rng, skin);
        let hair = HAIRS[rng.below(6) as usize];
        let hair = jitter(&mut rng, hair);
        let iris = IRISES[rng.below(4) as usize];
        let shirt = [
            rng.uniform(30.0, 200.0) as f32,
            rng.uniform(30.0, 200.0) as f32,
            rng.uniform(30.0, 200.0) as f32,
        ];
        Look {
            skin,
            hair,
            iris,
            shirt,
            long_hair: rng.unit() < 0.4,
            head_height: rng.uniform(385.0, 400.0) as f32,
            width_ratio: rng.uniform(0.36, 0.40) as f32,
            eye_spacing: rng.uniform(0.145, 0.165) as f32,
        }
    }
}

struct Pose {
    cx: f32,
    crown: f32,
    height: f32,
}

/// Lighting of one frame: key light direction, exposure, wall colour.
pub(crate) struct SceneLight {
    light: [f32; 3],
    pub(crate) exposure: f32,
    pub(crate) wall: Colour,
    pub(crate) noise_sigma: f32,
}

impl SceneLight {
    fn draw(rng: &mut impl Draw) -> SceneLight {
        let (lx, ly) = (
            rng.uniform(-0.35, 0.35) as f32,
            rng.uniform(-0.45, -0.15) as f32,
        );
        let norm = (lx * lx + ly * ly + 1.0).sqrt();
        let grey = rng.uniform(170.0, 215.0) as f32;
        SceneLight {
            light: [lx / norm, ly / norm, 1.0 / norm],
            exposure: rng.uniform(0.92, 1.06) as f32,
            wall: [
                grey + rng.uniform(-8.0, 8.0) as f32,
                grey + rng.uniform(-8.0, 8.0) as f32,
                grey + rng.uniform(-4.0, 12.0) as f32,
            ],
            noise_sigma: rng.uniform(1.5, 3.5) as f32,
        }
    }
}

fn paint_person(canvas: &mut Canvas, look: &Look, pose: &Pose, scene: &SceneLight) {
    let h = pose.height;
    let cx = pose.cx;
    let head_cy = pose.crown + 0.5 * h;
    let rx = look.width_ratio * h;
    let ry = 0.5 * h;
    let skin = look.skin;
    let light = scene.light;

    // Long hair falls behind the neck onto the shoulders.
    if look.long_hair {
        canvas.ellipse(
            (cx, head_cy + 0.2 * h),
            (rx * 1.2, ry * 1.05),
            4.0,
            1.0,
            |_, _| scale(look.hair, 0.85),
        );
    }
    // Shoulders and neck.
    canvas.ellipse(
        (cx, pose.crown + 1.32 * h),
        (1.05 * h, 0.36 * h),
        3.0,
        1.0,
        |x, _| scale(look.shirt, 0.9 + 0.15 * ((x - cx) / h) * light[0].signum()),
    );
    let neck_top = head_cy + 0.2 * h;
    canvas.region(
        cx - 0.2 * h,
        neck_top,
        cx + 0.2 * h,
        pose.crown + 1.2 * h,
        |x, y| {
            let edge = smoothstep(0.2 * h, 0.18 * h, (x - cx).abs());
            // The jaw shades the top of the neck.
            let k = 0.62 + 0.18 * smoothstep(head_cy + 0.5 * h, head_cy + 0.7 * h, y);
            (edge, scale(skin, k))
        },
    );
    // Ears.
    for side in [-1.0, 1.0] {
        canvas.ellipse(
            (cx + side * rx * 0.97, head_cy + 0.03 * h),
            (0.05 * h, 0.1 * h),
            2.0,
            1.0,
            |_, _| scale(skin, 0.82),
        );
    }
    // Face: an egg-shaped ellipsoid, lit from the scene's key light.
    canvas.region(
        cx - rx - 3.0,
        pose.crown - 3.0,
        cx + rx + 3.0,
        pose.crown + h + 3.0,
        |x, y| {
            let v = (y - head_cy) / ry;
            let jaw = 1.0 - 0.22 * v.max(0.0).powi(2);
            let u = (x - cx) / (rx * jaw);
            let r2: f32 = u * u + v * v;
            let d = (r2.sqrt() - 1.0) * rx;
            let nz = (1.0 - r2).max(0.0).sqrt();
            let lambert = (u * light[0] + v * light[1] + nz * light[2]).max(0.0);
            (smoothstep(2.5, -2.5, d), scale(skin, 0.5 + 0.55 * lambert))
        },
    );
    // Hair over the top of the head, down to a curved hairline.
    let hairline = pose.crown + 0.2 * h;
    canvas.region(
        cx - rx * 1.1,
        pose.crown - 12.0,
        cx + rx * 1.1,
        head_cy + 0.1 * h,
        |x, y| {
            let u = (x - cx) / (rx * 1.05);
            let v = (y - head_cy) / (ry + 8.0);
            let inside = smoothstep(1.02, 0.98, (u * u + v * v).sqrt());
            let line = hairline + 0.12 * h * u * u + 0.03 * h * (u * 9.0).sin().abs();
            let sides = smoothstep(0.8, 0.9, u.abs())
                * smoothstep(head_cy + 0.1 * h, head_cy - 0.05 * h, y);
            let cover = inside * smoothstep(line + 2.0, line - 2.0, y).max(sides);
            (cover, scale(look.hair, 0.9 + 0.2 * (1.0 - v.abs())))
        },
    );

    let eye_y = pose.crown + 0.47 * h;
    let eye_dx = look.eye_spacing * h;
    for side in [-1.0f32, 1.0] {
        let ex = cx + side * eye_dx;
        // Sockets: the brow ridge and nose shade the eyes, the strongest cue detectors use.
        canvas.shade((ex, eye_y - 0.005 * h), (0.075 * h, 0.045 * h), 0.35);
        canvas.stroke(
            &arc(
                (ex - side * 0.07 * h, eye_y - 0.055 * h),
                (ex + side * 0.085 * h, eye_y - 0.06 * h),
                -0.025 * h,
            ),
            0.022 * h,
            0.9,
            scale(look.hair, 0.8),
        );
        let (ew, eh) = (0.05 * h, 0.02 * h);
        canvas.ellipse((ex, eye_y), (ew, eh), 1.5, 1.0, |_, _| {
            [225.0, 220.0, 212.0]
        });
        canvas.ellipse((ex, eye_y), (0.8 * eh, 0.9 * eh), 1.0, 1.0, |_, _| {
            look.iris
        });
        canvas.ellipse((ex, eye_y), (0.35 * eh, 0.35 * eh), 1.0, 1.0, |_, _| {
            [15.0, 12.0, 12.0]
        });
        canvas.stroke(
            &arc((ex - ew, eye_y + 1.0), (ex + ew, eye_y + 1.0), -2.0 * eh),
            0.008 * h,
            0.9,
            [35.0, 25.0, 22.0],
        );
    }
    // Nose: a lit bridge between shaded flanks, a bright tip, dark nostrils.
    let tip_y = pose.crown + 0.65 * h;
    canvas.shade((cx, 0.5 * (eye_y + tip_y)), (0.018 * h, 0.09 * h), -0.12);
    for side in [-1.0f32, 1.0] {
        let k = 0.2 + 0.1 * side * light[0].signum();
        canvas.shade(
            (cx + side * 0.045 * h, 0.45 * eye_y + 0.55 * tip_y),
            (0.015 * h, 0.07 * h),
            k,
        );
        canvas.ellipse(
            (cx + side * 0.03 * h, tip_y + 0.012 * h),
            (0.014 * h, 0.008 * h),
            1.5,
            0.85,
            |_, _| scale(skin, 0.3),
        );
    }
    canvas.shade((cx, tip_y - 0.01 * h), (0.025 * h, 0.018 * h), -0.1);
    canvas.shade((cx, tip_y + 0.035 * h), (0.05 * h, 0.012 * h), 0.2);
    // Mouth, closed and neutral.
    let mouth_y = pose.crown + 0.77 * h;
    let lips = [skin[0] * 0.8, skin[1] * 0.55, skin[2] * 0.55];
    canvas.ellipse(
        (cx, mouth_y - 0.008 * h),
        (0.085 * h, 0.012 * h),
        1.5,
        0.9,
        |_, _| lips,
    );
    canvas.ellipse(
        (cx, mouth_y + 0.012 * h),
        (0.075 * h, 0.016 * h),
        1.5,
        0.8,
        |_, _| scale(lips, 1.1),
    );
    canvas.stroke(
        &[(cx - 0.09 * h, mouth_y), (cx + 0.09 * h, mouth_y)],
        0.008 * h,
        0.9,
        scale(skin, 0.35),
    );
    canvas.shade((cx, mouth_y + 0.045 * h), (0.06 * h, 0.015 * h), 0.15);
}

#[cfg(test)]
mod tests {
    use super::*;

    use biometrics::face::{FaceCheck, FaceChecker};

    #[test]
    fn frames_are_deterministic_and_sized() {
        let a = frame("52998224725", 3);
        assert_eq!(a.dimensions(), (FRAME_WIDTH, FRAME_HEIGHT));
        assert_eq!(a, frame("52998224725", 3));
        assert_eq!(empty_frame(4), empty_frame(4));
        assert_ne!(a, frame("52998224725", 4));
        assert_ne!(a, frame("11144477735", 3));
    }

    #[test]
    fn subjects_look_different() {
        let a = frame("52998224725", 0);
        let b = frame("11144477735", 0);
        let diff: f64 = a
            .pixels()
            .zip(b.pixels())
            .map(|(p, q)| {
                (0..3)
                    .map(|k| (f64::from(p.0[k]) - f64::from(q.0[k])).abs())
                    .sum::<f64>()
            })
            .sum::<f64>()
            / f64::from(FRAME_WIDTH * FRAME_HEIGHT * 3);
        assert!(diff > 8.0, "{diff}");
    }

    /// The station's own face checks (rustface inside) see exactly one face in every frame,
    /// and among the few movements a presentation cycles through at least one frame passes
    /// every check: what the daemon's best-of-frames capture relies on.
    #[test]
    fn the_station_sees_one_compliant_face() {
        let checker = FaceChecker::new(Default::default());
        for (subject, presentation) in [
            ("52998224725", 0),
            ("11144477735", 1),
            ("00000000191", 2),
            ("12345678909", 7),
            ("impostor", 0),
        ] {
            let reports: Vec<_> = (0..4)
                .map(|movement| checker.check(&frame(subject, presentation * 4 + movement)))
                .collect();
            for r in &reports {
                assert_eq!(r.faces.len(), 1, "{subject}/{presentation}: {r:?}");
                let centre_x = r.check(FaceCheck::CentreX).expect("centring measured");
                assert!(centre_x.passed, "{subject}/{presentation}: {centre_x:?}");
            }
            assert!(
                reports.iter().any(|r| r.passed && r.score >= 70),
                "{subject}/{presentation}: no compliant frame: {:?}",
                reports.iter().map(|r| r.score).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn empty_frames_have_no_face() {
        let checker = FaceChecker::new(Default::default());
        for variation in 0..3 {
            let report = checker.check(&empty_frame(variation));
            assert!(report.faces.is_empty(), "{report:?}");
            assert_eq!(report.score, 0);
        }
    }
}

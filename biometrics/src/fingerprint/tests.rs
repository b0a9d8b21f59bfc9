//! End-to-end tests of the fingerprint pipeline on synthetic patterns and a real capture.

use super::testutil::{
    add_noise, aes3500, blur, finger, finger_view, ridges_with_minutiae, to_gray, Placement,
};
use super::*;

/// Spiral minutiae on a 55 px lattice over the finger, alternating in sense.
fn lattice_minutiae() -> Vec<(f32, f32, f32)> {
    scattered_minutiae(0)
}

/// Spiral minutiae spread over the finger, jittered by `seed` (0 = a regular lattice).
fn scattered_minutiae(seed: u32) -> Vec<(f32, f32, f32)> {
    let mut s = seed.wrapping_mul(2_654_435_761);
    let mut jitter = || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        if seed == 0 {
            0.0
        } else {
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 30.0
        }
    };
    let mut v = Vec::new();
    for gy in 0..7 {
        for gx in 0..5 {
            let x = 90.0 + 55.0 * gx as f32 + 20.0 * (gy % 2) as f32 + jitter();
            let y = 90.0 + 55.0 * gy as f32 + jitter();
            let sense = if (gx + gy + seed as usize) & 1 == 0 {
                1.0
            } else {
                -1.0
            };
            if ((x - 200.0) / 150.0).powi(2) + ((y - 260.0) / 200.0).powi(2) < 1.0 {
                v.push((x, y, sense));
            }
        }
    }
    v
}

fn clean_finger() -> GrayImage {
    let mut p = finger(400, 500, 9.0, 150.0, &lattice_minutiae());
    add_noise(&mut p, 6.0, 1);
    to_gray(&p)
}

#[test]
fn blank_uniform_and_noise_score_very_low() {
    let blank = GrayImage::from_pixel(400, 500, image::Luma([255]));
    let grey = GrayImage::from_pixel(400, 500, image::Luma([128]));
    let mut noise = super::raster::Plane::new(400, 500);
    noise.data.iter_mut().for_each(|v| *v = 128.0);
    add_noise(&mut noise, 50.0, 9);
    let noise = to_gray(&noise);
    for (name, img) in [("blank", blank), ("grey", grey), ("noise", noise)] {
        let q = quality(&img, 500);
        assert!(q.score < 10, "{name}: {q:?}");
    }
    assert_eq!(quality(&GrayImage::new(0, 0), 500).score, 0);
    assert_eq!(quality(&GrayImage::new(5, 5), 500).score, 0);
}

#[test]
fn clean_print_scores_high() {
    let q = quality(&clean_finger(), 500);
    eprintln!("{q:?}");
    assert!(q.score > 60, "{q:?}");
    assert!((8.0..10.0).contains(&q.ridge_period_px), "{q:?}");
}

#[test]
fn smudged_dry_low_contrast_print_scores_low() {
    let p = finger(400, 500, 9.0, 35.0, &lattice_minutiae());
    let mut p = blur(&p, 3);
    add_noise(&mut p, 14.0, 4);
    let q = quality(&to_gray(&p), 500);
    eprintln!("{q:?}");
    assert!(q.score < 35, "{q:?}");
}

#[test]
fn real_aes3500_capture_is_plausible() {
    let img = aes3500();
    // The AES3500 driver doubles its 128×128, 500 ppi sensor image: the file is 1000 ppi.
    let q = quality(&img, 1000);
    eprintln!("{q:?}");
    assert!((7.0..12.0).contains(&q.ridge_period_px), "{q:?}");
    // Read as 500 ppi its ridges would be 1 mm apart: no human finger.
    let as_500 = quality(&img, 500);
    assert!(as_500.ridge_period_px > 16.0, "{as_500:?}");
    assert!(as_500
        .feedback
        .contains(&QualityFeedback::ImplausibleRidgeFrequency));
    // 6.5 mm × 6.5 mm of finger is far less than a flat optical capture.
    assert!(q.feedback.contains(&QualityFeedback::SmallArea), "{q:?}");
    assert!(q.score < DEFAULT_QUALITY_THRESHOLD, "{q:?}");
}

#[test]
fn spiral_minutiae_are_found_where_they_are() {
    let truth = [
        (80.0, 90.0, 1.0),
        (170.0, 110.0, -1.0),
        (120.0, 180.0, 1.0),
        (200.0, 210.0, -1.0),
    ];
    let p = ridges_with_minutiae(280, 300, 0.5, 9.0, &truth);
    let t = Template::extract(&to_gray(&p), 500);
    for &(x, y, _) in &truth {
        let near = t
            .minutiae
            .iter()
            .any(|m| (m.x as f32 - x).hypot(m.y as f32 - y) < 9.0);
        assert!(near, "minutia at ({x},{y}) missed: {:?}", t.minutiae);
    }
    // The pattern holds no other minutiae, apart from a few where the border cuts ridges.
    assert!(t.minutiae.len() <= truth.len() + 2, "{:?}", t.minutiae);
}

#[test]
fn template_round_trips_through_iso() {
    let t = Template::extract(&clean_finger(), 500).with_finger_position(7);
    assert!(t.minutiae.len() >= 3);
    let back = Template::from_iso19794_2(&t.to_iso19794_2()).unwrap();
    assert_eq!(back, t);
    assert!(compare(&back, &t).matched);
}

#[test]
fn other_resolutions_are_resampled() {
    let img = clean_finger();
    let small = image::imageops::resize(&img, 328, 410, image::imageops::FilterType::Triangle);
    let q = quality(&small, 410);
    assert!((8.0..10.0).contains(&q.ridge_period_px), "{q:?}");
}

#[test]
fn matches_across_rotation_translation_and_distortion() {
    let ms = scattered_minutiae(3);
    let mut a = finger_view(400, 500, 9.0, 140.0, &ms, &Placement::default());
    add_noise(&mut a, 8.0, 11);
    let placement = Placement {
        rotation: 0.45,
        shift: (25.0, -35.0),
        warp: 6.0,
    };
    let mut b = finger_view(400, 500, 9.0, 140.0, &ms, &placement);
    add_noise(&mut b, 8.0, 12);
    let (ta, tb) = (
        Template::extract(&to_gray(&a), 500),
        Template::extract(&to_gray(&b), 500),
    );
    let d = compare_detailed(&ta, &tb);
    eprintln!("{d:?}");
    assert!(d.result.matched, "{d:?}");
    // Symmetric enough that the order of the templates does not flip the decision.
    assert!(compare(&tb, &ta).matched);
}

#[test]
fn different_fingers_do_not_match() {
    let (a, b) = (scattered_minutiae(5), scattered_minutiae(8));
    let ta = Template::extract(&to_gray(&finger(400, 500, 9.0, 140.0, &a)), 500);
    let tb = Template::extract(&to_gray(&finger(400, 500, 9.5, 140.0, &b)), 500);
    let d = compare_detailed(&ta, &tb);
    eprintln!("{d:?}");
    assert!(!d.result.matched, "{d:?}");
}

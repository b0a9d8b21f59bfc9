//! Face checks end to end on procedural faces: a compliant frame passes, and each defect
//! fails its own check.

use image::{Rgb, RgbImage};

use super::testface::{add_noise, backdrop, blurred, draw_face, exposed, flattened, portrait};
use super::*;

/// Eye line at the frame centre, crown-to-chin 375 px: the estimated face height lands in
/// the middle of 70–80 % of 480.
fn compliant() -> RgbImage {
    portrait(640, 480, 320.0, 240.0, 375.0)
}

fn check(frame: &RgbImage) -> FaceReport {
    FaceChecker::new(FaceCheckConfig::default()).check(frame)
}

fn failed(report: &FaceReport) -> Vec<FaceCheck> {
    report.failures().map(|c| c.check).collect()
}

fn value(report: &FaceReport, check: FaceCheck) -> f64 {
    report.check(check).expect("check measured").value
}

#[test]
fn compliant_frame_passes_every_check_and_clears_the_gate() {
    let report = check(&compliant());
    assert!(report.passed, "{report:#?}");
    assert!(report.score >= 70, "score {}", report.score);
    assert_eq!(report.faces.len(), 1);
    assert_eq!(report.checks.len(), 9, "every check measured");
    let face = report.faces[0];
    assert!(face.score > 2.0);
    // The box is near the middle of the frame, around the drawn face.
    assert!((face.centre_x() - 320.0).abs() < 20.0, "{face:?}");
}

#[test]
fn uniform_frame_has_no_face_and_scores_zero() {
    let report = check(&RgbImage::from_pixel(640, 480, Rgb([128, 128, 128])));
    assert_eq!(failed(&report), vec![FaceCheck::OneFace]);
    assert_eq!(value(&report, FaceCheck::OneFace), 0.0);
    assert_eq!(report.score, 0);
    assert!(report.check(FaceCheck::Brightness).is_none());
}

#[test]
fn noise_frame_has_no_face_and_scores_zero() {
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    add_noise(&mut frame, 100.0, 7);
    let report = check(&frame);
    assert_eq!(failed(&report), vec![FaceCheck::OneFace]);
    assert_eq!(report.score, 0);
}

#[test]
fn two_faces_fail_one_face_and_score_zero() {
    let mut frame = backdrop(640, 480);
    draw_face(&mut frame, 170.0, 220.0, 220.0);
    draw_face(&mut frame, 470.0, 220.0, 220.0);
    add_noise(&mut frame, 4.0, 3);
    let report = check(&frame);
    assert_eq!(report.faces.len(), 2, "{:?}", report.faces);
    assert_eq!(failed(&report), vec![FaceCheck::OneFace]);
    assert_eq!(value(&report, FaceCheck::OneFace), 2.0);
    assert_eq!(report.score, 0);
}

#[test]
fn small_face_fails_face_height() {
    let report = check(&portrait(640, 480, 320.0, 240.0, 200.0));
    assert_eq!(failed(&report), vec![FaceCheck::FaceHeight]);
    assert!(value(&report, FaceCheck::FaceHeight) < 0.6);
    assert!(report.score < 50);
}

#[test]
fn large_face_fails_face_height() {
    let report = check(&portrait(640, 480, 320.0, 240.0, 480.0));
    assert_eq!(failed(&report), vec![FaceCheck::FaceHeight]);
    assert!(value(&report, FaceCheck::FaceHeight) > 0.85);
    assert!(report.score < 50);
}

#[test]
fn face_off_to_the_side_fails_centre_x() {
    let report = check(&portrait(640, 480, 470.0, 240.0, 375.0));
    assert!(failed(&report).contains(&FaceCheck::CentreX), "{report:#?}");
    assert!(value(&report, FaceCheck::CentreX) > 0.15);
    assert!(report.score < 50);
}

#[test]
fn face_too_high_fails_centre_y() {
    let report = check(&portrait(640, 480, 320.0, 165.0, 375.0));
    assert!(failed(&report).contains(&FaceCheck::CentreY), "{report:#?}");
    assert!(value(&report, FaceCheck::CentreY) < -0.1);
    assert!(report.score < 50);
}

#[test]
fn dark_frame_fails_brightness() {
    let report = check(&exposed(&compliant(), 0.3));
    assert!(
        failed(&report).contains(&FaceCheck::Brightness),
        "{report:#?}"
    );
    assert!(value(&report, FaceCheck::Brightness) < 60.0);
    assert!(report.score < 50);
}

#[test]
fn overexposed_frame_fails_brightness() {
    let report = check(&exposed(&compliant(), 1.6));
    assert!(
        failed(&report).contains(&FaceCheck::Brightness),
        "{report:#?}"
    );
    assert!(value(&report, FaceCheck::Brightness) > 200.0);
}

#[test]
fn hazy_frame_fails_contrast() {
    let report = check(&flattened(&compliant(), 0.8));
    assert!(
        failed(&report).contains(&FaceCheck::Contrast),
        "{report:#?}"
    );
    assert!(!failed(&report).contains(&FaceCheck::Brightness));
}

#[test]
fn blurred_frame_fails_sharpness_only() {
    let report = check(&blurred(&compliant(), 2));
    assert_eq!(failed(&report), vec![FaceCheck::Sharpness], "{report:#?}");
    assert!(report.score < 50);
}

#[test]
fn low_resolution_frame_fails_frame_size() {
    let report = check(&portrait(320, 240, 160.0, 120.0, 188.0));
    let failures = failed(&report);
    assert!(failures.contains(&FaceCheck::FrameWidth), "{report:#?}");
    assert!(failures.contains(&FaceCheck::FrameHeight));
    assert_eq!(value(&report, FaceCheck::OneFace), 1.0);
    assert!(report.score < 50);
}

#[test]
fn empty_frame_fails_without_panicking() {
    let report = check(&RgbImage::new(0, 0));
    assert!(!report.passed);
    assert_eq!(report.score, 0);
}

#[test]
fn a_milder_defect_scores_higher_than_a_severe_one() {
    let mild = check(&portrait(640, 480, 320.0, 240.0, 300.0));
    let severe = check(&portrait(640, 480, 320.0, 240.0, 200.0));
    assert!(!mild.passed && !severe.passed);
    assert!(
        mild.score > severe.score,
        "{} vs {}",
        mild.score,
        severe.score
    );
}

#[test]
fn bounds_follow_the_config() {
    let config = FaceCheckConfig {
        face_height_min: 0.3,
        face_height_max: 0.5,
        ..FaceCheckConfig::default()
    };
    let frame = portrait(640, 480, 320.0, 240.0, 200.0);
    let report = FaceChecker::new(config).check(&frame);
    assert!(report.passed, "{report:#?}");
    let height = report.check(FaceCheck::FaceHeight).unwrap();
    assert_eq!((height.min, height.max), (Some(0.3), Some(0.5)));
}

#[test]
fn unusable_settings_are_rejected_or_replaced() {
    let bad = FaceCheckConfig {
        detector_score_threshold: 0.0,
        ..FaceCheckConfig::default()
    };
    assert!(matches!(
        FaceChecker::try_new(bad.clone()),
        Err(FaceError::InvalidConfig {
            field: "detector_score_threshold",
            ..
        })
    ));
    // rustface panics on a threshold ≤ 0; `new` must not pass it through.
    let checker = FaceChecker::new(bad);
    assert_eq!(checker.config().detector_score_threshold, 2.0);
    assert!(checker.check(&compliant()).passed);

    let inverted = FaceCheckConfig {
        brightness_min: 210.0,
        ..FaceCheckConfig::default()
    };
    assert!(inverted.validate().is_err());
    assert!(FaceCheckConfig::default().validate().is_ok());
}

#[test]
fn checker_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FaceChecker>();
    let checker = std::sync::Arc::new(FaceChecker::new(FaceCheckConfig::default()));
    let frame = std::sync::Arc::new(compliant());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (checker, frame) = (checker.clone(), frame.clone());
            std::thread::spawn(move || checker.check(&frame))
        })
        .collect();
    for handle in handles {
        assert!(handle.join().unwrap().passed);
    }
}

#[test]
fn compliant_photo_encodes_under_the_default_cap() {
    let jpeg = encode_jpeg(&compliant(), DEFAULT_MAX_JPEG_BYTES).unwrap();
    assert!(jpeg.len() <= DEFAULT_MAX_JPEG_BYTES);
    let decoded = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
}

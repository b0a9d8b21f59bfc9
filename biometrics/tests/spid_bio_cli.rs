//! Runs the built `spid-bio` binary on synthetic prints written as PNG, BMP, TIFF and PGM,
//! and on the real AuthenTec AES3500 capture, checking output, files and exit codes.

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_spid-bio");
const AES3500: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/libfprint-aes3500/capture.png"
);

/// A fresh directory per test under Cargo's scratch space for integration tests, removed
/// when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "spid-bio-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A 500 ppi print: concentric ridges of ~9 px period around a core below the image, so
/// the orientation varies smoothly, with phase singularities (each a ridge ending or
/// bifurcation) scattered over the finger at `turn` radians from each other. Outside an
/// ellipse is bare sensor.
fn ridge_print(w: u32, h: u32, turn: f32) -> GrayImage {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let defects: Vec<(f32, f32, f32)> = (0..24)
        .map(|k| {
            let angle = k as f32 * turn;
            let radius = 20.0 + 4.5 * k as f32;
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            (cx + radius * angle.cos(), cy + radius * angle.sin(), sign)
        })
        .collect();
    GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let ellipse =
            ((fx - cx) / (w as f32 * 0.43)).powi(2) + ((fy - cy) / (h as f32 * 0.45)).powi(2);
        if ellipse > 1.0 {
            return Luma([225]);
        }
        let mut phase = 2.0 * PI * (fx - cx).hypot(fy + h as f32 * 0.5) / 9.0;
        for &(dx, dy, sign) in &defects {
            phase += sign * (fy - dy).atan2(fx - dx);
        }
        Luma([(125.0 + 85.0 * phase.cos()) as u8])
    })
}

fn write_print(dir: &Path, file: &str, format: ImageFormat) -> PathBuf {
    let path = dir.join(file);
    ridge_print(240, 300, 2.4)
        .save_with_format(&path, format)
        .unwrap();
    path
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("spid-bio runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).expect("stdout is JSON")
}

/// Exit 2 with exactly one line on stderr, which says `what`.
fn assert_bad_input(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(
        err.starts_with("spid-bio: ") && err.contains(what),
        "stderr: {err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn quality_reads_every_image_format_in_text_and_json() {
    let dir = scratch("quality");
    for (file, format) in [
        ("print.png", ImageFormat::Png),
        ("print.bmp", ImageFormat::Bmp),
        ("print.tif", ImageFormat::Tiff),
        ("print.pgm", ImageFormat::Pnm),
    ] {
        let path = write_print(&dir, file, format);
        let report = json(&run(&[&"--json", &"quality", &path]));
        assert!(report["score"].as_u64().unwrap() >= 40, "{file}: {report}");
        assert_eq!(report["passes"], true);
        assert_eq!(report["ppi"], 500);
        let period = report["sub_scores"]["ridge_period_px"].as_f64().unwrap();
        assert!((7.5..=10.5).contains(&period), "{file}: period {period}");
        assert!(report["feedback"].is_array());

        let text = stdout(&run(&[&"quality", &path]));
        assert!(text.starts_with("quality "), "{text}");
        assert!(text.contains("passes the capture gate"), "{text}");
        assert!(text.contains("orientation_certainty") && text.contains("feedback:"));
    }
}

#[test]
fn template_then_match_against_image_and_template() {
    let dir = scratch("match");
    let png = write_print(&dir, "print.png", ImageFormat::Png);
    let iso = dir.join("print.iso");
    let written = json(&run(&[
        &"--json",
        &"template",
        &png,
        &iso,
        &"--finger",
        &"2",
    ]));
    let record = std::fs::read(&iso).unwrap();
    assert!(record.starts_with(b"FMR\0"));
    assert_eq!(written["bytes"], record.len());
    assert!(written["minutiae"].as_u64().unwrap() >= 8, "{written}");
    let text = stdout(&run(&[&"template", &png, &dir.join("again.iso")]));
    assert!(
        text.starts_with("wrote ") && text.contains("minutiae"),
        "{text}"
    );

    let image_vs_template = json(&run(&[&"--json", &"match", &png, &iso]));
    assert_eq!(image_vs_template["matched"], true, "{image_vs_template}");
    assert_eq!(
        image_vs_template["a"]["source"],
        "image at 500 ppi (default)"
    );
    assert_eq!(image_vs_template["b"]["source"], "template");
    let template_vs_template = json(&run(&[&"--json", &"match", &iso, &iso]));
    assert_eq!(template_vs_template["matched"], true);
    let score = template_vs_template["score"].as_f64().unwrap();
    assert!(score >= 2.0 * 40.0, "score {score}");

    let text = stdout(&run(&[&"match", &iso, &png]));
    assert!(
        text.starts_with("score ") && text.contains(": match\n"),
        "{text}"
    );
}

#[test]
fn different_prints_do_not_match() {
    let dir = scratch("nonmatch");
    let a = write_print(&dir, "a.png", ImageFormat::Png);
    let b = dir.join("b.png");
    // Another finger: the same ridge flow with its minutiae elsewhere.
    ridge_print(240, 300, 1.1).save(&b).unwrap();
    let report = json(&run(&[&"--json", &"match", &a, &b]));
    assert_eq!(report["matched"], false, "{report}");
}

#[test]
fn wsq_round_trip_keeps_image_and_ppi() {
    let dir = scratch("wsq");
    let png = write_print(&dir, "print.png", ImageFormat::Png);
    let wsq = dir.join("print.wsq");
    let encoded = json(&run(&[
        &"--json", &"wsq", &"encode", &png, &wsq, &"--ppi", &"1000",
    ]));
    let bpp = encoded["bits_per_pixel"].as_f64().unwrap();
    assert!(bpp > 0.3 && bpp < 1.5, "{encoded}");
    assert_eq!(encoded["ppi"], 1000);
    let text = stdout(&run(&[
        &"wsq",
        &"encode",
        &png,
        &dir.join("b.wsq"),
        &"--bitrate",
        &"2.25",
    ]));
    assert!(
        text.contains("bits per pixel for a target of 2.25"),
        "{text}"
    );

    let back = dir.join("back.png");
    let decoded = json(&run(&[&"--json", &"wsq", &"decode", &wsq, &back]));
    assert_eq!(decoded["ppi"], 1000);
    assert_eq!(
        (decoded["width"].clone(), decoded["height"].clone()),
        (240.into(), 300.into())
    );
    let original = image::open(&png).unwrap().to_luma8();
    let restored = image::open(&back).unwrap().to_luma8();
    let mean_error = original
        .pixels()
        .zip(restored.pixels())
        .map(|(a, b)| (a[0] as f64 - b[0] as f64).abs())
        .sum::<f64>()
        / (240.0 * 300.0);
    assert!(mean_error < 12.0, "mean absolute error {mean_error}");
    // The decoded PNG states 1000 ppi, and the WSQ file itself is an accepted input.
    let from_png = json(&run(&[&"--json", &"quality", &back]));
    assert_eq!(
        (from_png["ppi"].clone(), from_png["ppi_source"].clone()),
        (1000.into(), "file".into())
    );
    let from_wsq = json(&run(&[&"--json", &"quality", &wsq]));
    assert_eq!(from_wsq["ppi"], 1000);
    let text = stdout(&run(&[&"wsq", &"decode", &wsq, &dir.join("back.pgm")]));
    assert!(text.contains("1000 ppi"), "{text}");
}

#[test]
fn face_reports_every_check_for_colour_and_grey_images() {
    let dir = scratch("face");
    let colour = dir.join("frame.png");
    RgbImage::from_fn(640, 480, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 90]))
        .save(&colour)
        .unwrap();
    let report = json(&run(&[&"--json", &"face", &colour]));
    assert_eq!(report["passed"], false);
    assert_eq!(report["score"], 0);
    let checks = report["checks"].as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frame_width", "frame_height", "one_face"]);
    assert_eq!(checks[0]["value"], 640.0);
    assert_eq!(checks[0]["min"], 640.0);
    assert_eq!(checks[0]["passed"], true);
    assert_eq!(checks[2]["passed"], false);

    let grey = write_print(&dir, "grey.bmp", ImageFormat::Bmp);
    let text = stdout(&run(&[&"face", &grey]));
    assert!(text.starts_with("face check failed: score 0"), "{text}");
    assert!(
        text.contains("frame_width") && text.contains("FAIL"),
        "{text}"
    );
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = scratch("bad");
    let missing = dir.join("a.png");
    let out = run(&[&"quality", &missing]);
    assert_bad_input(
        &out,
        &format!(
            "cannot read {}: No such file or directory",
            missing.display()
        ),
    );

    let garbage = dir.join("garbage.png");
    std::fs::write(&garbage, b"this is not an image\nat all\n").unwrap();
    assert_bad_input(&run(&[&"quality", &garbage]), "not a readable image");
    assert_bad_input(
        &run(&[&"--json", &"match", &garbage, &garbage]),
        "garbage.png",
    );
    assert_bad_input(&run(&[&"face", &garbage]), "not a readable image");
    assert_bad_input(
        &run(&[&"wsq", &"decode", &garbage, &dir.join("x.png")]),
        "malformed WSQ",
    );

    let broken_template = dir.join("broken.iso");
    std::fs::write(&broken_template, b"FMR\0 20\0\0\0").unwrap();
    assert_bad_input(&run(&[&"match", &broken_template, &garbage]), "ISO 19794-2");
    let tiny = dir.join("tiny.png");
    GrayImage::new(20, 20).save(&tiny).unwrap();
    assert_bad_input(
        &run(&[&"wsq", &"encode", &tiny, &dir.join("t.wsq")]),
        "cannot encode",
    );
    assert_bad_input(
        &run(&[&"template", &tiny, &dir.join("no/such/dir.iso")]),
        "cannot write",
    );
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [
        vec!["quality"],
        vec!["frobnicate"],
        vec!["quality", "a.png", "--ppi", "5"],
        vec!["wsq", "encode", "a.png", "b.wsq", "--bitrate", "fast"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "{args:?}"
        );
    }
}

#[test]
fn real_aes3500_capture() {
    let out = json(&run(&[&"--json", &"quality", &AES3500]));
    let score = out["score"].as_u64().unwrap();
    assert!(score <= 100);
    // libfprint doubles the AES3500's 128×128 frame, so its ridges are twice as wide as at
    // 500 ppi; stating 1000 ppi brings the period back to a finger's.
    let period_500 = out["sub_scores"]["ridge_period_px"].as_f64().unwrap();
    let at_1000 = json(&run(&[&"--json", &"quality", &AES3500, &"--ppi", &"1000"]));
    let period_1000 = at_1000["sub_scores"]["ridge_period_px"].as_f64().unwrap();
    assert!((7.0..=12.0).contains(&period_1000), "{period_1000}");
    assert!(
        (period_500 / period_1000 - 2.0).abs() < 0.3,
        "{period_500} vs {period_1000}"
    );

    let dir = scratch("aes3500");
    let wsq = dir.join("capture.wsq");
    stdout(&run(&[&"wsq", &"encode", &AES3500, &wsq]));
    let back = dir.join("capture.png");
    let decoded = json(&run(&[&"--json", &"wsq", &"decode", &wsq, &back]));
    assert_eq!(
        (decoded["width"].clone(), decoded["height"].clone()),
        (256.into(), 256.into())
    );
    let iso = dir.join("capture.iso");
    stdout(&run(&[&"template", &AES3500, &iso, &"--ppi", &"1000"]));
    let text = stdout(&run(&[&"match", &AES3500, &iso, &"--ppi", &"1000"]));
    assert!(text.starts_with("score "), "{text}");
}

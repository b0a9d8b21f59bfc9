//! `face`: every face check of a photo with its value, bounds and verdict.

use std::fmt::Write;
use std::path::Path;

use biometrics::face::{CheckOutcome, FaceCheckConfig, FaceChecker};
use serde_json::json;

use crate::error::CliError;
use crate::input::load_image;
use crate::output::{round3, Report};

pub fn check(path: &Path) -> Result<Report, CliError> {
    let image = load_image(path, None)?;
    // Grey photos (and WSQ) go through as R=G=B.
    let frame = image.image.to_rgb8();
    let report = FaceChecker::new(FaceCheckConfig::default()).check(&frame);
    let mut text = format!(
        "face check {}: score {} of 100, {} face(s) found ({}x{})\n",
        if report.passed { "passed" } else { "failed" },
        report.score,
        report.faces.len(),
        frame.width(),
        frame.height(),
    );
    for c in &report.checks {
        let _ = writeln!(
            text,
            "  {:<13} {:>10.3}  {:<21} {}",
            c.check.name(),
            c.value,
            bounds_text(c),
            if c.passed { "ok" } else { "FAIL" }
        );
    }
    let checks: Vec<_> = report
        .checks
        .iter()
        .map(|c| {
            json!({
                "check": c.check.name(),
                "value": round3(c.value),
                "min": c.min.map(round3),
                "max": c.max.map(round3),
                "passed": c.passed,
            })
        })
        .collect();
    let faces: Vec<_> = report
        .faces
        .iter()
        .map(|f| {
            json!({
                "x": f.x, "y": f.y, "width": f.width, "height": f.height,
                "score": round3(f.score),
            })
        })
        .collect();
    let json = json!({
        "passed": report.passed,
        "score": report.score,
        "width": frame.width(),
        "height": frame.height(),
        "faces": faces,
        "checks": checks,
    });
    Ok(Report { text, json })
}

fn bounds_text(c: &CheckOutcome) -> String {
    match (c.min, c.max) {
        (Some(lo), Some(hi)) if lo == hi => format!("= {lo}"),
        (Some(lo), Some(hi)) => format!("{lo} ..= {hi}"),
        (Some(lo), None) => format!(">= {lo}"),
        (None, Some(hi)) => format!("<= {hi}"),
        (None, None) => "any".to_string(),
    }
}

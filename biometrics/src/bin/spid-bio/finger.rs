//! The fingerprint commands: `quality`, `template` and `match`.

use std::fmt::Write;
use std::path::Path;

use biometrics::fingerprint::{
    self, compare_detailed, QualityFeedback, QualityReport, Template, DEFAULT_QUALITY_THRESHOLD,
    THRESHOLD,
};
use serde_json::{json, Value};

use crate::error::CliError;
use crate::input::{load_comparand, load_image, Comparand};
use crate::output::{ppi_text, round3, write_file, Report};

pub fn quality(path: &Path, ppi: Option<u16>) -> Result<Report, CliError> {
    let image = load_image(path, ppi)?;
    let report = fingerprint::quality(&image.gray(), image.ppi);
    let mut text = format!(
        "quality {} of 100 ({} the capture gate of {DEFAULT_QUALITY_THRESHOLD}) at {}\n",
        report.score,
        if report.passes(DEFAULT_QUALITY_THRESHOLD) {
            "passes"
        } else {
            "fails"
        },
        ppi_text(&image)
    );
    for (name, value) in sub_scores(&report) {
        let _ = writeln!(text, "  {name:<22} {}", number_text(name, value));
    }
    let _ = writeln!(text, "  feedback: {}", feedback_text(&report.feedback));
    let mut json = quality_json(&report);
    json["passes"] = json!(report.passes(DEFAULT_QUALITY_THRESHOLD));
    json["threshold"] = json!(DEFAULT_QUALITY_THRESHOLD);
    json["ppi"] = json!(image.ppi);
    json["ppi_source"] = json!(image.ppi_source.name());
    Ok(Report { text, json })
}

pub fn template(path: &Path, out: &Path, finger: u8, ppi: Option<u16>) -> Result<Report, CliError> {
    let image = load_image(path, ppi)?;
    let (report, template) = fingerprint::assess(&image.gray(), image.ppi);
    let template = template.with_finger_position(finger);
    let record = template.to_iso19794_2();
    write_file(out, &record)?;
    let text = format!(
        "wrote {} ({} bytes): {} minutiae, quality {}, at {}\n",
        out.display(),
        record.len(),
        template.minutiae.len(),
        report.score,
        ppi_text(&image)
    );
    let json = json!({
        "output": out.display().to_string(),
        "bytes": record.len(),
        "minutiae": template.minutiae.len(),
        "quality": report.score,
        "finger_position": template.finger_position,
        "width": template.width,
        "height": template.height,
        "ppi": image.ppi,
        "ppi_source": image.ppi_source.name(),
    });
    Ok(Report { text, json })
}

pub fn compare(a: &Path, b: &Path, ppi: Option<u16>) -> Result<Report, CliError> {
    let (ta, sa) = comparand_template(load_comparand(a, ppi)?);
    let (tb, sb) = comparand_template(load_comparand(b, ppi)?);
    let details = compare_detailed(&ta, &tb);
    let decision = if details.result.matched {
        "match"
    } else {
        "no match"
    };
    let text = format!(
        "score {:.1} (threshold {THRESHOLD}): {decision}\n  \
         {} paired minutiae, {} supporting edges; {} has {} minutiae ({sa}), {} has {} ({sb})\n",
        details.result.score,
        details.paired,
        details.supporting_edges,
        a.display(),
        details.probe_minutiae,
        b.display(),
        details.candidate_minutiae,
    );
    let json = json!({
        "score": round3(details.result.score),
        "threshold": THRESHOLD,
        "matched": details.result.matched,
        "paired": details.paired,
        "supporting_edges": details.supporting_edges,
        "a": { "path": a.display().to_string(), "source": sa, "minutiae": details.probe_minutiae },
        "b": { "path": b.display().to_string(), "source": sb, "minutiae": details.candidate_minutiae },
    });
    Ok(Report { text, json })
}

/// The template of a `match` argument and a word on where it came from.
fn comparand_template(c: Comparand) -> (Template, String) {
    match c {
        Comparand::Template(t) => (t, "template".to_string()),
        Comparand::Image(image) => {
            let t = Template::extract(&image.gray(), image.ppi);
            (t, format!("image at {}", ppi_text(&image)))
        }
    }
}

fn sub_scores(r: &QualityReport) -> [(&'static str, f64); 10] {
    [
        ("foreground_fraction", r.foreground_fraction.into()),
        ("foreground_area_mm2", r.foreground_area_mm2.into()),
        ("orientation_certainty", r.orientation_certainty.into()),
        ("clarity", r.clarity.into()),
        ("periodicity", r.periodicity.into()),
        ("ridge_valley_spread", r.ridge_valley_spread.into()),
        ("ridge_period_px", r.ridge_period_px.into()),
        ("contrast", r.contrast.into()),
        ("minutiae_count", r.minutiae_count.into()),
        ("minutiae_quality", r.minutiae_quality.into()),
    ]
}

/// Counts print as integers, measures with three decimals.
fn number_text(name: &str, v: f64) -> String {
    if name == "minutiae_count" {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn quality_json(r: &QualityReport) -> Value {
    let mut subs = serde_json::Map::new();
    for (name, value) in sub_scores(r) {
        subs.insert(name.to_string(), round3(value));
    }
    subs.insert("minutiae_count".to_string(), json!(r.minutiae_count));
    json!({
        "score": r.score,
        "sub_scores": subs,
        "feedback": r.feedback.iter().map(|f| feedback_name(*f)).collect::<Vec<_>>(),
    })
}

fn feedback_text(feedback: &[QualityFeedback]) -> String {
    if feedback.is_empty() {
        return "none".to_string();
    }
    feedback
        .iter()
        .map(|f| feedback_name(*f))
        .collect::<Vec<_>>()
        .join(", ")
}

fn feedback_name(f: QualityFeedback) -> &'static str {
    match f {
        QualityFeedback::NoFinger => "no_finger",
        QualityFeedback::SmallArea => "small_area",
        QualityFeedback::LowContrast => "low_contrast",
        QualityFeedback::Unclear => "unclear",
        QualityFeedback::ImplausibleRidgeFrequency => "implausible_ridge_frequency",
        QualityFeedback::FewMinutiae => "few_minutiae",
    }
}

//! The 0–100 quality score (higher is better, NFIQ 2 in spirit) and its sub-scores. Every
//! factor is a physical property of ridges at 500 ppi: how much finger there is, how
//! certain the ridge flow is, how clearly ridges separate from valleys, whether the ridge
//! period is that of a human finger, and whether minutiae can be found.

use super::field::Field;
use super::frequency::RidgeStructure;
use super::minutiae::Minutia;
use super::raster::BLOCK;

/// The capture gate's default: images scoring below this are re-captured.
pub const DEFAULT_QUALITY_THRESHOLD: u8 = 40;

/// Why an image scored low, for the operator prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QualityFeedback {
    /// Nothing like a finger: blank, uniform or noise.
    NoFinger,
    /// Too little finger area on the sensor (press flatter, centre the finger).
    SmallArea,
    /// Faint ridges (dry finger or too light a touch).
    LowContrast,
    /// Ridges blurred or broken (smudge, wet or dirty sensor, moved finger).
    Unclear,
    /// The ridge period is not that of a finger at the stated resolution.
    ImplausibleRidgeFrequency,
    /// Too few reliable minutiae.
    FewMinutiae,
}

/// Quality of one fingerprint image with its sub-scores.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityReport {
    /// 0 (unusable) – 100 (excellent).
    pub score: u8,
    /// Fraction of the image that is finger (0–1).
    pub foreground_fraction: f32,
    /// Finger area in mm².
    pub foreground_area_mm2: f32,
    /// Mean orientation certainty over the finger (0–1; parallel ridges ≈ 0.8–0.95).
    pub orientation_certainty: f32,
    /// Ridge-valley clarity: share of grey variance explained by the ridge pattern (0–1).
    pub clarity: f32,
    /// How periodic the ridge profiles are (0–1).
    pub periodicity: f32,
    /// Spread (std. dev. of the log) of ridge/valley width ratios; 0 = perfectly uniform.
    pub ridge_valley_spread: f32,
    /// Median ridge period in pixels at 500 ppi (≈ 8–12 for adults), 0 if none found.
    pub ridge_period_px: f32,
    /// Mean local grey-level standard deviation over the finger.
    pub contrast: f32,
    pub minutiae_count: u32,
    /// Mean minutia quality (0–100).
    pub minutiae_quality: f32,
    /// Reasons for a low score, most important first.
    pub feedback: Vec<QualityFeedback>,
}

impl QualityReport {
    pub fn empty() -> QualityReport {
        QualityReport {
            score: 0,
            foreground_fraction: 0.0,
            foreground_area_mm2: 0.0,
            orientation_certainty: 0.0,
            clarity: 0.0,
            periodicity: 0.0,
            ridge_valley_spread: 0.0,
            ridge_period_px: 0.0,
            contrast: 0.0,
            minutiae_count: 0,
            minutiae_quality: 0.0,
            feedback: vec![QualityFeedback::NoFinger],
        }
    }

    pub fn passes(&self, threshold: u8) -> bool {
        self.score >= threshold
    }
}

/// Linear ramp: 0 at `lo`, 1 at `hi`.
fn ramp(v: f32, lo: f32, hi: f32) -> f32 {
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
}

const MM2_PER_BLOCK: f32 = (BLOCK as f32 * 25.4 / 500.0) * (BLOCK as f32 * 25.4 / 500.0);

pub fn assess(field: &Field, structure: &RidgeStructure, minutiae: &[Minutia]) -> QualityReport {
    let fg: Vec<usize> = (0..field.grid.len())
        .filter(|&i| field.foreground[i])
        .collect();
    if fg.is_empty() || structure.profiles.is_empty() {
        return QualityReport::empty();
    }
    let n = fg.len() as f32;
    let area = n * MM2_PER_BLOCK;
    let ocl = fg.iter().map(|&i| field.coherence[i]).sum::<f32>() / n;
    let contrast = fg.iter().map(|&i| field.std_dev[i]).sum::<f32>() / n;
    let np = structure.profiles.len() as f32;
    let clarity = structure
        .profiles
        .iter()
        .map(|p| p.along_consistency)
        .sum::<f32>()
        / np;
    let periodicity = structure
        .profiles
        .iter()
        .map(|p| p.periodicity)
        .sum::<f32>()
        / np;
    let logs: Vec<f32> = structure
        .profiles
        .iter()
        .filter_map(|p| p.ridge_valley_ratio)
        .map(|r| r.max(1e-3).ln())
        .collect();
    let spread = if logs.len() >= 2 {
        let m = logs.iter().sum::<f32>() / logs.len() as f32;
        (logs.iter().map(|l| (l - m) * (l - m)).sum::<f32>() / logs.len() as f32).sqrt()
    } else {
        1.0
    };
    let period = structure.median_period.unwrap_or(0.0);
    let minutiae_quality = if minutiae.is_empty() {
        0.0
    } else {
        minutiae.iter().map(|m| m.quality as f32).sum::<f32>() / minutiae.len() as f32
    };

    // Each factor maps "clearly unusable" to 0 and "pristine ridges" to 1. Good real optical
    // flats reach 0.6–0.85 of the ridge factors (pores, creases, uneven pressure), so like
    // NFIQ 2 they land at 60–85 rather than at the ceiling.
    let f_area = ramp(area, 8.0, 70.0).sqrt();
    let f_ocl = ramp(ocl, 0.3, 0.9);
    let f_clarity = ramp(clarity, 0.35, 0.9);
    let f_period = ramp(periodicity, 0.3, 0.9);
    let f_uniform = 1.0 - ramp(spread, 0.3, 0.9) * 0.5;
    // Adult ridge periods at 500 ppi are 8–12 px; children and fine ridges go lower.
    let f_freq = ramp(period, 4.5, 7.0) * (1.0 - ramp(period, 13.0, 18.0));
    let f_contrast = ramp(contrast, 6.0, 28.0).sqrt();
    let f_minutiae = ramp(minutiae.len() as f32, 3.0, 25.0).sqrt()
        * (0.6 + 0.4 * ramp(minutiae_quality, 30.0, 80.0));

    let ridge = (f_ocl * f_clarity * f_period).cbrt();
    let raw = 100.0 * f_area * ridge * f_uniform * f_freq * f_contrast * f_minutiae;
    let score = raw.round().clamp(0.0, 100.0) as u8;

    let mut feedback = Vec::new();
    if f_area < 0.8 {
        feedback.push(QualityFeedback::SmallArea);
    }
    if f_contrast < 0.6 {
        feedback.push(QualityFeedback::LowContrast);
    }
    if ridge < 0.6 {
        feedback.push(QualityFeedback::Unclear);
    }
    if f_freq < 0.8 {
        feedback.push(QualityFeedback::ImplausibleRidgeFrequency);
    }
    if f_minutiae < 0.6 {
        feedback.push(QualityFeedback::FewMinutiae);
    }
    QualityReport {
        score,
        foreground_fraction: n / field.grid.len() as f32,
        foreground_area_mm2: area,
        orientation_certainty: ocl,
        clarity,
        periodicity,
        ridge_valley_spread: spread,
        ridge_period_px: period,
        contrast,
        minutiae_count: minutiae.len() as u32,
        minutiae_quality,
        feedback,
    }
}

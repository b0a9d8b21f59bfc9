//! Face checks on a webcam frame (IN 24/2022 DOC-ICP-05.03 item 3.7.3: one face, filling
//! 70–80 % of the photo) plus exposure and focus, and the capped JPEG of the accepted photo.
//!
//! Detection uses the SeetaFace frontal model embedded in the binary (rustface), run on a
//! copy of the frame downscaled to `detection_height` rows so a 640×480 check fits in one
//! 30 fps frame time. Other checks measure the full-resolution luminance in the face box.

mod detect;
mod jpeg;
mod measure;
mod report;
#[cfg(test)]
mod testface;
#[cfg(test)]
mod tests;

use std::time::Instant;

use image::RgbImage;

pub use detect::FaceBox;
pub use jpeg::{encode_jpeg, DEFAULT_MAX_JPEG_BYTES};
pub use report::{CheckOutcome, FaceCheck, FaceReport};

use detect::{DetectParams, WINDOW};
use measure::Region;

/// Errors of the face module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaceError {
    #[error("invalid face check setting `{field}`: {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    #[error("jpeg encoding failed: {0}")]
    Encode(String),
    #[error("face jpeg is {smallest} bytes at the lowest quality, over the cap of {max_bytes}")]
    JpegTooLarge { smallest: usize, max_bytes: usize },
}

/// Bounds of every face check. Fractions are of the frame's width or height.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceCheckConfig {
    /// Minimum frame size in pixels.
    pub min_width: u32,
    pub min_height: u32,
    /// Bounds of the estimated chin-to-crown height as a fraction of the frame height
    /// (IN 24/2022: the face fills 70–80 % of the photo).
    pub face_height_min: f64,
    pub face_height_max: f64,
    /// Chin-to-crown height per detector box height. SeetaFace boxes run from the forehead
    /// (above the brows) to the chin, so the crown lies above the box; 1.25 was measured on
    /// real frontal faces (ratios 1.18–1.30, chin at the box bottom).
    pub head_to_box_ratio: f64,
    /// Largest allowed offset of the face centre (horizontal) and head centre (vertical,
    /// midpoint of crown and chin) from the frame centre.
    pub centre_tolerance_x: f64,
    pub centre_tolerance_y: f64,
    /// Bounds of mean luminance (0–255) in the face box.
    pub brightness_min: f64,
    pub brightness_max: f64,
    /// Bounds of the standard deviation of luminance in the face box.
    pub contrast_min: f64,
    pub contrast_max: f64,
    /// Minimum variance of the Laplacian in the face box. Depends on the camera: tune it
    /// on frames from the station's webcam.
    pub sharpness_min: f64,
    /// Rows of the downscaled copy the detector scans. The detector's window is 40 px, so
    /// faces smaller than `40 / detection_height` of the frame height are not found; 240
    /// finds any face with a box of at least 1/6 of the frame height.
    pub detection_height: u32,
    /// Minimum detector score for a face (> 0). Real frontal faces score about 5–30;
    /// false positives on background clutter stay under 2.
    pub detector_score_threshold: f64,
}

impl Default for FaceCheckConfig {
    fn default() -> Self {
        FaceCheckConfig {
            min_width: 640,
            min_height: 480,
            face_height_min: 0.70,
            face_height_max: 0.80,
            head_to_box_ratio: 1.25,
            centre_tolerance_x: 0.10,
            centre_tolerance_y: 0.10,
            brightness_min: 60.0,
            brightness_max: 200.0,
            contrast_min: 15.0,
            contrast_max: 80.0,
            sharpness_min: 20.0,
            detection_height: 240,
            detector_score_threshold: 2.0,
        }
    }
}

impl FaceCheckConfig {
    /// Checks that every setting is usable (for the daemon's config validation).
    pub fn validate(&self) -> Result<(), FaceError> {
        let invalid = |field, reason| Err(FaceError::InvalidConfig { field, reason });
        let finite = [
            self.face_height_min,
            self.face_height_max,
            self.head_to_box_ratio,
            self.centre_tolerance_x,
            self.centre_tolerance_y,
            self.brightness_min,
            self.brightness_max,
            self.contrast_min,
            self.contrast_max,
            self.sharpness_min,
            self.detector_score_threshold,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return invalid("face", "every bound must be a finite number");
        }
        if self.face_height_min > self.face_height_max {
            return invalid("face_height_min", "must not exceed face_height_max");
        }
        if self.head_to_box_ratio <= 0.0 {
            return invalid("head_to_box_ratio", "must be positive");
        }
        if self.centre_tolerance_x < 0.0 || self.centre_tolerance_y < 0.0 {
            return invalid("centre_tolerance", "must not be negative");
        }
        if self.brightness_min > self.brightness_max {
            return invalid("brightness_min", "must not exceed brightness_max");
        }
        if self.contrast_min > self.contrast_max {
            return invalid("contrast_min", "must not exceed contrast_max");
        }
        if self.detection_height < WINDOW {
            return invalid(
                "detection_height",
                "must be at least 40 (the detector window)",
            );
        }
        if self.detector_score_threshold <= 0.0 {
            return invalid("detector_score_threshold", "must be positive");
        }
        Ok(())
    }
}

/// Runs the face checks. Cheap to share between threads (`Send + Sync`); each thread that
/// calls [`FaceChecker::check`] keeps its own detector.
#[derive(Clone, Debug)]
pub struct FaceChecker {
    config: FaceCheckConfig,
}

impl FaceChecker {
    /// A checker with `config`. Settings the detector cannot work with (see
    /// [`FaceCheckConfig::validate`]) are replaced by their defaults, with a warning; use
    /// [`FaceChecker::try_new`] to reject them instead.
    pub fn new(config: FaceCheckConfig) -> FaceChecker {
        let mut config = config;
        let defaults = FaceCheckConfig::default();
        if config.detection_height < WINDOW {
            tracing::warn!(
                value = config.detection_height,
                "face detection_height too small, using default"
            );
            config.detection_height = defaults.detection_height;
        }
        if !(config.detector_score_threshold > 0.0 && config.detector_score_threshold.is_finite()) {
            tracing::warn!(
                value = config.detector_score_threshold,
                "face detector_score_threshold must be positive, using default"
            );
            config.detector_score_threshold = defaults.detector_score_threshold;
        }
        detect::warm_up();
        FaceChecker { config }
    }

    /// A checker with `config`, or the first setting that is not usable.
    pub fn try_new(config: FaceCheckConfig) -> Result<FaceChecker, FaceError> {
        config.validate()?;
        Ok(FaceChecker::new(config))
    }

    pub fn config(&self) -> &FaceCheckConfig {
        &self.config
    }

    /// Checks one RGB frame. Never fails: an unusable frame yields a failing report.
    pub fn check(&self, frame: &RgbImage) -> FaceReport {
        let started = Instant::now();
        let report = self.check_frame(frame);
        tracing::debug!(
            faces = report.faces.len(),
            passed = report.passed,
            score = report.score,
            failed = ?report.failures().map(|c| c.check.name()).collect::<Vec<_>>(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "face check"
        );
        report
    }

    fn check_frame(&self, frame: &RgbImage) -> FaceReport {
        let cfg = &self.config;
        let (width, height) = frame.dimensions();
        let mut checks = vec![
            CheckOutcome::new(
                FaceCheck::FrameWidth,
                width as f64,
                Some(cfg.min_width as f64),
                None,
            ),
            CheckOutcome::new(
                FaceCheck::FrameHeight,
                height as f64,
                Some(cfg.min_height as f64),
                None,
            ),
        ];
        let luma = measure::luminance(frame);
        let faces = self.detect_faces(&luma, width, height);
        checks.push(CheckOutcome::new(
            FaceCheck::OneFace,
            faces.len() as f64,
            Some(1.0),
            Some(1.0),
        ));
        if let [face] = faces.as_slice() {
            self.measure_face(face, &luma, width, height, &mut checks);
        }
        FaceReport::new(faces, checks)
    }

    /// Faces in frame coordinates, best score first.
    fn detect_faces(&self, luma: &[u8], width: u32, height: u32) -> Vec<FaceBox> {
        if width == 0 || height == 0 {
            return Vec::new();
        }
        let scale = (self.config.detection_height as f64 / height as f64).min(1.0);
        let det_w = ((width as f64 * scale).round() as u32).clamp(1, width);
        let det_h = ((height as f64 * scale).round() as u32).clamp(1, height);
        let small;
        let det_luma = if (det_w, det_h) == (width, height) {
            luma
        } else {
            small = detect::downscale(luma, width, height, det_w, det_h);
            &small
        };
        let params = DetectParams {
            score_threshold: self.config.detector_score_threshold,
        };
        let (sx, sy) = (width as f64 / det_w as f64, height as f64 / det_h as f64);
        let mut faces: Vec<FaceBox> = detect::detect(det_luma, det_w, det_h, params)
            .into_iter()
            .map(|f| FaceBox {
                x: (f.x as f64 * sx).round() as i32,
                y: (f.y as f64 * sy).round() as i32,
                width: (f.width as f64 * sx).round() as u32,
                height: (f.height as f64 * sy).round() as u32,
                score: f.score,
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }

    fn measure_face(
        &self,
        face: &FaceBox,
        luma: &[u8],
        width: u32,
        height: u32,
        checks: &mut Vec<CheckOutcome>,
    ) {
        let cfg = &self.config;
        let (w, h) = (width as f64, height as f64);
        let head = cfg.head_to_box_ratio * face.height as f64;
        // The chin sits at the box bottom; the crown `head` above it.
        let head_centre_y = face.bottom() - head / 2.0;
        checks.push(CheckOutcome::new(
            FaceCheck::FaceHeight,
            head / h,
            Some(cfg.face_height_min),
            Some(cfg.face_height_max),
        ));
        checks.push(CheckOutcome::new(
            FaceCheck::CentreX,
            (face.centre_x() - w / 2.0) / w,
            Some(-cfg.centre_tolerance_x),
            Some(cfg.centre_tolerance_x),
        ));
        checks.push(CheckOutcome::new(
            FaceCheck::CentreY,
            (head_centre_y - h / 2.0) / h,
            Some(-cfg.centre_tolerance_y),
            Some(cfg.centre_tolerance_y),
        ));
        // A box wholly outside the frame cannot be measured: NaN fails every bound.
        let (mean, std, sharpness) =
            match Region::clipped(face.x, face.y, face.width, face.height, width, height) {
                Some(region) => {
                    let (mean, std) = measure::mean_and_std(luma, width, region);
                    let sharpness = measure::laplacian_variance(luma, width, height, region);
                    (mean, std, sharpness)
                }
                None => (f64::NAN, f64::NAN, f64::NAN),
            };
        checks.push(CheckOutcome::new(
            FaceCheck::Brightness,
            mean,
            Some(cfg.brightness_min),
            Some(cfg.brightness_max),
        ));
        checks.push(CheckOutcome::new(
            FaceCheck::Contrast,
            std,
            Some(cfg.contrast_min),
            Some(cfg.contrast_max),
        ));
        checks.push(CheckOutcome::new(
            FaceCheck::Sharpness,
            sharpness,
            Some(cfg.sharpness_min),
            None,
        ));
    }
}

//! Fingerprints: quality (0–100, NFIQ 2 in spirit), minutiae templates (ISO/IEC 19794-2:2005)
//! and 1:1 matching. Every image is resampled to 500 ppi and analysed once; quality and
//! template both come from that analysis (`assess` returns both for the price of one).

mod enhance;
mod field;
mod frequency;
mod iso;
mod matcher;
mod minutiae;
mod pairing;
mod quality;
mod raster;
mod skeleton;
#[cfg(test)]
mod testutil;

use image::GrayImage;

pub use iso::TemplateError;
pub use matcher::{compare, compare_detailed, MatchDetails, MatchResult, THRESHOLD};
pub use minutiae::{Minutia, MinutiaKind};
pub use quality::{QualityFeedback, QualityReport, DEFAULT_QUALITY_THRESHOLD};

/// Pixels per centimetre of the working resolution (500 ppi), as ISO records carry it.
pub const WORKING_PPCM: u16 = 197;

/// Quality of one fingerprint image at `ppi` pixels per inch.
pub fn quality(image: &GrayImage, ppi: u16) -> QualityReport {
    Analysis::run(image, ppi).quality
}

/// Quality report and template of one image from a single analysis.
pub fn assess(image: &GrayImage, ppi: u16) -> (QualityReport, Template) {
    let a = Analysis::run(image, ppi);
    let template = a.template();
    (a.quality, template)
}

/// A minutiae template extracted from one image: one ISO/IEC 19794-2 finger view. Positions
/// are at the template's resolution (500 ppi for extracted templates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// Image size in pixels at the template's resolution.
    pub width: u16,
    pub height: u16,
    /// Pixels per centimetre (197 = 500 ppi).
    pub resolution_x: u16,
    pub resolution_y: u16,
    /// ISO capture equipment certification flags (4 bits) and device type (12 bits).
    pub equipment_certification: u8,
    pub capture_device_type: u16,
    /// ANSI/NIST finger code 0 (unknown) – 10.
    pub finger_position: u8,
    pub view_number: u8,
    /// 0 = live-scan plain.
    pub impression_type: u8,
    /// 0–100, from the quality assessment of the image.
    pub finger_quality: u8,
    pub minutiae: Vec<Minutia>,
}

impl Template {
    pub fn extract(image: &GrayImage, ppi: u16) -> Template {
        Analysis::run(image, ppi).template()
    }

    /// The template as an ISO/IEC 19794-2:2005 finger minutiae record (one view, at most
    /// 255 minutiae, no extended data).
    pub fn to_iso19794_2(&self) -> Vec<u8> {
        iso::encode(self)
    }

    /// Reads an ISO/IEC 19794-2:2005 record; the first finger view is kept.
    pub fn from_iso19794_2(bytes: &[u8]) -> Result<Template, TemplateError> {
        iso::decode(bytes)
    }

    /// Sets the ANSI/NIST finger position code (1 = right thumb … 10 = left little).
    pub fn with_finger_position(mut self, position: u8) -> Template {
        self.finger_position = position.min(10);
        self
    }
}

/// Everything learned from one image at 500 ppi.
struct Analysis {
    width: usize,
    height: usize,
    minutiae: Vec<Minutia>,
    quality: QualityReport,
}

impl Analysis {
    fn run(image: &GrayImage, ppi: u16) -> Analysis {
        let plane = raster::to_working_resolution(image, ppi);
        let (width, height) = (plane.width, plane.height);
        if width < 3 * raster::BLOCK || height < 3 * raster::BLOCK {
            return Analysis {
                width,
                height,
                minutiae: Vec::new(),
                quality: QualityReport::empty(),
            };
        }
        let field = field::Field::compute(&plane);
        let structure = frequency::RidgeStructure::compute(&plane, &field);
        let minutiae = if field.foreground_count() > 0 {
            let enhanced = enhance::enhance(&plane, &field, &structure.period_map);
            let skeleton = skeleton::thin(skeleton::binarize(&enhanced));
            minutiae::detect(&skeleton, &field, &structure.period_map)
        } else {
            Vec::new()
        };
        let quality = quality::assess(&field, &structure, &minutiae);
        Analysis {
            width,
            height,
            minutiae,
            quality,
        }
    }

    fn template(&self) -> Template {
        Template {
            width: self.width.min(u16::MAX as usize) as u16,
            height: self.height.min(u16::MAX as usize) as u16,
            resolution_x: WORKING_PPCM,
            resolution_y: WORKING_PPCM,
            equipment_certification: 0,
            capture_device_type: 0,
            finger_position: 0,
            view_number: 0,
            impression_type: 0,
            finger_quality: self.quality.score,
            minutiae: self.minutiae.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

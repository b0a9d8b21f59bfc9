//! Fingerprints: quality (0–100), minutiae templates, 1:1 matching.
//! (Interface fixed; the implementation is being written.)

use image::GrayImage;

/// Quality of one fingerprint image, 0 (unusable) to 100 (excellent), NFIQ 2 in spirit.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityReport {
    pub score: u8,
}

pub fn quality(image: &GrayImage, ppi: u16) -> QualityReport {
    let _ = (image, ppi);
    unimplemented!("being written")
}

/// A minutiae template extracted from one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {}

impl Template {
    pub fn extract(image: &GrayImage, ppi: u16) -> Template {
        let _ = (image, ppi);
        unimplemented!("being written")
    }
    pub fn to_iso19794_2(&self) -> Vec<u8> {
        unimplemented!("being written")
    }
    pub fn from_iso19794_2(bytes: &[u8]) -> Result<Template, String> {
        let _ = bytes;
        unimplemented!("being written")
    }
}

/// The outcome of a 1:1 comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchResult {
    pub score: f64,
    pub matched: bool,
}

pub fn compare(probe: &Template, candidate: &Template) -> MatchResult {
    let _ = (probe, candidate);
    unimplemented!("being written")
}

//! Face checks on a webcam frame. (Interface fixed; the implementation is being written.)

use image::RgbImage;

#[derive(Clone, Debug, PartialEq)]
pub struct FaceCheckConfig {}

impl Default for FaceCheckConfig {
    fn default() -> Self {
        FaceCheckConfig {}
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaceReport {
    /// Every check passed.
    pub passed: bool,
    /// 0–100 overall quality used as the capture gate.
    pub score: u8,
}

pub struct FaceChecker {}

impl FaceChecker {
    pub fn new(config: FaceCheckConfig) -> FaceChecker {
        let _ = config;
        FaceChecker {}
    }
    pub fn check(&self, frame: &RgbImage) -> FaceReport {
        let _ = frame;
        unimplemented!("being written")
    }
}

/// JPEG of the frame no larger than `max_bytes` (quality lowered step by step).
pub fn encode_jpeg(frame: &RgbImage, max_bytes: usize) -> Vec<u8> {
    let _ = (frame, max_bytes);
    unimplemented!("being written")
}

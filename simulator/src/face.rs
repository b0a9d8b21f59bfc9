//! Synthetic face frames. (Interface fixed; being written.)

use image::RgbImage;

/// A 640×480 frame of `subject`'s synthetic face; `variation` changes pose/lighting slightly.
pub fn frame(subject: &str, variation: u32) -> RgbImage {
    let _ = (subject, variation);
    unimplemented!("being written")
}

/// A 640×480 frame with nobody in it.
pub fn empty_frame(variation: u32) -> RgbImage {
    let _ = variation;
    unimplemented!("being written")
}

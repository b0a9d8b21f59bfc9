//! JPEG encoding of the face photo under a byte cap, lowering the quality step by step.

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

use super::FaceError;

/// Default size cap for the face JPEG sent upstream.
pub const DEFAULT_MAX_JPEG_BYTES: usize = 800 * 1000;

/// Qualities tried in order: start visually lossless, stop before blocking ruins the face.
const QUALITIES: [u8; 17] = [
    92, 88, 84, 80, 76, 72, 68, 64, 60, 55, 50, 45, 40, 35, 30, 25, 20,
];

/// JPEG of the frame no larger than `max_bytes`, at the highest quality of a fixed ladder
/// (92 down to 20) that fits. Fails if even the lowest quality is larger than the cap.
pub fn encode_jpeg(frame: &RgbImage, max_bytes: usize) -> Result<Vec<u8>, FaceError> {
    let mut smallest = usize::MAX;
    for quality in QUALITIES {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(frame)
            .map_err(|e| FaceError::Encode(e.to_string()))?;
        if out.len() <= max_bytes {
            tracing::debug!(quality, bytes = out.len(), max_bytes, "face jpeg encoded");
            return Ok(out);
        }
        smallest = smallest.min(out.len());
    }
    Err(FaceError::JpegTooLarge {
        smallest,
        max_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Deterministic high-entropy frame: JPEG cannot compress noise well, so the size
    /// depends strongly on quality.
    fn noise_frame(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_f491_u32;
        RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            Rgb([a, b, c])
        })
    }

    fn decoded_dimensions(jpeg: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .expect("valid jpeg");
        (img.width(), img.height())
    }

    #[test]
    fn small_frame_is_encoded_at_top_quality_under_a_generous_cap() {
        let frame = RgbImage::from_pixel(64, 48, Rgb([120, 90, 60]));
        let jpeg = encode_jpeg(&frame, DEFAULT_MAX_JPEG_BYTES).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(decoded_dimensions(&jpeg), (64, 48));
    }

    #[test]
    fn quality_is_lowered_until_the_cap_is_met() {
        let frame = noise_frame(160, 120);
        let top = encode_jpeg(&frame, usize::MAX).unwrap();
        let cap = top.len() / 2;
        let capped = encode_jpeg(&frame, cap).unwrap();
        assert!(capped.len() <= cap, "{} > {cap}", capped.len());
        assert_eq!(decoded_dimensions(&capped), (160, 120));
    }

    #[test]
    fn impossible_cap_is_an_error() {
        let frame = noise_frame(160, 120);
        match encode_jpeg(&frame, 500) {
            Err(FaceError::JpegTooLarge {
                smallest,
                max_bytes,
            }) => {
                assert_eq!(max_bytes, 500);
                assert!(smallest > 500);
            }
            other => panic!("expected JpegTooLarge, got {other:?}"),
        }
    }
}

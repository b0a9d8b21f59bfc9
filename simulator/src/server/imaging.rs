//! Biometric images on the fake server: checking and decoding `content` (base64 PNG, JPEG or
//! WSQ), rendering synthetic identities, and deciding 1:1 finger matches with the real matcher.
//! Everything here is CPU work: callers run it on a blocking thread.

use std::io::Cursor;

use base64::Engine;
use biometrics::fingerprint::{compare, Template};
use image::{GrayImage, ImageFormat, RgbImage};

use super::store::StoredBiometrics;
use super::wire::Biometric;
use crate::fingerprint::{impression, Condition};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Resolution assumed when a biometric does not say.
const DEFAULT_PPI: u16 = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    Wsq,
}

fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => Some(Format::Png),
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        // WSQ files open with the SOI marker 0xFFA0.
        [0xFF, 0xA0, ..] => Some(Format::Wsq),
        _ => None,
    }
}

fn content_bytes(b: &Biometric) -> Result<Vec<u8>, String> {
    B64.decode(b.content.trim().as_bytes())
        .map_err(|e| format!("biometric {}: content is not base64: {e}", b.index))
}

/// Cheap acceptance check: base64 of a PNG, JPEG or WSQ file whose header reads.
pub fn check_content(b: &Biometric) -> Result<(), String> {
    let bytes = content_bytes(b)?;
    match sniff(&bytes) {
        Some(Format::Png) | Some(Format::Jpeg) => image::ImageReader::new(Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())
            .and_then(|r| r.into_dimensions().map_err(|e| e.to_string()))
            .map(|_| ())
            .map_err(|e| format!("biometric {}: unreadable image: {e}", b.index)),
        Some(Format::Wsq) => Ok(()),
        None => Err(format!(
            "biometric {}: content is not a PNG, JPEG or WSQ image",
            b.index
        )),
    }
}

/// The grey image and resolution of a biometric.
pub fn decode_gray(b: &Biometric) -> Result<(GrayImage, u16), String> {
    let bytes = content_bytes(b)?;
    let declared = u16::try_from(b.resolution).ok().filter(|&p| p > 0);
    match sniff(&bytes) {
        Some(Format::Png) => image::load_from_memory_with_format(&bytes, ImageFormat::Png)
            .map(|i| (i.to_luma8(), declared.unwrap_or(DEFAULT_PPI)))
            .map_err(|e| format!("biometric {}: {e}", b.index)),
        Some(Format::Jpeg) => image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
            .map(|i| (i.to_luma8(), declared.unwrap_or(DEFAULT_PPI)))
            .map_err(|e| format!("biometric {}: {e}", b.index)),
        Some(Format::Wsq) => biometrics::wsq::decode(&bytes)
            .map(|(img, ppi)| (img, declared.or(ppi).unwrap_or(DEFAULT_PPI)))
            .map_err(|e| format!("biometric {}: {e}", b.index)),
        None => Err(format!(
            "biometric {}: not a PNG, JPEG or WSQ image",
            b.index
        )),
    }
}

fn png_biometric(index: i32, image: &GrayImage, ppi: u16) -> Biometric {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("PNG encoding into memory cannot fail");
    Biometric {
        index,
        content: B64.encode(png),
        width: image.width(),
        height: image.height(),
        resolution: u32::from(ppi),
    }
}

fn jpeg_face(frame: &RgbImage) -> Biometric {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(frame)
        .expect("JPEG encoding into memory cannot fail");
    Biometric {
        index: 0,
        content: B64.encode(jpeg),
        width: frame.width(),
        height: frame.height(),
        resolution: 0,
    }
}

/// The images of a stored record, rendering synthetic ones (face first, then fingers).
pub fn materialize(stored: &StoredBiometrics) -> Vec<Biometric> {
    match stored {
        StoredBiometrics::Images { biometrics } => biometrics.clone(),
        StoredBiometrics::Synthetic {
            subject,
            fingers,
            face,
            impression: n,
        } => {
            let mut out = Vec::with_capacity(fingers.len() + 1);
            if *face {
                out.push(jpeg_face(&crate::face::frame(subject, *n)));
            }
            for &finger in fingers {
                let print = impression(subject, finger, *n, Condition::Good);
                out.push(png_biometric(i32::from(finger), &print.image, print.ppi));
            }
            out
        }
    }
}

/// Minutiae templates of every finger (index 1–10) that decodes; others are skipped.
pub fn finger_templates(biometrics: &[Biometric]) -> Vec<(i32, Template)> {
    biometrics
        .iter()
        .filter(|b| (1..=10).contains(&b.index))
        .filter_map(|b| match decode_gray(b) {
            Ok((img, ppi)) => Some((b.index, Template::extract(&img, ppi))),
            Err(e) => {
                tracing::warn!(index = b.index, error = %e, "skipping undecodable finger");
                None
            }
        })
        .collect()
}

/// True when any submitted finger matches the enrolled finger at the same position.
pub fn any_finger_matches(probes: &[Biometric], enrolled: &[(i32, Template)]) -> bool {
    finger_templates(probes).iter().any(|(index, probe)| {
        enrolled
            .iter()
            .filter(|(i, _)| i == index)
            .any(|(_, candidate)| compare(probe, candidate).matched)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray_png(w: u32, h: u32) -> Biometric {
        png_biometric(2, &GrayImage::from_pixel(w, h, image::Luma([200])), 500)
    }

    #[test]
    fn png_content_is_checked_and_decoded() {
        let b = gray_png(40, 30);
        check_content(&b).unwrap();
        let (img, ppi) = decode_gray(&b).unwrap();
        assert_eq!((img.width(), img.height(), ppi), (40, 30, 500));
    }

    #[test]
    fn jpeg_faces_are_accepted() {
        let face = jpeg_face(&RgbImage::from_pixel(64, 48, image::Rgb([10, 120, 200])));
        check_content(&face).unwrap();
        assert_eq!(decode_gray(&face).unwrap().0.dimensions(), (64, 48));
    }

    #[test]
    fn wsq_content_is_accepted_and_decoded() {
        let img = GrayImage::from_fn(96, 120, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
        let wsq = biometrics::wsq::encode(&img, 500, 0.75).unwrap();
        let b = Biometric {
            index: 7,
            content: B64.encode(wsq),
            width: 96,
            height: 120,
            resolution: 0,
        };
        check_content(&b).unwrap();
        let (decoded, ppi) = decode_gray(&b).unwrap();
        assert_eq!((decoded.dimensions(), ppi), ((96, 120), 500));
    }

    #[test]
    fn garbage_content_is_refused() {
        let mut b = gray_png(4, 4);
        b.content = "!!!not base64".into();
        assert!(check_content(&b).unwrap_err().contains("base64"));
        b.content = B64.encode(b"GIF89a....");
        assert!(check_content(&b).unwrap_err().contains("not a PNG"));
        // A PNG signature with a truncated header must not pass either.
        b.content = B64.encode([0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]);
        assert!(check_content(&b).is_err());
    }

    #[test]
    fn stored_images_materialize_as_themselves() {
        let b = gray_png(4, 4);
        let stored = StoredBiometrics::Images {
            biometrics: vec![b.clone()],
        };
        assert_eq!(materialize(&stored), vec![b]);
    }
}

//! `wsq encode` and `wsq decode`. Decoded PNGs carry the WSQ file's resolution in a `pHYs`
//! chunk, so `spid-bio` reads it back from them.

use std::io::Cursor;
use std::path::Path;

use biometrics::wsq;
use image::{DynamicImage, ImageFormat};
use serde_json::json;

use crate::error::CliError;
use crate::input::{load_image, read_bytes};
use crate::output::{ppi_text, round3, write_file, Report};

pub fn encode(
    input: &Path,
    out: &Path,
    bitrate: f32,
    ppi: Option<u16>,
) -> Result<Report, CliError> {
    let image = load_image(input, ppi)?;
    let gray = image.gray();
    let data = wsq::encode(&gray, image.ppi, bitrate).map_err(|source| CliError::Wsq {
        path: input.to_path_buf(),
        source,
    })?;
    write_file(out, &data)?;
    let pixels = u64::from(gray.width()) * u64::from(gray.height());
    let achieved = data.len() as f64 * 8.0 / pixels.max(1) as f64;
    let text = format!(
        "wrote {} ({} bytes, {}x{} at {}): {achieved:.3} bits per pixel for a target of {bitrate}\n",
        out.display(),
        data.len(),
        gray.width(),
        gray.height(),
        ppi_text(&image),
    );
    let json = json!({
        "output": out.display().to_string(),
        "bytes": data.len(),
        "width": gray.width(),
        "height": gray.height(),
        "ppi": image.ppi,
        "ppi_source": image.ppi_source.name(),
        "target_bitrate": round3(bitrate.into()),
        "bits_per_pixel": round3(achieved),
    });
    Ok(Report { text, json })
}

pub fn decode(input: &Path, out: &Path) -> Result<Report, CliError> {
    let format = ImageFormat::from_path(out)
        .ok()
        .filter(|f| {
            matches!(
                f,
                ImageFormat::Png | ImageFormat::Bmp | ImageFormat::Tiff | ImageFormat::Pnm
            )
        })
        .ok_or_else(|| CliError::OutputFormat {
            path: out.to_path_buf(),
        })?;
    let data = read_bytes(input)?;
    let (image, ppi) = wsq::decode(&data).map_err(|source| CliError::Wsq {
        path: input.to_path_buf(),
        source,
    })?;
    let (width, height) = image.dimensions();
    let mut encoded = Cursor::new(Vec::new());
    DynamicImage::ImageLuma8(image)
        .write_to(&mut encoded, format)
        .map_err(|e| CliError::Encode {
            path: out.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut encoded = encoded.into_inner();
    if let (ImageFormat::Png, Some(ppi)) = (format, ppi) {
        encoded = png_with_ppi(&encoded, ppi);
    }
    write_file(out, &encoded)?;
    let ppi_note = ppi.map_or("ppi not stated".to_string(), |p| format!("{p} ppi"));
    let text = format!("wrote {} ({width}x{height}, {ppi_note})\n", out.display());
    let json = json!({
        "output": out.display().to_string(),
        "width": width,
        "height": height,
        "ppi": ppi,
    });
    Ok(Report { text, json })
}

/// Inserts a `pHYs` chunk (pixels per metre, unit 1) right after `IHDR`, which the PNG
/// encoder always writes first (8-byte signature + 25-byte chunk).
fn png_with_ppi(png: &[u8], ppi: u16) -> Vec<u8> {
    const AFTER_IHDR: usize = 33;
    if png.len() < AFTER_IHDR || &png[12..16] != b"IHDR" {
        return png.to_vec();
    }
    let per_metre = (f64::from(ppi) / 0.0254).round() as u32;
    let mut body = b"pHYs".to_vec();
    body.extend(per_metre.to_be_bytes());
    body.extend(per_metre.to_be_bytes());
    body.push(1);
    let mut out = Vec::with_capacity(png.len() + 21);
    out.extend(&png[..AFTER_IHDR]);
    out.extend(9u32.to_be_bytes());
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
    out.extend(&png[AFTER_IHDR..]);
    out
}

/// CRC-32 (ISO 3309, reflected polynomial 0xEDB88320) as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn written_phys_is_read_back_by_the_image_crate_and_our_reader() {
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(image::GrayImage::new(4, 3))
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        let with = png_with_ppi(png.get_ref(), 1000);
        let back = image::load_from_memory(&with).unwrap();
        assert_eq!(back.width(), 4);
        let dir = std::env::temp_dir().join(format!("spid-bio-phys-{}.png", std::process::id()));
        std::fs::write(&dir, &with).unwrap();
        let loaded = load_image(&dir, None).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(loaded.ppi, 1000);
    }
}

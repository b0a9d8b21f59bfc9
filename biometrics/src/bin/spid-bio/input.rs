//! Reading the CLI's inputs: images (PNG, BMP, TIFF, PGM, WSQ, JPEG), ISO 19794-2 templates,
//! and the resolution a file states (PNG `pHYs`, BMP pixels per metre, TIFF resolution tags,
//! WSQ `NIST_COM`).

use std::fs;
use std::path::Path;

use biometrics::{fingerprint::Template, wsq};
use image::{DynamicImage, GrayImage};

use crate::error::CliError;

/// Resolution assumed when neither the file nor `--ppi` states one.
pub const DEFAULT_PPI: u16 = 500;
/// Resolutions a fingerprint file may plausibly state. Image editors often write 72 or 96
/// dpi into any file; taken at face value that would upscale a print sevenfold.
const PLAUSIBLE_PPI: std::ops::RangeInclusive<u32> = 250..=2000;

/// WSQ start-of-image marker.
const WSQ_SOI: [u8; 2] = [0xFF, 0xA0];
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
const ISO_FMR: &[u8; 4] = b"FMR\0";

/// Where the resolution used for an image came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PpiSource {
    Option,
    File,
    Default,
}

impl PpiSource {
    pub fn name(self) -> &'static str {
        match self {
            PpiSource::Option => "option",
            PpiSource::File => "file",
            PpiSource::Default => "default",
        }
    }
}

/// A decoded input image with the resolution it is analysed at.
pub struct LoadedImage {
    pub image: DynamicImage,
    pub ppi: u16,
    pub ppi_source: PpiSource,
}

impl LoadedImage {
    pub fn gray(&self) -> GrayImage {
        self.image.to_luma8()
    }
}

/// An argument of `match`: a template read from a record or extracted from an image.
pub enum Comparand {
    Template(Template),
    Image(LoadedImage),
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>, CliError> {
    fs::read(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads an image; `ppi_option` overrides whatever the file states.
pub fn load_image(path: &Path, ppi_option: Option<u16>) -> Result<LoadedImage, CliError> {
    let bytes = read_bytes(path)?;
    decode_image(path, &bytes, ppi_option)
}

/// Reads a template record (starts with `FMR\0`) or an image to extract one from.
pub fn load_comparand(path: &Path, ppi_option: Option<u16>) -> Result<Comparand, CliError> {
    let bytes = read_bytes(path)?;
    if bytes.starts_with(ISO_FMR) {
        let template = Template::from_iso19794_2(&bytes).map_err(|source| CliError::Template {
            path: path.to_path_buf(),
            source,
        })?;
        return Ok(Comparand::Template(template));
    }
    decode_image(path, &bytes, ppi_option).map(Comparand::Image)
}

fn decode_image(
    path: &Path,
    bytes: &[u8],
    ppi_option: Option<u16>,
) -> Result<LoadedImage, CliError> {
    let (image, file_ppi) = if bytes.starts_with(&WSQ_SOI) {
        let (image, ppi) = wsq::decode(bytes).map_err(|source| CliError::Wsq {
            path: path.to_path_buf(),
            source,
        })?;
        (DynamicImage::ImageLuma8(image), ppi.map(u32::from))
    } else {
        let image = image::load_from_memory(bytes).map_err(|e| CliError::Decode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        (image, stated_ppi(bytes))
    };
    let (ppi, ppi_source) = match (ppi_option, file_ppi) {
        (Some(ppi), _) => (ppi, PpiSource::Option),
        (None, Some(ppi)) if PLAUSIBLE_PPI.contains(&ppi) => (ppi as u16, PpiSource::File),
        _ => (DEFAULT_PPI, PpiSource::Default),
    };
    Ok(LoadedImage {
        image,
        ppi,
        ppi_source,
    })
}

/// The resolution a PNG, BMP or TIFF file states, in pixels per inch (horizontal).
fn stated_ppi(bytes: &[u8]) -> Option<u32> {
    if bytes.starts_with(&PNG_SIGNATURE) {
        png_ppi(bytes)
    } else if bytes.starts_with(b"BM") {
        bmp_ppi(bytes)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        tiff_ppi(bytes)
    } else {
        None
    }
}

fn per_metre_to_ppi(per_metre: u32) -> u32 {
    (per_metre as f64 * 0.0254).round() as u32
}

/// The `pHYs` chunk, which must precede the image data; unit 1 is the metre (unit 0 gives
/// only an aspect ratio).
fn png_ppi(bytes: &[u8]) -> Option<u32> {
    let mut pos = PNG_SIGNATURE.len();
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = bytes.get(pos + 8..pos + 8usize.checked_add(len)?)?;
        match kind {
            b"pHYs" if data.len() == 9 && data[8] == 1 => {
                return Some(per_metre_to_ppi(u32::from_be_bytes(
                    data[0..4].try_into().ok()?,
                )));
            }
            b"IDAT" | b"IEND" => return None,
            _ => pos += 12 + len,
        }
    }
    None
}

/// `biXPelsPerMeter` of a BITMAPINFOHEADER (or later) header; 0 means unstated.
fn bmp_ppi(bytes: &[u8]) -> Option<u32> {
    let header_len = u32::from_le_bytes(bytes.get(14..18)?.try_into().ok()?);
    if header_len < 40 {
        return None;
    }
    let per_metre = i32::from_le_bytes(bytes.get(38..42)?.try_into().ok()?);
    (per_metre > 0).then(|| per_metre_to_ppi(per_metre as u32))
}

/// XResolution (tag 282) and ResolutionUnit (tag 296: 2 = inch, the default; 3 = cm) of
/// the first IFD.
fn tiff_ppi(bytes: &[u8]) -> Option<u32> {
    let little = bytes[0] == b'I';
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let entries = u16_at(ifd)? as usize;
    let (mut resolution, mut unit) = (None, 2u16);
    for i in 0..entries {
        let entry = ifd.checked_add(2 + 12 * i)?;
        match u16_at(entry)? {
            282 if u16_at(entry + 2)? == 5 => {
                let at = u32_at(entry + 8)? as usize;
                let (num, den) = (u32_at(at)?, u32_at(at.checked_add(4)?)?);
                resolution = (den != 0).then(|| num as f64 / den as f64);
            }
            296 => unit = u16_at(entry + 8)?,
            _ => {}
        }
    }
    let per_unit = resolution?;
    let ppi = match unit {
        2 => per_unit,
        3 => per_unit * 2.54,
        _ => return None,
    };
    (ppi.is_finite() && ppi >= 1.0 && ppi <= u32::MAX as f64).then(|| ppi.round() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_phys_in_metres_is_read_and_unitless_is_ignored() {
        let mut png = PNG_SIGNATURE.to_vec();
        let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
            out.extend((data.len() as u32).to_be_bytes());
            out.extend(kind);
            out.extend(data);
            out.extend([0; 4]);
        };
        chunk(&mut png, b"IHDR", &[0; 13]);
        let mut phys = 19685u32.to_be_bytes().to_vec();
        phys.extend(19685u32.to_be_bytes());
        let mut unitless = png.clone();
        phys.push(1);
        chunk(&mut png, b"pHYs", &phys);
        assert_eq!(png_ppi(&png), Some(500));
        phys[8] = 0;
        chunk(&mut unitless, b"pHYs", &phys);
        assert_eq!(png_ppi(&unitless), None);
        // A truncated chunk is not read past the end.
        assert_eq!(png_ppi(&png[..png.len() - 6]), None);
    }

    #[test]
    fn tiff_and_bmp_headers_are_bounds_checked() {
        assert_eq!(tiff_ppi(b"II*\0\xff\xff\xff\xff"), None);
        assert_eq!(bmp_ppi(b"BM\0\0"), None);
    }
}

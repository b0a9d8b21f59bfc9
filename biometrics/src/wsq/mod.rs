//! WSQ (FBI Wavelet Scalar Quantization 3.1) codec for 8-bit grayscale fingerprint images,
//! interoperable with NIST NBIS in both directions. (Interface fixed.)
//!
//! Layout: `bitstream` (bytes, bits, stuffing), `wavelet` (64-subband tree and 9/7 filter
//! bank), `quant` (variances, bit allocation, quantiser), `huffman` (codes), `tables` (marker
//! segments), `nistcom` (the NIST comment), `encoder`/`decoder` (the pipelines).

mod bitstream;
mod decoder;
mod encoder;
mod huffman;
mod nistcom;
mod quant;
mod tables;
mod wavelet;

#[cfg(test)]
mod tests;

use image::GrayImage;

#[derive(Debug, thiserror::Error)]
pub enum WsqError {
    #[error("malformed WSQ data: {0}")]
    Malformed(String),
    /// The image or parameters given to the encoder cannot be coded.
    #[error("cannot encode as WSQ: {0}")]
    InvalidInput(String),
    /// Well-formed WSQ that uses a feature this codec does not implement (e.g. even-length
    /// transform filters).
    #[error("unsupported WSQ feature: {0}")]
    Unsupported(String),
}

/// Highest accepted bit rate (bits per pixel); 8 would be no compression at all.
pub const MAX_BITRATE: f32 = 8.0;
/// Smallest width and height the encoder accepts. Below it the deepest split has lines of five
/// samples or fewer, which NBIS's decoder reconstructs wrongly (measured: it then disagrees
/// with the exact inverse by up to 100 grey levels, on its own files too).
pub const MIN_DIMENSION: u32 = 81;
/// Smallest width and height the decoder accepts: the five-level decomposition needs two
/// samples per line at its deepest split.
const MIN_DECODE_DIMENSION: u32 = 32;
/// Largest accepted image, in pixels; bounds the memory a (malicious) header can demand.
pub const MAX_PIXELS: u64 = 1 << 25;

/// What the headers of a WSQ file say, without decoding the image.
#[derive(Clone, Debug, PartialEq)]
pub struct WsqHeader {
    pub width: u16,
    pub height: u16,
    /// From the `NIST_COM` comment, when present and known.
    pub ppi: Option<u16>,
    /// The bit rate the encoder targeted, from the `NIST_COM` comment.
    pub bitrate: Option<f32>,
}

/// Compresses `image` at about `bitrate` bits per pixel (0.75 is the FBI's rate for 500 ppi
/// prints, 2.25 is near-lossless). `ppi` goes into the `NIST_COM` comment; 0 means unknown.
pub fn encode(image: &GrayImage, ppi: u16, bitrate: f32) -> Result<Vec<u8>, WsqError> {
    encoder::encode(image, ppi, bitrate)
}

/// The image and its ppi (from the NISTCOM comment when present).
pub fn decode(data: &[u8]) -> Result<(GrayImage, Option<u16>), WsqError> {
    decoder::decode(data)
}

/// Reads the frame header and the `NIST_COM` comment only.
pub fn read_header(data: &[u8]) -> Result<WsqHeader, WsqError> {
    decoder::parse_header(data)
}

/// Checks that a `width`×`height` image can go through the decomposition.
fn check_dimensions(width: u32, height: u32, min: u32) -> Result<(u16, u16), String> {
    let fits = |v: u32| (min..=u32::from(u16::MAX)).contains(&v);
    if !fits(width) || !fits(height) {
        return Err(format!(
            "image of {width}x{height} pixels: each side must be {min}..=65535"
        ));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!(
            "image of {width}x{height} pixels exceeds {MAX_PIXELS} pixels"
        ));
    }
    Ok((width as u16, height as u16))
}

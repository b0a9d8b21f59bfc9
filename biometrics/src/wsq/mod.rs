//! WSQ (FBI Wavelet Scalar Quantization 3.1) codec. (Interface fixed; being written.)

use image::GrayImage;

#[derive(Debug, thiserror::Error)]
pub enum WsqError {
    #[error("malformed WSQ data: {0}")]
    Malformed(String),
}

pub fn encode(image: &GrayImage, ppi: u16, bitrate: f32) -> Result<Vec<u8>, WsqError> {
    let _ = (image, ppi, bitrate);
    unimplemented!("being written")
}

/// The image and its ppi (from the NISTCOM comment when present).
pub fn decode(data: &[u8]) -> Result<(GrayImage, Option<u16>), WsqError> {
    let _ = data;
    unimplemented!("being written")
}

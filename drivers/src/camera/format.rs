//! Choosing a capture mode from what a webcam offers, and turning its frames into RGB.
//!
//! Pure: no device access, so the negotiation rules and the pixel conversions are unit-tested
//! without a camera.

use image::RgbImage;

use crate::DeviceError;

/// The frame encodings the station decodes, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// Motion JPEG: small frames on the bus, so high resolutions keep a usable frame rate.
    Mjpeg,
    /// Packed 4:2:2 YCbCr (Y0 U Y1 V), uncompressed.
    Yuyv,
}

/// One mode a camera offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub encoding: Encoding,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Below this the face judge sees a moving person as a blur; above it nothing is gained.
const ENOUGH_FPS: u32 = 15;

/// The mode to open: at least `min_width`×`min_height`, MJPEG before YUYV, and within an
/// encoding the smallest adequate resolution (the face check needs no more, and smaller frames
/// decode faster), then a frame rate of at least [`ENOUGH_FPS`], then the highest rate.
/// `None` when no mode is large enough.
pub fn choose(modes: &[Mode], min_width: u32, min_height: u32) -> Option<Mode> {
    modes
        .iter()
        .filter(|m| m.width >= min_width && m.height >= min_height)
        .min_by_key(|m| {
            (
                m.encoding,
                u64::from(m.width) * u64::from(m.height),
                m.fps < ENOUGH_FPS,
                std::cmp::Reverse(m.fps),
            )
        })
        .copied()
}

/// Decodes one raw frame of `mode` into RGB.
pub fn to_rgb(mode: &Mode, data: &[u8]) -> Result<RgbImage, DeviceError> {
    match mode.encoding {
        Encoding::Mjpeg => mjpeg_to_rgb(data, mode.width, mode.height),
        Encoding::Yuyv => yuyv_to_rgb(data, mode.width, mode.height),
    }
}

/// A JPEG frame as RGB. Cameras that leave out the Huffman tables mark their frames `AVI1`;
/// the decoder then uses the standard tables.
pub fn mjpeg_to_rgb(data: &[u8], width: u32, height: u32) -> Result<RgbImage, DeviceError> {
    let decoded = image::load_from_memory_with_format(data, image::ImageFormat::Jpeg)
        .map_err(|e| DeviceError::Protocol(format!("undecodable MJPEG frame: {e}")))?
        .to_rgb8();
    if decoded.dimensions() != (width, height) {
        return Err(DeviceError::Protocol(format!(
            "MJPEG frame is {}x{}, the negotiated mode is {width}x{height}",
            decoded.width(),
            decoded.height()
        )));
    }
    Ok(decoded)
}

/// YUYV (BT.601, studio range 16–235) to RGB with integer arithmetic.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Result<RgbImage, DeviceError> {
    if width & 1 == 1 {
        return Err(DeviceError::Protocol(format!(
            "YUYV needs an even width, got {width}"
        )));
    }
    let expected = width as usize * height as usize * 2;
    // Some drivers pad the buffer; a short one is a torn frame.
    if data.len() < expected {
        return Err(DeviceError::Protocol(format!(
            "YUYV frame has {} bytes, {width}x{height} needs {expected}",
            data.len()
        )));
    }
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for quad in data[..expected].chunks_exact(4) {
        let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
        rgb.extend_from_slice(&ycbcr_to_rgb(y0, u, v));
        rgb.extend_from_slice(&ycbcr_to_rgb(y1, u, v));
    }
    RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| DeviceError::Protocol("YUYV frame size mismatch".into()))
}

/// BT.601 studio-range YCbCr to RGB, coefficients scaled by 256.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    let clamp = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(encoding: Encoding, width: u32, height: u32, fps: u32) -> Mode {
        Mode {
            encoding,
            width,
            height,
            fps,
        }
    }

    #[test]
    fn prefers_mjpeg_at_the_smallest_adequate_size() {
        let modes = [
            mode(Encoding::Yuyv, 640, 480, 30),
            mode(Encoding::Mjpeg, 320, 240, 30),
            mode(Encoding::Mjpeg, 1920, 1080, 30),
            mode(Encoding::Mjpeg, 1280, 720, 30),
        ];
        assert_eq!(
            choose(&modes, 640, 480),
            Some(mode(Encoding::Mjpeg, 1280, 720, 30))
        );
    }

    #[test]
    fn falls_back_to_yuyv_when_mjpeg_is_too_small() {
        let modes = [
            mode(Encoding::Mjpeg, 320, 240, 30),
            mode(Encoding::Yuyv, 800, 600, 20),
            mode(Encoding::Yuyv, 640, 480, 30),
        ];
        assert_eq!(
            choose(&modes, 640, 480),
            Some(mode(Encoding::Yuyv, 640, 480, 30))
        );
    }

    #[test]
    fn a_usable_frame_rate_beats_a_slideshow() {
        let modes = [
            mode(Encoding::Yuyv, 640, 480, 5),
            mode(Encoding::Yuyv, 640, 480, 15),
            mode(Encoding::Yuyv, 640, 480, 10),
        ];
        assert_eq!(choose(&modes, 640, 480).map(|m| m.fps), Some(15));
    }

    #[test]
    fn nothing_large_enough_is_none() {
        let modes = [mode(Encoding::Mjpeg, 640, 360, 30)];
        assert_eq!(choose(&modes, 640, 480), None);
        assert_eq!(choose(&[], 640, 480), None);
    }

    #[test]
    fn yuyv_converts_known_colours() {
        // Black, white (studio range), pure-ish red and mid grey, two pixels per quad.
        let data = [
            16, 128, 235, 128, // black, white
            81, 90, 81, 240, // red, red
        ];
        let rgb = yuyv_to_rgb(&data, 2, 2).unwrap();
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(1, 0).0, [255, 255, 255]);
        let red = rgb.get_pixel(0, 1).0;
        assert!(red[0] > 250 && red[1] < 5 && red[2] < 5, "{red:?}");
        assert_eq!(rgb.get_pixel(1, 1).0, red);
    }

    #[test]
    fn yuyv_rejects_torn_and_odd_frames() {
        assert!(matches!(
            yuyv_to_rgb(&[0; 7], 2, 2),
            Err(DeviceError::Protocol(_))
        ));
        assert!(matches!(
            yuyv_to_rgb(&[0; 12], 3, 2),
            Err(DeviceError::Protocol(_))
        ));
        // Padding after the frame is ignored.
        assert!(yuyv_to_rgb(&[128; 12], 2, 2).is_ok());
    }

    #[test]
    fn mjpeg_round_trips_and_checks_the_size() {
        let mut original = RgbImage::new(16, 8);
        for (x, _, p) in original.enumerate_pixels_mut() {
            *p = image::Rgb([if x < 8 { 200 } else { 20 }, 100, 50]);
        }
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&original)
            .unwrap();
        let decoded = mjpeg_to_rgb(&jpeg, 16, 8).unwrap();
        let left = decoded.get_pixel(2, 4).0;
        let right = decoded.get_pixel(13, 4).0;
        assert!(left[0].abs_diff(200) < 10 && right[0].abs_diff(20) < 10);
        assert!(matches!(
            mjpeg_to_rgb(&jpeg, 640, 480),
            Err(DeviceError::Protocol(_))
        ));
        assert!(matches!(
            mjpeg_to_rgb(&jpeg[..20], 16, 8),
            Err(DeviceError::Protocol(_))
        ));
    }
}

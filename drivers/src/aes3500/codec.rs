//! AES3500 wire format, pure: register-write packets, the activation and arm sequences, and
//! the 8329-byte image transfer → 128×128 frame → libfprint-compatible 256×256 image.
//!
//! Facts from `spec/aes3500.md` §2–§6; the upscale is pixman's bilinear filter for a factor
//! of exactly 2, which the spec verified pixel-exact against the recorded `capture.png`.

use image::GrayImage;

/// Side of the sensor's square frame, in pixels.
pub const FRAME_SIDE: u32 = 128;
/// Bytes of one image transfer: 8 strips of (1 header byte + 1024 data bytes), then 129
/// trailing bytes (a register dump the driver ignores).
pub const FRAME_LEN: usize = 8329;
const STRIPS: usize = 8;
const STRIP_ROWS: usize = 16;
const STRIP_BYTES: usize = 1024;
/// Pairs libfprint puts in one bulk transfer at most; the recording has these boundaries.
const MAX_PAIRS_PER_TRANSFER: usize = 16;

/// Register writes sent at the start of every capture; each inner slice is one bulk transfer
/// (the boundaries matter to a replay, which compares whole transfers).
pub const ACTIVATION: &[&[(u8, u8)]] = &[
    &[(0x80, 0x01)],
    &[(0x80, 0x00)],
    &[(0x81, 0x00), (0x80, 0x00)],
    &[(0x80, 0x02)],
    &[(0x80, 0x00)],
    &[(0x80, 0x04)],
    &[(0x80, 0x00)],
    &[(0x81, 0x00)],
    &[
        (0x80, 0x00),
        (0x81, 0x00),
        (0x82, 0x04),
        (0x83, 0x13),
        (0x84, 0x07),
        (0x85, 0x3d),
        (0x86, 0x03),
        (0x87, 0x01),
        (0x88, 0x02),
        (0x89, 0x02),
        (0x8a, 0x33),
        (0x8b, 0x33),
        (0x8c, 0x0f),
        (0x8d, 0x04),
        (0x8e, 0x23),
        (0x8f, 0x07),
    ],
    &[
        (0x90, 0x00),
        (0x91, 0x1c),
        (0x92, 0x08),
        (0x93, 0x00),
        (0x94, 0x07),
        (0x95, 0x00),
        (0x96, 0x1f),
        (0x97, 0x04),
        (0x98, 0x28),
        (0x99, 0x00),
        (0x9a, 0x0b),
        (0x9b, 0x00),
        (0x9c, 0x00),
        (0x9d, 0x09),
        (0x9e, 0x53),
        (0x9f, 0x6b),
    ],
];

/// Register writes that arm one scan; the sensor answers with an image when its drive-ring
/// detector sees a finger.
pub const ARM: &[&[(u8, u8)]] = &[
    &[(0x80, 0x00), (0x81, 0x00)],
    &[(0x81, 0x04)],
    &[(0x81, 0x00)],
];

/// One register-write payload: the (register, value) pairs back to back.
pub fn encode_regwrites(pairs: &[(u8, u8)]) -> Vec<u8> {
    pairs
        .iter()
        .flat_map(|&(reg, value)| [reg, value])
        .collect()
}

/// The bulk OUT payloads for a table of writes, splitting any group longer than a transfer
/// may hold.
pub fn regwrite_transfers(groups: &[&[(u8, u8)]]) -> Vec<Vec<u8>> {
    groups
        .iter()
        .flat_map(|group| group.chunks(MAX_PAIRS_PER_TRANSFER))
        .map(encode_regwrites)
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("image transfer is {got} bytes, the sensor sends {FRAME_LEN}")]
    Length { got: usize },
}

/// The eight strip header bytes (0xE0 + strip index in the one recording we have); worth
/// logging, not worth failing on.
pub fn strip_headers(data: &[u8]) -> Result<[u8; STRIPS], FrameError> {
    check_len(data)?;
    Ok(std::array::from_fn(|i| data[i * (STRIP_BYTES + 1)]))
}

/// The sensor's own frame, as it comes off the wire (ridges bright, turned 180°): 128×128,
/// 4-bit values spread to 8 bits (`n × 17`).
pub fn decode_frame(data: &[u8]) -> Result<GrayImage, FrameError> {
    check_len(data)?;
    let side = FRAME_SIDE as usize;
    let mut pixels = vec![0u8; side * side];
    for strip in 0..STRIPS {
        let start = strip * (STRIP_BYTES + 1) + 1;
        let bytes = &data[start..start + STRIP_BYTES];
        // Column-major: 8 bytes per column, each byte two vertically adjacent pixels, the low
        // nibble above.
        for (k, &b) in bytes.iter().enumerate() {
            let x = k / 8;
            let y = strip * STRIP_ROWS + 2 * (k % 8);
            pixels[y * side + x] = (b & 0x0f) * 17;
            pixels[(y + 1) * side + x] = (b >> 4) * 17;
        }
    }
    Ok(GrayImage::from_raw(FRAME_SIDE, FRAME_SIDE, pixels).expect("buffer sized for the frame"))
}

fn check_len(data: &[u8]) -> Result<(), FrameError> {
    if data.len() == FRAME_LEN {
        Ok(())
    } else {
        Err(FrameError::Length { got: data.len() })
    }
}

/// Turns the sensor's frame upright with dark ridges: a 180° turn plus inversion.
pub fn normalize(raw: &GrayImage) -> GrayImage {
    let (w, h) = raw.dimensions();
    GrayImage::from_fn(w, h, |x, y| {
        image::Luma([255 - raw.get_pixel(w - 1 - x, h - 1 - y)[0]])
    })
}

/// 2× bilinear enlargement with pixman's arithmetic (sampling at pixel centres, taps outside
/// the frame read 0, truncating): each output pixel weighs its source neighbours 9/3/3/1.
pub fn upscale2(raw: &GrayImage) -> GrayImage {
    let (w, h) = raw.dimensions();
    let at = |x: i64, y: i64| -> u32 {
        if x < 0 || y < 0 || x >= i64::from(w) || y >= i64::from(h) {
            0
        } else {
            u32::from(raw.get_pixel(x as u32, y as u32)[0])
        }
    };
    // Output index d reads source d/2 with weight 3 and its neighbour on d's side with weight 1.
    let taps = |d: u32| -> [(i64, u32); 2] {
        let k = i64::from(d / 2);
        let other = if d & 1 == 0 { k - 1 } else { k + 1 };
        [(k, 3), (other, 1)]
    };
    GrayImage::from_fn(w * 2, h * 2, |x, y| {
        let mut sum = 0;
        for (sy, wy) in taps(y) {
            for (sx, wx) in taps(x) {
                sum += at(sx, sy) * wy * wx;
            }
        }
        image::Luma([(sum / 16) as u8])
    })
}

/// The image libfprint hands out for this sensor (and `capture.png` holds): upscaled 2×, then
/// turned upright and inverted. The enlargement helps minutiae extractors tuned for ~500 ppi.
pub fn libfprint_image(raw: &GrayImage) -> GrayImage {
    normalize(&upscale2(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_and_arm_are_the_recorded_thirteen_transfers() {
        let out: Vec<Vec<u8>> = regwrite_transfers(ACTIVATION)
            .into_iter()
            .chain(regwrite_transfers(ARM))
            .collect();
        assert_eq!(out.len(), 13);
        assert_eq!(out[0], [0x80, 0x01]);
        assert_eq!(out[2], [0x81, 0x00, 0x80, 0x00]);
        assert_eq!(out[8].len(), 32);
        assert_eq!(&out[9][30..], &[0x9f, 0x6b]);
        assert_eq!(out[10], [0x80, 0x00, 0x81, 0x00]);
        assert_eq!(out[11], [0x81, 0x04]);
        assert_eq!(out[12], [0x81, 0x00]);
    }

    #[test]
    fn long_write_groups_are_split_at_sixteen_pairs() {
        let pairs: Vec<(u8, u8)> = (0..20).map(|i| (0x80 + i, i)).collect();
        let out = regwrite_transfers(&[&pairs]);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [32, 8]);
    }

    #[test]
    fn strips_are_column_major_with_the_low_nibble_on_top() {
        let mut data = vec![0u8; FRAME_LEN];
        // Strip 1, byte 9: column 1, rows 16+2 and 16+3.
        data[(STRIP_BYTES + 1) + 1 + 9] = 0xa3;
        let frame = decode_frame(&data).unwrap();
        assert_eq!(frame.get_pixel(1, 18)[0], 3 * 17);
        assert_eq!(frame.get_pixel(1, 19)[0], 10 * 17);
        assert_eq!(frame.pixels().filter(|p| p[0] != 0).count(), 2);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        assert_eq!(
            decode_frame(&[0; 8192]),
            Err(FrameError::Length { got: 8192 })
        );
        assert_eq!(
            decode_frame(&[0; 8330]),
            Err(FrameError::Length { got: 8330 })
        );
    }

    #[test]
    fn upscale_weights_are_nine_three_three_one_with_zero_outside() {
        let raw = GrayImage::from_pixel(2, 2, image::Luma([160]));
        let up = upscale2(&raw);
        // Corner: only the 9-weight tap is inside.
        assert_eq!(up.get_pixel(0, 0)[0], 90); // 160 * 9 / 16
                                               // Inner pixel: all four taps inside.
        assert_eq!(up.get_pixel(1, 1)[0], 160);
        assert_eq!(up.get_pixel(1, 0)[0], 120); // 160 * 12 / 16
    }

    #[test]
    fn normalize_turns_and_inverts() {
        let raw = GrayImage::from_fn(2, 2, |x, y| image::Luma([(10 * (1 + x + 2 * y)) as u8]));
        let n = normalize(&raw);
        assert_eq!(n.get_pixel(0, 0)[0], 255 - 40);
        assert_eq!(n.get_pixel(1, 1)[0], 255 - 10);
    }
}

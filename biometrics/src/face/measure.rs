//! Pixel measurements for the face checks: luminance, its mean and spread inside a box, and
//! sharpness as the variance of the Laplacian.

use image::RgbImage;

/// 8-bit luminance (ITU-R BT.601 weights), row-major.
pub(crate) fn luminance(frame: &RgbImage) -> Vec<u8> {
    frame
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            // 77 + 150 + 29 = 256: BT.601 in 8-bit fixed point, rounded.
            ((77 * r as u32 + 150 * g as u32 + 29 * b as u32 + 128) >> 8) as u8
        })
        .collect()
}

/// A pixel rectangle `[x0, x1) × [y0, y1)` inside an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Region {
    /// The part of the box `(x, y, w, h)` that lies inside a `width`×`height` image, if any.
    pub fn clipped(x: i32, y: i32, w: u32, h: u32, width: u32, height: u32) -> Option<Region> {
        let clip = |v: i64, max: u32| v.clamp(0, max as i64) as usize;
        let region = Region {
            x0: clip(x as i64, width),
            y0: clip(y as i64, height),
            x1: clip(x as i64 + w as i64, width),
            y1: clip(y as i64 + h as i64, height),
        };
        (region.x1 > region.x0 && region.y1 > region.y0).then_some(region)
    }
}

/// Mean and standard deviation of the luminance inside `region`.
pub(crate) fn mean_and_std(luma: &[u8], width: u32, region: Region) -> (f64, f64) {
    let w = width as usize;
    let (mut sum, mut sum_sq) = (0u64, 0u64);
    for y in region.y0..region.y1 {
        for &p in &luma[y * w + region.x0..y * w + region.x1] {
            sum += p as u64;
            sum_sq += (p as u64) * (p as u64);
        }
    }
    let n = ((region.x1 - region.x0) * (region.y1 - region.y0)) as f64;
    let mean = sum as f64 / n;
    let var = (sum_sq as f64 / n - mean * mean).max(0.0);
    (mean, var.sqrt())
}

/// Variance of the 4-neighbour Laplacian over the interior of `region` (pixels whose four
/// neighbours also lie in the image). Focus blur removes the high frequencies this responds to.
pub(crate) fn laplacian_variance(luma: &[u8], width: u32, height: u32, region: Region) -> f64 {
    let (w, h) = (width as usize, height as usize);
    let x0 = region.x0.max(1);
    let y0 = region.y0.max(1);
    let x1 = region.x1.min(w.saturating_sub(1));
    let y1 = region.y1.min(h.saturating_sub(1));
    if x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let (mut sum, mut sum_sq) = (0i64, 0i64);
    for y in y0..y1 {
        let row = y * w;
        for x in x0..x1 {
            let i = row + x;
            let lap = 4 * luma[i] as i64
                - luma[i - 1] as i64
                - luma[i + 1] as i64
                - luma[i - w] as i64
                - luma[i + w] as i64;
            sum += lap;
            sum_sq += lap * lap;
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as f64;
    let mean = sum as f64 / n;
    (sum_sq as f64 / n - mean * mean).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn luminance_of_primaries_and_grey() {
        let mut frame = RgbImage::new(4, 1);
        frame.put_pixel(0, 0, Rgb([255, 255, 255]));
        frame.put_pixel(1, 0, Rgb([255, 0, 0]));
        frame.put_pixel(2, 0, Rgb([0, 255, 0]));
        frame.put_pixel(3, 0, Rgb([100, 100, 100]));
        assert_eq!(luminance(&frame), vec![255, 77, 149, 100]);
    }

    #[test]
    fn region_is_clipped_to_the_image() {
        assert_eq!(
            Region::clipped(-5, 2, 20, 4, 10, 10),
            Some(Region {
                x0: 0,
                y0: 2,
                x1: 10,
                y1: 6
            })
        );
        assert_eq!(Region::clipped(12, 0, 5, 5, 10, 10), None);
    }

    #[test]
    fn mean_and_std_of_a_two_level_patch() {
        // Left half 50, right half 150: mean 100, std 50.
        let luma: Vec<u8> = (0..16).map(|i| if i % 4 < 2 { 50 } else { 150 }).collect();
        let all = Region::clipped(0, 0, 4, 4, 4, 4).unwrap();
        let (mean, std) = mean_and_std(&luma, 4, all);
        assert!((mean - 100.0).abs() < 1e-9 && (std - 50.0).abs() < 1e-9);
    }

    #[test]
    fn laplacian_variance_is_zero_on_flat_and_ramp_and_high_on_checkerboard() {
        let (w, h) = (16u32, 16u32);
        let all = Region::clipped(0, 0, w, h, w, h).unwrap();
        let flat = vec![90u8; 256];
        assert_eq!(laplacian_variance(&flat, w, h, all), 0.0);
        let ramp: Vec<u8> = (0..256).map(|i| (i % 16 * 10) as u8).collect();
        assert_eq!(laplacian_variance(&ramp, w, h, all), 0.0);
        let checker: Vec<u8> = (0..256)
            .map(|i| if (i % 16 + i / 16) % 2 == 0 { 0 } else { 100 })
            .collect();
        // Every interior Laplacian is ±400, mean ≈ 0.
        assert!(laplacian_variance(&checker, w, h, all) > 150_000.0);
    }
}

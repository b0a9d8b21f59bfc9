//! Face detection with the embedded SeetaFace frontal model (rustface), run on a downscaled
//! luminance copy of the frame so one detection fits in a video frame's time budget.

use std::cell::RefCell;
use std::sync::OnceLock;

use rustface::{Detector, ImageData, Model};

/// SeetaFace frontal detector model (BSD-2-Clause, see `models/LICENSE-seetaface`).
static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// The detector's sliding window; an image smaller than this cannot be scanned (rustface
/// underflows), and no face smaller than this is found in the detection image.
pub(crate) const WINDOW: u32 = 40;

/// Model parsed once per process; each thread clones it into its own detector.
static MODEL: OnceLock<Model> = OnceLock::new();

thread_local! {
    // rustface's detector needs `&mut self` and is not `Send`, so each thread that checks
    // faces keeps its own; building one costs a model clone (a few ms), once per thread.
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// The parsed embedded model. Parsing can only fail if the binary itself is corrupt: the
/// bytes are fixed at compile time and a unit test parses them.
fn model() -> &'static Model {
    MODEL.get_or_init(|| {
        rustface::read_model(MODEL_BYTES).expect("embedded SeetaFace model must parse")
    })
}

/// Forces the one-off model parse (a few ms) so the first frame is not slower than the rest.
pub(crate) fn warm_up() {
    let _ = model();
}

/// A face found by the detector, in the coordinates of the image it was given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Detector confidence; real frontal faces typically score 5–30.
    pub score: f64,
}

impl FaceBox {
    pub fn centre_x(&self) -> f64 {
        self.x as f64 + self.width as f64 / 2.0
    }
    pub fn bottom(&self) -> f64 {
        self.y as f64 + self.height as f64
    }
}

/// Detection settings that rustface needs on every call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DetectParams {
    /// Strictly positive (rustface panics otherwise).
    pub score_threshold: f64,
}

/// Faces in an 8-bit luminance image of `width`×`height`.
pub(crate) fn detect(luma: &[u8], width: u32, height: u32, params: DetectParams) -> Vec<FaceBox> {
    debug_assert_eq!(luma.len(), width as usize * height as usize);
    if width < WINDOW || height < WINDOW {
        return Vec::new();
    }
    let faces = DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let detector =
            slot.get_or_insert_with(|| rustface::create_detector_with_model(model().clone()));
        detector.set_score_thresh(params.score_threshold);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        detector.detect(&ImageData::new(luma, width, height))
    });
    faces
        .iter()
        .map(|face| {
            let b = face.bbox();
            FaceBox {
                x: b.x(),
                y: b.y(),
                width: b.width(),
                height: b.height(),
                score: face.score(),
            }
        })
        .collect()
}

/// Area-averaging downscale of a luminance image to `out_w`×`out_h` (no upscaling: each output
/// pixel averages the whole input rectangle it covers, which is exact for integer factors).
pub(crate) fn downscale(luma: &[u8], width: u32, height: u32, out_w: u32, out_h: u32) -> Vec<u8> {
    debug_assert!(out_w <= width && out_h <= height && out_w > 0 && out_h > 0);
    let (w, h) = (width as usize, height as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    let span = |o: usize, n: usize, on: usize| (o * n / on, ((o + 1) * n / on).max(o * n / on + 1));
    let cols: Vec<(usize, usize)> = (0..ow).map(|ox| span(ox, w, ow)).collect();
    let mut out = Vec::with_capacity(ow * oh);
    let mut row_sums = vec![0u32; w];
    for oy in 0..oh {
        let (y0, y1) = span(oy, h, oh);
        row_sums.iter_mut().for_each(|s| *s = 0);
        for y in y0..y1 {
            let row = &luma[y * w..(y + 1) * w];
            for (s, &p) in row_sums.iter_mut().zip(row) {
                *s += p as u32;
            }
        }
        for &(x0, x1) in &cols {
            let sum: u32 = row_sums[x0..x1].iter().sum();
            let count = ((x1 - x0) * (y1 - y0)) as u32;
            out.push(((sum + count / 2) / count) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_parses() {
        assert!(model().get_hierarchy_count() > 0);
    }

    #[test]
    fn downscale_by_two_averages_blocks() {
        let luma = [0, 10, 20, 30, 100, 110, 120, 130];
        // 4×2 → 2×1: blocks {0,10,100,110} and {20,30,120,130}.
        assert_eq!(downscale(&luma, 4, 2, 2, 1), vec![55, 75]);
    }

    #[test]
    fn downscale_to_same_size_is_identity() {
        let luma: Vec<u8> = (0..12).collect();
        assert_eq!(downscale(&luma, 4, 3, 4, 3), luma);
    }

    #[test]
    fn tiny_image_finds_nothing_instead_of_panicking() {
        let luma = vec![128u8; 30 * 30];
        let params = DetectParams {
            score_threshold: 2.0,
        };
        assert!(detect(&luma, 30, 30, params).is_empty());
    }
}

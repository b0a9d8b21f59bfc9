//! Float image planes at the working resolution (500 ppi) and the block grid every later
//! stage (orientation, frequency, segmentation) is computed on.

use image::GrayImage;

/// The resolution every stage works at; other resolutions are resampled to it first.
pub const WORKING_PPI: u16 = 500;
/// Side of a grid block, in pixels at 500 ppi (a little less than one ridge period).
pub const BLOCK: usize = 8;

/// A single-channel f32 image, row-major.
#[derive(Clone, Debug)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize) -> Plane {
        Plane {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Bilinear sample with clamping at the borders.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let maxx = (self.width - 1) as f32;
        let maxy = (self.height - 1) as f32;
        let x = x.clamp(0.0, maxx);
        let y = y.clamp(0.0, maxy);
        let x0 = x.floor() as usize;
        let y0 = y.floor() as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let top = self.get(x0, y0) * (1.0 - fx) + self.get(x1, y0) * fx;
        let bottom = self.get(x0, y1) * (1.0 - fx) + self.get(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// Converts to f32 and resamples to 500 ppi. Downscaling averages the source pixels each
/// target pixel covers (so fine noise does not alias into fake ridges); upscaling is bilinear.
pub fn to_working_resolution(image: &GrayImage, ppi: u16) -> Plane {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let src = Plane {
        width: w,
        height: h,
        data: image.as_raw().iter().map(|&v| v as f32).collect(),
    };
    if w == 0 || h == 0 || ppi == 0 || ppi == WORKING_PPI {
        return src;
    }
    let scale = WORKING_PPI as f32 / ppi as f32;
    let nw = ((w as f32 * scale).round() as usize).max(1);
    let nh = ((h as f32 * scale).round() as usize).max(1);
    let mut out = Plane::new(nw, nh);
    let inv = 1.0 / scale;
    if scale >= 1.0 {
        for y in 0..nh {
            for x in 0..nw {
                let sx = (x as f32 + 0.5) * inv - 0.5;
                let sy = (y as f32 + 0.5) * inv - 0.5;
                out.data[y * nw + x] = src.sample(sx, sy);
            }
        }
    } else {
        for y in 0..nh {
            let y0 = (y as f32 * inv).floor() as usize;
            let y1 = (((y + 1) as f32 * inv).ceil() as usize).clamp(y0 + 1, h);
            for x in 0..nw {
                let x0 = (x as f32 * inv).floor() as usize;
                let x1 = (((x + 1) as f32 * inv).ceil() as usize).clamp(x0 + 1, w);
                let mut sum = 0.0;
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        sum += src.get(xx, yy);
                    }
                }
                out.data[y * nw + x] = sum / ((y1 - y0) * (x1 - x0)) as f32;
            }
        }
    }
    out
}

/// Dimensions of the block grid covering a plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    pub cols: usize,
    pub rows: usize,
}

impl Grid {
    pub fn for_plane(p: &Plane) -> Grid {
        Grid {
            cols: p.width.div_ceil(BLOCK),
            rows: p.height.div_ceil(BLOCK),
        }
    }
    pub fn len(&self) -> usize {
        self.cols * self.rows
    }
    /// The block holding pixel (x, y).
    #[inline]
    pub fn block_of(&self, x: usize, y: usize) -> usize {
        (y / BLOCK).min(self.rows - 1) * self.cols + (x / BLOCK).min(self.cols - 1)
    }
    /// Centre of block `i`, in pixels.
    #[inline]
    pub fn centre(&self, i: usize) -> (f32, f32) {
        let (bx, by) = (i % self.cols, i / self.cols);
        (
            (bx * BLOCK) as f32 + BLOCK as f32 / 2.0,
            (by * BLOCK) as f32 + BLOCK as f32 / 2.0,
        )
    }
}

/// Per-block sums of a per-pixel quantity.
pub fn block_sums(grid: Grid, width: usize, height: usize, f: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut out = vec![0.0f32; grid.len()];
    for y in 0..height {
        let row = (y / BLOCK) * grid.cols;
        for x in 0..width {
            out[row + x / BLOCK] += f(y * width + x);
        }
    }
    out
}

/// Sum over a (2r+1)² neighbourhood of blocks (clipped at the grid edge), for each block.
pub fn window_sum(grid: Grid, values: &[f32], r: usize) -> Vec<f32> {
    let (cols, rows) = (grid.cols, grid.rows);
    let mut horiz = vec![0.0f32; values.len()];
    for y in 0..rows {
        for x in 0..cols {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(cols - 1);
            horiz[y * cols + x] = values[y * cols + lo..=y * cols + hi].iter().sum();
        }
    }
    let mut out = vec![0.0f32; values.len()];
    for y in 0..rows {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(rows - 1);
        for x in 0..cols {
            out[y * cols + x] = (lo..=hi).map(|yy| horiz[yy * cols + x]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_physical_size() {
        let img = GrayImage::from_pixel(512, 256, image::Luma([100]));
        let p = to_working_resolution(&img, 1000);
        assert_eq!((p.width, p.height), (256, 128));
        assert!(p.data.iter().all(|&v| (v - 100.0).abs() < 1e-3));
        let p = to_working_resolution(&img, 250);
        assert_eq!((p.width, p.height), (1024, 512));
        let p = to_working_resolution(&img, 512);
        assert_eq!((p.width, p.height), (500, 250));
    }

    #[test]
    fn window_sum_counts_blocks() {
        let grid = Grid { cols: 4, rows: 3 };
        let ones = vec![1.0; grid.len()];
        let s = window_sum(grid, &ones, 1);
        assert_eq!(s[0], 4.0);
        assert_eq!(s[5], 9.0);
        assert_eq!(s[3], 4.0);
    }
}

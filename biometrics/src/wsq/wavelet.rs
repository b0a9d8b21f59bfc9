//! The WSQ 64-subband wavelet decomposition: the fixed split tree (20 two-dimensional
//! analysis steps), the subband rectangles, and the symmetric-extension 9/7 filter bank.

use super::WsqError;

/// Analysis lowpass filter of the FBI WSQ standard, centre tap first (the filter is symmetric).
/// Digits as published, though `f32` keeps fewer.
#[allow(clippy::excessive_precision)]
pub(crate) const LOWPASS_HALF: [f32; 5] = [
    0.852_698_679_009_403_4,
    0.377_402_855_612_653_8,
    -0.110_624_404_418_423_42,
    -0.023_849_465_019_380_00,
    0.037_828_455_506_995_46,
];

/// Analysis highpass filter of the FBI WSQ standard, centre tap first.
#[allow(clippy::excessive_precision)]
pub(crate) const HIGHPASS_HALF: [f32; 4] = [
    0.788_485_616_405_664_4,
    -0.418_092_273_222_212_2,
    -0.040_689_417_609_558_44,
    0.064_538_882_628_938_45,
];

/// Longest half filter (centre included) a decoder accepts from a transform table.
pub(crate) const MAX_HALF_TAPS: usize = 16;

/// Number of split steps in the decomposition tree.
pub(crate) const NODES: usize = 20;
/// Subbands that carry data; 60..64 (the finest diagonal detail) are always dropped.
pub(crate) const CODED_SUBBANDS: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Rect {
    pub(crate) fn area(&self) -> usize {
        self.w * self.h
    }
}

/// A region that one analysis step splits into four quadrants. When `high_first_x` is set the
/// highpass half is stored left of the lowpass half (and so gets the smaller share of an odd
/// length); likewise `high_first_y` puts it on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub rect: Rect,
    pub high_first_x: bool,
    pub high_first_y: bool,
}

impl Node {
    fn root(w: usize, h: usize) -> Self {
        Self {
            rect: Rect { x: 0, y: 0, w, h },
            high_first_x: false,
            high_first_y: false,
        }
    }

    /// Top-left, top-right, bottom-left, bottom-right. The ordering flags of a quadrant follow
    /// from its position alone: right quadrants store high first in x, bottom ones in y.
    fn quadrants(&self) -> [Node; 4] {
        let Rect { x, y, w, h } = self.rect;
        let left = if self.high_first_x {
            w / 2
        } else {
            w.div_ceil(2)
        };
        let top = if self.high_first_y {
            h / 2
        } else {
            h.div_ceil(2)
        };
        let quad = |qx, qy, qw, qh, fx, fy| Node {
            rect: Rect {
                x: qx,
                y: qy,
                w: qw,
                h: qh,
            },
            high_first_x: fx,
            high_first_y: fy,
        };
        [
            quad(x, y, left, top, false, false),
            quad(x + left, y, w - left, top, true, false),
            quad(x, y + top, left, h - top, false, true),
            quad(x + left, y + top, w - left, h - top, true, true),
        ]
    }
}

/// Where every split and every subband of a `width`×`height` image lies.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub width: usize,
    pub height: usize,
    /// Split steps in analysis order (synthesis runs them backwards).
    pub nodes: [Node; NODES],
    /// Subband rectangles in the standard's numbering.
    pub subbands: [Rect; 64],
}

impl Layout {
    pub(crate) fn new(width: usize, height: usize) -> Self {
        let root = Node::root(width, height);
        let [n1, n2, n3, dropped] = root.quadrants();
        let [n14, n4, n5, sb51] = n1.quadrants();
        let [n6, n7, n8, n9] = n4.quadrants();
        let [n10, n11, n12, n13] = n5.quadrants();
        let [n15, n16, n17, n18] = n14.quadrants();
        let q15 = n15.quadrants();
        let n19 = q15[0];
        let nodes = [
            root, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15, n16, n17, n18,
            n19,
        ];

        let quads = |n: &Node| n.quadrants().map(|q| q.rect);
        let mut rects: Vec<Rect> = Vec::with_capacity(64);
        rects.extend(quads(&n19));
        rects.extend(q15[1..].iter().map(|q| q.rect));
        for n in [&n16, &n17, &n18, &n6, &n7, &n8, &n9, &n10, &n11, &n12, &n13] {
            rects.extend(quads(n));
        }
        rects.push(sb51.rect);
        for n in [&n2, &n3, &dropped] {
            rects.extend(quads(n));
        }
        let subbands: [Rect; 64] = rects.try_into().expect("the tree yields 64 subbands");
        Self {
            width,
            height,
            nodes,
            subbands,
        }
    }
}

/// A two-channel symmetric filter bank, applied as two symmetric FIR filters that alternate
/// between even and odd output samples (centre tap first). Analysis yields the interleaved
/// low/high sequence; synthesis takes the interleaved sequence back to samples.
#[derive(Clone, Debug)]
pub(crate) struct FilterBank {
    analysis: [Vec<f32>; 2],
    synthesis: [Vec<f32>; 2],
    reach: usize,
}

impl FilterBank {
    pub(crate) fn standard() -> Self {
        Self::from_halves(&LOWPASS_HALF, &HIGHPASS_HALF).expect("standard filters are valid")
    }

    /// Builds the bank from the symmetric analysis filters (centre tap first). The synthesis
    /// filters are their alternating-sign modulations, which is what makes the pair invert.
    pub(crate) fn from_halves(low: &[f32], high: &[f32]) -> Result<Self, WsqError> {
        if low.is_empty()
            || high.is_empty()
            || low.len() > MAX_HALF_TAPS
            || high.len() > MAX_HALF_TAPS
        {
            return Err(WsqError::Unsupported(format!(
                "transform filter halves of {} and {} taps",
                low.len(),
                high.len()
            )));
        }
        let reach = low.len().max(high.len()) - 1;
        let sign = |m: usize| if m & 1 == 0 { 1.0 } else { -1.0 };
        // Even outputs: lowpass samples weighted by the highpass taps, highpass samples by the
        // negated-odd lowpass taps; odd outputs the other way round.
        let synth = |even_src: &[f32], odd_src: &[f32]| -> Vec<f32> {
            (0..=reach)
                .map(|m| {
                    let src = if m % 2 == 0 { even_src } else { odd_src };
                    src.get(m).map_or(0.0, |&c| c * sign(m))
                })
                .collect()
        };
        Ok(Self {
            analysis: [low.to_vec(), high.to_vec()],
            synthesis: [synth(high, low), synth(low, high)],
            reach,
        })
    }

    /// Runs every analysis step of `layout` on `img` (row-major, `layout.width` wide), in place.
    pub(crate) fn decompose(&self, img: &mut [f32], layout: &Layout) {
        let mut scratch = Scratch::default();
        for node in &layout.nodes {
            self.analyze_rows(img, layout.width, node, &mut scratch);
            self.analyze_cols(img, layout.width, node, &mut scratch);
        }
    }

    /// Inverse of [`FilterBank::decompose`].
    pub(crate) fn reconstruct(&self, img: &mut [f32], layout: &Layout) {
        let mut scratch = Scratch::default();
        for node in layout.nodes.iter().rev() {
            self.synthesize_cols(img, layout.width, node, &mut scratch);
            self.synthesize_rows(img, layout.width, node, &mut scratch);
        }
    }

    fn analyze_rows(&self, img: &mut [f32], stride: usize, node: &Node, s: &mut Scratch) {
        let Rect { x, y, w, h } = node.rect;
        let place = Placement::new(w, node.high_first_x);
        s.line.resize(w, 0.0);
        for r in y..y + h {
            let row = &mut img[r * stride + x..r * stride + x + w];
            fill_extended(&mut s.ext, row, self.reach);
            filter_line(&s.ext, self.reach, &self.analysis, &mut s.line);
            for (p, &v) in s.line.iter().enumerate() {
                row[place.slot(p)] = v;
            }
        }
    }

    fn synthesize_rows(&self, img: &mut [f32], stride: usize, node: &Node, s: &mut Scratch) {
        let Rect { x, y, w, h } = node.rect;
        let place = Placement::new(w, node.high_first_x);
        s.line.resize(w, 0.0);
        for r in y..y + h {
            let row = &mut img[r * stride + x..r * stride + x + w];
            for (p, v) in s.line.iter_mut().enumerate() {
                *v = row[place.slot(p)];
            }
            fill_extended(&mut s.ext, &s.line, self.reach);
            filter_line(&s.ext, self.reach, &self.synthesis, row);
        }
    }

    fn analyze_cols(&self, img: &mut [f32], stride: usize, node: &Node, s: &mut Scratch) {
        let Rect { x, y, w, h } = node.rect;
        let place = Placement::new(h, node.high_first_y);
        copy_region(img, stride, &node.rect, &mut s.block);
        for p in 0..h {
            let out = &mut img[(y + place.slot(p)) * stride + x..][..w];
            filter_column_sample(&s.block, w, h, p, self.reach, &self.analysis[p % 2], out);
        }
    }

    fn synthesize_cols(&self, img: &mut [f32], stride: usize, node: &Node, s: &mut Scratch) {
        let Rect { x, y, w, h } = node.rect;
        let place = Placement::new(h, node.high_first_y);
        // Gather the rows into interleaved (low, high, low, ...) order first.
        s.block.resize(w * h, 0.0);
        for p in 0..h {
            let src = &img[(y + place.slot(p)) * stride + x..][..w];
            s.block[p * w..(p + 1) * w].copy_from_slice(src);
        }
        for n in 0..h {
            let out = &mut img[(y + n) * stride + x..][..w];
            filter_column_sample(&s.block, w, h, n, self.reach, &self.synthesis[n % 2], out);
        }
    }
}

#[derive(Default)]
struct Scratch {
    ext: Vec<f32>,
    line: Vec<f32>,
    block: Vec<f32>,
}

/// Maps position `p` of the interleaved sequence (even = lowpass, odd = highpass) to its
/// stored slot in a line of `len` samples.
struct Placement {
    low_base: usize,
    high_base: usize,
}

impl Placement {
    fn new(len: usize, high_first: bool) -> Self {
        let low_len = len.div_ceil(2);
        if high_first {
            Self {
                low_base: len - low_len,
                high_base: 0,
            }
        } else {
            Self {
                low_base: 0,
                high_base: low_len,
            }
        }
    }

    #[inline]
    fn slot(&self, p: usize) -> usize {
        if p & 1 == 0 {
            self.low_base + p / 2
        } else {
            self.high_base + p / 2
        }
    }
}

/// Whole-sample symmetric reflection of index `i` into `0..len`, repeated as often as needed
/// (short lines reflect more than once).
#[inline]
pub(crate) fn reflect(i: isize, len: usize) -> usize {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let m = i.rem_euclid(period);
    if m >= len as isize {
        (period - m) as usize
    } else {
        m as usize
    }
}

/// Copies `line` into `ext` with `reach` reflected samples on each side.
fn fill_extended(ext: &mut Vec<f32>, line: &[f32], reach: usize) {
    let n = line.len();
    ext.clear();
    ext.extend((0..reach).map(|i| line[reflect(i as isize - reach as isize, n)]));
    ext.extend_from_slice(line);
    ext.extend((0..reach).map(|i| line[reflect((n + i) as isize, n)]));
}

/// Applies the even/odd symmetric filters to an extended line (`ext` holds `reach` samples of
/// margin on each side) writing `out.len()` samples.
fn filter_line(ext: &[f32], reach: usize, taps: &[Vec<f32>; 2], out: &mut [f32]) {
    for (p, o) in out.iter_mut().enumerate() {
        let t = &taps[p % 2];
        let c = p + reach;
        let mut acc = t[0] * ext[c];
        for (m, &coef) in t.iter().enumerate().skip(1) {
            acc += coef * (ext[c - m] + ext[c + m]);
        }
        *o = acc;
    }
}

fn copy_region(img: &[f32], stride: usize, r: &Rect, block: &mut Vec<f32>) {
    block.clear();
    for row in r.y..r.y + r.h {
        block.extend_from_slice(&img[row * stride + r.x..row * stride + r.x + r.w]);
    }
}

/// One output row of a vertical filtering pass: row `p` of the `w`×`h` block filtered along
/// its columns with the symmetric `taps`, rows outside the block reflected.
fn filter_column_sample(
    block: &[f32],
    w: usize,
    h: usize,
    p: usize,
    reach: usize,
    taps: &[f32],
    out: &mut [f32],
) {
    let row = |i: isize| {
        let r = reflect(i, h);
        &block[r * w..(r + 1) * w]
    };
    let centre = row(p as isize);
    for (o, &v) in out.iter_mut().zip(centre) {
        *o = taps[0] * v;
    }
    for (m, &coef) in taps.iter().enumerate().skip(1).take(reach) {
        if coef == 0.0 {
            continue;
        }
        let above = row(p as isize - m as isize);
        let below = row((p + m) as isize);
        for ((o, &a), &b) in out.iter_mut().zip(above).zip(below) {
            *o += coef * (a + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subbands_tile_the_image_without_overlap() {
        for (w, h) in [(500, 500), (256, 256), (257, 301), (333, 129), (640, 480)] {
            let layout = Layout::new(w, h);
            let mut seen = vec![0u8; w * h];
            for r in &layout.subbands {
                for y in r.y..r.y + r.h {
                    for x in r.x..r.x + r.w {
                        seen[y * w + x] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{w}x{h}");
        }
    }

    #[test]
    fn odd_sizes_split_as_the_standard_does() {
        // 257 wide: the root keeps 129 columns low; node 4 (high first in x) gets 64 of node
        // 1's 129, split 32 (high) + 32; node 5 (high first in y) splits odd heights short-first.
        let layout = Layout::new(257, 259);
        assert_eq!(
            layout.nodes[1].rect,
            Rect {
                x: 0,
                y: 0,
                w: 129,
                h: 130
            }
        );
        assert_eq!(
            layout.nodes[4].rect,
            Rect {
                x: 65,
                y: 0,
                w: 64,
                h: 65
            }
        );
        assert_eq!(
            layout.nodes[5].rect,
            Rect {
                x: 0,
                y: 65,
                w: 65,
                h: 65
            }
        );
        assert_eq!(
            layout.nodes[10].rect,
            Rect {
                x: 0,
                y: 65,
                w: 33,
                h: 32
            }
        );
        assert_eq!(
            layout.nodes[19].rect,
            Rect {
                x: 0,
                y: 0,
                w: 17,
                h: 17
            }
        );
        assert_eq!(
            layout.subbands[0],
            Rect {
                x: 0,
                y: 0,
                w: 9,
                h: 9
            }
        );
        assert_eq!(
            layout.subbands[51],
            Rect {
                x: 65,
                y: 65,
                w: 64,
                h: 65
            }
        );
    }

    #[test]
    fn reflect_handles_short_lines() {
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
        assert_eq!(reflect(-3, 2), 1);
        assert_eq!(reflect(6, 3), 2);
        assert_eq!(reflect(7, 1), 0);
    }

    #[test]
    fn decomposition_inverts_exactly() {
        for (w, h) in [(64, 64), (101, 77), (256, 255)] {
            let layout = Layout::new(w, h);
            let bank = FilterBank::standard();
            let orig: Vec<f32> = (0..w * h)
                .map(|i| ((i * 7919) % 251) as f32 - 125.0)
                .collect();
            let mut img = orig.clone();
            bank.decompose(&mut img, &layout);
            assert!(img.iter().zip(&orig).any(|(a, b)| (a - b).abs() > 1.0));
            bank.reconstruct(&mut img, &layout);
            let err = img
                .iter()
                .zip(&orig)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-2, "{w}x{h}: max error {err}");
        }
    }

    #[test]
    fn lowpass_band_keeps_the_mean() {
        // A constant line maps to sqrt(2) times itself in the lowpass and zero in the highpass.
        let layout = Layout::new(64, 64);
        let bank = FilterBank::standard();
        let mut img = vec![10.0f32; 64 * 64];
        bank.decompose(&mut img, &layout);
        let r = layout.subbands[59];
        assert!(img[r.y * 64 + r.x].abs() < 1e-4);
        assert!((img[0] - 10.0 * 2f32.powi(5)).abs() < 1e-2, "{}", img[0]);
    }
}

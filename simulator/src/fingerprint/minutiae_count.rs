//! Test support: a plain minutiae counter (local-mean binarisation, Zhang–Suen thinning,
//! crossing numbers, cluster removal) to check that synthetic prints carry realistic counts.

use image::GrayImage;

/// Counts minutiae in `ridge` (true = ridge pixel) where `foreground` holds, ignoring pairs
/// closer than 8 px (spurs, breaks and bridges that extractors discard too).
pub(crate) fn count(mut ridge: Vec<bool>, foreground: &[bool], w: usize, h: usize) -> usize {
    thin(&mut ridge, w, h);
    let mut found = Vec::new();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            if !ridge[y * w + x] || !foreground[y * w + x] {
                continue;
            }
            let ring = [
                (x, y - 1),
                (x + 1, y - 1),
                (x + 1, y),
                (x + 1, y + 1),
                (x, y + 1),
                (x - 1, y + 1),
                (x - 1, y),
                (x - 1, y - 1),
            ];
            let on: Vec<bool> = ring.iter().map(|&(a, b)| ridge[b * w + a]).collect();
            let crossings = (0..8).filter(|&i| on[i] != on[(i + 1) % 8]).count() / 2;
            if crossings == 1 || crossings == 3 {
                found.push((x as i64, y as i64));
            }
        }
    }
    let close = |a: (i64, i64), b: (i64, i64)| (a.0 - b.0).pow(2) + (a.1 - b.1).pow(2) < 64;
    found
        .iter()
        .enumerate()
        .filter(|&(i, &m)| {
            !found
                .iter()
                .enumerate()
                .any(|(j, &n)| i != j && close(m, n))
        })
        .count()
}

/// Binarises a dark-ridge image against its 15×15 local mean and finds the foreground as
/// 16×16 blocks of enough contrast, eroded by one block so the print's rim does not count.
pub(crate) fn count_in_image(image: &GrayImage) -> usize {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let px: Vec<f64> = image.pixels().map(|p| f64::from(p.0[0])).collect();
    let mut integral = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            integral[(y + 1) * (w + 1) + x + 1] =
                px[y * w + x] + integral[y * (w + 1) + x + 1] + integral[(y + 1) * (w + 1) + x]
                    - integral[y * (w + 1) + x];
        }
    }
    let mean = |x: usize, y: usize, r: usize| {
        let (x0, y0) = (x.saturating_sub(r), y.saturating_sub(r));
        let (x1, y1) = ((x + r + 1).min(w), (y + r + 1).min(h));
        let s =
            integral[y1 * (w + 1) + x1] - integral[y0 * (w + 1) + x1] - integral[y1 * (w + 1) + x0]
                + integral[y0 * (w + 1) + x0];
        s / ((x1 - x0) * (y1 - y0)) as f64
    };
    let ridge: Vec<bool> = (0..w * h).map(|i| px[i] < mean(i % w, i / w, 7)).collect();
    let (bw, bh) = (w / 16, h / 16);
    let mut block_on = vec![false; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let vals: Vec<f64> = (0..256)
                .map(|i| px[(by * 16 + i / 16) * w + bx * 16 + i % 16])
                .collect();
            let m = vals.iter().sum::<f64>() / 256.0;
            let var = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 256.0;
            block_on[by * bw + bx] = var.sqrt() > 20.0;
        }
    }
    let eroded = |bx: usize, by: usize| {
        bx > 0
            && by > 0
            && bx + 1 < bw
            && by + 1 < bh
            && (by - 1..=by + 1).all(|y| (bx - 1..=bx + 1).all(|x| block_on[y * bw + x]))
    };
    let foreground: Vec<bool> = (0..w * h)
        .map(|i| {
            let (bx, by) = ((i % w) / 16, (i / w) / 16);
            bx < bw && by < bh && eroded(bx, by)
        })
        .collect();
    count(ridge, &foreground, w, h)
}

/// Foreground share of an image: 16×16 blocks whose grey deviation exceeds 20.
pub(crate) fn foreground_share(image: &GrayImage) -> f64 {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (bw, bh) = (w / 16, h / 16);
    let mut on = 0;
    for by in 0..bh {
        for bx in 0..bw {
            let vals: Vec<f64> = (0..256)
                .map(|i| {
                    f64::from(
                        image
                            .get_pixel((bx * 16 + i % 16) as u32, (by * 16 + i / 16) as u32)
                            .0[0],
                    )
                })
                .collect();
            let m = vals.iter().sum::<f64>() / 256.0;
            let var = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 256.0;
            if var.sqrt() > 20.0 {
                on += 1;
            }
        }
    }
    f64::from(on) / (bw * bh) as f64
}

fn thin(img: &mut [bool], w: usize, h: usize) {
    loop {
        let mut changed = false;
        for step in 0..2 {
            let mut remove = Vec::new();
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    if !img[y * w + x] {
                        continue;
                    }
                    let p = |dx: isize, dy: isize| {
                        img[(y as isize + dy) as usize * w + (x as isize + dx) as usize] as u8
                    };
                    let n = [
                        p(0, -1),
                        p(1, -1),
                        p(1, 0),
                        p(1, 1),
                        p(0, 1),
                        p(-1, 1),
                        p(-1, 0),
                        p(-1, -1),
                    ];
                    let b: u8 = n.iter().sum();
                    let a = (0..8).filter(|&i| n[i] == 0 && n[(i + 1) % 8] == 1).count();
                    let (c1, c2) = if step == 0 {
                        (n[0] * n[2] * n[4], n[2] * n[4] * n[6])
                    } else {
                        (n[0] * n[2] * n[6], n[0] * n[4] * n[6])
                    };
                    if (2..=6).contains(&b) && a == 1 && c1 == 0 && c2 == 0 {
                        remove.push(y * w + x);
                    }
                }
            }
            changed |= !remove.is_empty();
            for i in remove {
                img[i] = false;
            }
        }
        if !changed {
            break;
        }
    }
}

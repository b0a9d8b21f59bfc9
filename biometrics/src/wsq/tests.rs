//! Whole-codec tests: round trips on synthetic ridge images, header and NIST comment
//! parsing, and malformed input (truncations, corruptions, a random mutation loop).

use image::GrayImage;

use super::*;

/// Small deterministic generator so the tests need no extra crates.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A 500 ppi-like synthetic print: curved ridges about 9 px apart inside an elliptical finger
/// area, light noise, and a bright background.
pub(crate) fn ridge_print(w: u32, h: u32, seed: u64) -> GrayImage {
    let mut rng = XorShift(seed | 1);
    let (cx, cy) = (w as f32 * 0.5, h as f32 * 0.55);
    let (rx, ry) = (w as f32 * 0.42, h as f32 * 0.47);
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let noise = (rng.below(25) as f32) - 12.0;
        let inside = (dx / rx).powi(2) + (dy / ry).powi(2);
        if inside > 1.0 {
            return image::Luma([(240.0 + noise * 0.5) as u8]);
        }
        let theta = dy.atan2(dx);
        let r = (dx * dx + (dy * 1.3).powi(2)).sqrt() + 6.0 * (2.0 * theta).sin();
        let ridge = (r * std::f32::consts::TAU / 9.0).cos();
        let fade = (1.0 - inside).min(0.15) / 0.15;
        let v = 240.0 - fade * (110.0 + 95.0 * ridge) + noise;
        image::Luma([v.clamp(0.0, 255.0) as u8])
    })
}

pub(crate) fn psnr(a: &GrayImage, b: &GrayImage) -> f64 {
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn ridge_print_round_trip_at_fbi_rate() {
    let img = ridge_print(500, 500, 7);
    let wsq = encode(&img, 500, 0.75).unwrap();
    let (back, ppi) = decode(&wsq).unwrap();
    assert_eq!(back.dimensions(), (500, 500));
    assert_eq!(ppi, Some(500));
    let quality = psnr(&img, &back);
    let ratio = (500.0 * 500.0) / wsq.len() as f64;
    assert!(quality > 30.0, "PSNR {quality:.2} dB");
    assert!(
        (10.0..=20.0).contains(&ratio),
        "ratio {ratio:.1}:1 ({} bytes)",
        wsq.len()
    );
}

#[test]
fn higher_bitrate_is_bigger_and_better() {
    let img = ridge_print(320, 288, 3);
    let low = encode(&img, 500, 0.75).unwrap();
    let high = encode(&img, 500, 2.25).unwrap();
    assert!(high.len() > 2 * low.len());
    let (dl, _) = decode(&low).unwrap();
    let (dh, _) = decode(&high).unwrap();
    assert!(psnr(&img, &dh) > psnr(&img, &dl) + 2.0);
}

#[test]
fn odd_and_small_sizes_round_trip() {
    for (w, h) in [(81, 81), (83, 97), (101, 82), (257, 255)] {
        let img = ridge_print(w, h, u64::from(w * h));
        let wsq = encode(&img, 500, 2.25).unwrap();
        let (back, _) = decode(&wsq).unwrap();
        assert_eq!(back.dimensions(), (w, h));
        assert!(
            psnr(&img, &back) > 25.0,
            "{w}x{h}: {:.1} dB",
            psnr(&img, &back)
        );
    }
}

#[test]
fn flat_image_round_trips_exactly() {
    let img = GrayImage::from_pixel(96, 82, image::Luma([200]));
    let wsq = encode(&img, 0, 0.75).unwrap();
    let (back, ppi) = decode(&wsq).unwrap();
    assert_eq!(back, img);
    assert_eq!(ppi, None);
}

#[test]
fn header_parsing_reports_size_ppi_and_rate() {
    let wsq = encode(&ridge_print(200, 150, 1), 1000, 0.75).unwrap();
    assert_eq!(&wsq[..2], &[0xFF, 0xA0]);
    assert_eq!(&wsq[wsq.len() - 2..], &[0xFF, 0xA1]);
    let header = read_header(&wsq).unwrap();
    assert_eq!(
        header,
        WsqHeader {
            width: 200,
            height: 150,
            ppi: Some(1000),
            bitrate: Some(0.75)
        }
    );
}

#[test]
fn nistcom_ppi_round_trips() {
    let img = ridge_print(96, 96, 9);
    for ppi in [250u16, 500, 1000, 19_685] {
        let (_, got) = decode(&encode(&img, ppi, 0.75).unwrap()).unwrap();
        assert_eq!(got, Some(ppi));
    }
}

#[test]
fn encoder_rejects_bad_parameters() {
    let img = ridge_print(96, 96, 2);
    for rate in [0.0, -1.0, f32::NAN, 9.0] {
        assert!(
            matches!(encode(&img, 500, rate), Err(WsqError::InvalidInput(_))),
            "{rate}"
        );
    }
    let tiny = GrayImage::new(80, 100);
    assert!(matches!(
        encode(&tiny, 500, 0.75),
        Err(WsqError::InvalidInput(_))
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let wsq = encode(&ridge_print(96, 84, 5), 500, 0.75).unwrap();
    for len in 0..wsq.len() - 1 {
        assert!(
            decode(&wsq[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

#[test]
fn structural_corruptions_are_errors() {
    let wsq = encode(&ridge_print(96, 84, 5), 500, 0.75).unwrap();
    let corrupt = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = wsq.clone();
        f(&mut d);
        decode(&d)
    };
    assert!(corrupt(&|d| d[1] = 0xA1).is_err(), "bad SOI");
    assert!(corrupt(&|d| d.truncate(2)).is_err(), "SOI only");
    // Frame header claims a different size than the coded data covers.
    let sof = wsq.windows(2).position(|w| w == [0xFF, 0xA2]).unwrap();
    assert!(corrupt(&|d| d[sof + 7] ^= 0x10).is_err(), "height changed");
    assert!(
        corrupt(&|d| {
            d[sof + 6] = 0;
            d[sof + 7] = 4
        })
        .is_err(),
        "height 4"
    );
    assert!(
        corrupt(&|d| {
            d[sof + 6] = 0xFF;
            d[sof + 7] = 0xFF;
            d[sof + 8] = 0xFF;
            d[sof + 9] = 0xFF
        })
        .is_err(),
        "huge"
    );
    // Block refers to an undefined Huffman table.
    let sob = wsq.windows(2).position(|w| w == [0xFF, 0xA3]).unwrap();
    assert!(corrupt(&|d| d[sob + 4] = 5).is_err(), "table 5");
    assert!(corrupt(&|d| d[sob + 4] = 200).is_err(), "table 200");
    // Transform table with even-length filters.
    let dtt = wsq.windows(2).position(|w| w == [0xFF, 0xA4]).unwrap();
    assert!(matches!(
        corrupt(&|d| d[dtt + 4] = 8),
        Err(WsqError::Unsupported(_))
    ));
    // Segment length running past the end of the data.
    assert!(
        corrupt(&|d| {
            d[dtt + 2] = 0xFF;
            d[dtt + 3] = 0xF0
        })
        .is_err(),
        "long DTT"
    );
    assert!(
        corrupt(&|d| {
            d[dtt + 2] = 0;
            d[dtt + 3] = 1
        })
        .is_err(),
        "DTT length 1"
    );
    // Missing end-of-image marker.
    assert!(
        corrupt(&|d| {
            let n = d.len();
            d[n - 1] = 0xA7
        })
        .is_err(),
        "bad EOI"
    );
    assert!(decode(&[]).is_err());
    assert!(decode(b"not a wsq file at all").is_err());
}

#[test]
fn random_mutations_never_panic() {
    let wsq = encode(&ridge_print(88, 84, 11), 500, 0.75).unwrap();
    let mut rng = XorShift(0x5EED_1234_ABCD_0001);
    for _ in 0..1500 {
        let mut d = wsq.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(d.len());
            match rng.below(4) {
                0 => d[i] ^= 1 << rng.below(8),
                1 => d[i] = rng.next() as u8,
                2 => {
                    d.remove(i);
                }
                _ => d.insert(i, rng.next() as u8),
            }
        }
        if let Ok((img, _)) = decode(&d) {
            assert!(img.width() >= MIN_DECODE_DIMENSION && img.height() >= MIN_DECODE_DIMENSION);
        }
    }
    for len in 0..200 {
        let noise: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode(&noise);
        let mut framed = vec![0xFF, 0xA0];
        framed.extend(&noise);
        let _ = decode(&framed);
    }
}

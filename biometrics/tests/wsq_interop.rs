//! Interoperability of `biometrics::wsq` with NIST NBIS, both ways, on 500 ppi prints: NBIS
//! decodes our files, we decode NBIS files, and at the same bit rate our size and PSNR stay
//! within 10 % and 0.5 dB of NBIS's. Needs `SPIDD_WSQ_NBIS` (set by `scripts/wsq-interop.sh`).

mod wsq_support;

use std::path::Path;

use biometrics::wsq;
use image::GrayImage;
use wsq_support::{max_abs_diff, psnr, read_gray, scratch_dir, synthetic_print, write_pgm, Nbis};

/// The only rate the PyPI wrapper lets NBIS encode at.
const RATE: f32 = 0.75;

fn fixture_print() -> GrayImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/libfprint-aes3500/capture.png");
    assert!(path.exists(), "fixture {} is missing", path.display());
    read_gray(&path)
}

fn prints() -> Vec<(String, GrayImage)> {
    let mut v = vec![("aes3500".to_string(), fixture_print())];
    for (w, h, seed) in [(500, 500, 1), (416, 416, 2), (320, 480, 3), (357, 401, 4)] {
        v.push((format!("synthetic-{w}x{h}"), synthetic_print(w, h, seed)));
    }
    v
}

#[test]
fn interop_with_nbis() {
    let Some(nbis) = Nbis::from_env() else {
        println!("skipped: set SPIDD_WSQ_NBIS (see scripts/wsq-interop.sh)");
        return;
    };
    let dir = scratch_dir("interop");
    let mut failures = Vec::new();
    for (name, img) in prints() {
        let pgm = dir.join(format!("{name}.pgm"));
        write_pgm(&pgm, &img);

        // Ours -> NBIS.
        let ours = wsq::encode(&img, 500, RATE).expect("encode");
        let ours_path = dir.join(format!("{name}.ours.wsq"));
        std::fs::write(&ours_path, &ours).unwrap();
        let (nbis_of_ours, ppi) = nbis.decode(&ours_path, &dir.join(format!("{name}.ours.png")));
        let (we_of_ours, our_ppi) = wsq::decode(&ours).expect("decode our own file");
        assert_eq!(ppi, 500, "{name}: NBIS read the PPI from our NIST_COM");
        assert_eq!(our_ppi, Some(500));
        let diff_ours = max_abs_diff(&nbis_of_ours, &we_of_ours);

        // NBIS -> ours.
        let theirs = nbis.encode(&pgm, &dir.join(format!("{name}.nbis.wsq")));
        let (nbis_of_theirs, _) = nbis.decode(
            &dir.join(format!("{name}.nbis.wsq")),
            &dir.join(format!("{name}.nbis.png")),
        );
        let (we_of_theirs, their_ppi) = wsq::decode(&theirs).expect("decode an NBIS file");
        assert_eq!(their_ppi, Some(500));
        let diff_theirs = max_abs_diff(&nbis_of_theirs, &we_of_theirs);

        let size_ratio = ours.len() as f64 / theirs.len() as f64;
        let (psnr_ours, psnr_nbis) = (psnr(&img, &we_of_ours), psnr(&img, &nbis_of_theirs));
        println!(
            "{name:>20}: ours {} B {psnr_ours:.2} dB | NBIS {} B {psnr_nbis:.2} dB | size x{size_ratio:.3} \
             | max pixel diff ours-file {diff_ours}, NBIS-file {diff_theirs}",
            ours.len(),
            theirs.len()
        );
        // Both decoders run the same float pipeline; only rounding may differ.
        if diff_ours > 1 || diff_theirs > 1 {
            failures.push(format!(
                "{name}: decoders disagree by {diff_ours}/{diff_theirs} levels"
            ));
        }
        if (size_ratio - 1.0).abs() > 0.10 {
            failures.push(format!(
                "{name}: size {} vs NBIS {}",
                ours.len(),
                theirs.len()
            ));
        }
        if (psnr_ours - psnr_nbis).abs() > 0.5 {
            failures.push(format!(
                "{name}: PSNR {psnr_ours:.2} vs NBIS {psnr_nbis:.2} dB"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "interop failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn nbis_reads_edge_case_images() {
    let Some(nbis) = Nbis::from_env() else {
        println!("skipped: set SPIDD_WSQ_NBIS (see scripts/wsq-interop.sh)");
        return;
    };
    let dir = scratch_dir("edge");
    let cases = [
        ("flat", GrayImage::from_pixel(128, 96, image::Luma([180]))),
        (
            "minimum",
            synthetic_print(wsq::MIN_DIMENSION, wsq::MIN_DIMENSION, 5),
        ),
        ("odd", synthetic_print(129, 257, 6)),
        ("wide", synthetic_print(800, 200, 7)),
    ];
    for (name, img) in cases {
        for rate in [0.75, 2.25] {
            let ours = wsq::encode(&img, 500, rate).expect("encode");
            let path = dir.join(format!("{name}-{rate}.wsq"));
            std::fs::write(&path, &ours).unwrap();
            let (theirs, _) = nbis.decode(&path, &dir.join(format!("{name}-{rate}.png")));
            let (mine, _) = wsq::decode(&ours).unwrap();
            let diff = max_abs_diff(&theirs, &mine);
            println!(
                "{name:>8} @{rate}: {} B, NBIS vs ours max diff {diff}",
                ours.len()
            );
            assert!(
                diff <= 1,
                "{name} @{rate}: NBIS decodes our file differently (max diff {diff})"
            );
        }
    }
}

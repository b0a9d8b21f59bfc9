//! Full FVC-protocol evaluation of the fingerprint matcher on synthetic prints: quality of
//! good and poor presentations, EER, and FMR/FNMR at `THRESHOLD`.
//! Usage: `matcher_eval [fingers=100] [impressions=8] [--extended]`. `--extended` adds every
//! cross-finger pair of impressions to the impostor set (≈ 300,000 comparisons for 100 × 8),
//! enough to check the FMR = 1/10,000 calibration of the threshold.

use biometrics::fingerprint::{assess, compare, Template, DEFAULT_QUALITY_THRESHOLD, THRESHOLD};
use simulator::fingerprint::{impression, Condition};
use std::time::Instant;

fn subject(f: usize) -> String {
    format!("{:011}", 31_415_926_535u64 + f as u64 * 7_919)
}

fn finger(f: usize) -> u8 {
    (f % 10) as u8 + 1
}

/// Rates at threshold `t`: (FMR, FNMR); `matched = score >= t`.
fn rates(genuine: &[f64], impostor: &[f64], t: f64) -> (f64, f64) {
    let fm = impostor.iter().filter(|&&s| s >= t).count() as f64 / impostor.len().max(1) as f64;
    let fnm = genuine.iter().filter(|&&s| s < t).count() as f64 / genuine.len().max(1) as f64;
    (fm, fnm)
}

/// Equal error rate: the smallest max(FMR, FNMR) over all thresholds (FVC's EER estimate).
fn eer(genuine: &[f64], impostor: &[f64]) -> f64 {
    let mut ts: Vec<f64> = genuine.iter().chain(impostor).copied().collect();
    ts.push(f64::INFINITY);
    ts.iter()
        .map(|&t| {
            let (a, b) = rates(genuine, impostor, t);
            a.max(b)
        })
        .fold(1.0, f64::min)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let extended = args.iter().any(|a| a == "--extended");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let fingers = nums.first().copied().unwrap_or(100);
    let imps = nums.get(1).copied().unwrap_or(8) as u32;
    assert!(
        fingers >= 2 && imps >= 2,
        "need at least 2 fingers and 2 impressions"
    );

    let t0 = Instant::now();
    let mut templates: Vec<Vec<Template>> = Vec::new();
    let mut good_q = Vec::new();
    let mut minutiae = Vec::new();
    for f in 0..fingers {
        let row: Vec<Template> = (0..imps)
            .map(|i| {
                let img = impression(&subject(f), finger(f), i, Condition::Good);
                let (q, t) = assess(&img.image, img.ppi);
                good_q.push(q.score as f64);
                minutiae.push(t.minutiae.len() as f64);
                t
            })
            .collect();
        templates.push(row);
    }
    let extract_s = t0.elapsed().as_secs_f64();
    let mut poor_q: Vec<f64> = (0..fingers.min(30))
        .map(|f| {
            let img = impression(&subject(f), finger(f), 0, Condition::Poor);
            if let Ok(dir) = std::env::var("DUMP_POOR") {
                img.image
                    .save(format!("{dir}/poor{f}.png"))
                    .expect("writable dump directory");
            }
            assess(&img.image, img.ppi).0.score as f64
        })
        .collect();

    let t1 = Instant::now();
    let mut genuine = Vec::new();
    for row in &templates {
        for a in 0..row.len() {
            for b in a + 1..row.len() {
                genuine.push(compare(&row[a], &row[b]).score);
            }
        }
    }
    let mut impostor = Vec::new();
    for a in 0..fingers {
        for b in a + 1..fingers {
            impostor.push(compare(&templates[a][0], &templates[b][0]).score);
        }
    }
    let mut ext = Vec::new();
    if extended {
        for a in 0..fingers {
            for b in a + 1..fingers {
                for i in 0..imps as usize {
                    for j in 0..imps as usize {
                        ext.push(compare(&templates[a][i], &templates[b][j]).score);
                    }
                }
            }
        }
    }
    let comparisons = genuine.len() + impostor.len() + ext.len();
    let match_ms = t1.elapsed().as_secs_f64() * 1000.0 / comparisons.max(1) as f64;

    for v in [
        &mut genuine,
        &mut impostor,
        &mut ext,
        &mut good_q,
        &mut poor_q,
        &mut minutiae,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "synthetic set: {fingers} fingers × {imps} impressions (Condition::Good), FVC protocol"
    );
    println!(
        "extraction: {:.1} ms per image (quality + template); minutiae per template: median {:.0}, 5% {:.0}",
        extract_s * 1000.0 / (fingers * imps as usize) as f64,
        quantile(&minutiae, 0.5),
        quantile(&minutiae, 0.05)
    );
    let pass = |v: &[f64]| {
        v.iter()
            .filter(|&&q| q >= DEFAULT_QUALITY_THRESHOLD as f64)
            .count()
    };
    println!(
        "quality Good: min {:.0} median {:.0} ({} of {} pass gate {}); Poor: median {:.0} max {:.0} ({} of {} pass)",
        good_q[0],
        quantile(&good_q, 0.5),
        pass(&good_q),
        good_q.len(),
        DEFAULT_QUALITY_THRESHOLD,
        quantile(&poor_q, 0.5),
        poor_q[poor_q.len() - 1],
        pass(&poor_q),
        poor_q.len()
    );
    println!(
        "genuine: {} comparisons, min {:.1}, 1% {:.1}, median {:.1}",
        genuine.len(),
        genuine[0],
        quantile(&genuine, 0.01),
        quantile(&genuine, 0.5)
    );
    println!(
        "impostor: {} comparisons, median {:.1}, 99% {:.1}, max {:.1}",
        impostor.len(),
        quantile(&impostor, 0.5),
        quantile(&impostor, 0.99),
        impostor[impostor.len() - 1]
    );
    let (fmr, fnmr) = rates(&genuine, &impostor, THRESHOLD);
    println!("EER = {:.3}%", 100.0 * eer(&genuine, &impostor));
    println!(
        "at THRESHOLD {THRESHOLD}: FMR = {:.4}%  FNMR = {:.3}%",
        100.0 * fmr,
        100.0 * fnmr
    );
    if extended {
        let (fmr, _) = rates(&genuine, &ext, THRESHOLD);
        println!(
            "extended impostors: {} comparisons, 99.9% {:.1}, 99.99% {:.1}, max {:.1}; FMR at THRESHOLD = {:.4}% (target 0.01%)",
            ext.len(),
            quantile(&ext, 0.999),
            quantile(&ext, 0.9999),
            ext[ext.len() - 1],
            100.0 * fmr
        );
        if std::env::var("RAW_SCORES").is_ok() {
            for s in &ext {
                eprintln!("X {s}");
            }
            for s in &genuine {
                eprintln!("G {s}");
            }
        }
    }
    println!("mean comparison time: {match_ms:.3} ms");
}

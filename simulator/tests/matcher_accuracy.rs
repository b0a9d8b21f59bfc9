//! Accuracy of the fingerprint matcher on synthetic prints, FVC protocol (genuine: every pair
//! of impressions of a finger; impostor: first impressions of different fingers). The full
//! 100 × 8 evaluation is `cargo run --release -p simulator --example matcher_eval`.

use biometrics::fingerprint::{assess, compare, Template, DEFAULT_QUALITY_THRESHOLD, THRESHOLD};
use simulator::fingerprint::{impression, Condition};

const FINGERS: usize = 30;
const IMPRESSIONS: u32 = 4;

/// (FMR, FNMR) at threshold `t`, with `matched = score >= t`.
fn rates(genuine: &[f64], impostor: &[f64], t: f64) -> (f64, f64) {
    let fm = impostor.iter().filter(|&&s| s >= t).count() as f64 / impostor.len() as f64;
    let fnm = genuine.iter().filter(|&&s| s < t).count() as f64 / genuine.len() as f64;
    (fm, fnm)
}

/// The smallest max(FMR, FNMR) over all thresholds.
fn eer(genuine: &[f64], impostor: &[f64]) -> f64 {
    genuine
        .iter()
        .chain(impostor)
        .chain([f64::INFINITY].iter())
        .map(|&t| {
            let (a, b) = rates(genuine, impostor, t);
            a.max(b)
        })
        .fold(1.0, f64::min)
}

#[test]
fn synthetic_fvc_protocol_eer_is_at_most_one_percent() {
    let templates: Vec<Vec<Template>> = (0..FINGERS)
        .map(|f| {
            let subject = format!("{:011}", 27_182_818_284u64 + f as u64 * 104_729);
            (0..IMPRESSIONS)
                .map(|i| {
                    let img = impression(&subject, (f % 10) as u8 + 1, i, Condition::Good);
                    let (quality, template) = assess(&img.image, img.ppi);
                    assert!(
                        quality.score >= DEFAULT_QUALITY_THRESHOLD,
                        "finger {f} impression {i}: good presentation fails the gate: {quality:?}"
                    );
                    template
                })
                .collect()
        })
        .collect();

    let mut genuine = Vec::new();
    for row in &templates {
        for a in 0..row.len() {
            for b in a + 1..row.len() {
                genuine.push(compare(&row[a], &row[b]).score);
            }
        }
    }
    let mut impostor = Vec::new();
    for a in 0..FINGERS {
        for b in a + 1..FINGERS {
            impostor.push(compare(&templates[a][0], &templates[b][0]).score);
        }
    }
    genuine.sort_by(f64::total_cmp);
    impostor.sort_by(f64::total_cmp);

    let e = eer(&genuine, &impostor);
    let (fmr, fnmr) = rates(&genuine, &impostor, THRESHOLD);
    println!(
        "{FINGERS} fingers × {IMPRESSIONS} impressions: {} genuine, {} impostor comparisons",
        genuine.len(),
        impostor.len()
    );
    println!("EER = {:.3}%", 100.0 * e);
    println!(
        "at THRESHOLD {THRESHOLD}: FMR = {:.3}%, FNMR = {:.3}%",
        100.0 * fmr,
        100.0 * fnmr
    );
    println!(
        "genuine min {:.1} median {:.1}; impostor median {:.1} max {:.1}",
        genuine[0],
        genuine[genuine.len() / 2],
        impostor[impostor.len() / 2],
        impostor[impostor.len() - 1]
    );
    assert!(e <= 0.01, "EER {:.3}% above 1%", 100.0 * e);
    // Separated: the bulk of each distribution lies on its side of the threshold.
    assert!(genuine[genuine.len() / 2] > THRESHOLD && impostor[impostor.len() / 2] < THRESHOLD);
    assert!(
        fmr <= 0.01 && fnmr <= 0.02,
        "FMR {fmr}, FNMR {fnmr} at the threshold"
    );
}

#[test]
fn poor_presentations_fail_the_quality_gate() {
    for f in 0..5 {
        let subject = format!("{:011}", 16_180_339_887u64 + f as u64 * 7_919);
        let img = impression(&subject, (f % 10) as u8 + 1, 0, Condition::Poor);
        let q = biometrics::fingerprint::quality(&img.image, img.ppi);
        assert!(q.score < 35, "finger {f}: {q:?}");
    }
}

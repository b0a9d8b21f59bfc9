//! Synthetic fingerprints, SFinGe style: a deterministic master finger per (subject, finger),
//! rendered into distorted, noisy impressions. (Interface fixed.)

mod gabor;
mod master;
mod render;
pub(crate) mod seed;

use std::sync::{Arc, Mutex};

use drivers::FingerImage;

use master::Master;
use seed::SeedHasher;

/// How the finger is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Good,
    /// Dry/smudged/low-contrast: the quality gate must reject it.
    Poor,
}

/// Width and height of every impression, pixels at 500 ppi (about 21 × 28 mm).
pub const IMPRESSION_WIDTH: u32 = 416;
pub const IMPRESSION_HEIGHT: u32 = 560;

/// Impression number `impression` of finger `finger` (ANSI/NIST code 1–10) of `subject`
/// (any string, usually a CPF's 11 digits), 500 ppi. Deterministic.
pub fn impression(subject: &str, finger: u8, impression: u32, condition: Condition) -> FingerImage {
    let master = master_finger(subject, finger);
    let mut rng = SeedHasher::new("spid-sim/fingerprint/impression/v1")
        .str(subject)
        .u64(u64::from(finger))
        .u64(u64::from(impression))
        .u64(match condition {
            Condition::Good => 0,
            Condition::Poor => 1,
        })
        .rng();
    FingerImage {
        image: render::render(&master, &mut rng, condition),
        ppi: 500,
    }
}

/// Masters cost far more than impressions and test suites ask for many impressions of few
/// fingers, so the most recently used ones are kept.
const CACHED_MASTERS: usize = 8;

/// Least recently used first.
type MasterCache = Vec<((String, u8), Arc<Master>)>;

fn master_finger(subject: &str, finger: u8) -> Arc<Master> {
    static CACHE: Mutex<MasterCache> = Mutex::new(Vec::new());
    let key = (subject.to_owned(), finger);
    {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(pos);
            let master = entry.1.clone();
            cache.push(entry);
            return master;
        }
    }
    // Generated outside the lock so other fingers are not held up; a duplicate generation by
    // a racing thread is harmless because generation is deterministic.
    let mut rng = SeedHasher::new("spid-sim/fingerprint/master/v1")
        .str(subject)
        .u64(u64::from(finger))
        .rng();
    let started = std::time::Instant::now();
    let master = Arc::new(Master::generate(&mut rng));
    tracing::debug!(
        finger,
        class = ?master.class,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "generated a synthetic master finger"
    );
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if !cache.iter().any(|(k, _)| *k == key) {
        if cache.len() >= CACHED_MASTERS {
            cache.remove(0);
        }
        cache.push((key, master.clone()));
    }
    master
}

#[cfg(test)]
mod minutiae_count;

#[cfg(test)]
mod tests {
    use super::minutiae_count::{count, count_in_image, foreground_share};
    use super::*;

    fn mean_abs_diff(a: &FingerImage, b: &FingerImage) -> f64 {
        let total: f64 = a
            .image
            .pixels()
            .zip(b.image.pixels())
            .map(|(p, q)| (f64::from(p.0[0]) - f64::from(q.0[0])).abs())
            .sum();
        total / f64::from(IMPRESSION_WIDTH * IMPRESSION_HEIGHT)
    }

    #[test]
    fn impressions_are_deterministic() {
        let a = impression("52998224725", 2, 7, Condition::Good);
        let b = impression("52998224725", 2, 7, Condition::Good);
        assert_eq!(a, b);
        let poor = impression("52998224725", 2, 7, Condition::Poor);
        assert_eq!(poor, impression("52998224725", 2, 7, Condition::Poor));
    }

    #[test]
    fn masters_are_deterministic_without_the_cache() {
        let generate = || {
            let mut rng = SeedHasher::new("spid-sim/fingerprint/master/v1")
                .str("11144477735")
                .u64(7)
                .rng();
            Master::generate(&mut rng)
        };
        let (a, b) = (generate(), generate());
        assert_eq!(a.class, b.class);
        for y in (0..592).step_by(7) {
            for x in (0..464).step_by(5) {
                let (x, y) = (x as f32 + 0.3, y as f32 + 0.6);
                assert_eq!(a.ridge(x, y).to_bits(), b.ridge(x, y).to_bits());
            }
        }
    }

    #[test]
    fn subjects_fingers_and_impressions_differ() {
        let base = impression("52998224725", 2, 0, Condition::Good);
        let other_subject = impression("11144477735", 2, 0, Condition::Good);
        let other_finger = impression("52998224725", 3, 0, Condition::Good);
        let other_impression = impression("52998224725", 2, 1, Condition::Good);
        assert!(mean_abs_diff(&base, &other_subject) > 20.0);
        assert!(mean_abs_diff(&base, &other_finger) > 20.0);
        assert!(mean_abs_diff(&base, &other_impression) > 10.0);
    }

    #[test]
    fn good_impressions_look_like_optical_prints() {
        for (subject, finger) in [("52998224725", 2), ("11144477735", 7), ("00000000191", 1)] {
            for n in [0, 100] {
                let print = impression(subject, finger, n, Condition::Good);
                assert_eq!(print.ppi, 500);
                assert_eq!(
                    print.image.dimensions(),
                    (IMPRESSION_WIDTH, IMPRESSION_HEIGHT)
                );
                let dark = print.image.pixels().filter(|p| p.0[0] < 100).count() as f64;
                let light = print.image.pixels().filter(|p| p.0[0] > 180).count() as f64;
                let total = f64::from(IMPRESSION_WIDTH * IMPRESSION_HEIGHT);
                assert!(
                    dark / total > 0.08,
                    "{subject}/{finger}/{n}: too few ridge pixels"
                );
                assert!(
                    light / total > 0.4,
                    "{subject}/{finger}/{n}: background missing"
                );
                let share = foreground_share(&print.image);
                assert!(
                    (0.25..0.8).contains(&share),
                    "{subject}/{finger}/{n}: foreground {share}"
                );
                let minutiae = count_in_image(&print.image);
                assert!(
                    (15..=90).contains(&minutiae),
                    "{subject}/{finger}/{n}: {minutiae}"
                );
            }
        }
    }

    #[test]
    fn masters_carry_a_realistic_minutiae_count() {
        for subject in ["52998224725", "11144477735", "00000000191", "12345678909"] {
            let master = master_finger(subject, 1);
            let (w, h) = (464, 592);
            let mut ridge = vec![false; w * h];
            let mut inner = vec![false; w * h];
            for y in 0..h {
                for x in 0..w {
                    ridge[y * w + x] = master.ridge(x as f32, y as f32) > 0.0;
                    inner[y * w + x] = master.shape.level(x as f32, y as f32) < 0.85;
                }
            }
            let minutiae = count(ridge, &inner, w, h);
            assert!(
                (20..=75).contains(&minutiae),
                "{subject}: {minutiae} minutiae"
            );
        }
    }

    #[test]
    fn poor_presentations_lose_ridge_contrast() {
        for n in 100..104 {
            let good = impression("52998224725", 2, n, Condition::Good);
            let poor = impression("52998224725", 2, n, Condition::Poor);
            assert!(foreground_share(&good.image) > 0.25);
            assert!(foreground_share(&poor.image) < 0.05, "impression {n}");
            assert!(count_in_image(&poor.image) < 10);
        }
    }

    #[test]
    fn pattern_classes_follow_natural_frequencies() {
        let counts = master::class_counts(10_000);
        let expected = [370, 290, 3380, 3170, 2790];
        for (got, want) in counts.iter().zip(expected) {
            assert!((*got as i64 - want).abs() < 150, "{counts:?}");
        }
    }
}

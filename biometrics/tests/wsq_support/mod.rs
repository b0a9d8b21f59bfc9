//! Shared by the WSQ interop test and the `wsq_bench` example: synthetic prints, PSNR, PGM
//! files, and the NBIS helper command named by `SPIDD_WSQ_NBIS`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use image::GrayImage;

pub const HELPER_ENV: &str = "SPIDD_WSQ_NBIS";

/// A synthetic 500 ppi print: a whorl-like ridge field with ~9 px ridge period inside an
/// elliptical finger area, sensor noise and a bright background.
pub fn synthetic_print(w: u32, h: u32, seed: u32) -> GrayImage {
    let mut state = seed.wrapping_mul(2_654_435_761) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 21) as f32 - 10.0
    };
    let (cx, cy) = (w as f32 * 0.48, h as f32 * 0.52);
    let (rx, ry) = (w as f32 * 0.41, h as f32 * 0.46);
    GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let inside = (dx / rx).powi(2) + (dy / ry).powi(2);
        let n = noise();
        if inside > 1.0 {
            return image::Luma([(235.0 + n * 0.4) as u8]);
        }
        let theta = dy.atan2(dx);
        let r = (dx * dx * 1.1 + dy * dy).sqrt() + 5.0 * (3.0 * theta + seed as f32).sin();
        let ridge = (r * std::f32::consts::TAU / 9.0).cos();
        let fade = ((1.0 - inside) / 0.2).min(1.0);
        let v = 235.0 - fade * (105.0 + 90.0 * ridge) + n;
        image::Luma([v.clamp(0.0, 255.0) as u8])
    })
}

pub fn psnr(a: &GrayImage, b: &GrayImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

pub fn max_abs_diff(a: &GrayImage, b: &GrayImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&p, &q)| p.abs_diff(q))
        .max()
        .unwrap_or(0)
}

pub fn write_pgm(path: &Path, img: &GrayImage) {
    let mut data = format!("P5\n{} {}\n255\n", img.width(), img.height()).into_bytes();
    data.extend_from_slice(img.as_raw());
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

pub fn read_gray(path: &Path) -> GrayImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .to_luma8()
}

/// A scratch directory under the cargo target dir, fresh for each call site name.
pub fn scratch_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = base.join("wsq-interop").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The NBIS helper (`scripts/wsq_nbis.py` run by the venv's python), from `SPIDD_WSQ_NBIS`.
pub struct Nbis {
    argv: Vec<String>,
}

impl Nbis {
    /// `None` when the variable is unset — except under CI (`CI` set), where the interop
    /// test must run: scripts/test.sh always prepares the helper, so its absence is a failure.
    pub fn from_env() -> Option<Self> {
        let Ok(cmd) = std::env::var(HELPER_ENV) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "{HELPER_ENV} is not set under CI: run the tests through scripts/test.sh"
            );
            return None;
        };
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        (!argv.is_empty()).then_some(Self { argv })
    }

    /// Runs the helper and returns its JSON line as a flat key → number map.
    pub fn run(&self, args: &[&str]) -> Vec<(String, f64)> {
        let out = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {HELPER_ENV}={:?}: {e}", self.argv));
        assert!(
            out.status.success(),
            "NBIS helper {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_flat_json(&String::from_utf8_lossy(&out.stdout))
    }

    pub fn encode(&self, pgm: &Path, wsq: &Path) -> Vec<u8> {
        self.run(&["encode", path_str(pgm), path_str(wsq)]);
        std::fs::read(wsq).unwrap_or_else(|e| panic!("reading {}: {e}", wsq.display()))
    }

    /// Decodes with NBIS; returns the image and the ppi NBIS reports.
    pub fn decode(&self, wsq: &Path, out: &Path) -> (GrayImage, i64) {
        let fields = self.run(&["decode", path_str(wsq), path_str(out)]);
        (read_gray(out), field(&fields, "ppi") as i64)
    }
}

pub fn field(fields: &[(String, f64)], name: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("helper output lacks {name}: {fields:?}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

/// Parses the helper's one-line JSON object of numbers (`{"a": 1, "b": 2.5}`).
fn parse_flat_json(line: &str) -> Vec<(String, f64)> {
    let body = line.trim().trim_start_matches('{').trim_end_matches('}');
    body.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((
                k.trim().trim_matches('"').to_string(),
                v.trim().parse().ok()?,
            ))
        })
        .collect()
}

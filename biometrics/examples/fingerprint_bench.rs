//! Release-mode timings of the fingerprint pipeline: quality + template extraction per image
//! and one 1:1 comparison, against the budgets (≤ 60 ms per finger, ≤ 1 ms per match).
//! Usage: `fingerprint_bench [image.png ppi]`; without arguments a synthetic 416×560 print.

use biometrics::fingerprint::{assess, compare, quality, Template};
use image::GrayImage;
use std::f32::consts::PI;
use std::time::Instant;

/// A loop-like print with ridge endings from spiral phase terms, 500 ppi.
fn synthetic(w: u32, h: u32, shift: f32, spacing: f32, angle_step: f32) -> GrayImage {
    let spirals: Vec<(f32, f32, f32)> = (0..40)
        .map(|k| {
            let a = k as f32 * angle_step;
            let r = 25.0 + spacing * k as f32;
            (
                w as f32 / 2.0 + r * a.cos(),
                h as f32 / 2.0 + r * a.sin(),
                if k % 2 == 0 { 1.0 } else { -1.0 },
            )
        })
        .collect();
    GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 + shift, y as f32);
        let inside = ((fx - w as f32 / 2.0) / (w as f32 * 0.42)).powi(2)
            + ((fy - h as f32 / 2.0) / (h as f32 * 0.45)).powi(2);
        if inside > 1.0 {
            return image::Luma([220]);
        }
        let r = (fx - w as f32 / 2.0).hypot(fy + h as f32 * 0.4);
        let mut phase = 2.0 * PI * r / 9.0;
        for &(mx, my, s) in &spirals {
            phase += s * (fy - my).atan2(fx - mx);
        }
        image::Luma([(120.0 + 90.0 * phase.cos()) as u8])
    })
}

/// CPU time of the calling thread in nanoseconds, where the kernel exposes it.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--profile-extract") {
        // A loop for `perf record`: nothing but the analysis of one image.
        let img = synthetic(416, 560, 0.0, 5.2, 2.399);
        let n: usize = (0..100).map(|_| assess(&img, 500).1.minutiae.len()).sum();
        println!("{n}");
        return;
    }
    let (a, b, ppi) = match (args.get(1), args.get(2)) {
        (Some(path), Some(ppi)) => {
            let img = image::open(path).expect("readable image").to_luma8();
            (img.clone(), img, ppi.parse().expect("ppi"))
        }
        _ => (
            synthetic(416, 560, 0.0, 5.2, 2.399),
            synthetic(416, 560, 6.0, 5.2, 2.399),
            500u16,
        ),
    };
    // The build machine is shared, so wall time overstates the cost: report this thread's CPU
    // time (Linux schedstat) per call, with the wall time beside it.
    let batches = 5;
    let time = |f: &mut dyn FnMut()| {
        let (c0, t0) = (cpu_ns(), Instant::now());
        for _ in 0..batches {
            f();
        }
        let cpu = cpu_ns().map_or(f64::NAN, |c| {
            (c - c0.unwrap_or(0)) as f64 / 1e6 / batches as f64
        });
        (cpu, t0.elapsed().as_secs_f64() * 1000.0 / batches as f64)
    };
    let mut n = 0usize;
    let assess_ms = time(&mut || {
        let (q, t) = assess(&a, ppi);
        n += q.score as usize + t.minutiae.len();
    });
    let separate_ms = time(&mut || {
        n += quality(&a, ppi).score as usize + Template::extract(&a, ppi).minutiae.len();
    });
    let (ta, tb) = (Template::extract(&a, ppi), Template::extract(&b, ppi));
    let matches = 200;
    let mut s = 0.0;
    let match_ms = time(&mut || {
        for _ in 0..matches {
            s += compare(&ta, &tb).score;
        }
    });
    let match_ms = (match_ms.0 / matches as f64, match_ms.1 / matches as f64);
    let tc = Template::extract(&synthetic(416, 560, 0.0, 4.3, 1.7), 500);
    let mut s_imp = 0.0;
    let imp_ms = time(&mut || {
        for _ in 0..matches {
            s_imp += compare(&ta, &tc).score;
        }
    });
    let imp_ms = (imp_ms.0 / matches as f64, imp_ms.1 / matches as f64);
    println!(
        "image {}x{} @ {ppi} ppi, {} / {} minutiae",
        a.width(),
        a.height(),
        ta.minutiae.len(),
        tb.minutiae.len()
    );
    println!(
        "assess (quality + template, one analysis): CPU {:.1} ms (wall {:.1} ms)   budget 60 ms",
        assess_ms.0, assess_ms.1
    );
    println!(
        "quality() then Template::extract():        CPU {:.1} ms (wall {:.1} ms)   budget 60 ms",
        separate_ms.0, separate_ms.1
    );
    println!(
        "compare (1:1):                             CPU {:.3} ms (wall {:.3} ms)   budget 1 ms (score {:.1})",
        match_ms.0,
        match_ms.1,
        s / (matches * batches) as f64
    );
    println!(
        "compare, another finger:                   CPU {:.3} ms (wall {:.3} ms)   budget 1 ms (score {:.1})",
        imp_ms.0,
        imp_ms.1,
        s_imp / (matches * batches) as f64
    );
    std::hint::black_box(n);
}

//! Per-finger processing time — `fingerprint::assess` (quality + template) then
//! `wsq::encode` at 0.75 bpp — on a synthetic 416×560 print at 500 ppi, against the goal of
//! 60 ms per finger. Run with `cargo run --release -p biometrics --example finger_pipeline_bench`.

use std::f32::consts::PI;
use std::hint::black_box;
use std::time::{Duration, Instant};

use biometrics::{fingerprint, wsq};
use image::{GrayImage, Luma};

/// Per-finger processing goal.
const GOAL: Duration = Duration::from_millis(60);
const WARM_UP: usize = 5;
const RUNS: usize = 50;
const PPI: u16 = 500;
const BITRATE: f32 = 0.75;

/// A 500 ppi print of a typical sensor's size: ridges of 9.5 px period curving around a
/// core below the finger, with phase singularities (ridge endings and bifurcations) spread
/// over it, pressure-like contrast falling towards the edge, and bare sensor outside.
fn synthetic_print(w: u32, h: u32) -> GrayImage {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let singularities: Vec<(f32, f32, f32)> = (0..36)
        .map(|k| {
            let angle = k as f32 * 2.39996;
            let radius = 30.0 + 5.5 * k as f32;
            let sign = if k % 3 == 0 { -1.0 } else { 1.0 };
            (cx + radius * angle.cos(), cy + radius * angle.sin(), sign)
        })
        .collect();
    GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let r2 = ((fx - cx) / (w as f32 * 0.44)).powi(2) + ((fy - cy) / (h as f32 * 0.46)).powi(2);
        if r2 > 1.0 {
            return Luma([230]);
        }
        let mut phase = 2.0 * PI * (fx - cx).hypot(fy + h as f32 * 0.35) / 9.5;
        for &(sx, sy, sign) in &singularities {
            phase += sign * (fy - sy).atan2(fx - sx);
        }
        let depth = 95.0 * (1.0 - 0.5 * r2);
        Luma([(130.0 + depth * phase.cos()).clamp(0.0, 255.0) as u8])
    })
}

/// User + system CPU time of this thread: fields 14 and 15 of `/proc/thread-self/stat`, in
/// clock ticks (100 per second on Linux), counted after the parenthesised command name.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = after_name.split(' ').skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

struct Timing {
    mean: Duration,
    median: Duration,
    /// Mean thread CPU time per run (tick resolution, averaged over `RUNS`).
    cpu: Option<Duration>,
}

fn measure(mut work: impl FnMut()) -> Timing {
    for _ in 0..WARM_UP {
        work();
    }
    let cpu_start = thread_cpu();
    let mut walls: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            work();
            t.elapsed()
        })
        .collect();
    let cpu = thread_cpu()
        .zip(cpu_start)
        .map(|(end, start)| (end - start) / RUNS as u32);
    walls.sort();
    Timing {
        mean: walls.iter().sum::<Duration>() / RUNS as u32,
        median: walls[RUNS / 2],
        cpu,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn main() {
    let print = synthetic_print(416, 560);
    let (report, template) = fingerprint::assess(&print, PPI);
    let wsq_bytes = wsq::encode(&print, PPI, BITRATE).expect("synthetic print encodes");
    println!(
        "print 416x560 @ {PPI} ppi: quality {}, {} minutiae, WSQ {} bytes ({:.3} bpp)",
        report.score,
        template.minutiae.len(),
        wsq_bytes.len(),
        wsq_bytes.len() as f64 * 8.0 / (416.0 * 560.0)
    );

    let parts = [
        (
            "assess (quality+template)",
            measure(|| {
                black_box(fingerprint::assess(black_box(&print), PPI));
            }),
        ),
        (
            "wsq encode 0.75 bpp",
            measure(|| {
                black_box(wsq::encode(black_box(&print), PPI, BITRATE).ok());
            }),
        ),
        (
            "per finger (both)",
            measure(|| {
                black_box(fingerprint::assess(black_box(&print), PPI));
                black_box(wsq::encode(black_box(&print), PPI, BITRATE).ok());
            }),
        ),
    ];
    println!(
        "{:<26} {:>10} {:>10} {:>10}   ({RUNS} runs after {WARM_UP} warm-up, 1 thread)",
        "ms", "wall mean", "median", "cpu mean"
    );
    for (name, t) in &parts {
        let cpu = t.cpu.map_or("n/a".to_string(), ms);
        println!(
            "{name:<26} {:>10} {:>10} {:>10}",
            ms(t.mean),
            ms(t.median),
            cpu
        );
    }
    let total = &parts[2].1;
    // CPU time is the cost; wall time also counts waiting on a loaded machine.
    let cost = total.cpu.unwrap_or(total.median);
    println!(
        "goal <= {} ms per finger: {} ({} ms {})",
        ms(GOAL),
        if cost <= GOAL { "met" } else { "MISSED" },
        ms(cost),
        if total.cpu.is_some() {
            "cpu"
        } else {
            "wall median"
        }
    );
}

//! Times `FaceChecker::check` and `encode_jpeg` on 640×480 frames against the 30 fps frame
//! budget (33.3 ms). Run with `cargo run --release -p biometrics --example face_bench`.
//! Besides wall time it reports the thread's CPU time per call (Linux `/proc`), which a
//! shared, loaded machine inflates far less.

#[path = "../src/face/testface.rs"]
mod testface;

use std::time::{Duration, Instant};

use biometrics::face::{encode_jpeg, FaceCheckConfig, FaceChecker, DEFAULT_MAX_JPEG_BYTES};
use image::{Rgb, RgbImage};

/// One frame time at 30 fps.
const BUDGET: Duration = Duration::from_micros(33_333);
const RUNS: usize = 100;

struct Stats {
    mean: Duration,
    median: Duration,
    max: Duration,
    /// Mean CPU time of this thread per call, if the platform reports it.
    cpu: Option<Duration>,
}

/// User + system CPU time of the calling thread, from `/proc/thread-self/stat` (fields 14
/// and 15, in clock ticks of 10 ms; the per-call figure averages over `RUNS` calls).
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn time<F: FnMut()>(mut work: F) -> Stats {
    for _ in 0..3 {
        work();
    }
    let cpu_before = thread_cpu_time();
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    let cpu = match (cpu_before, thread_cpu_time()) {
        (Some(before), Some(after)) => Some((after - before) / RUNS as u32),
        _ => None,
    };
    samples.sort();
    Stats {
        mean: samples.iter().sum::<Duration>() / RUNS as u32,
        median: samples[RUNS / 2],
        max: samples[RUNS - 1],
        cpu,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cpu_ms(s: &Stats) -> String {
    s.cpu.map_or("n/a".to_string(), |d| format!("{:.1}", ms(d)))
}

fn main() {
    let face = testface::portrait(640, 480, 320.0, 240.0, 375.0);
    let mut noise = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    testface::add_noise(&mut noise, 100.0, 7);
    let grey = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));

    let checker = FaceChecker::new(FaceCheckConfig::default());
    let report = checker.check(&face);
    println!(
        "face frame: passed={} score={} faces={}",
        report.passed,
        report.score,
        report.faces.len()
    );

    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}   budget {:.1} ms (30 fps)",
        "640x480, 1 thread, ms",
        "wall mean",
        "median",
        "max",
        "cpu mean",
        ms(BUDGET)
    );
    let mut over_budget = false;
    for (name, frame) in [
        ("check: one face", &face),
        ("check: noise (no face)", &noise),
        ("check: uniform (no face)", &grey),
    ] {
        let s = time(|| {
            std::hint::black_box(checker.check(frame));
        });
        // CPU time is what the check costs; wall time adds waiting for a loaded CPU.
        let cost = s.cpu.unwrap_or(s.median);
        let verdict = if cost <= BUDGET { "within" } else { "OVER" };
        over_budget |= cost > BUDGET;
        println!(
            "{name:<28} {:>9.2} {:>9.2} {:>9.2} {:>9}   {verdict} budget",
            ms(s.mean),
            ms(s.median),
            ms(s.max),
            cpu_ms(&s)
        );
    }
    let mut jpeg_len = 0;
    let s = time(|| {
        jpeg_len = encode_jpeg(&face, DEFAULT_MAX_JPEG_BYTES)
            .expect("face frame fits the cap")
            .len();
    });
    println!(
        "{:<28} {:>9.2} {:>9.2} {:>9.2} {:>9}   {jpeg_len} bytes (cap {DEFAULT_MAX_JPEG_BYTES})",
        "encode_jpeg: one face",
        ms(s.mean),
        ms(s.median),
        ms(s.max),
        cpu_ms(&s)
    );
    if over_budget {
        std::process::exit(1);
    }
}

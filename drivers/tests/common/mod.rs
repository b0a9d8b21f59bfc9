//! Helpers for the replay tests: the fixture paths and running this very test binary again
//! inside a umockdev testbed.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of the copy of the test binary that runs inside the testbed.
pub const INNER: &str = "SPIDD_UMOCKDEV_INNER";
/// Where the inner run writes the image it captured.
pub const OUT: &str = "SPIDD_UMOCKDEV_OUT";

pub fn aes3500_fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/libfprint-aes3500/"
    ))
    .join(name)
}

pub fn inside_testbed() -> bool {
    std::env::var_os(INNER).is_some()
}

/// A fresh scratch directory for one replay.
pub fn scratch_dir(test_name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("spidd-umockdev-{}-{test_name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Runs the test `test_name` of this binary under `umockdev-run` with `args` (the testbed
/// options); the inner run gets `dir` in [`OUT`]. Panics, with the child's output, unless that
/// one test ran and passed. cargo and rustc must not run under umockdev (rustc hangs there),
/// so the already built binary is what runs.
pub fn run_in_testbed(test_name: &str, args: &[String], dir: &Path) {
    let exe = std::env::current_exe().expect("test binary path");
    let (stdout_path, stderr_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut cmd = Command::new("umockdev-run");
    cmd.args(args)
        .arg("--")
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
        .env(INNER, "1")
        .env(OUT, dir)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"));
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "umockdev-run is not installed: run scripts/install-deps.sh (it installs Debian's umockdev)"
        ),
        Err(e) => panic!("cannot start umockdev-run: {e}"),
    };
    let limit = Duration::from_secs(120);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for umockdev-run") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let ok = status.is_some_and(|s| s.success()) && stdout.contains("1 passed");
    assert!(
        ok,
        "the replay under umockdev failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        status.map_or_else(|| format!("hung for {limit:?}"), |s| s.to_string())
    );
}

/// The grey plane of an RGB PNG whose channels are equal (libfprint's test compares green).
pub fn green_plane(path: &Path) -> image::GrayImage {
    let rgb = image::open(path)
        .expect("reading the expected PNG")
        .to_rgb8();
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        image::Luma([rgb.get_pixel(x, y)[1]])
    })
}

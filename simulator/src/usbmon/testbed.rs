//! Runs a test binary's own test again inside a umockdev testbed, so a replay exercises the
//! real rusb/libusb code: the outer run prepares the files and checks the result, the inner
//! run (marked by [`INNER`]) talks to the emulated device.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of the copy of the test binary that runs inside the testbed.
pub const INNER: &str = "SPIDD_UMOCKDEV_INNER";
/// The scratch directory the outer run shares with the inner run.
pub const OUT: &str = "SPIDD_UMOCKDEV_OUT";
/// A replay that has not finished by then is stuck (umockdev waits for a transfer it cannot
/// match).
const LIMIT: Duration = Duration::from_secs(120);

pub fn inside_testbed() -> bool {
    std::env::var_os(INNER).is_some()
}

/// The scratch directory of the inner run.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(std::env::var_os(OUT).expect("the outer run sets SPIDD_UMOCKDEV_OUT"))
}

/// A fresh scratch directory for one replay.
pub fn scratch_dir(test_name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("spidd-umockdev-{}-{test_name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Runs the test `test_name` of the current test binary under `umockdev-run` with `args`
/// (the testbed options, e.g. `-d device -p /sys/...=capture.pcap`) and `env`. Panics, with the
/// child's output, unless that one test ran and passed. cargo and rustc must not run under
/// umockdev (rustc hangs there), so the already built binary is what runs.
pub fn run_in_testbed(test_name: &str, args: &[String], env: &[(&str, &str)], dir: &Path) {
    let exe = std::env::current_exe().expect("test binary path");
    let (stdout_path, stderr_path) = (dir.join("stdout.txt"), dir.join("stderr.txt"));
    let mut cmd = Command::new("umockdev-run");
    cmd.args(args)
        .arg("--")
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads", "1"])
        .env(INNER, "1")
        .env(OUT, dir)
        .envs(env.iter().copied())
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
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for umockdev-run") {
            break Some(status);
        }
        if start.elapsed() > LIMIT {
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
        status.map_or_else(|| format!("hung for {LIMIT:?}"), |s| s.to_string())
    );
}

//! `spidd devices` and `spidd capture-once` inside umockdev testbeds, through discovery, the
//! real rusb/libusb code and the drivers: libfprint's recording of a real AES3500 must give
//! libfprint's image pixel for pixel, and the simulator's usbmon session of a U.are.U 4500 must
//! give back the frame the simulator encoded. The testbed has no `/sys/class/tty` and no
//! camera, so this also proves the other families enumerate nothing there without failing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use drivers::usb::EMULATION_ENV;
use image::GrayImage;
use simulator::fingerprint::{impression, Condition};
use simulator::usbmon::{umockdev_device, Uru4500Emulator, SYSFS_PATH};

use crate::station::workspace_binary;

/// A replay that takes longer is stuck (umockdev waits for a transfer it cannot match).
const LIMIT: Duration = Duration::from_secs(120);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/libfprint-aes3500")
        .join(name)
}

/// Runs `spidd <args>` under `umockdev-run <testbed>` with an empty configuration.
fn spidd_in_testbed(dir: &Path, testbed: &[String], env: &[(&str, &str)], args: &[&str]) -> Output {
    let config = dir.join("spidd.toml");
    std::fs::write(&config, "").unwrap();
    let mut child = Command::new("umockdev-run")
        .args(testbed)
        .arg("--")
        .arg(workspace_binary("spidd"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "umockdev-run is not installed: run scripts/install-deps.sh (it installs Debian's umockdev)"
            ),
            _ => panic!("cannot start umockdev-run: {e}"),
        });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("spidd {args:?} under umockdev did not finish in {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn differing(a: &GrayImage, b: &GrayImage) -> usize {
    assert_eq!(a.dimensions(), b.dimensions());
    a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count()
}

fn aes3500_testbed() -> Vec<String> {
    vec![
        "-d".into(),
        fixture("device").display().to_string(),
        "-i".into(),
        format!(
            "/dev/bus/usb/003/004={}",
            fixture("capture.ioctl").display()
        ),
    ]
}

#[test]
fn aes3500_capture_once_equals_libfprints_image_pixel_for_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let out_png = dir.path().join("aes3500.png");
    let out = spidd_in_testbed(
        dir.path(),
        &aes3500_testbed(),
        &[],
        &["capture-once", "--out", out_png.to_str().unwrap()],
    );
    assert_ok(&out, "spidd capture-once on the AES3500 recording");
    let got = image::open(&out_png).unwrap().to_luma8();
    // capture.png is cairo RGB24 with R=G=B; libfprint's own test compares the green byte.
    let want = image::open(fixture("capture.png")).unwrap().to_rgb8();
    let want = GrayImage::from_fn(want.width(), want.height(), |x, y| {
        image::Luma([want.get_pixel(x, y)[1]])
    });
    assert_eq!(got.dimensions(), (256, 256));
    assert_eq!(differing(&got, &want), 0, "pixels differ from capture.png");
}

#[test]
fn devices_lists_the_recorded_aes3500_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let out = spidd_in_testbed(dir.path(), &aes3500_testbed(), &[], &["devices", "--json"]);
    assert_ok(&out, "spidd devices in the AES3500 testbed");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().expect("a JSON array");
    let readers: Vec<_> = list.iter().filter(|d| d["kind"] == "fingerprint").collect();
    assert_eq!(readers.len(), 1, "{list:?}");
    assert_eq!(readers[0]["driver"], "aes3500", "{list:?}");
    assert!(
        readers[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("usb:08ff:5731"),
        "{list:?}"
    );
    assert!(
        list.iter().all(|d| d["kind"] != "camera"),
        "no camera in a testbed: {list:?}"
    );
}

#[test]
fn uru4500_capture_once_replays_the_simulators_usbmon_session() {
    let finger = impression("52998224725", 7, 1, Condition::Good).image;
    let mut emu = Uru4500Emulator::new();
    emu.power_up(false);
    emu.finger_on();
    let sent = emu.capture(&finger, true);
    // capture-once takes one image and powers the reader down: no finger-off wait.
    emu.close();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("device"), umockdev_device()).unwrap();
    let pcap = dir.path().join("capture.pcap");
    std::fs::write(&pcap, emu.into_pcap()).unwrap();
    let testbed = vec![
        "-d".into(),
        dir.path().join("device").display().to_string(),
        "-p".into(),
        format!("{SYSFS_PATH}={}", pcap.display()),
    ];
    let out_png = dir.path().join("uru.png");
    let out = spidd_in_testbed(
        dir.path(),
        &testbed,
        // The emulated device answers the driver's key requests from seeds the recording fixed.
        &[(EMULATION_ENV, "1")],
        &["capture-once", "--out", out_png.to_str().unwrap()],
    );
    assert_ok(&out, "spidd capture-once on the emulated U.are.U 4500");
    let got = image::open(&out_png).unwrap().to_luma8();
    assert_eq!(
        differing(&got, &sent),
        0,
        "pixels differ from the encoded frame"
    );
}

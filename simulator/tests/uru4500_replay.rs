//! The U.are.U driver through the real rusb/libusb path against the emulated 4500: the
//! simulator writes a usbmon session (power-up with a lost scan-power event, finger on, a
//! scrambled frame with a key change, finger off, finger on, a plain frame, finger off, power
//! off) and umockdev-run replays it to this test binary.

use std::time::Duration;

use drivers::usb::{UsbFamily, EMULATION_ENV};
use drivers::{Cancel, ReaderFamily};
use image::GrayImage;
use simulator::fingerprint::{impression, Condition};
use simulator::usbmon::{testbed, through_glass, umockdev_device, Uru4500Emulator, SYSFS_PATH};

const NAME: &str = "umockdev_replay_of_the_emulated_4500_decodes_what_the_simulator_encoded";

fn load(path: std::path::PathBuf) -> GrayImage {
    image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_luma8()
}

fn assert_same(got: &GrayImage, want: &GrayImage, what: &str) {
    assert_eq!(got.dimensions(), want.dimensions(), "{what}");
    let differing = got
        .pixels()
        .zip(want.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing, 0,
        "{what}: {differing} pixels differ from what the simulator encoded"
    );
}

/// Inside the testbed: what the station does with a reader, through discovery.
fn drive_the_reader() {
    let dir = testbed::shared_dir();
    let family = UsbFamily::new();
    let found = family.enumerate();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, "usb:05ba:000a@1-4");
    assert_eq!(found[0].driver, "uru4000");
    let mut reader = family
        .open(&found[0])
        .expect("the emulated 4500 opens through rusb");
    let wait = Duration::from_secs(10);
    let cancel = Cancel::new();
    reader
        .open()
        .expect("power-up, including one lost scan-power event");
    assert_eq!(reader.info().firmware.as_deref(), Some("0410/0102"));
    for shot in 1..=2 {
        reader.wait_finger(wait, &cancel).unwrap();
        let image = reader.capture().unwrap();
        assert_eq!(image.ppi, 512);
        image
            .image
            .save(dir.join(format!("captured-{shot}.png")))
            .unwrap();
        assert_same(
            &image.image,
            &load(dir.join(format!("expected-{shot}.png"))),
            "inner",
        );
        reader.wait_finger_off(wait, &cancel).unwrap();
    }
    reader.close();
}

#[test]
fn umockdev_replay_of_the_emulated_4500_decodes_what_the_simulator_encoded() {
    if testbed::inside_testbed() {
        drive_the_reader();
        return;
    }
    let fingers = [1, 2].map(|n| impression("52998224725", 2, n, Condition::Good).image);
    let mut emu = Uru4500Emulator::new();
    emu.power_up(true);
    emu.finger_on();
    let scrambled = emu.capture(&fingers[0], true);
    emu.finger_off();
    emu.finger_on();
    let plain = emu.capture(&fingers[1], false);
    emu.finger_off();
    emu.close();

    let dir = testbed::scratch_dir(NAME);
    std::fs::write(dir.join("device"), umockdev_device()).unwrap();
    std::fs::write(dir.join("capture.pcap"), emu.into_pcap()).unwrap();
    for (i, img) in [&scrambled, &plain].into_iter().enumerate() {
        img.save(dir.join(format!("expected-{}.png", i + 1)))
            .unwrap();
    }
    let args = vec![
        "-d".to_string(),
        dir.join("device").display().to_string(),
        "-p".to_string(),
        format!("{SYSFS_PATH}={}", dir.join("capture.pcap").display()),
    ];
    testbed::run_in_testbed(NAME, &args, &[(EMULATION_ENV, "1")], &dir);
    for (i, want) in [&scrambled, &plain].into_iter().enumerate() {
        let got = load(dir.join(format!("captured-{}.png", i + 1)));
        assert_same(&got, want, "outer");
    }
    // What was encoded is the finger's window as the glass shows it: only the unsent row and the
    // two bytes the scrambling drops differ from the impression itself.
    let window = |f: &GrayImage| {
        GrayImage::from_fn(384, 290, |x, y| {
            image::Luma([through_glass(f.get_pixel(x + 16, y + 135)[0])])
        })
    };
    let off =
        |a: &GrayImage, b: &GrayImage| a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    assert!(off(&scrambled, &window(&fingers[0])) <= 384 + 2);
    assert!(off(&plain, &window(&fingers[1])) <= 384);
    let _ = std::fs::remove_dir_all(&dir);
}

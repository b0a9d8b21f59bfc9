//! The AES3500 driver against the recording of a real sensor (libfprint's `tests/aes3500`):
//! the codec on the recorded bytes, and the whole session through rusb under umockdev (with the
//! simulator's testbed runner, which the emulated U.are.U replay uses too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use drivers::aes3500::{self, codec};
use drivers::usb::UsbFamily;
use drivers::{Cancel, ReaderFamily};
use simulator::usbmon::testbed;

fn aes3500_fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/libfprint-aes3500/"
    ))
    .join(name)
}

/// The grey plane of an RGB PNG whose channels are equal (libfprint's test compares green).
fn green_plane(path: &Path) -> image::GrayImage {
    let rgb = image::open(path)
        .expect("reading the expected PNG")
        .to_rgb8();
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        image::Luma([rgb.get_pixel(x, y)[1]])
    })
}

/// The one bulk IN transfer of the recording (endpoint 129 = 0x81), hex-decoded.
fn recorded_image_transfer() -> Vec<u8> {
    let tree = std::fs::read_to_string(aes3500_fixture("capture.ioctl")).unwrap();
    let line = tree
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("USBDEVFS_REAPURBNDELAY") && l.split(' ').nth(3) == Some("129"))
        .expect("the recording has an image read");
    let hex = line.rsplit(' ').next().unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_same_image(got: &image::GrayImage, want: &image::GrayImage) {
    assert_eq!(got.dimensions(), want.dimensions());
    let differing = got
        .pixels()
        .zip(want.pixels())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} pixels differ from capture.png",
        want.len()
    );
}

#[test]
fn codec_rebuilds_capture_png_from_the_recorded_transfer() {
    let data = recorded_image_transfer();
    assert_eq!(data.len(), codec::FRAME_LEN);
    assert_eq!(
        codec::strip_headers(&data).unwrap(),
        [0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7]
    );
    let raw = codec::decode_frame(&data).unwrap();
    let row = |img: &image::GrayImage, y: u32, xs: std::ops::Range<u32>| -> Vec<u8> {
        xs.map(|x| img.get_pixel(x, y)[0]).collect()
    };
    assert_eq!(row(&raw, 0, 0..8), [34, 17, 17, 17, 17, 68, 136, 204]);
    assert_eq!(row(&raw, 1, 0..8), [0, 0, 0, 0, 0, 102, 187, 221]);
    let image = codec::libfprint_image(&raw);
    assert_eq!(
        row(&image, 0, 0..8),
        [246, 220, 176, 147, 134, 141, 166, 192]
    );
    assert_eq!(
        row(&image, 255, 248..256),
        [243, 243, 243, 243, 243, 240, 233, 236]
    );
    assert_same_image(&image, &green_plane(&aes3500_fixture("capture.png")));
}

/// Outside the testbed: replays `capture.ioctl` under umockdev-run around this same test,
/// then checks the image the inner run wrote. Inside: finds and opens the "sensor" through
/// [`UsbFamily`] (rusb) and captures with the real session.
#[test]
fn umockdev_replay_of_a_real_aes3500_gives_capture_png() {
    const NAME: &str = "umockdev_replay_of_a_real_aes3500_gives_capture_png";
    let expected = green_plane(&aes3500_fixture("capture.png"));
    if testbed::inside_testbed() {
        // Discovery as the daemon does it: the recorded sensor sits behind two hubs.
        let family = UsbFamily::new();
        // The daemon watches for hotplug while it captures; transfers must still complete
        // with libusb's event thread running beside them.
        let watching = family.watch(Box::new(|| {}));
        println!("hotplug watch: {watching}");
        let found = family.enumerate();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].id, "usb:08ff:5731@3-1.1.3");
        assert_eq!(found[0].address, "08ff:5731 bus 3 port 1.1.3");
        assert_eq!(found[0].driver, aes3500::DRIVER);
        let mut reader = family
            .open(&found[0])
            .expect("the testbed's AES3500 opens through rusb");
        assert_eq!(reader.info().name, aes3500::NAME);
        reader.open().unwrap();
        reader
            .wait_finger(Duration::from_secs(10), &Cancel::new())
            .unwrap();
        let image = reader.capture().unwrap();
        reader.close();
        let out = testbed::shared_dir().join("captured.png");
        image.image.save(&out).unwrap();
        assert_same_image(&image.image, &expected);
        return;
    }
    let dir = testbed::scratch_dir(NAME);
    let fixture = |n: &str| aes3500_fixture(n).display().to_string();
    let args = vec![
        "-d".to_string(),
        fixture("device"),
        "-i".to_string(),
        format!("/dev/bus/usb/003/004={}", fixture("capture.ioctl")),
    ];
    testbed::run_in_testbed(NAME, &args, &[], &dir);
    let captured = image::open(dir.join("captured.png"))
        .expect("the inner run wrote its image")
        .to_luma8();
    assert_same_image(&captured, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

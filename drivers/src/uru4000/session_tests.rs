//! Unit tests of the U.are.U session against a scripted transport.

use std::time::Duration;

use image::GrayImage;

use super::*;
use crate::uru4000::frame::{device_transfer, flags, Block, FrameHeader, BLOCKS, WIDTH};
use crate::usb::fake::{Call, FakeUsb, VirtualClock};

fn session() -> (Uru4000<FakeUsb>, FakeUsb, VirtualClock) {
    let clock = VirtualClock::new();
    let usb = FakeUsb::new(clock.clone());
    let s = Uru4000::with_clock(
        usb.clone(),
        Model::Uru4000B,
        "05ba:000a",
        Seeds::emulation(),
        Box::new(clock.clone()),
    );
    (s, usb, clock)
}

fn read_reg(reg: u16, len: usize) -> Call {
    Call::ControlIn {
        request_type: 0xc0,
        request: 0x04,
        value: reg,
        index: 0,
        len,
    }
}

fn write_reg(reg: u16, data: &[u8]) -> Call {
    Call::ControlOut {
        request_type: 0x40,
        request: 0x04,
        value: reg,
        index: 0,
        data: data.to_vec(),
    }
}

fn irq() -> Call {
    Call::InterruptIn {
        endpoint: 0x81,
        len: 64,
    }
}

fn image_read() -> Call {
    Call::BulkIn {
        endpoint: 0x82,
        len: FRAME_LEN,
    }
}

fn event(kind: u16) -> Vec<u8> {
    let mut e = vec![0u8; 64];
    e[..2].copy_from_slice(&kind.to_be_bytes());
    e
}

fn device_info() -> Vec<u8> {
    (0..16).map(|i| i as u8 * 0x11).collect()
}

/// HWSTAT reads 0x00 (full power): force low power, then one retry before it leaves it.
fn expect_power_up_pass(usb: &FakeUsb, event_reply: Vec<Result<Vec<u8>, TransportError>>) {
    usb.expect(read_reg(0x07, 1), Ok(vec![0x00]))
        .expect(write_reg(0x07, &[0x80]), Ok(vec![]))
        .expect(write_reg(0x07, &[0x00]), Ok(vec![]))
        .expect(read_reg(0x07, 1), Ok(vec![0x80]))
        .expect(write_reg(0x07, &[0x00]), Ok(vec![]))
        .expect(read_reg(0x07, 1), Ok(vec![0x00]));
    for reply in event_reply {
        usb.expect(irq(), reply);
    }
}

fn expect_power_up(usb: &FakeUsb) {
    expect_power_up_pass(usb, vec![Ok(event(0x56aa))]);
    usb.expect(read_reg(0xf0, 16), Ok(device_info()));
}

#[test]
fn power_up_retries_until_the_sensor_leaves_low_power() {
    let (mut s, usb, clock) = session();
    expect_power_up(&usb);
    s.open().unwrap();
    s.open().unwrap();
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(10));
    assert_eq!(s.info().firmware.as_deref(), Some("aabb/4455"));
    assert_eq!(s.info().name, "DigitalPersona U.are.U 4000B/4500");
}

#[test]
fn a_confused_power_state_is_rebooted_first() {
    let (mut s, usb, clock) = session();
    usb.expect(read_reg(0x07, 1), Ok(vec![0x84]))
        .expect(write_reg(0x07, &[0x04]), Ok(vec![]))
        .expect(read_reg(0x07, 1), Ok(vec![0x84]))
        .expect(read_reg(0x07, 1), Ok(vec![0x81]))
        // Already in low power: no forcing write; power up with the low nibble.
        .expect(write_reg(0x07, &[0x01]), Ok(vec![]))
        .expect(read_reg(0x07, 1), Ok(vec![0x01]))
        .expect(irq(), Ok(event(0x56aa)))
        .expect(read_reg(0xf0, 16), Ok(device_info()));
    s.open().unwrap();
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(10));
}

#[test]
fn a_missing_scan_power_event_restarts_the_power_up() {
    let (mut s, usb, clock) = session();
    let timeouts = vec![Err(TransportError::Timeout); 3];
    expect_power_up_pass(&usb, timeouts);
    // Second pass: an unrelated event first, then the one awaited.
    expect_power_up_pass(&usb, vec![Ok(event(0x0200)), Ok(event(0x56aa))]);
    usb.expect(read_reg(0xf0, 16), Ok(device_info()));
    s.open().unwrap();
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(300 + 2 * 10));
}

#[test]
fn three_missing_scan_power_events_fail_the_open() {
    let (mut s, usb, _) = session();
    for _ in 0..3 {
        expect_power_up_pass(&usb, vec![Err(TransportError::Timeout); 3]);
    }
    assert!(matches!(s.open(), Err(DeviceError::Protocol(m)) if m.contains("scan power")));
    usb.assert_done();
}

#[test]
fn a_sensor_stuck_in_low_power_fails_after_a_hundred_tries() {
    let (mut s, usb, clock) = session();
    usb.expect(read_reg(0x07, 1), Ok(vec![0x80]));
    for _ in 0..100 {
        usb.expect(write_reg(0x07, &[0x00]), Ok(vec![]))
            .expect(read_reg(0x07, 1), Ok(vec![0x80]));
    }
    assert!(matches!(s.open(), Err(DeviceError::Protocol(m)) if m.contains("low power")));
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(990));
}

#[test]
fn finger_on_and_off_come_as_events_after_a_mode_change() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    usb.expect(write_reg(0x4e, &[0x10]), Ok(vec![]))
        .expect(irq(), Err(TransportError::Timeout))
        .expect(irq(), Ok(event(0x56aa)))
        .expect(irq(), Ok(event(0x0800)))
        .expect(irq(), Ok(event(0x0101)))
        .expect(write_reg(0x4e, &[0x12]), Ok(vec![]))
        .expect(irq(), Ok(event(0x0200)))
        .expect(write_reg(0x4e, &[0x70]), Ok(vec![]));
    s.open().unwrap();
    s.wait_finger(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    s.wait_finger_off(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    s.close();
    s.close();
    usb.assert_done();
}

#[test]
fn no_finger_is_a_timeout_and_a_cancel_stops_the_wait() {
    let (mut s, usb, clock) = session();
    expect_power_up(&usb);
    usb.expect(write_reg(0x4e, &[0x10]), Ok(vec![]));
    for _ in 0..3 {
        usb.expect(irq(), Err(TransportError::Timeout));
    }
    usb.expect(write_reg(0x4e, &[0x10]), Ok(vec![]));
    s.open().unwrap();
    let start = clock.elapsed();
    assert_eq!(
        s.wait_finger(Duration::from_millis(250), &Cancel::new()),
        Err(DeviceError::Timeout)
    );
    assert_eq!(clock.elapsed() - start, Duration::from_millis(250));
    let cancel = Cancel::new();
    cancel.cancel();
    assert_eq!(
        s.wait_finger(Duration::from_secs(5), &cancel),
        Err(DeviceError::Cancelled)
    );
    usb.assert_done();
}

fn header(key_number: u8, blocks: &[(u8, u8)]) -> FrameHeader {
    let mut h = FrameHeader {
        num_lines: 0,
        key_number,
        blocks: [Block::default(); BLOCKS],
    };
    for (i, &(flags, lines)) in blocks.iter().enumerate() {
        h.blocks[i] = Block { flags, lines };
        if flags & flags::NOT_PRESENT == 0 {
            h.num_lines += u16::from(lines);
        }
    }
    h
}

/// Sensor rows (ridges bright) with a recognisable low-contrast pattern, as smooth as an
/// image's (a steep ramp would look like scrambled noise to the detector).
fn sensor_rows(lines: usize) -> Vec<u8> {
    (0..lines * WIDTH)
        .map(|i| (20 + (3 * (i / WIDTH) + i % WIDTH) % 40) as u8)
        .collect()
}

/// What the session must deliver for `rows`: inverted and turned 180°, with unfilled rows white.
fn delivered(rows: &[u8]) -> GrayImage {
    let mut raw = rows.to_vec();
    raw.resize(WIDTH * 290, 0);
    let raw = GrayImage::from_raw(384, 290, raw).unwrap();
    GrayImage::from_fn(384, 290, |x, y| {
        image::Luma([255 - raw.get_pixel(383 - x, 289 - y)[0]])
    })
}

#[test]
fn a_plain_frame_becomes_an_upright_dark_ridged_image() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    let h = header(0, &[(0, 200), (0, 89)]);
    let rows = sensor_rows(289);
    usb.expect(write_reg(0x4e, &[0x20]), Ok(vec![]))
        .expect(image_read(), Ok(device_transfer(&h, &rows, |_| 0)));
    let img = s.capture().unwrap();
    usb.assert_done();
    assert_eq!(img.ppi, 512);
    assert_eq!(img.image, delivered(&rows));
}

#[test]
fn a_scrambled_frame_asks_the_device_for_each_key() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    let device_key = |n: u8| 0x0bad_f00d ^ (u32::from(n) << 24);
    let h = header(
        5,
        &[
            (flags::ENCRYPTED, 150),
            (flags::CHANGE_KEY | flags::ENCRYPTED, 139),
        ],
    );
    let rows = sensor_rows(289);
    let mut seeds = Seeds::emulation();
    usb.expect(write_reg(0x4e, &[0x20]), Ok(vec![]))
        .expect(image_read(), Ok(device_transfer(&h, &rows, device_key)));
    for key_number in [5u8, 6] {
        let seed = seeds.next_seed();
        let mut index = vec![key_number];
        index.extend_from_slice(&seed.to_le_bytes());
        usb.expect(write_reg(0x33, &index), Ok(vec![])).expect(
            read_reg(0x34, 4),
            Ok((device_key(key_number) ^ seed).to_le_bytes().to_vec()),
        );
    }
    let img = s.capture().unwrap();
    usb.assert_done();
    let mut want = rows.clone();
    want[150 * WIDTH - 1] = 0;
    want[289 * WIDTH - 1] = 0;
    assert_eq!(img.image, delivered(&want));
}

#[test]
fn unusable_transfers_are_read_again() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    let h = header(0, &[(0, 100)]);
    let rows = sensor_rows(100);
    usb.expect(write_reg(0x4e, &[0x20]), Ok(vec![]))
        // The transfer announced by the interrupt of death: empty.
        .expect(image_read(), Ok(vec![]))
        .expect(
            image_read(),
            Ok(device_transfer(&h, &rows, |_| 0)[..1000].to_vec()),
        )
        .expect(image_read(), Ok(device_transfer(&h, &rows, |_| 0)));
    assert_eq!(s.capture().unwrap().image, delivered(&rows));
    usb.assert_done();
}

#[test]
fn three_unusable_transfers_fail_the_capture() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    usb.expect(write_reg(0x4e, &[0x20]), Ok(vec![]));
    for _ in 0..3 {
        usb.expect(image_read(), Ok(vec![0; 10]));
    }
    assert!(matches!(s.capture(), Err(DeviceError::Protocol(_))));
    usb.assert_done();
}

#[test]
fn unplugging_mid_capture_makes_the_reader_unavailable() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    let h = header(0, &[(flags::ENCRYPTED, 100)]);
    let rows = sensor_rows(100);
    let seed = Seeds::emulation().next_seed().to_le_bytes();
    usb.expect(write_reg(0x4e, &[0x20]), Ok(vec![]))
        .expect(
            image_read(),
            Ok(device_transfer(&h, &rows, |_| 0x1234_5678)),
        )
        .expect(
            write_reg(0x33, &[0, seed[0], seed[1], seed[2], seed[3]]),
            Err(TransportError::Disconnected),
        );
    assert!(matches!(s.capture(), Err(DeviceError::Unavailable(_))));
    usb.assert_done();
}

#[test]
fn unplugging_while_waiting_for_a_finger_makes_the_reader_unavailable() {
    let (mut s, usb, _) = session();
    expect_power_up(&usb);
    usb.expect(write_reg(0x4e, &[0x10]), Ok(vec![]))
        .expect(irq(), Err(TransportError::Timeout))
        .expect(irq(), Err(TransportError::Disconnected));
    assert!(matches!(
        s.wait_finger(Duration::from_secs(5), &Cancel::new()),
        Err(DeviceError::Unavailable(_))
    ));
    usb.assert_done();
}

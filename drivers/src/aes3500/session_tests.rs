//! Unit tests of the AES3500 session against a scripted transport.

use std::time::Duration;

use super::*;
use crate::aes3500::codec::{regwrite_transfers, ACTIVATION, ARM};
use crate::usb::fake::{Call, FakeUsb, VirtualClock};

fn session() -> (Aes3500<FakeUsb>, FakeUsb, VirtualClock) {
    let clock = VirtualClock::new();
    let usb = FakeUsb::new(clock.clone());
    let session = Aes3500::with_clock(
        usb.clone(),
        "08ff:5731 bus 3 port 1.1.3",
        Box::new(clock.clone()),
    );
    (session, usb, clock)
}

fn expect_activation_and_arm(usb: &FakeUsb) {
    for data in regwrite_transfers(ACTIVATION)
        .into_iter()
        .chain(regwrite_transfers(ARM))
    {
        usb.expect(
            Call::BulkOut {
                endpoint: 0x02,
                data,
            },
            Ok(vec![]),
        );
    }
}

fn read() -> Call {
    Call::BulkIn {
        endpoint: 0x81,
        len: FRAME_LEN,
    }
}

/// A transfer whose frame is a left-to-right ramp of 4-bit values.
fn frame_bytes() -> Vec<u8> {
    let mut data = vec![0u8; FRAME_LEN];
    for strip in 0..8 {
        for k in 0..1024 {
            let column = (k / 8) as u8;
            let n = column / 8;
            data[strip * 1025 + 1 + k] = n | (n << 4);
        }
        data[strip * 1025] = 0xe0 + strip as u8;
    }
    data
}

#[test]
fn a_capture_sends_the_thirteen_writes_then_reads_the_image() {
    let (mut s, usb, _) = session();
    expect_activation_and_arm(&usb);
    usb.expect(read(), Ok(frame_bytes()));
    s.open().unwrap();
    s.wait_finger(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    let img = s.capture().unwrap();
    usb.assert_done();
    assert_eq!(img.ppi, 500);
    assert_eq!(img.image.dimensions(), (256, 256));
    // Turned 180° and inverted: the bright right edge of the ramp ends up dark on the left.
    let left = img.image.get_pixel(8, 128)[0];
    let right = img.image.get_pixel(247, 128)[0];
    assert!(left < right, "left {left} right {right}");
    let calls = usb.calls();
    assert_eq!(calls.len(), 14);
    assert_eq!(
        calls[0],
        Call::BulkOut {
            endpoint: 0x02,
            data: vec![0x80, 0x01]
        }
    );
}

#[test]
fn the_finger_wait_is_the_image_read_in_slices() {
    let (mut s, usb, clock) = session();
    expect_activation_and_arm(&usb);
    for _ in 0..3 {
        usb.expect(read(), Err(TransportError::Timeout));
    }
    usb.expect(read(), Ok(frame_bytes()));
    s.wait_finger(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(300));
}

#[test]
fn no_finger_before_the_timeout_is_a_timeout() {
    let (mut s, usb, clock) = session();
    expect_activation_and_arm(&usb);
    for _ in 0..3 {
        usb.expect(read(), Err(TransportError::Timeout));
    }
    assert_eq!(
        s.wait_finger(Duration::from_millis(250), &Cancel::new()),
        Err(DeviceError::Timeout)
    );
    usb.assert_done();
    assert_eq!(clock.elapsed(), Duration::from_millis(250));
}

#[test]
fn a_cancelled_wait_stops_before_the_next_slice() {
    let (mut s, usb, _) = session();
    expect_activation_and_arm(&usb);
    let cancel = Cancel::new();
    cancel.cancel();
    assert_eq!(
        s.wait_finger(Duration::from_secs(5), &cancel),
        Err(DeviceError::Cancelled)
    );
    usb.assert_done();
}

#[test]
fn a_short_transfer_re_arms_the_sensor() {
    let (mut s, usb, _) = session();
    expect_activation_and_arm(&usb);
    usb.expect(read(), Ok(vec![0u8; 4000]));
    expect_activation_and_arm(&usb);
    usb.expect(read(), Ok(frame_bytes()));
    s.wait_finger(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    usb.assert_done();
}

#[test]
fn unplugging_mid_capture_makes_the_reader_unavailable() {
    let (mut s, usb, _) = session();
    expect_activation_and_arm(&usb);
    usb.expect(read(), Err(TransportError::Timeout));
    usb.expect(read(), Err(TransportError::Disconnected));
    assert!(matches!(
        s.wait_finger(Duration::from_secs(5), &Cancel::new()),
        Err(DeviceError::Unavailable(_))
    ));
    usb.assert_done();
}

#[test]
fn unplugging_during_activation_makes_the_reader_unavailable() {
    let (mut s, usb, _) = session();
    usb.expect(
        Call::BulkOut {
            endpoint: 0x02,
            data: vec![0x80, 0x01],
        },
        Err(TransportError::Disconnected),
    );
    assert!(matches!(
        s.wait_finger(Duration::from_secs(5), &Cancel::new()),
        Err(DeviceError::Unavailable(_))
    ));
}

#[test]
fn finger_off_is_a_probe_that_stays_quiet() {
    let (mut s, usb, clock) = session();
    // First probe: the finger is still there and the sensor scans again.
    expect_activation_and_arm(&usb);
    usb.expect(read(), Ok(frame_bytes()));
    // Second probe: nothing for the whole window.
    expect_activation_and_arm(&usb);
    for _ in 0..6 {
        usb.expect(read(), Err(TransportError::Timeout));
    }
    s.wait_finger_off(Duration::from_secs(5), &Cancel::new())
        .unwrap();
    usb.assert_done();
    assert_eq!(clock.elapsed(), LIFT_PROBE);
}

#[test]
fn a_finger_that_stays_on_times_the_lift_wait_out() {
    let (mut s, usb, _) = session();
    expect_activation_and_arm(&usb);
    usb.expect(read(), Err(TransportError::Timeout));
    usb.expect(read(), Ok(frame_bytes()));
    expect_activation_and_arm(&usb);
    usb.expect(read(), Err(TransportError::Timeout));
    usb.expect(read(), Err(TransportError::Timeout));
    // 200 ms used by the first probe, 100 ms left: too short for a probe to clear the finger.
    assert_eq!(
        s.wait_finger_off(Duration::from_millis(300), &Cancel::new()),
        Err(DeviceError::Timeout)
    );
    usb.assert_done();
}

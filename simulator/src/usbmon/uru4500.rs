//! An emulated DigitalPersona U.are.U 4500 (`05ba:000a`): writes the usbmon session a real
//! one would have with our `uru4000` driver (power-up, finger on/off, scrambled and plain
//! frames) and its umockdev device description.
//!
//! This is the device side, written independently of the driver's codec (header layout,
//! LFSR and scrambling from `spec/devices.md` §1.2) so that the replay checks one against the
//! other. The host's seeds follow the driver's emulation sequence, as in a recording made with
//! `SPIDD_DEVICE_EMULATION=1`.

use drivers::uru4000::{event, mode, reg, Seeds, CONTROL_IN, CONTROL_OUT, EP_EVENTS, EP_IMAGE};
use drivers::uru4000::{EVENT_LEN, REQUEST_REGISTERS};
use image::GrayImage;

use super::pcap::UsbmonCapture;

/// Where the emulated reader sits: bus 1, address 2, root port 4.
pub const BUS: u16 = 1;
pub const DEVNUM: u8 = 2;
pub const SYSFS_PATH: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4";

const WIDTH: usize = 384;
const HEIGHT: usize = 290;
const HEADER_LEN: usize = 64;
const FRAME_LEN: usize = HEADER_LEN + WIDTH * HEIGHT;
/// The device never sends more than 289 rows (the host refuses 290).
const SENT_ROWS: usize = HEIGHT - 1;

const CHANGE_KEY: u8 = 0x80;
const NO_KEY_UPDATE: u8 = 0x04;
const ENCRYPTED: u8 = 0x02;

/// USB descriptors: device (USB 1.1, vendor 05ba, product 000a, one configuration), then
/// configuration, interface ff/ff/ff and its two endpoints (0x81 interrupt 64, 0x82 bulk 64).
/// The real unit's packet sizes and interval are not documented; these are plausible values.
/// umockdev reads these hex strings in upper case only.
const DESCRIPTORS: &str = concat!(
    "12011001000000",
    "40",
    "BA050A00",
    "0001",
    "010200",
    "01",
    "09022000010100",
    "8032",
    "0904000002FFFFFF00",
    "07058103400001",
    "07058202400000",
);

/// The umockdev device description of the emulated reader (for `umockdev-run -d`).
pub fn umockdev_device() -> String {
    let node = format!("bus/usb/{BUS:03}/{DEVNUM:03}");
    let sysfs = SYSFS_PATH.strip_prefix("/sys").expect("a sysfs path");
    [
        format!("P: {sysfs}"),
        format!("N: {node}={DESCRIPTORS}"),
        format!("E: BUSNUM={BUS:03}"),
        format!("E: DEVNAME=/dev/{node}"),
        format!("E: DEVNUM={DEVNUM:03}"),
        "E: DEVTYPE=usb_device".into(),
        "E: DRIVER=usb".into(),
        "E: ID_VENDOR_ID=05ba".into(),
        "E: ID_MODEL_ID=000a".into(),
        "E: MAJOR=189".into(),
        format!(
            "E: MINOR={}",
            (u32::from(BUS) - 1) * 128 + u32::from(DEVNUM) - 1
        ),
        "E: PRODUCT=5ba/a/100".into(),
        "E: SUBSYSTEM=usb".into(),
        "E: TYPE=0/0/0".into(),
        "A: bConfigurationValue=1".into(),
        "A: bDeviceClass=00".into(),
        "A: bMaxPacketSize0=64".into(),
        "A: bNumConfigurations=1".into(),
        "A: bNumInterfaces= 1".into(),
        format!("A: busnum={BUS}\\n"),
        format!("H: descriptors={DESCRIPTORS}"),
        format!("A: devnum={DEVNUM}\\n"),
        "A: devpath=4".into(),
        "A: idProduct=000a".into(),
        "A: idVendor=05ba".into(),
        "A: manufacturer=DigitalPersona, Inc.".into(),
        "A: product=U.are.U 4500 Fingerprint Reader".into(),
        "A: speed=12".into(),
        "A: version= 1.10".into(),
        String::new(),
    ]
    .join("\n")
}

/// The key the device holds for a key number.
fn device_key(number: u8) -> u32 {
    0x6d2b_79f5u32.wrapping_mul(u32::from(number) + 1) ^ 0xa5a5_0f0f
}

fn lfsr_next(state: u32) -> u32 {
    let feedback = (state & 0x9248_144d).count_ones() & 1;
    (state >> 1) | (feedback << 31)
}

fn keystream(state: u32) -> u8 {
    [4, 8, 11, 14, 18, 21, 24, 29]
        .iter()
        .enumerate()
        .map(|(i, bit)| (((state >> bit) & 1) as u8) << i)
        .sum()
}

/// Scrambles `block` in place the way the sensor does: everything moves one byte later, the
/// first byte is filler and the block's last byte is dropped. Returns the next LFSR state.
fn scramble(block: &mut [u8], mut state: u32) -> u32 {
    let n = block.len();
    let plain = block.to_vec();
    block[0] = plain[n - 1];
    for i in 0..n - 1 {
        block[i + 1] = plain[i] ^ keystream(state);
        state = lfsr_next(state);
    }
    lfsr_next(state)
}

/// Writes the usbmon session of one U.are.U 4500, step by step in the order our driver talks.
pub struct Uru4500Emulator {
    capture: UsbmonCapture,
    seeds: Seeds,
    next_key_number: u8,
}

impl Default for Uru4500Emulator {
    fn default() -> Uru4500Emulator {
        Uru4500Emulator::new()
    }
}

impl Uru4500Emulator {
    pub fn new() -> Uru4500Emulator {
        Uru4500Emulator {
            capture: UsbmonCapture::new(BUS, DEVNUM),
            seeds: Seeds::emulation(),
            next_key_number: 7,
        }
    }

    fn read_reg(&mut self, register: u16, reply: &[u8]) {
        self.capture
            .control_in(CONTROL_IN, REQUEST_REGISTERS, register, 0, reply);
    }

    fn write_reg(&mut self, register: u16, data: &[u8]) {
        self.capture
            .control_out(CONTROL_OUT, REQUEST_REGISTERS, register, 0, data);
    }

    fn event(&mut self, kind: u16) {
        let mut packet = [0u8; EVENT_LEN];
        packet[..2].copy_from_slice(&kind.to_be_bytes());
        self.capture.interrupt_in(EP_EVENTS, EVENT_LEN, &packet);
    }

    /// The device starts at full power (HWSTAT 0x00): the host forces low power, then needs
    /// two writes before the device leaves it. With `lose_first_event`, the scan-power event of
    /// that first power-up never comes, so the host times out and powers up again.
    pub fn power_up(&mut self, lose_first_event: bool) {
        if lose_first_event {
            self.power_up_pass(false);
        }
        self.power_up_pass(true);
        let mut info = [0u8; 16];
        info[4..6].copy_from_slice(&[0x01, 0x02]);
        info[10..12].copy_from_slice(&[0x04, 0x10]);
        self.read_reg(reg::DEVICE_INFO, &info);
    }

    fn power_up_pass(&mut self, event_comes: bool) {
        self.read_reg(reg::HWSTAT, &[0x00]);
        self.write_reg(reg::HWSTAT, &[0x80]);
        self.write_reg(reg::HWSTAT, &[0x00]);
        self.read_reg(reg::HWSTAT, &[0x80]);
        self.write_reg(reg::HWSTAT, &[0x00]);
        self.read_reg(reg::HWSTAT, &[0x00]);
        if event_comes {
            self.event(event::SCAN_POWER_ON);
        }
    }

    /// The host waits for a finger and one is put on the glass.
    pub fn finger_on(&mut self) {
        self.write_reg(reg::MODE, &[mode::AWAIT_FINGER_ON]);
        self.event(event::FINGER_ON);
    }

    /// The host waits for the finger to go and it is lifted.
    pub fn finger_off(&mut self) {
        self.write_reg(reg::MODE, &[mode::AWAIT_FINGER_OFF]);
        self.event(event::FINGER_OFF);
    }

    /// One image of `finger` (the centre 384×290 of it, padded white if smaller). A scrambled
    /// frame has four blocks (scrambled, plain with the key moving, scrambled under the next
    /// key, plain with the key held) and the host fetches both keys. Returns the image the host
    /// must decode: `finger`'s window seen [`through_glass`], less what the device does not
    /// send (the last row, and the last byte of each scrambled block, which come back white).
    pub fn capture(&mut self, finger: &GrayImage, scrambled: bool) -> GrayImage {
        self.write_reg(reg::MODE, &[mode::CAPTURE]);
        let sensor = sensor_plane(finger);
        let key_number = if scrambled { self.next_key_number } else { 0 };
        let blocks: &[(u8, u8)] = if scrambled {
            &[
                (ENCRYPTED, 100),
                (0, 40),
                (CHANGE_KEY | ENCRYPTED, 100),
                (NO_KEY_UPDATE, 49),
            ]
        } else {
            &[(0, 150), (0, 139)]
        };
        let mut header = [0u8; HEADER_LEN];
        header[4..6].copy_from_slice(&(SENT_ROWS as u16).to_le_bytes());
        header[6] = key_number;
        for (i, &(flags, lines)) in blocks.iter().enumerate() {
            header[16 + 2 * i] = flags;
            header[17 + 2 * i] = lines;
        }
        let mut wire = sensor[..SENT_ROWS * WIDTH].to_vec();
        let mut delivered = sensor.clone();
        delivered[SENT_ROWS * WIDTH..].fill(0);
        let mut number = key_number;
        let mut state = device_key(number);
        let mut row = 0;
        for &(flags, lines) in blocks {
            if flags & CHANGE_KEY != 0 {
                number += 1;
                state = device_key(number);
            }
            let range = row * WIDTH..(row + usize::from(lines)) * WIDTH;
            match flags & (NO_KEY_UPDATE | ENCRYPTED) {
                ENCRYPTED => {
                    state = scramble(&mut wire[range.clone()], state);
                    delivered[range.end - 1] = 0;
                }
                0 => (0..range.len()).for_each(|_| state = lfsr_next(state)),
                _ => {}
            }
            row += usize::from(lines);
        }
        let mut transfer = header.to_vec();
        transfer.extend_from_slice(&wire);
        self.capture.bulk_in(EP_IMAGE, FRAME_LEN, &transfer);
        if scrambled {
            for number in [key_number, key_number + 1] {
                let seed = self.seeds.next_seed();
                let s = seed.to_le_bytes();
                self.write_reg(reg::SCRAMBLE_DATA_INDEX, &[number, s[0], s[1], s[2], s[3]]);
                self.read_reg(
                    reg::SCRAMBLE_DATA_KEY,
                    &(device_key(number) ^ seed).to_le_bytes(),
                );
            }
            self.next_key_number += 2;
        }
        upright(&delivered)
    }

    /// The host switches the sensor off.
    pub fn close(&mut self) {
        self.write_reg(reg::MODE, &[mode::OFF]);
    }

    /// The pcap file (for `umockdev-run -p SYSFS_PATH=FILE`).
    pub fn into_pcap(self) -> Vec<u8> {
        self.capture.into_bytes()
    }
}

/// Grey levels the prism passes: a finger's full 0–255 range arrives as 96–160. Real frames are
/// this flat; the host's scramble detector (column-sum deviation of two rows below 5000 means
/// plain) relies on it, and a full-contrast plain frame would look scrambled.
pub fn through_glass(v: u8) -> u8 {
    (96 + u16::from(v) * 64 / 255) as u8
}

/// What the optics put on the sensor: the window's grey through the glass, inverted (ridges
/// bright) and turned 180°, row-major.
fn sensor_plane(finger: &GrayImage) -> Vec<u8> {
    let (w, h) = finger.dimensions();
    let (x0, y0) = (
        i64::from(w) / 2 - WIDTH as i64 / 2,
        i64::from(h) / 2 - HEIGHT as i64 / 2,
    );
    let window = |x: usize, y: usize| -> u8 {
        let (fx, fy) = (x0 + x as i64, y0 + y as i64);
        if fx < 0 || fy < 0 || fx >= i64::from(w) || fy >= i64::from(h) {
            255
        } else {
            finger.get_pixel(fx as u32, fy as u32)[0]
        }
    };
    (0..HEIGHT * WIDTH)
        .map(|i| {
            let (x, y) = (i % WIDTH, i / WIDTH);
            255 - through_glass(window(WIDTH - 1 - x, HEIGHT - 1 - y))
        })
        .collect()
}

/// The inverse of [`sensor_plane`]'s optics: dark ridges, upright.
fn upright(sensor: &[u8]) -> GrayImage {
    GrayImage::from_fn(WIDTH as u32, HEIGHT as u32, |x, y| {
        let (sx, sy) = (WIDTH - 1 - x as usize, HEIGHT - 1 - y as usize);
        image::Luma([255 - sensor[sy * WIDTH + sx]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_file_names_the_node_and_descriptors() {
        let text = umockdev_device();
        assert!(text.starts_with("P: /devices/pci0000:00/0000:00:14.0/usb1/1-4\n"));
        assert!(text.contains("N: bus/usb/001/002=1201100100000040BA050A00"));
        assert!(text.contains("A: busnum=1\\n"));
        // Descriptor lengths add up: 18-byte device + 32-byte configuration.
        assert_eq!(DESCRIPTORS.len(), 2 * (18 + 32));
    }

    #[test]
    fn a_plain_capture_delivers_the_window_less_its_last_row() {
        let finger = GrayImage::from_fn(416, 560, |x, y| image::Luma([((x + y) % 200) as u8 + 30]));
        let mut emu = Uru4500Emulator::new();
        let got = emu.capture(&finger, false);
        for (x, y) in [(0u32, 1u32), (383, 1), (17, 288), (5, 289)] {
            let seen = through_glass(finger.get_pixel(x + 16, y + 135)[0]);
            assert_eq!(got.get_pixel(x, y)[0], seen);
        }
        // The sensor's last row (the window's top row, turned) is not sent: it comes out white.
        assert!((0..384).all(|x| got.get_pixel(x, 0)[0] == 255));
    }

    #[test]
    fn scrambling_moves_data_one_byte_and_drops_the_last() {
        let mut block: Vec<u8> = (0..10).collect();
        let next = scramble(&mut block, 0x1234_5678);
        assert_eq!(block[0], 9);
        assert_eq!(block[1], keystream(0x1234_5678));
        let mut state = 0x1234_5678;
        for _ in 0..10 {
            state = lfsr_next(state);
        }
        assert_eq!(next, state);
    }
}

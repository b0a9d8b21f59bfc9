//! How the station finds devices: each driver family lists what is attached and opens it.
//!
//! Interface fixed: the USB readers (`usb`), the serial modules (`serial`) and the cameras each
//! implement one of these traits; the daemon's device manager polls them (and wakes early on
//! hotplug) without knowing any protocol.

use crate::{Camera, DeviceError, DeviceKind, FingerprintReader};

/// A device that was found but not opened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub kind: DeviceKind,
    /// The driver's name, as in [`crate::DeviceInfo::driver`] (`uru4000`, `aes3500`, ...).
    pub driver: &'static str,
    /// A stable id the config can pin and `capture-once --device` takes:
    /// `usb:05ba:000a`, `usb:05ba:000a@1-4` (with bus/port path), `serial:/dev/ttyUSB0`,
    /// `camera:0`.
    pub id: String,
    /// Where it is, for humans: `05ba:000a bus 1 port 4`, `/dev/ttyUSB0`, `/dev/video0`.
    pub address: String,
    /// The product's name.
    pub name: String,
}

impl Candidate {
    /// True when `pin` (from the config or `--device`) designates this device: the exact id,
    /// the id without its `@path` suffix, or the bare `VID:PID` / port path / camera index.
    pub fn matches(&self, pin: &str) -> bool {
        let pin = pin.trim();
        if pin.is_empty() {
            return false;
        }
        let base = self.id.split('@').next().unwrap_or(&self.id);
        let bare = base.split_once(':').map(|(_, rest)| rest).unwrap_or(base);
        pin.eq_ignore_ascii_case(&self.id)
            || pin.eq_ignore_ascii_case(base)
            || pin.eq_ignore_ascii_case(bare)
    }
}

/// Called by a family when it sees a device arrive or leave, so the manager rescans now rather
/// than at its next poll.
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// A family of fingerprint readers sharing one transport (USB, serial).
pub trait ReaderFamily: Send + Sync {
    fn name(&self) -> &'static str;
    /// What is attached now. A machine without the subsystem (no USB, no `/sys/class/tty`)
    /// has nothing attached: this returns an empty list, it never fails or panics.
    fn enumerate(&self) -> Vec<Candidate>;
    fn open(&self, candidate: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError>;
    /// Registers `wake` for hotplug notifications; false when the platform has none (the
    /// manager then relies on polling).
    fn watch(&self, _wake: Wake) -> bool {
        false
    }
}

/// A family of cameras (V4L2 through nokhwa; the simulator's fake).
pub trait CameraFamily: Send + Sync {
    fn name(&self) -> &'static str;
    /// What is attached now; never fails (no V4L2 → empty).
    fn enumerate(&self) -> Vec<Candidate>;
    fn open(&self, candidate: &Candidate) -> Result<Box<dyn Camera>, DeviceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb() -> Candidate {
        Candidate {
            kind: DeviceKind::FingerprintReader,
            driver: "uru4000",
            id: "usb:05ba:000a@1-4".into(),
            address: "05ba:000a bus 1 port 4".into(),
            name: "U.are.U 4500".into(),
        }
    }

    #[test]
    fn pins_match_id_base_and_bare_forms() {
        let c = usb();
        assert!(c.matches("usb:05ba:000a@1-4"));
        assert!(c.matches("usb:05ba:000a"));
        assert!(c.matches("05BA:000A"));
        assert!(!c.matches("08ff:5731"));
        assert!(!c.matches(""));
    }

    #[test]
    fn serial_pins_match_the_port_path() {
        let c = Candidate {
            kind: DeviceKind::FingerprintReader,
            driver: "zhiantec",
            id: "serial:/dev/ttyUSB0".into(),
            address: "/dev/ttyUSB0".into(),
            name: "R307".into(),
        };
        assert!(c.matches("/dev/ttyUSB0"));
        assert!(c.matches("serial:/dev/ttyUSB0"));
        assert!(!c.matches("/dev/ttyUSB1"));
    }
}

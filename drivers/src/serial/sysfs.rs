//! Finds USB-serial bridges by reading sysfs directly (`/sys/class/tty/*/device` and its USB
//! ancestors' `idVendor`/`idProduct`), so no libudev is needed and a missing `/sys/class/tty`
//! (a container, a umockdev testbed) simply yields nothing.

use std::fs;
use std::path::{Path, PathBuf};

/// The USB-UART bridges ZhianTec/Synochip modules are sold behind: (VID, PID, name).
pub const KNOWN_BRIDGES: &[(u16, u16, &str)] = &[
    (0x10c4, 0xea60, "CP210x"),
    (0x1a86, 0x7523, "CH340"),
    (0x0403, 0x6001, "FT232"),
    (0x067b, 0x2303, "PL2303"),
];

/// The bridge's name when `vid:pid` is one of [`KNOWN_BRIDGES`].
pub fn bridge_model(vid: u16, pid: u16) -> Option<&'static str> {
    KNOWN_BRIDGES
        .iter()
        .find(|(v, p, _)| *v == vid && *p == pid)
        .map(|(_, _, name)| *name)
}

/// A tty that belongs to a known USB-serial bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgePort {
    /// The device node, e.g. `/dev/ttyUSB0`.
    pub device: PathBuf,
    pub vid: u16,
    pub pid: u16,
    /// `CP210x`, `CH340`, `FT232` or `PL2303`.
    pub bridge: &'static str,
    /// The USB device's own product string, when it has one.
    pub product: Option<String>,
    /// The USB bus/port path, e.g. `1-4.2`.
    pub usb_path: Option<String>,
}

/// How many directories above a tty's `device` link the USB device may sit: usb-serial ttys
/// hang off a port device under the interface (two up), cdc-acm ones off the interface (one up).
const USB_ANCESTOR_DEPTH: usize = 4;

/// The known bridges under `sys_class_tty` (normally `/sys/class/tty`), with their nodes in
/// `dev_dir` (normally `/dev`), sorted by node. Unreadable entries are skipped.
pub fn enumerate_bridges(sys_class_tty: &Path, dev_dir: &Path) -> Vec<BridgePort> {
    let Ok(entries) = fs::read_dir(sys_class_tty) else {
        return Vec::new();
    };
    let mut found: Vec<BridgePort> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let device = fs::canonicalize(entry.path().join("device")).ok()?;
            let usb = usb_ancestor(&device)?;
            let vid = read_hex(&usb.join("idVendor"))?;
            let pid = read_hex(&usb.join("idProduct"))?;
            let bridge = bridge_model(vid, pid)?;
            Some(BridgePort {
                device: dev_dir.join(&name),
                vid,
                pid,
                bridge,
                product: read_text(&usb.join("product")),
                usb_path: usb.file_name().and_then(|n| n.to_str()).map(str::to_owned),
            })
        })
        .collect();
    found.sort_by(|a, b| a.device.cmp(&b.device));
    found
}

fn usb_ancestor(device: &Path) -> Option<PathBuf> {
    device
        .ancestors()
        .take(USB_ANCESTOR_DEPTH)
        .find(|dir| dir.join("idVendor").is_file() && dir.join("idProduct").is_file())
        .map(Path::to_path_buf)
}

fn read_text(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn read_hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(&read_text(path)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A sysfs-shaped tree: `class/tty/<name>/device` links into `devices/...`.
    struct FakeSys(tempfile::TempDir);

    impl FakeSys {
        fn new() -> FakeSys {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("class/tty")).unwrap();
            FakeSys(dir)
        }
        fn class(&self) -> PathBuf {
            self.0.path().join("class/tty")
        }
        fn usb_device(
            &self,
            usb_path: &str,
            vid: &str,
            pid: &str,
            product: Option<&str>,
        ) -> PathBuf {
            let dir = self.0.path().join("devices/pci0000:00/usb1").join(usb_path);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("idVendor"), format!("{vid}\n")).unwrap();
            fs::write(dir.join("idProduct"), format!("{pid}\n")).unwrap();
            if let Some(product) = product {
                fs::write(dir.join("product"), format!("{product}\n")).unwrap();
            }
            dir
        }
        /// A tty whose `device` link points at `target` (made if missing).
        fn tty(&self, name: &str, target: Option<&Path>) {
            let dir = self.class().join(name);
            fs::create_dir_all(&dir).unwrap();
            if let Some(target) = target {
                fs::create_dir_all(target).unwrap();
                symlink(target, dir.join("device")).unwrap();
            }
        }
    }

    #[test]
    fn finds_usb_serial_and_acm_bridges_by_vid_pid() {
        let sys = FakeSys::new();
        let cp = sys.usb_device(
            "1-4",
            "10c4",
            "ea60",
            Some("CP2102 USB to UART Bridge Controller"),
        );
        sys.tty("ttyUSB0", Some(&cp.join("1-4:1.0/ttyUSB0")));
        let ch = sys.usb_device("1-2.3", "1a86", "7523", None);
        sys.tty("ttyUSB1", Some(&ch.join("1-2.3:1.0/ttyUSB1")));
        // An FT232 seen through a driver that hangs the tty directly off the interface.
        let ft = sys.usb_device("2-1", "0403", "6001", Some("FT232R USB UART"));
        sys.tty("ttyACM0", Some(&ft.join("2-1:1.0")));
        let unknown = sys.usb_device("1-5", "2341", "0043", Some("Arduino Uno"));
        sys.tty("ttyACM1", Some(&unknown.join("1-5:1.0")));
        sys.tty(
            "ttyS0",
            Some(&sys.0.path().join("devices/platform/serial8250")),
        );
        sys.tty("tty0", None);

        let found = enumerate_bridges(&sys.class(), Path::new("/dev"));
        let nodes: Vec<_> = found.iter().map(|b| b.device.to_str().unwrap()).collect();
        assert_eq!(nodes, ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1"]);
        assert_eq!(found[0].bridge, "FT232");
        assert_eq!(
            (found[1].vid, found[1].pid, found[1].bridge),
            (0x10c4, 0xea60, "CP210x")
        );
        assert_eq!(
            found[1].product.as_deref(),
            Some("CP2102 USB to UART Bridge Controller")
        );
        assert_eq!(found[1].usb_path.as_deref(), Some("1-4"));
        assert_eq!(
            (found[2].bridge, found[2].product.as_deref()),
            ("CH340", None)
        );
    }

    #[test]
    fn a_missing_or_empty_class_dir_gives_nothing() {
        assert!(
            enumerate_bridges(Path::new("/nonexistent/sys/class/tty"), Path::new("/dev"))
                .is_empty()
        );
        let sys = FakeSys::new();
        assert!(enumerate_bridges(&sys.class(), Path::new("/dev")).is_empty());
    }

    #[test]
    fn garbage_ids_are_skipped() {
        let sys = FakeSys::new();
        let dev = sys.usb_device("1-1", "zzzz", "ea60", None);
        sys.tty("ttyUSB0", Some(&dev.join("1-1:1.0/ttyUSB0")));
        assert!(enumerate_bridges(&sys.class(), Path::new("/dev")).is_empty());
    }

    #[test]
    fn the_real_sysfs_never_panics() {
        let _ = enumerate_bridges(Path::new("/sys/class/tty"), Path::new("/dev"));
    }
}

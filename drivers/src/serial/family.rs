//! [`SerialFamily`]: ZhianTec/Synochip modules behind known USB-serial bridges or on ports
//! named in the config, as [`ReaderFamily`] candidates `serial:<path>`.

use std::path::{Path, PathBuf};

use super::sysfs::enumerate_bridges;
use super::SystemPort;
use crate::family::{Candidate, ReaderFamily};
use crate::zhiantec::{ZhiantecReader, ZhiantecSettings, DRIVER};
use crate::{DeviceError, DeviceKind, FingerprintReader};

const ID_PREFIX: &str = "serial:";

/// Serial fingerprint modules. A bridge being attached does not prove a module sits behind
/// it; [`FingerprintReader::open`] on the returned reader finds out.
pub struct SerialFamily {
    configured_ports: Vec<PathBuf>,
    settings: ZhiantecSettings,
    sys_class_tty: PathBuf,
    dev_dir: PathBuf,
}

impl SerialFamily {
    /// Bridges found in `/sys/class/tty` plus `configured_ports` (listed when they exist).
    pub fn new(configured_ports: Vec<PathBuf>, settings: ZhiantecSettings) -> SerialFamily {
        SerialFamily::with_sysfs(configured_ports, settings, "/sys/class/tty", "/dev")
    }

    /// As [`SerialFamily::new`] with another sysfs class directory and device directory
    /// (tests use a fake tree).
    pub fn with_sysfs(
        configured_ports: Vec<PathBuf>,
        settings: ZhiantecSettings,
        sys_class_tty: impl Into<PathBuf>,
        dev_dir: impl Into<PathBuf>,
    ) -> SerialFamily {
        SerialFamily {
            configured_ports,
            settings,
            sys_class_tty: sys_class_tty.into(),
            dev_dir: dev_dir.into(),
        }
    }

    pub fn settings(&self) -> &ZhiantecSettings {
        &self.settings
    }

    /// A reader for the module on `path`, not yet opened.
    pub fn reader(&self, path: &Path) -> ZhiantecReader<SystemPort> {
        let owned = path.to_owned();
        ZhiantecReader::new(
            path.display().to_string(),
            self.settings.clone(),
            Box::new(move |baud| SystemPort::open(&owned, baud)),
        )
    }
}

fn candidate(path: &Path, name: String) -> Candidate {
    Candidate {
        kind: DeviceKind::FingerprintReader,
        driver: DRIVER,
        id: format!("{ID_PREFIX}{}", path.display()),
        address: path.display().to_string(),
        name,
    }
}

fn same_port(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

impl ReaderFamily for SerialFamily {
    fn name(&self) -> &'static str {
        "serial"
    }

    fn enumerate(&self) -> Vec<Candidate> {
        let mut found: Vec<Candidate> = Vec::new();
        let mut paths: Vec<PathBuf> = Vec::new();
        for path in self.configured_ports.iter().filter(|p| p.exists()) {
            if !paths.iter().any(|p| same_port(p, path)) {
                found.push(candidate(
                    path,
                    "ZhianTec/Synochip module (configured port)".into(),
                ));
                paths.push(path.clone());
            }
        }
        for bridge in enumerate_bridges(&self.sys_class_tty, &self.dev_dir) {
            if paths.iter().any(|p| same_port(p, &bridge.device)) {
                continue;
            }
            let name = format!(
                "ZhianTec/Synochip module on {} bridge {:04x}:{:04x}",
                bridge.bridge, bridge.vid, bridge.pid
            );
            found.push(candidate(&bridge.device, name));
            paths.push(bridge.device);
        }
        found
    }

    fn open(&self, candidate: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError> {
        let path = candidate
            .id
            .strip_prefix(ID_PREFIX)
            .filter(|_| candidate.driver == DRIVER)
            .ok_or_else(|| {
                DeviceError::Unavailable(format!("{} is not a serial module", candidate.id))
            })?;
        let path = Path::new(path);
        if !path.exists() {
            return Err(DeviceError::Unavailable(format!(
                "{} is gone",
                path.display()
            )));
        }
        Ok(Box::new(self.reader(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn lists_configured_ports_and_bridges_once_each() {
        let root = tempfile::tempdir().unwrap();
        let dev = root.path().join("dev");
        fs::create_dir_all(&dev).unwrap();
        fs::write(dev.join("ttyUSB0"), b"").unwrap();
        fs::write(dev.join("ttyS4"), b"").unwrap();
        let usb = root.path().join("devices/usb1/1-4");
        fs::create_dir_all(usb.join("1-4:1.0/ttyUSB0")).unwrap();
        fs::write(usb.join("idVendor"), "1a86\n").unwrap();
        fs::write(usb.join("idProduct"), "7523\n").unwrap();
        let class = root.path().join("class/tty");
        fs::create_dir_all(class.join("ttyUSB0")).unwrap();
        symlink(usb.join("1-4:1.0/ttyUSB0"), class.join("ttyUSB0/device")).unwrap();

        let family = SerialFamily::with_sysfs(
            vec![
                dev.join("ttyS4"),
                dev.join("ttyUSB0"),
                dev.join("ttyMISSING"),
            ],
            ZhiantecSettings::default(),
            &class,
            &dev,
        );
        let found = family.enumerate();
        let ids: Vec<_> = found.iter().map(|c| c.id.clone()).collect();
        assert_eq!(
            ids,
            [
                format!("serial:{}", dev.join("ttyS4").display()),
                format!("serial:{}", dev.join("ttyUSB0").display()),
            ]
        );
        assert!(found
            .iter()
            .all(|c| c.driver == "zhiantec" && c.kind == DeviceKind::FingerprintReader));
        assert!(found[1].matches(&dev.join("ttyUSB0").display().to_string()));

        let bridges_only =
            SerialFamily::with_sysfs(vec![], ZhiantecSettings::default(), &class, &dev);
        let found = bridges_only.enumerate();
        assert_eq!(found.len(), 1);
        assert!(
            found[0].name.contains("CH340 bridge 1a86:7523"),
            "{}",
            found[0].name
        );
    }

    #[test]
    fn no_sysfs_means_no_bridges() {
        let family = SerialFamily::with_sysfs(
            vec![],
            ZhiantecSettings::default(),
            "/nonexistent/class/tty",
            "/dev",
        );
        assert!(family.enumerate().is_empty());
        assert_eq!(family.name(), "serial");
    }

    #[test]
    fn opening_a_vanished_or_foreign_candidate_is_unavailable() {
        let family = SerialFamily::new(vec![], ZhiantecSettings::default());
        let gone = candidate(Path::new("/dev/ttyUSB-spidd-none"), "x".into());
        assert!(matches!(
            family.open(&gone),
            Err(DeviceError::Unavailable(_))
        ));
        let usb = Candidate {
            id: "usb:05ba:000a".into(),
            driver: "uru4000",
            ..gone
        };
        assert!(matches!(
            family.open(&usb),
            Err(DeviceError::Unavailable(_))
        ));
    }
}

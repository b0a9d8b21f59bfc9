//! Finding the station's devices.
//!
//! No hardware driver is built in yet (they come with the drivers crate's readers), so outside
//! simulate mode the station reports its reader and camera as absent: every capture fails with
//! `DEVICE_UNAVAILABLE` and Health says `DEGRADED`, which is the truth on such a machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::{
    Camera, Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader, RgbImage,
};
use tracing::warn;

use crate::capture::Devices;
use crate::config::DeviceSettings;

pub fn detect(settings: &DeviceSettings) -> Devices {
    warn!(
        fingerprint = settings.fingerprint.as_deref().unwrap_or("any"),
        camera = settings.camera.as_deref().unwrap_or("any"),
        "no supported device driver is available on this build; devices are absent"
    );
    Devices {
        reader: Arc::new(Mutex::new(Box::new(Absent(DeviceKind::FingerprintReader)))),
        camera: Arc::new(Mutex::new(Box::new(Absent(DeviceKind::Camera)))),
        scene: None,
    }
}

/// A device slot with nothing in it.
struct Absent(DeviceKind);

impl Absent {
    fn error(&self) -> DeviceError {
        DeviceError::Unavailable(format!("no supported {} is attached", self.0.as_str()))
    }
    fn describe(&self) -> DeviceInfo {
        DeviceInfo {
            kind: self.0,
            driver: "none".to_string(),
            address: "-".to_string(),
            name: format!("no {}", self.0.as_str()),
            firmware: None,
        }
    }
}

impl FingerprintReader for Absent {
    fn info(&self) -> DeviceInfo {
        self.describe()
    }
    fn open(&mut self) -> Result<(), DeviceError> {
        Err(self.error())
    }
    fn wait_finger(&mut self, _: Duration, _: &Cancel) -> Result<(), DeviceError> {
        Err(self.error())
    }
    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        Err(self.error())
    }
    fn wait_finger_off(&mut self, _: Duration, _: &Cancel) -> Result<(), DeviceError> {
        Err(self.error())
    }
    fn close(&mut self) {}
}

impl Camera for Absent {
    fn info(&self) -> DeviceInfo {
        self.describe()
    }
    fn open(&mut self, _: u32, _: u32) -> Result<(u32, u32), DeviceError> {
        Err(self.error())
    }
    fn frame(&mut self, _: Duration, _: &Cancel) -> Result<RgbImage, DeviceError> {
        Err(self.error())
    }
    fn close(&mut self) {}
}

//! What sits in a device slot: the device the manager opened, wrapped so that its failures
//! reach the manager at once, or a placeholder while nothing is attached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::{
    Camera, Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader, RgbImage,
};
use tokio::sync::Notify;

use super::DeviceState;

/// The live state of one attached device, shared by the manager and the device's wrapper.
pub(super) struct Cell {
    /// Set when the device answered `Unavailable` or the manager saw it leave: every later call
    /// fails at once, even before the manager swaps the slot.
    gone: AtomicBool,
    state: Mutex<(DeviceState, Option<String>)>,
    wake: Arc<Notify>,
}

impl Cell {
    pub(super) fn new(wake: Arc<Notify>) -> Arc<Cell> {
        Arc::new(Cell {
            gone: AtomicBool::new(false),
            state: Mutex::new((DeviceState::Ready, None)),
            wake,
        })
    }

    pub(super) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    pub(super) fn mark_gone(&self, why: &str) {
        self.gone.store(true, Ordering::SeqCst);
        self.set(DeviceState::Unavailable, Some(why.to_string()));
    }

    /// Sets the state; the last error is kept until a newer one replaces it.
    pub(super) fn set(&self, state: DeviceState, error: Option<String>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = state;
        if error.is_some() {
            s.1 = error;
        }
    }

    pub(super) fn get(&self) -> (DeviceState, Option<String>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Learns from the outcome of a device call. A device that answers at all (even "nothing
    /// presented") works; `Unavailable` means it left, and the manager is told at once.
    fn observe<T>(&self, result: &Result<T, DeviceError>) {
        match result {
            Ok(_) | Err(DeviceError::Timeout) | Err(DeviceError::Cancelled) => {
                if !self.is_gone() {
                    self.set(DeviceState::Ready, None);
                }
            }
            Err(e @ DeviceError::Unavailable(_)) => {
                self.mark_gone(&e.to_string());
                self.wake.notify_one();
            }
            Err(e @ (DeviceError::Protocol(_) | DeviceError::Io(_))) => {
                self.set(DeviceState::Error, Some(e.to_string()));
            }
        }
    }

    fn unplugged(&self, info: &DeviceInfo) -> DeviceError {
        DeviceError::Unavailable(format!("{} at {} was unplugged", info.name, info.address))
    }
}

/// An attached reader as the capture code sees it.
pub(super) struct TrackedReader {
    pub(super) inner: Box<dyn FingerprintReader>,
    pub(super) cell: Arc<Cell>,
}

impl TrackedReader {
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn FingerprintReader) -> Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        if self.cell.is_gone() {
            return Err(self.cell.unplugged(&self.inner.info()));
        }
        let result = f(self.inner.as_mut());
        self.cell.observe(&result);
        result
    }
}

impl FingerprintReader for TrackedReader {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }
    fn open(&mut self) -> Result<(), DeviceError> {
        self.call(|d| d.open())
    }
    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.call(|d| d.wait_finger(timeout, cancel))
    }
    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        self.call(|d| d.capture())
    }
    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.call(|d| d.wait_finger_off(timeout, cancel))
    }
    fn close(&mut self) {
        self.inner.close()
    }
}

/// An attached camera as the capture code sees it.
pub(super) struct TrackedCamera {
    pub(super) inner: Box<dyn Camera>,
    pub(super) cell: Arc<Cell>,
}

impl TrackedCamera {
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Camera) -> Result<T, DeviceError>,
    ) -> Result<T, DeviceError> {
        if self.cell.is_gone() {
            return Err(self.cell.unplugged(&self.inner.info()));
        }
        let result = f(self.inner.as_mut());
        self.cell.observe(&result);
        result
    }
}

impl Camera for TrackedCamera {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }
    fn open(&mut self, min_width: u32, min_height: u32) -> Result<(u32, u32), DeviceError> {
        self.call(|d| d.open(min_width, min_height))
    }
    fn frame(&mut self, timeout: Duration, cancel: &Cancel) -> Result<RgbImage, DeviceError> {
        self.call(|d| d.frame(timeout, cancel))
    }
    fn close(&mut self) {
        self.inner.close()
    }
}

/// A device slot with nothing in it: every call fails with `Unavailable` and `why`.
pub(super) struct Absent {
    pub(super) kind: DeviceKind,
    pub(super) why: String,
}

impl Absent {
    pub(super) fn new(kind: DeviceKind, why: String) -> Absent {
        Absent { kind, why }
    }
    fn error(&self) -> DeviceError {
        DeviceError::Unavailable(self.why.clone())
    }
    fn describe(&self) -> DeviceInfo {
        DeviceInfo {
            kind: self.kind,
            driver: "none".to_string(),
            address: "-".to_string(),
            name: format!("no {}", self.kind.as_str()),
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

//! Device access for the capture station: the traits every reader and camera implements.
//!
//! Drivers know nothing of the SPID flow: a reader waits for a finger and returns an image, a
//! camera returns frames. Calls block (USB and serial IO is synchronous); the daemon runs them on
//! a blocking thread and stops them through a [`Cancel`] flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod aes3500;
pub mod camera;
pub mod family;
pub mod serial;
pub mod uru4000;
pub mod usb;
pub mod zhiantec;

pub use family::{CameraFamily, Candidate, ReaderFamily, Wake};
pub use image::{GrayImage, RgbImage};

/// A fingerprint image as a reader delivers it: 8-bit grey plus the sensor's resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct FingerImage {
    pub image: GrayImage,
    /// Pixels per inch (500 for most optical readers, 512 for the U.are.U family).
    pub ppi: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    FingerprintReader,
    Camera,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::FingerprintReader => "fingerprint",
            DeviceKind::Camera => "camera",
        }
    }
}

/// What a device says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// The driver's name, e.g. `uru4000`, `aes3500`, `zhiantec`, `v4l2`, `simulated`.
    pub driver: String,
    /// Where it is: `05ba:000a`, `/dev/ttyUSB0`, `video0`, `sim:0`.
    pub address: String,
    pub name: String,
    pub firmware: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The device is not there (never was, or was unplugged).
    #[error("device unavailable: {0}")]
    Unavailable(String),
    /// Nothing was presented before the timeout.
    #[error("nothing presented before the timeout")]
    Timeout,
    /// The caller cancelled the wait.
    #[error("cancelled")]
    Cancelled,
    /// The device answered something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The transport failed (USB or serial IO error).
    #[error("io error: {0}")]
    Io(String),
}

/// A cancellation flag shared between the daemon and a blocking device call.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// An area fingerprint reader.
pub trait FingerprintReader: Send {
    fn info(&self) -> DeviceInfo;
    /// Powers up and prepares the sensor. Idempotent.
    fn open(&mut self) -> Result<(), DeviceError>;
    /// Blocks until a finger is on the sensor, `timeout` passes ([`DeviceError::Timeout`]) or
    /// `cancel` is set ([`DeviceError::Cancelled`]).
    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError>;
    /// Takes one image of the finger now on the sensor.
    fn capture(&mut self) -> Result<FingerImage, DeviceError>;
    /// Blocks until the finger is lifted (or timeout / cancel).
    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError>;
    fn close(&mut self);
}

/// A camera delivering RGB frames.
pub trait Camera: Send {
    fn info(&self) -> DeviceInfo;
    /// Opens the camera at a resolution of at least `min_width`×`min_height`; returns the
    /// negotiated resolution.
    fn open(&mut self, min_width: u32, min_height: u32) -> Result<(u32, u32), DeviceError>;
    /// The next frame, waiting at most `timeout`.
    fn frame(&mut self, timeout: Duration, cancel: &Cancel) -> Result<RgbImage, DeviceError>;
    fn close(&mut self);
}

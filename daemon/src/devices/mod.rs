//! The station's devices: which reader and camera are attached, kept in the capture slots as
//! they come and go (see [`DeviceManager`]), and the `spidd devices` / `capture-once` commands.

pub mod cli;
pub mod commands;
pub mod families;
mod manager;
mod slot;
#[cfg(test)]
mod tests;

pub use families::{camera_families, reader_families, Families};
pub use manager::{DeviceManager, POLL_INTERVAL};

use drivers::DeviceKind;

/// How a device is doing, as Health and the status socket report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceState {
    /// Attached and answering.
    Ready,
    /// Not attached (never was, unplugged, or the pinned device is missing).
    Unavailable,
    /// Attached but failing (open failed, IO or protocol errors).
    Error,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Ready => "ready",
            DeviceState::Unavailable => "unavailable",
            DeviceState::Error => "error",
        }
    }
}

/// One device slot's state at a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatus {
    pub kind: DeviceKind,
    pub state: DeviceState,
    /// `uru4000`, `v4l2`, `simulated`...; `none` when nothing is attached.
    pub driver: String,
    /// The candidate id (`usb:05ba:000a@1-4`, `camera:0`), when attached.
    pub id: Option<String>,
    /// Where it is (`05ba:000a bus 1 port 4`, `/dev/video0`); `-` when nothing is attached.
    pub address: String,
    pub name: String,
    pub firmware: Option<String>,
    /// The configured pin (`devices.fingerprint` / `devices.camera`), if any.
    pub pin: Option<String>,
    /// The most recent failure (kept after the device recovers).
    pub last_error: Option<String>,
}

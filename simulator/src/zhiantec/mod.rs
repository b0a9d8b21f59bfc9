//! An emulated ZhianTec/Synochip serial fingerprint module (R30x/ZFM-20/AS608): speaks the
//! module's protocol (devices.md §2) over a real pty or any byte stream, images the
//! simulator's synthetic fingers, and injects garbage, lost replies, silence and unplugs.

mod frame;
mod module;
mod pty;

pub use module::{pack_4bit, quantised, BaudChange, ModuleConfig, ModuleControl, ZhiantecModule};
pub use pty::{serve, PtyModule};

use image::GrayImage;

use crate::fingerprint::{self, Condition};

/// The module's sensor size: 256 × 288 at 500 dpi.
pub const SENSOR_WIDTH: u32 = 256;
pub const SENSOR_HEIGHT: u32 = 288;

/// What the module's smaller window sees of a synthetic impression: its centre 256 × 288
/// (both are 500 ppi, so this is a crop, not a resize).
pub fn sensor_image(subject: &str, finger: u8, impression: u32) -> GrayImage {
    let full = fingerprint::impression(subject, finger, impression, Condition::Good).image;
    let x = (full.width() - SENSOR_WIDTH) / 2;
    let y = (full.height() - SENSOR_HEIGHT) / 2;
    image::imageops::crop_imm(&full, x, y, SENSOR_WIDTH, SENSOR_HEIGHT).to_image()
}

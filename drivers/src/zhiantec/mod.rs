//! ZhianTec/Synochip serial fingerprint modules (ZFM-20, AS608, R30x, R50x): the pure packet
//! codec, instruction and confirmation codes, ReadSysPara and 4-bit image decoding, and a
//! session over a [`crate::serial::SerialTransport`]. Protocol facts: devices.md §2.

pub mod command;
mod fuzz;
pub mod image;
mod link;
pub mod packet;
mod session;
mod settings;
pub mod syspara;

pub use command::{Ack, Confirmation, Instruction, SysParaRegister};
pub use fuzz::fuzz_codec;
pub use image::{expand_nibble, unpack_4bit, ImageError, ImageFormat, ImageUpload};
pub use packet::{checksum, decode, Decoder, Packet, PacketError, PacketKind, DEFAULT_ADDRESS};
pub use session::{Connector, ZhiantecReader};
pub use settings::{is_module_baud, SettingsError, ZhiantecSettings};
pub use syspara::{SysParaError, SystemParameters};

/// The driver name in [`crate::DeviceInfo`] and [`crate::Candidate`].
pub const DRIVER: &str = "zhiantec";

#[cfg(test)]
mod tests;

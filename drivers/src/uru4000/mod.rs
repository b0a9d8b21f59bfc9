//! DigitalPersona U.are.U 4000 / 4000B / 4500 (`05ba:0007`, `05ba:0008`, `05ba:000a`): an
//! optical 384×290 sensor at 512 ppi with registers behind vendor control requests, events on
//! interrupt EP 0x81 and images on bulk EP 0x82 (`spec/devices.md` §1.2).

pub mod frame;
pub mod scramble;
mod session;

pub use frame::{Frame, FrameError, FrameHeader};
pub use session::Uru4000;

pub const VENDOR_ID: u16 = 0x05ba;
pub const DRIVER: &str = "uru4000";
pub const PPI: u16 = 512;

pub const EP_EVENTS: u8 = 0x81;
pub const EP_IMAGE: u8 = 0x82;
/// Vendor request for register access (bmRequestType 0x40 write, 0xC0 read; wValue = first
/// register).
pub const REQUEST_REGISTERS: u8 = 0x04;
pub const CONTROL_OUT: u8 = 0x40;
pub const CONTROL_IN: u8 = 0xc0;
/// Interrupt packets are always this long; the first two bytes (big-endian) are the type.
pub const EVENT_LEN: usize = 64;

/// Registers.
pub mod reg {
    pub const HWSTAT: u16 = 0x07;
    pub const SCRAMBLE_DATA_INDEX: u16 = 0x33;
    pub const SCRAMBLE_DATA_KEY: u16 = 0x34;
    pub const MODE: u16 = 0x4e;
    pub const DEVICE_INFO: u16 = 0xf0;
}

/// Values of the MODE register.
pub mod mode {
    pub const INIT: u8 = 0x00;
    pub const AWAIT_FINGER_ON: u8 = 0x10;
    pub const AWAIT_FINGER_OFF: u8 = 0x12;
    pub const CAPTURE: u8 = 0x20;
    pub const OFF: u8 = 0x70;
}

/// Interrupt event types.
pub mod event {
    pub const SCAN_POWER_ON: u16 = 0x56aa;
    pub const FINGER_ON: u16 = 0x0101;
    pub const FINGER_OFF: u16 = 0x0200;
    /// Announces that the next image transfer will probably come back empty.
    pub const DEATH: u16 = 0x0800;
}

/// The two hardware profiles behind the three product ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// `05ba:0007` (standalone) and `05ba:0008` (keyboard).
    Uru4000,
    /// `05ba:000a`: the 4000B, and the 4500 under the same id.
    Uru4000B,
}

impl Model {
    pub fn from_product(product: u16) -> Option<Model> {
        match product {
            0x0007 | 0x0008 => Some(Model::Uru4000),
            0x000a => Some(Model::Uru4000B),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Model::Uru4000 => "DigitalPersona U.are.U 4000",
            Model::Uru4000B => "DigitalPersona U.are.U 4000B/4500",
        }
    }

    /// The 4000B/4500 sends its frame turned 180° (the reference driver turns it back; it says
    /// itself that units under the same id may differ).
    pub(crate) fn turned(self) -> bool {
        self == Model::Uru4000B
    }
}

/// Where the per-scan seeds come from. The device answers a key request with the key XOR the
/// seed, so a seed must not repeat in production; an emulated device (a replayed session)
/// needs the same seeds as when the session was written.
#[derive(Clone, Debug)]
pub enum Seeds {
    Random,
    /// A fixed xorshift sequence starting from 0xFACADE (the value libfprint uses under
    /// `FP_DEVICE_EMULATION=1`).
    Emulation(u32),
}

impl Seeds {
    pub fn emulation() -> Seeds {
        Seeds::Emulation(0x00fa_cade)
    }

    pub fn next_seed(&mut self) -> u32 {
        match self {
            Seeds::Random => rand::random(),
            Seeds::Emulation(state) => {
                let mut x = *state;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *state = x;
                x
            }
        }
    }
}

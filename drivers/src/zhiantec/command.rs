//! Instruction codes the host sends and confirmation codes the module answers (devices.md
//! §2.2–2.3), and the parsed form of an acknowledge packet.

use std::fmt;

use super::packet::{Packet, PacketKind};

/// The instructions this driver uses (the module knows more; see devices.md §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    GenImg,
    Img2Tz,
    UpImage,
    SetSysPara,
    ReadSysPara,
    VfyPwd,
    TemplateNum,
    HandShake,
}

impl Instruction {
    pub fn code(self) -> u8 {
        match self {
            Instruction::GenImg => 0x01,
            Instruction::Img2Tz => 0x02,
            Instruction::UpImage => 0x0A,
            Instruction::SetSysPara => 0x0E,
            Instruction::ReadSysPara => 0x0F,
            Instruction::VfyPwd => 0x13,
            Instruction::TemplateNum => 0x1D,
            Instruction::HandShake => 0x40,
        }
    }

    /// The command packet for this instruction with `params`.
    pub fn packet(self, address: u32, params: &[u8]) -> Packet {
        let mut content = Vec::with_capacity(1 + params.len());
        content.push(self.code());
        content.extend_from_slice(params);
        Packet::new(address, PacketKind::Command, content)
    }
}

/// SetSysPara register numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysParaRegister {
    /// Baud = 9600 × N.
    BaudMultiplier,
    SecurityLevel,
    /// 0/1/2/3 → 32/64/128/256-byte data packets.
    PacketSize,
}

impl SysParaRegister {
    pub fn number(self) -> u8 {
        match self {
            SysParaRegister::BaudMultiplier => 4,
            SysParaRegister::SecurityLevel => 5,
            SysParaRegister::PacketSize => 6,
        }
    }
}

/// A module's confirmation code (first content byte of an acknowledge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Confirmation(pub u8);

impl Confirmation {
    pub const OK: Confirmation = Confirmation(0x00);
    pub const RECEIVE_ERROR: Confirmation = Confirmation(0x01);
    pub const NO_FINGER: Confirmation = Confirmation(0x02);
    pub const CAPTURE_FAILED: Confirmation = Confirmation(0x03);
    pub const UPLOAD_IMAGE_FAILED: Confirmation = Confirmation(0x0F);
    pub const WRONG_PASSWORD: Confirmation = Confirmation(0x13);
    pub const NO_VALID_IMAGE: Confirmation = Confirmation(0x15);
    pub const BAD_REGISTER: Confirmation = Confirmation(0x1A);
    pub const WRONG_ADDRESS: Confirmation = Confirmation(0x20);
    pub const PASSWORD_REQUIRED: Confirmation = Confirmation(0x21);
    pub const UNSUPPORTED: Confirmation = Confirmation(0xFC);

    /// The datasheets' meaning of the code.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x00 => "ok",
            0x01 => "error receiving packet",
            0x02 => "no finger on sensor",
            0x03 => "failed to capture finger",
            0x06 => "image too disorderly",
            0x07 => "too few feature points",
            0x08 => "fingers do not match",
            0x09 => "no matching finger found",
            0x0A => "failed to combine character files",
            0x0B => "page id beyond library",
            0x0C => "error reading template",
            0x0D => "error uploading template",
            0x0E => "cannot receive following data packets",
            0x0F => "error uploading image",
            0x10 => "failed to delete template",
            0x11 => "failed to clear library",
            0x13 => "wrong password",
            0x15 => "no valid primary image",
            0x18 => "flash write error",
            0x19 => "undefined error",
            0x1A => "invalid register number",
            0x1B => "incorrect register configuration",
            0x1C => "wrong notepad page",
            0x1D => "communication port operation failed",
            0x1F => "library full",
            0x20 => "address code incorrect",
            0x21 => "password must be verified",
            0x22 => "template empty",
            0x24 => "library empty",
            0x26 => "timeout",
            0x27 => "fingerprint already exists",
            0x29 => "sensor hardware error",
            0xFC => "unsupported command",
            0xFD => "hardware error",
            0xFE => "command execution failure",
            _ => "unknown confirmation code",
        }
    }
}

impl fmt::Display for Confirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} ({})", self.0, self.meaning())
    }
}

/// An acknowledge packet: the confirmation code and the reply parameters after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub code: Confirmation,
    pub params: Vec<u8>,
}

impl Ack {
    /// `None` unless `packet` is an acknowledge with at least the confirmation byte.
    pub fn from_packet(packet: &Packet) -> Option<Ack> {
        match (packet.kind, packet.content.split_first()) {
            (PacketKind::Ack, Some((&code, params))) => Some(Ack {
                code: Confirmation(code),
                params: params.to_vec(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zhiantec::packet::DEFAULT_ADDRESS;

    #[test]
    fn command_packets_carry_code_then_params() {
        let vfy = Instruction::VfyPwd.packet(DEFAULT_ADDRESS, &0u32.to_be_bytes());
        assert_eq!(
            vfy.to_bytes().unwrap(),
            [0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x07, 0x13, 0, 0, 0, 0, 0x00, 0x1B]
        );
        let up = Instruction::UpImage.packet(DEFAULT_ADDRESS, &[]);
        assert_eq!(up.content, vec![0x0A]);
    }

    #[test]
    fn acks_need_a_confirmation_byte() {
        let ack = Packet::new(DEFAULT_ADDRESS, PacketKind::Ack, vec![0x00, 0x12, 0x34]);
        assert_eq!(
            Ack::from_packet(&ack),
            Some(Ack {
                code: Confirmation::OK,
                params: vec![0x12, 0x34]
            })
        );
        assert_eq!(
            Ack::from_packet(&Packet::new(0, PacketKind::Ack, vec![])),
            None
        );
        assert_eq!(
            Ack::from_packet(&Packet::new(0, PacketKind::Data, vec![0])),
            None
        );
        assert_eq!(
            Confirmation::WRONG_PASSWORD.to_string(),
            "0x13 (wrong password)"
        );
    }
}

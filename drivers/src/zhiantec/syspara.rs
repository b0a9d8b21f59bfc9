//! The 16-byte ReadSysPara block (devices.md §2.4): status, system id, library capacity,
//! security level, address, data packet size and baud multiplier, as big-endian words.

/// The module's system parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemParameters {
    /// Bit 0 busy, bit 1 matched, bit 2 password verified, bit 3 image in buffer.
    pub status: u16,
    /// `0x0000` on ZFM-20 datasheets, `0x0009` on the R503.
    pub system_id: u16,
    /// How many templates the library holds.
    pub capacity: u16,
    /// 1 (loose) … 5 (strict).
    pub security_level: u16,
    pub address: u32,
    /// Bytes of content per data packet: 32, 64, 128 or 256.
    pub packet_size: usize,
    /// The line speed the module is configured for, 9600 × N.
    pub baud: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SysParaError {
    #[error("system parameter block of {0} bytes, expected 16")]
    Length(usize),
    #[error("packet size code {0}, expected 0..=3")]
    PacketSizeCode(u16),
    #[error("baud multiplier {0}, expected 1..=12")]
    BaudMultiplier(u16),
}

impl SystemParameters {
    pub const LEN: usize = 16;

    pub fn parse(block: &[u8]) -> Result<SystemParameters, SysParaError> {
        if block.len() != Self::LEN {
            return Err(SysParaError::Length(block.len()));
        }
        let word = |i: usize| u16::from_be_bytes([block[2 * i], block[2 * i + 1]]);
        let size_code = word(6);
        if size_code > 3 {
            return Err(SysParaError::PacketSizeCode(size_code));
        }
        let multiplier = word(7);
        if !(1..=12).contains(&multiplier) {
            return Err(SysParaError::BaudMultiplier(multiplier));
        }
        Ok(SystemParameters {
            status: word(0),
            system_id: word(1),
            capacity: word(2),
            security_level: word(3),
            address: u32::from(word(4)) << 16 | u32::from(word(5)),
            packet_size: 32 << size_code,
            baud: 9600 * u32::from(multiplier),
        })
    }

    /// A password has been verified in this power cycle.
    pub fn password_verified(&self) -> bool {
        self.status & 0b100 != 0
    }

    /// The image buffer holds a valid image.
    pub fn image_in_buffer(&self) -> bool {
        self.status & 0b1000 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_factory_block() {
        let block = [
            0x00, 0x04, 0x00, 0x00, 0x03, 0xE8, 0x00, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x02,
            0x00, 0x06,
        ];
        let p = SystemParameters::parse(&block).unwrap();
        assert_eq!(
            p,
            SystemParameters {
                status: 4,
                system_id: 0,
                capacity: 1000,
                security_level: 3,
                address: 0xFFFF_FFFF,
                packet_size: 128,
                baud: 57_600,
            }
        );
        assert!(p.password_verified());
        assert!(!p.image_in_buffer());
    }

    #[test]
    fn rejects_bad_blocks() {
        assert_eq!(
            SystemParameters::parse(&[0; 15]),
            Err(SysParaError::Length(15))
        );
        let mut block = [0u8; 16];
        block[15] = 6;
        block[13] = 4;
        assert_eq!(
            SystemParameters::parse(&block),
            Err(SysParaError::PacketSizeCode(4))
        );
        block[13] = 3;
        block[15] = 13;
        assert_eq!(
            SystemParameters::parse(&block),
            Err(SysParaError::BaudMultiplier(13))
        );
        block[15] = 12;
        let p = SystemParameters::parse(&block).unwrap();
        assert_eq!((p.packet_size, p.baud), (256, 115_200));
    }
}

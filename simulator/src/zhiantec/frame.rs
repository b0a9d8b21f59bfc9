//! The module side's own reading and writing of ZhianTec packets. Deliberately independent of
//! `drivers::zhiantec::packet`: the emulator is the other side of the wire contract, and a
//! shared codec would hide a framing bug on both sides at once.

/// A packet as the module sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub address: u32,
    pub pid: u8,
    pub content: Vec<u8>,
}

pub const PID_COMMAND: u8 = 0x01;
pub const PID_DATA: u8 = 0x02;
pub const PID_ACK: u8 = 0x07;
pub const PID_END: u8 = 0x08;

/// What came off the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Frame(Frame),
    /// A packet whose checksum did not add up (the module answers 0x01).
    Corrupt {
        address: u32,
    },
}

/// Frames `content` for the wire.
pub fn write_frame(address: u32, pid: u8, content: &[u8], out: &mut Vec<u8>) {
    let length = (content.len() + 2) as u16;
    out.extend_from_slice(&[0xEF, 0x01]);
    out.extend_from_slice(&address.to_be_bytes());
    out.push(pid);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(content);
    let sum = content
        .iter()
        .chain([pid, (length >> 8) as u8, length as u8].iter())
        .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
    out.extend_from_slice(&sum.to_be_bytes());
}

/// Collects bytes from the host into frames, dropping anything that is not one.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn next(&mut self) -> Option<Received> {
        loop {
            let start = self.buf.windows(2).position(|w| w == [0xEF, 0x01]);
            match start {
                Some(s) => {
                    self.buf.drain(..s);
                }
                None => {
                    let keep = usize::from(self.buf.last() == Some(&0xEF));
                    let n = self.buf.len() - keep;
                    self.buf.drain(..n);
                    return None;
                }
            }
            if self.buf.len() < 9 {
                return None;
            }
            let length = usize::from(u16::from_be_bytes([self.buf[7], self.buf[8]]));
            if !(2..=258).contains(&length) {
                self.buf.drain(..1);
                continue;
            }
            if self.buf.len() < 9 + length {
                return None;
            }
            let frame: Vec<u8> = self.buf.drain(..9 + length).collect();
            let address = u32::from_be_bytes([frame[2], frame[3], frame[4], frame[5]]);
            let sum = frame[6..7 + length]
                .iter()
                .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
            let given = u16::from_be_bytes([frame[7 + length], frame[8 + length]]);
            if sum != given {
                return Some(Received::Corrupt { address });
            }
            return Some(Received::Frame(Frame {
                address,
                pid: frame[6],
                content: frame[9..7 + length].to_vec(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_spec_example_and_reads_it_back_after_noise() {
        let mut wire = vec![0x55, 0xEF];
        write_frame(0xFFFF_FFFF, PID_ACK, &[0x02], &mut wire);
        assert_eq!(
            &wire[2..],
            &[0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x03, 0x02, 0x00, 0x0C]
        );
        let mut reader = FrameReader::default();
        reader.push(&wire);
        assert_eq!(
            reader.next(),
            Some(Received::Frame(Frame {
                address: 0xFFFF_FFFF,
                pid: PID_ACK,
                content: vec![0x02]
            }))
        );
        assert_eq!(reader.next(), None);
        let mut bad = Vec::new();
        write_frame(1, PID_COMMAND, &[0x01], &mut bad);
        bad[10] ^= 1;
        reader.push(&bad);
        assert_eq!(reader.next(), Some(Received::Corrupt { address: 1 }));
    }
}

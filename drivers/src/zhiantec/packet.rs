//! The ZhianTec/Synochip packet: `EF 01`, address (4), PID (1), length (2), content, checksum
//! (2), big-endian. Pure encode/decode plus an incremental [`Decoder`] that resynchronises on
//! `EF 01` after garbage and reports bad packets instead of panicking.

/// Every packet starts with these two bytes.
pub const HEADER: [u8; 2] = [0xEF, 0x01];
/// The factory address; a module ignores packets addressed to another.
pub const DEFAULT_ADDRESS: u32 = 0xFFFF_FFFF;
/// Header, address, PID, length and checksum: the bytes around the content.
pub const OVERHEAD: usize = 11;
/// Bytes before the content: header, address, PID, length.
const PREFIX: usize = 9;
/// The length field counts the content and the checksum. The datasheets give 256 as its
/// maximum, but a module set to 256-byte data packets (SysPara 6 = 3) sends 258, so that is
/// accepted too.
pub const MAX_LENGTH: u16 = 258;
/// The largest content a packet can carry.
pub const MAX_CONTENT: usize = MAX_LENGTH as usize - 2;

/// The package identifier (PID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// Host → module: instruction code and parameters.
    Command,
    /// A data packet with more to follow.
    Data,
    /// Module → host: confirmation code and results.
    Ack,
    /// The last data packet.
    End,
}

impl PacketKind {
    pub fn pid(self) -> u8 {
        match self {
            PacketKind::Command => 0x01,
            PacketKind::Data => 0x02,
            PacketKind::Ack => 0x07,
            PacketKind::End => 0x08,
        }
    }

    pub fn from_pid(pid: u8) -> Option<PacketKind> {
        Some(match pid {
            0x01 => PacketKind::Command,
            0x02 => PacketKind::Data,
            0x07 => PacketKind::Ack,
            0x08 => PacketKind::End,
            _ => return None,
        })
    }
}

/// One packet, without its framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub address: u32,
    pub kind: PacketKind,
    pub content: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// More bytes are needed before anything can be said.
    #[error("incomplete packet")]
    Incomplete,
    #[error("packet does not start with EF 01")]
    BadHeader,
    #[error("unknown package identifier 0x{0:02X}")]
    UnknownKind(u8),
    #[error("packet length {0} outside 2..={MAX_LENGTH}")]
    BadLength(u16),
    #[error("content of {0} bytes does not fit a packet")]
    TooLong(usize),
    #[error("checksum 0x{found:04X}, computed 0x{computed:04X}")]
    BadChecksum { found: u16, computed: u16 },
}

/// The 16-bit arithmetic sum of the PID, both length bytes and every content byte.
pub fn checksum(pid: u8, length: u16, content: &[u8]) -> u16 {
    let [hi, lo] = length.to_be_bytes();
    content
        .iter()
        .fold(u16::from(pid) + u16::from(hi) + u16::from(lo), |sum, &b| {
            sum.wrapping_add(u16::from(b))
        })
}

impl Packet {
    pub fn new(address: u32, kind: PacketKind, content: Vec<u8>) -> Packet {
        Packet {
            address,
            kind,
            content,
        }
    }

    /// Bytes on the wire.
    pub fn wire_len(&self) -> usize {
        OVERHEAD + self.content.len()
    }

    /// Appends the framed packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), PacketError> {
        if self.content.len() > MAX_CONTENT {
            return Err(PacketError::TooLong(self.content.len()));
        }
        let length = self.content.len() as u16 + 2;
        let pid = self.kind.pid();
        out.reserve(self.wire_len());
        out.extend_from_slice(&HEADER);
        out.extend_from_slice(&self.address.to_be_bytes());
        out.push(pid);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.content);
        out.extend_from_slice(&checksum(pid, length, &self.content).to_be_bytes());
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, PacketError> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// Decodes the packet at the start of `bytes`; returns it with the number of bytes it took.
/// [`PacketError::Incomplete`] means a valid prefix that needs more bytes.
pub fn decode(bytes: &[u8]) -> Result<(Packet, usize), PacketError> {
    let header_len = bytes.len().min(2);
    if bytes[..header_len] != HEADER[..header_len] {
        return Err(PacketError::BadHeader);
    }
    if bytes.len() < PREFIX {
        return Err(PacketError::Incomplete);
    }
    let address = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let pid = bytes[6];
    let kind = PacketKind::from_pid(pid).ok_or(PacketError::UnknownKind(pid))?;
    let length = u16::from_be_bytes([bytes[7], bytes[8]]);
    if !(2..=MAX_LENGTH).contains(&length) {
        return Err(PacketError::BadLength(length));
    }
    let total = PREFIX + usize::from(length);
    if bytes.len() < total {
        return Err(PacketError::Incomplete);
    }
    let content = &bytes[PREFIX..total - 2];
    let found = u16::from_be_bytes([bytes[total - 2], bytes[total - 1]]);
    let computed = checksum(pid, length, content);
    if found != computed {
        return Err(PacketError::BadChecksum { found, computed });
    }
    Ok((Packet::new(address, kind, content.to_vec()), total))
}

/// Reassembles packets from a byte stream that may hold garbage (a ready byte `0x55`, line
/// noise, the tail of an earlier reply): bytes before `EF 01` are dropped, and a header that
/// leads to a bad packet costs one byte, so a real packet starting inside it is still found.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    discarded: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next packet, an error for a bad one (already skipped), or `None` until more bytes
    /// arrive.
    pub fn next_packet(&mut self) -> Option<Result<Packet, PacketError>> {
        self.skip_to_header();
        if self.buf.is_empty() {
            return None;
        }
        match decode(&self.buf) {
            Ok((packet, used)) => {
                self.buf.drain(..used);
                Some(Ok(packet))
            }
            Err(PacketError::Incomplete) => None,
            Err(e) => {
                self.drop_front(1);
                Some(Err(e))
            }
        }
    }

    /// Bytes dropped so far as garbage or as parts of bad packets.
    pub fn discarded(&self) -> usize {
        self.discarded
    }

    /// Bytes held that are not yet part of a packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Gives up on a partial packet that stopped arriving (its header may have been garbage):
    /// drops its first byte so the next call searches again. False when nothing is buffered.
    pub fn skip_stalled(&mut self) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        self.drop_front(1);
        true
    }

    /// Forgets everything buffered (after clearing the line's input).
    pub fn clear(&mut self) {
        self.discarded += self.buf.len();
        self.buf.clear();
    }

    fn skip_to_header(&mut self) {
        let start = self
            .buf
            .windows(2)
            .position(|w| w == HEADER)
            // A trailing EF may be the first half of a header.
            .unwrap_or(if self.buf.last() == Some(&HEADER[0]) {
                self.buf.len() - 1
            } else {
                self.buf.len()
            });
        self.drop_front(start);
    }

    fn drop_front(&mut self, n: usize) {
        self.buf.drain(..n);
        self.discarded += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GEN_IMG: [u8; 12] = [
        0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x03, 0x01, 0x00, 0x05,
    ];
    const NO_FINGER: [u8; 12] = [
        0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x03, 0x02, 0x00, 0x0C,
    ];

    #[test]
    fn encodes_the_spec_examples() {
        let gen_img = Packet::new(DEFAULT_ADDRESS, PacketKind::Command, vec![0x01]);
        assert_eq!(gen_img.to_bytes().unwrap(), GEN_IMG);
        let ack = Packet::new(DEFAULT_ADDRESS, PacketKind::Ack, vec![0x02]);
        assert_eq!(ack.to_bytes().unwrap(), NO_FINGER);
        assert_eq!(ack.wire_len(), 12);
    }

    #[test]
    fn decodes_the_spec_examples() {
        let (packet, used) = decode(&NO_FINGER).unwrap();
        assert_eq!(used, 12);
        assert_eq!(
            packet,
            Packet::new(DEFAULT_ADDRESS, PacketKind::Ack, vec![0x02])
        );
        let (packet, _) = decode(&GEN_IMG).unwrap();
        assert_eq!(
            (packet.kind, packet.content),
            (PacketKind::Command, vec![0x01])
        );
    }

    #[test]
    fn addresses_and_long_content_round_trip() {
        let packet = Packet::new(
            0x1234_5678,
            PacketKind::Data,
            (0..=255).collect::<Vec<u8>>(),
        );
        let bytes = packet.to_bytes().unwrap();
        assert_eq!(&bytes[2..6], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(decode(&bytes).unwrap(), (packet, 11 + 256));
    }

    #[test]
    fn checksum_sums_pid_length_and_content() {
        // The largest packet sums to 65 285: a valid checksum never needs the 16-bit wrap.
        let content = vec![0xFF; MAX_CONTENT];
        assert_eq!(
            checksum(0x02, MAX_LENGTH, &content),
            0x02 + 0x01 + 0x02 + 0xFF * 256
        );
        assert_eq!(checksum(0x07, 3, &[0x02]), 0x000C);
    }

    #[test]
    fn rejects_bad_checksum_length_pid_and_oversize() {
        let mut bad = NO_FINGER;
        bad[11] ^= 1;
        assert_eq!(
            decode(&bad),
            Err(PacketError::BadChecksum {
                found: 0x000D,
                computed: 0x000C
            })
        );
        let mut bad = NO_FINGER;
        bad[6] = 0x05;
        assert_eq!(decode(&bad), Err(PacketError::UnknownKind(0x05)));
        let mut bad = NO_FINGER;
        bad[7] = 0x10;
        assert_eq!(decode(&bad), Err(PacketError::BadLength(0x1003)));
        let mut bad = NO_FINGER;
        bad[8] = 0x01;
        assert_eq!(decode(&bad), Err(PacketError::BadLength(1)));
        assert_eq!(decode(&[0x55]), Err(PacketError::BadHeader));
        assert_eq!(decode(&NO_FINGER[..11]), Err(PacketError::Incomplete));
        assert_eq!(decode(&[0xEF]), Err(PacketError::Incomplete));
        assert_eq!(decode(&[]), Err(PacketError::Incomplete));
        let huge = Packet::new(DEFAULT_ADDRESS, PacketKind::Data, vec![0; MAX_CONTENT + 1]);
        assert_eq!(huge.to_bytes(), Err(PacketError::TooLong(MAX_CONTENT + 1)));
    }

    #[test]
    fn decoder_skips_garbage_and_survives_byte_by_byte_feeding() {
        let mut stream = vec![0x55, 0x00, 0xEF, 0xEF, 0x02];
        stream.extend_from_slice(&GEN_IMG);
        stream.extend_from_slice(&[0xEF]);
        stream.extend_from_slice(&NO_FINGER);
        let mut decoder = Decoder::new();
        let mut packets = Vec::new();
        for b in &stream {
            decoder.push(std::slice::from_ref(b));
            while let Some(result) = decoder.next_packet() {
                packets.push(result.unwrap());
            }
        }
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[1].content, vec![0x02]);
        assert_eq!(decoder.discarded(), 6);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn decoder_reports_a_bad_packet_then_finds_the_next() {
        let mut corrupt = NO_FINGER;
        corrupt[9] = 0x00;
        let mut decoder = Decoder::new();
        decoder.push(&corrupt);
        decoder.push(&NO_FINGER);
        assert!(matches!(
            decoder.next_packet(),
            Some(Err(PacketError::BadChecksum { .. }))
        ));
        assert_eq!(decoder.next_packet().unwrap().unwrap().content, vec![0x02]);
        assert!(decoder.next_packet().is_none());
    }

    #[test]
    fn decoder_finds_a_packet_hidden_inside_a_false_header() {
        // A false header claiming a long packet, with a real packet inside its "content".
        let mut stream = vec![0xEF, 0x01, 0, 0, 0, 0, 0x02, 0x00, 0x20];
        stream.extend_from_slice(&NO_FINGER);
        stream.extend_from_slice(&[0u8; 40]);
        let mut decoder = Decoder::new();
        decoder.push(&stream);
        let mut results = Vec::new();
        while let Some(r) = decoder.next_packet() {
            results.push(r);
        }
        assert!(results
            .iter()
            .any(|r| r.as_ref().ok().map(|p| p.content.as_slice()) == Some(&[0x02][..])));
    }

    #[test]
    fn a_stalled_false_header_can_be_skipped() {
        let mut decoder = Decoder::new();
        decoder.push(&[0xEF, 0x01, 0, 0, 0, 0, 0x07, 0x01, 0x00]);
        decoder.push(&NO_FINGER);
        assert!(
            decoder.next_packet().is_none(),
            "waits for the 256 bytes the false header claims"
        );
        assert!(decoder.skip_stalled());
        assert_eq!(decoder.next_packet().unwrap().unwrap().content, vec![0x02]);
        assert!(!decoder.skip_stalled());
    }
}

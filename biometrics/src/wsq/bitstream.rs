//! Byte- and bit-level IO for WSQ streams: big-endian marker segments, and the entropy-coded
//! segments with JPEG-style `0xFF 0x00` byte stuffing and all-ones padding.

use super::WsqError;

/// Bounds-checked big-endian reader over a byte slice; every read past the end is an error.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), WsqError> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], WsqError> {
        if n > self.remaining() {
            return Err(WsqError::Malformed(format!(
                "unexpected end of data at byte {} (wanted {n} more)",
                self.pos
            )));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WsqError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, WsqError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WsqError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// MSB-first bit writer that stuffs a zero byte after every `0xFF` so the data can never be
/// mistaken for a marker.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            nbits: 0,
        }
    }

    /// Appends the low `len` bits of `bits` (`len` ≤ 32).
    #[inline]
    pub(crate) fn put(&mut self, bits: u32, len: u32) {
        debug_assert!(len <= 32);
        if len == 0 {
            return;
        }
        self.acc = (self.acc << len) | u64::from(bits & (u32::MAX >> (32 - len)));
        self.nbits += len;
        while self.nbits >= 8 {
            self.nbits -= 8;
            let byte = (self.acc >> self.nbits) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0x00);
            }
        }
        self.acc &= (1u64 << self.nbits) - 1;
    }

    /// Pads the last partial byte with one bits: no WSQ Huffman code is all ones, so a decoder
    /// never mistakes the padding for a symbol.
    pub(crate) fn finish(mut self) {
        if self.nbits > 0 {
            let pad = 8 - self.nbits;
            self.put((1u32 << pad) - 1, pad);
        }
    }
}

/// Splits off the entropy-coded data that starts at the beginning of `data`: everything up to
/// the next marker (an `0xFF` not followed by a stuffed `0x00`). Returns the unstuffed bytes
/// and the number of input bytes consumed; the marker itself is left unread.
pub(crate) fn take_entropy_segment(data: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == 0xFF {
            match data.get(i + 1) {
                Some(0x00) => {
                    out.push(0xFF);
                    i += 2;
                }
                // A marker, or an 0xFF at the very end: the segment stops before it either way
                // and the marker parser reports what is wrong.
                _ => return i,
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    i
}

/// MSB-first reader over unstuffed entropy-coded bytes.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// Bits still unread in the whole segment (buffered or not).
    left: u64,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            acc: 0,
            nbits: 0,
            left: data.len() as u64 * 8,
        }
    }

    pub(crate) fn bits_left(&self) -> u64 {
        self.left
    }

    #[inline]
    fn refill(&mut self) {
        while self.nbits <= 56 {
            let byte = match self.data.get(self.pos) {
                Some(&b) => {
                    self.pos += 1;
                    b
                }
                // Past the end reads as ones, like padding; `left` keeps the real count.
                None => 0xFF,
            };
            self.acc |= u64::from(byte) << (56 - self.nbits);
            self.nbits += 8;
        }
    }

    /// The next 16 bits, MSB first, without consuming them.
    #[inline]
    pub(crate) fn peek16(&mut self) -> u32 {
        if self.nbits < 16 {
            self.refill();
        }
        (self.acc >> 48) as u32
    }

    /// Consumes `len` bits; the caller has checked `len <= bits_left()`.
    #[inline]
    pub(crate) fn consume(&mut self, len: u32) {
        debug_assert!(len <= 16 && u64::from(len) <= self.left);
        if self.nbits < len {
            self.refill();
        }
        self.acc <<= len;
        self.nbits -= len;
        self.left -= u64::from(len);
    }

    /// Reads `len` (≤ 16) raw bits, or `None` when the segment holds fewer.
    #[inline]
    pub(crate) fn read(&mut self, len: u32) -> Option<u32> {
        if u64::from(len) > self.left {
            return None;
        }
        let v = self.peek16() >> (16 - len);
        self.consume(len);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_writer_stuffs_and_pads_with_ones() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.put(0xFF, 8);
        w.put(0b101, 3);
        w.finish();
        assert_eq!(out, vec![0xFF, 0x00, 0b1011_1111]);
    }

    #[test]
    fn padding_that_makes_ff_is_stuffed() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.put(0b1111, 4);
        w.finish();
        assert_eq!(out, vec![0xFF, 0x00]);
    }

    #[test]
    fn entropy_segment_stops_at_marker_and_unstuffs() {
        let data = [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xA3, 0x00];
        let mut seg = Vec::new();
        let used = take_entropy_segment(&data, &mut seg);
        assert_eq!(used, 4);
        assert_eq!(seg, vec![0x12, 0xFF, 0x34]);
    }

    #[test]
    fn bit_reader_round_trips_writer() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        let fields: Vec<(u32, u32)> = (0..200u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 7, 1 + i % 16))
            .collect();
        for &(v, l) in &fields {
            w.put(v, l);
        }
        w.finish();
        let mut seg = Vec::new();
        take_entropy_segment(&out, &mut seg);
        let mut r = BitReader::new(&seg);
        for &(v, l) in &fields {
            assert_eq!(r.read(l), Some(v & ((1 << l) - 1)));
        }
        assert!(r.bits_left() < 8);
        assert_eq!(r.read(16), None);
    }

    #[test]
    fn byte_reader_rejects_overrun() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert!(r.u16().is_err());
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.u8().is_err());
    }
}

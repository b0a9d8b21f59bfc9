//! The U.are.U image transfer, pure: its 64-byte header and 15 block descriptors, checks,
//! scramble detection, unscrambling (keys come from a caller-supplied source), assembly of the
//! 384×290 frame and the model's inversion/orientation.

use image::GrayImage;

use super::scramble;
use super::Model;

pub const WIDTH: usize = 384;
pub const HEIGHT: usize = 290;
pub const HEADER_LEN: usize = 64;
/// The bulk read the host submits: the header plus a full frame.
pub const FRAME_LEN: usize = HEADER_LEN + WIDTH * HEIGHT;
pub const BLOCKS: usize = 15;
/// Mean squared deviation of the first two rows' column sums above which the frame is
/// scrambled noise rather than an image.
pub const SCRAMBLE_THRESHOLD: i64 = 5000;

/// Block descriptor flags.
pub mod flags {
    /// Fetch the next key (key number + 1) before this block.
    pub const CHANGE_KEY: u8 = 0x80;
    /// The LFSR does not move over this block.
    pub const NO_KEY_UPDATE: u8 = 0x04;
    pub const ENCRYPTED: u8 = 0x02;
    /// The block has no rows of its own on the wire: it repeats the current rows.
    pub const NOT_PRESENT: u8 = 0x01;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Block {
    pub flags: u8,
    pub lines: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Rows of image data on the wire.
    pub num_lines: u16,
    /// The key the first scrambled block uses.
    pub key_number: u8,
    pub blocks: [Block; BLOCKS],
}

impl FrameHeader {
    /// The 64 header bytes as the device sends them (unknown fields zero).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[4..6].copy_from_slice(&self.num_lines.to_le_bytes());
        h[6] = self.key_number;
        for (i, b) in self.blocks.iter().enumerate() {
            h[16 + 2 * i] = b.flags;
            h[17 + 2 * i] = b.lines;
        }
        h
    }

    fn decode(h: &[u8]) -> FrameHeader {
        FrameHeader {
            num_lines: u16::from_le_bytes([h[4], h[5]]),
            key_number: h[6],
            blocks: std::array::from_fn(|i| Block {
                flags: h[16 + 2 * i],
                lines: h[17 + 2 * i],
            }),
        }
    }

    /// The blocks the device filled, in order, with the data row each starts at and the
    /// output row it lands on: the walk stops at a zero-line block or once `num_lines` rows of
    /// data are used.
    fn walk(&self) -> impl Iterator<Item = (usize, Block, usize, usize)> + '_ {
        let num_lines = usize::from(self.num_lines);
        let mut row = 0;
        let mut to = 0;
        self.blocks.iter().enumerate().map_while(move |(i, &b)| {
            if row >= num_lines || b.lines == 0 {
                return None;
            }
            let at = (i, b, row, to);
            if b.flags & flags::NOT_PRESENT == 0 {
                row += usize::from(b.lines);
            }
            to += usize::from(b.lines);
            Some(at)
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("image transfer of {got} bytes has no 64-byte header")]
    NoHeader { got: usize },
    #[error("image header announces {lines} rows; the sensor has {HEIGHT}")]
    TooManyLines { lines: u16 },
    #[error("image transfer of {got} bytes is shorter than its {need} announced bytes")]
    Truncated { got: usize, need: usize },
    #[error("image block {block} runs past the {HEIGHT}-row frame")]
    BlockOverrun { block: usize },
}

/// One image transfer, checked: every block the header describes fits the frame.
#[derive(Clone, Debug)]
pub struct Frame {
    header: FrameHeader,
    /// `HEIGHT` rows; rows the transfer did not carry are zero.
    data: Vec<u8>,
}

impl Frame {
    pub fn parse(transfer: &[u8]) -> Result<Frame, FrameError> {
        if transfer.len() < HEADER_LEN {
            return Err(FrameError::NoHeader {
                got: transfer.len(),
            });
        }
        let header = FrameHeader::decode(&transfer[..HEADER_LEN]);
        if usize::from(header.num_lines) >= HEIGHT {
            return Err(FrameError::TooManyLines {
                lines: header.num_lines,
            });
        }
        let need = HEADER_LEN + usize::from(header.num_lines) * WIDTH;
        if transfer.len() < need {
            return Err(FrameError::Truncated {
                got: transfer.len(),
                need,
            });
        }
        for (block, b, row, to) in header.walk() {
            let lines = usize::from(b.lines);
            if row + lines > HEIGHT || to + lines > HEIGHT {
                return Err(FrameError::BlockOverrun { block });
            }
        }
        let mut data = vec![0u8; WIDTH * HEIGHT];
        let carried = (transfer.len() - HEADER_LEN).min(data.len());
        data[..carried].copy_from_slice(&transfer[HEADER_LEN..HEADER_LEN + carried]);
        Ok(Frame { header, data })
    }

    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// Scrambled data is noise: the column sums of the first two rows on the wire vary far
    /// more than any image's.
    pub fn is_scrambled(&self) -> bool {
        self.deviation() >= SCRAMBLE_THRESHOLD
    }

    /// The mean squared deviation of the first two present rows' column sums (integer
    /// arithmetic, as the reference driver does); 0 when there are not two rows.
    pub fn deviation(&self) -> i64 {
        let mut rows = self
            .header
            .walk()
            .filter(|(_, b, _, _)| b.flags & flags::NOT_PRESENT == 0)
            .flat_map(|(_, b, row, _)| {
                (row..row + usize::from(b.lines)).map(|r| &self.data[r * WIDTH..(r + 1) * WIDTH])
            });
        let (Some(a), Some(b)) = (rows.next(), rows.next()) else {
            return 0;
        };
        let sums: Vec<i64> = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| i64::from(x) + i64::from(y))
            .collect();
        let mean = sums.iter().sum::<i64>() / WIDTH as i64;
        sums.iter().map(|s| (s - mean) * (s - mean)).sum::<i64>() / WIDTH as i64
    }

    /// Unscrambles the blocks in place. `key` gives the LFSR state for a key number (the
    /// session asks the device); a block flagged CHANGE_KEY moves to the next key number first.
    pub fn unscramble<E>(&mut self, mut key: impl FnMut(u8) -> Result<u32, E>) -> Result<(), E> {
        let mut key_number = self.header.key_number;
        let mut state = key(key_number)?;
        let steps: Vec<(usize, Block, usize)> = self
            .header
            .walk()
            .map(|(i, b, row, _)| (i, b, row))
            .collect();
        for (i, b, row) in steps {
            if b.flags & flags::CHANGE_KEY != 0 {
                key_number = key_number.wrapping_add(1);
                state = key(key_number)?;
                self.header.blocks[i].flags &= !flags::CHANGE_KEY;
            }
            let bytes = usize::from(b.lines) * WIDTH;
            match b.flags & (flags::NO_KEY_UPDATE | flags::ENCRYPTED) {
                flags::ENCRYPTED => {
                    state = scramble::descramble(
                        &mut self.data[row * WIDTH..row * WIDTH + bytes],
                        state,
                    );
                }
                0 => state = scramble::skip(state, bytes),
                _ => {}
            }
        }
        Ok(())
    }

    /// The sensor's 384×290 frame as sent (ridges bright): rows of each block in order, a
    /// not-present block repeating the rows at the current data position. Rows no block fills
    /// stay 0.
    pub fn assemble(&self) -> GrayImage {
        let mut out = vec![0u8; WIDTH * HEIGHT];
        for (_, b, row, to) in self.header.walk() {
            let bytes = usize::from(b.lines) * WIDTH;
            out[to * WIDTH..to * WIDTH + bytes]
                .copy_from_slice(&self.data[row * WIDTH..row * WIDTH + bytes]);
        }
        GrayImage::from_raw(WIDTH as u32, HEIGHT as u32, out).expect("buffer sized for the frame")
    }
}

/// The frame as the station wants it: dark ridges, upright. Every model's sensor sends
/// inverted grey; the 4000B/4500 also sends it turned 180°.
pub fn finish(raw: &GrayImage, model: Model) -> GrayImage {
    let (w, h) = raw.dimensions();
    let turned = model.turned();
    GrayImage::from_fn(w, h, |x, y| {
        let (sx, sy) = if turned {
            (w - 1 - x, h - 1 - y)
        } else {
            (x, y)
        };
        image::Luma([255 - raw.get_pixel(sx, sy)[0]])
    })
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;

/// The transfer a device sends for `rows` (the `num_lines` rows of plain data on the wire),
/// scrambling the blocks flagged ENCRYPTED with the LFSR state `key` gives for each key
/// number. For emulators and tests: the inverse of [`Frame::unscramble`].
pub fn device_transfer(
    header: &FrameHeader,
    rows: &[u8],
    mut key: impl FnMut(u8) -> u32,
) -> Vec<u8> {
    let mut data = rows.to_vec();
    data.resize(usize::from(header.num_lines) * WIDTH, 0);
    let mut key_number = header.key_number;
    let mut state = key(key_number);
    for (_, b, row, _) in header.walk() {
        if b.flags & flags::CHANGE_KEY != 0 {
            key_number = key_number.wrapping_add(1);
            state = key(key_number);
        }
        let range = row * WIDTH..(row + usize::from(b.lines)) * WIDTH;
        match b.flags & (flags::NO_KEY_UPDATE | flags::ENCRYPTED) {
            flags::ENCRYPTED => {
                let plain = &data[range.clone()];
                let lead = plain[plain.len() - 1];
                let (wire, next) = scramble::scramble(plain, state, lead);
                data[range].copy_from_slice(&wire);
                state = next;
            }
            0 => state = scramble::skip(state, range.len()),
            _ => {}
        }
    }
    let mut transfer = header.encode().to_vec();
    transfer.extend_from_slice(&data);
    transfer
}

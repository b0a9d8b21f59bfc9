//! UpImage payloads: 4 bits per pixel, two horizontally adjacent pixels per byte (high nibble
//! left), rows top to bottom; the image size follows from the byte count (devices.md §2.5).

use image::GrayImage;

use super::packet::{Packet, PacketKind};
use crate::FingerImage;

/// A sensor geometry the UART upload can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFormat {
    pub width: u32,
    pub height: u32,
    /// The sensor's resolution as the spec table gives it: 500 dpi for the optical
    /// ZFM-20/AS608/R305/R307 (256 × 288), 508 dpi for the capacitive R503 and R303-type.
    pub ppi: u16,
}

impl ImageFormat {
    /// ZFM-20, AS608, R305, R307: the modules this driver is written for.
    pub const OPTICAL_256X288: ImageFormat = ImageFormat {
        width: 256,
        height: 288,
        ppi: 500,
    };
    pub const R503_192X192: ImageFormat = ImageFormat {
        width: 192,
        height: 192,
        ppi: 508,
    };
    pub const FPC_208X288: ImageFormat = ImageFormat {
        width: 208,
        height: 288,
        ppi: 508,
    };

    const KNOWN: [ImageFormat; 3] = [Self::OPTICAL_256X288, Self::R503_192X192, Self::FPC_208X288];

    /// Bytes of a 4-bit upload of this format.
    pub fn packed_len(self) -> usize {
        (self.width * self.height / 2) as usize
    }

    /// The format whose upload is `len` bytes.
    pub fn for_packed_len(len: usize) -> Option<ImageFormat> {
        Self::KNOWN.into_iter().find(|f| f.packed_len() == len)
    }
}

/// The largest upload any known format needs; a module sending more is broken.
pub const MAX_UPLOAD: usize = 256 * 288 / 2;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("image upload of {0} bytes matches no known sensor size")]
    UnknownSize(usize),
    #[error("image upload exceeds {MAX_UPLOAD} bytes")]
    TooLong,
    #[error("unexpected {0:?} packet in an image upload")]
    UnexpectedPacket(PacketKind),
    #[error("{got} packed bytes for a {width}x{height} image")]
    WrongLength { got: usize, width: u32, height: u32 },
}

/// Expands 4-bit grey to 8-bit with `v * 17`, so 0 stays black and 15 becomes 255.
pub fn expand_nibble(v: u8) -> u8 {
    (v & 0x0F) * 17
}

/// Unpacks `data` (4 bits per pixel) into a `width`×`height` 8-bit image.
pub fn unpack_4bit(data: &[u8], width: u32, height: u32) -> Result<GrayImage, ImageError> {
    let wrong = || ImageError::WrongLength {
        got: data.len(),
        width,
        height,
    };
    if width & 1 == 1 || (width as usize * height as usize) / 2 != data.len() {
        return Err(wrong());
    }
    let mut pixels = Vec::with_capacity(data.len() * 2);
    for &b in data {
        pixels.push(expand_nibble(b >> 4));
        pixels.push(expand_nibble(b));
    }
    GrayImage::from_raw(width, height, pixels).ok_or_else(wrong)
}

/// Collects the data packets that follow an UpImage acknowledge, up to the end packet.
#[derive(Debug, Default)]
pub struct ImageUpload {
    data: Vec<u8>,
    done: bool,
}

impl ImageUpload {
    pub fn new() -> ImageUpload {
        ImageUpload {
            data: Vec::with_capacity(MAX_UPLOAD),
            done: false,
        }
    }

    /// Takes one packet; true once the end packet has arrived.
    pub fn push(&mut self, packet: &Packet) -> Result<bool, ImageError> {
        match packet.kind {
            PacketKind::Data | PacketKind::End if !self.done => {}
            kind => return Err(ImageError::UnexpectedPacket(kind)),
        }
        if self.data.len() + packet.content.len() > MAX_UPLOAD {
            return Err(ImageError::TooLong);
        }
        self.data.extend_from_slice(&packet.content);
        self.done = packet.kind == PacketKind::End;
        Ok(self.done)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn received(&self) -> usize {
        self.data.len()
    }

    /// The image, once the end packet is in.
    pub fn finish(self) -> Result<FingerImage, ImageError> {
        let format = ImageFormat::for_packed_len(self.data.len())
            .ok_or(ImageError::UnknownSize(self.data.len()))?;
        Ok(FingerImage {
            image: unpack_4bit(&self.data, format.width, format.height)?,
            ppi: format.ppi,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zhiantec::packet::DEFAULT_ADDRESS;

    #[test]
    fn high_nibble_is_the_left_pixel() {
        let img = unpack_4bit(&[0x0F, 0x80], 2, 2).unwrap();
        assert_eq!(img.as_raw(), &vec![0, 255, 136, 0]);
        assert!(unpack_4bit(&[0; 3], 2, 2).is_err());
        assert!(unpack_4bit(&[0; 2], 3, 2).is_err());
    }

    #[test]
    fn the_byte_count_selects_the_sensor() {
        assert_eq!(
            ImageFormat::for_packed_len(36_864),
            Some(ImageFormat::OPTICAL_256X288)
        );
        assert_eq!(
            ImageFormat::for_packed_len(18_432).map(|f| f.ppi),
            Some(508)
        );
        assert_eq!(
            ImageFormat::for_packed_len(29_952).map(|f| f.width),
            Some(208)
        );
        assert_eq!(ImageFormat::for_packed_len(1000), None);
    }

    #[test]
    fn an_upload_of_128_byte_packets_assembles_256x288() {
        let packed: Vec<u8> = (0..36_864u32).map(|i| (i % 251) as u8).collect();
        let mut upload = ImageUpload::new();
        let chunks: Vec<_> = packed.chunks(128).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let kind = if i + 1 == chunks.len() {
                PacketKind::End
            } else {
                PacketKind::Data
            };
            let done = upload
                .push(&Packet::new(DEFAULT_ADDRESS, kind, chunk.to_vec()))
                .unwrap();
            assert_eq!(done, i + 1 == chunks.len());
        }
        assert_eq!(chunks.len(), 288);
        let img = upload.finish().unwrap();
        assert_eq!(
            (img.image.width(), img.image.height(), img.ppi),
            (256, 288, 500)
        );
        assert_eq!(img.image.get_pixel(1, 0).0[0], expand_nibble(packed[0]));
        assert_eq!(
            img.image.get_pixel(254, 287).0[0],
            expand_nibble(packed[36_863] >> 4)
        );
    }

    #[test]
    fn bad_uploads_are_errors() {
        let mut upload = ImageUpload::new();
        let ack = Packet::new(DEFAULT_ADDRESS, PacketKind::Ack, vec![0]);
        assert_eq!(
            upload.push(&ack),
            Err(ImageError::UnexpectedPacket(PacketKind::Ack))
        );
        upload
            .push(&Packet::new(DEFAULT_ADDRESS, PacketKind::End, vec![0; 10]))
            .unwrap();
        assert!(upload
            .push(&Packet::new(DEFAULT_ADDRESS, PacketKind::Data, vec![0]))
            .is_err());
        assert_eq!(upload.finish(), Err(ImageError::UnknownSize(10)));
        let mut upload = ImageUpload::new();
        let big = Packet::new(DEFAULT_ADDRESS, PacketKind::Data, vec![0; 256]);
        let mut result = Ok(false);
        for _ in 0..=MAX_UPLOAD / 256 {
            result = upload.push(&big);
        }
        assert_eq!(result, Err(ImageError::TooLong));
    }
}

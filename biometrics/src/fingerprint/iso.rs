//! ISO/IEC 19794-2:2005 finger minutiae record (format "FMR\0", version " 20\0"): writing
//! one finger view, and reading any well-formed record (first view kept). Reading never
//! panics: every length and field is checked against the input.

use super::minutiae::{Minutia, MinutiaKind};
use super::Template;

const FORMAT_ID: [u8; 4] = *b"FMR\0";
const VERSION: [u8; 4] = *b" 20\0";
const HEADER_LEN: usize = 24;
const VIEW_HEADER_LEN: usize = 4;
const MINUTIA_LEN: usize = 6;

/// Why a byte string is not a usable ISO/IEC 19794-2:2005 record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("record truncated: {needed} bytes needed at offset {offset}, {available} available")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("not a finger minutiae record (format identifier {0:02x?})")]
    FormatIdentifier([u8; 4]),
    #[error("unsupported record version {0:02x?} (only ISO/IEC 19794-2:2005 \" 20\")")]
    Version([u8; 4]),
    #[error("record length field says {declared} bytes but {actual} were given")]
    Length { declared: u32, actual: usize },
    #[error("invalid {field}: {value}")]
    Field { field: &'static str, value: u32 },
    #[error("record holds no finger view")]
    NoView,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TemplateError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(TemplateError::Truncated {
                offset: self.pos,
                needed: n,
                available,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TemplateError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TemplateError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TemplateError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn array4(&mut self) -> Result<[u8; 4], TemplateError> {
        let b = self.take(4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }
}

fn invalid(field: &'static str, value: impl Into<u32>) -> TemplateError {
    TemplateError::Field {
        field,
        value: value.into(),
    }
}

pub fn encode(t: &Template) -> Vec<u8> {
    let minutiae = &t.minutiae[..t.minutiae.len().min(255)];
    let total = HEADER_LEN + VIEW_HEADER_LEN + MINUTIA_LEN * minutiae.len() + 2;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&FORMAT_ID);
    out.extend_from_slice(&VERSION);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    let equipment =
        ((t.equipment_certification as u16 & 0x0f) << 12) | (t.capture_device_type & 0x0fff);
    out.extend_from_slice(&equipment.to_be_bytes());
    out.extend_from_slice(&t.width.to_be_bytes());
    out.extend_from_slice(&t.height.to_be_bytes());
    out.extend_from_slice(&t.resolution_x.to_be_bytes());
    out.extend_from_slice(&t.resolution_y.to_be_bytes());
    out.push(1); // one finger view
    out.push(0); // reserved
    out.push(t.finger_position);
    out.push((t.view_number & 0x0f) << 4 | (t.impression_type & 0x0f));
    out.push(t.finger_quality.min(100));
    out.push(minutiae.len() as u8);
    for m in minutiae {
        let kind: u16 = match m.kind {
            MinutiaKind::Other => 0,
            MinutiaKind::Ending => 1,
            MinutiaKind::Bifurcation => 2,
        };
        out.extend_from_slice(&((kind << 14) | (m.x & 0x3fff)).to_be_bytes());
        out.extend_from_slice(&(m.y & 0x3fff).to_be_bytes());
        out.push(m.angle);
        out.push(m.quality.min(100));
    }
    out.extend_from_slice(&0u16.to_be_bytes()); // no extended data
    out
}

pub fn decode(bytes: &[u8]) -> Result<Template, TemplateError> {
    let mut r = Reader { bytes, pos: 0 };
    let id = r.array4()?;
    if id != FORMAT_ID {
        return Err(TemplateError::FormatIdentifier(id));
    }
    let version = r.array4()?;
    if version != VERSION {
        return Err(TemplateError::Version(version));
    }
    let declared = r.u32()?;
    if declared as usize != bytes.len() {
        return Err(TemplateError::Length {
            declared,
            actual: bytes.len(),
        });
    }
    let equipment = r.u16()?;
    let width = r.u16()?;
    let height = r.u16()?;
    let resolution_x = r.u16()?;
    let resolution_y = r.u16()?;
    if resolution_x == 0 || resolution_y == 0 {
        return Err(invalid("resolution", resolution_x.min(resolution_y)));
    }
    let views = r.u8()?;
    let _reserved = r.u8()?;
    if views == 0 {
        return Err(TemplateError::NoView);
    }
    let mut first: Option<Template> = None;
    for _ in 0..views {
        let finger_position = r.u8()?;
        if finger_position > 10 {
            return Err(invalid("finger position", finger_position));
        }
        let vi = r.u8()?;
        let (view_number, impression_type) = (vi >> 4, vi & 0x0f);
        if impression_type > 3 && impression_type != 8 {
            return Err(invalid("impression type", impression_type));
        }
        let finger_quality = r.u8()?;
        if finger_quality > 100 {
            return Err(invalid("finger quality", finger_quality));
        }
        let count = r.u8()? as usize;
        let mut minutiae = Vec::with_capacity(count);
        for _ in 0..count {
            let tx = r.u16()?;
            let y = r.u16()? & 0x3fff;
            let angle = r.u8()?;
            let quality = r.u8()?;
            let kind = match tx >> 14 {
                0 => MinutiaKind::Other,
                1 => MinutiaKind::Ending,
                2 => MinutiaKind::Bifurcation,
                k => return Err(invalid("minutia type", k)),
            };
            if quality > 100 {
                return Err(invalid("minutia quality", quality));
            }
            minutiae.push(Minutia {
                x: tx & 0x3fff,
                y,
                angle,
                kind,
                quality,
            });
        }
        let extended = r.u16()? as usize;
        r.take(extended)?;
        if first.is_none() {
            first = Some(Template {
                width,
                height,
                resolution_x,
                resolution_y,
                equipment_certification: (equipment >> 12) as u8,
                capture_device_type: equipment & 0x0fff,
                finger_position,
                view_number,
                impression_type,
                finger_quality,
                minutiae,
            });
        }
    }
    if r.pos != bytes.len() {
        return Err(TemplateError::Length {
            declared,
            actual: r.pos,
        });
    }
    first.ok_or(TemplateError::NoView)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Template {
        Template {
            width: 416,
            height: 500,
            resolution_x: 197,
            resolution_y: 197,
            equipment_certification: 0,
            capture_device_type: 0x123,
            finger_position: 2,
            view_number: 0,
            impression_type: 0,
            finger_quality: 77,
            minutiae: vec![
                Minutia {
                    x: 10,
                    y: 20,
                    angle: 0,
                    kind: MinutiaKind::Ending,
                    quality: 80,
                },
                Minutia {
                    x: 16383,
                    y: 499,
                    angle: 255,
                    kind: MinutiaKind::Bifurcation,
                    quality: 1,
                },
                Minutia {
                    x: 200,
                    y: 0,
                    angle: 128,
                    kind: MinutiaKind::Other,
                    quality: 0,
                },
            ],
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let t = sample();
        let bytes = encode(&t);
        assert_eq!(&bytes[..4], b"FMR\0");
        assert_eq!(&bytes[4..8], b" 20\0");
        assert_eq!(
            u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            bytes.len()
        );
        assert_eq!(bytes.len(), 24 + 4 + 3 * 6 + 2);
        assert_eq!(decode(&bytes).unwrap(), t);
    }

    #[test]
    fn field_layout_matches_the_standard() {
        let bytes = encode(&sample());
        assert_eq!(&bytes[12..14], &[0x01, 0x23]); // certification 0, device type 0x123
        assert_eq!(&bytes[14..16], &416u16.to_be_bytes());
        assert_eq!(&bytes[18..20], &197u16.to_be_bytes());
        assert_eq!(bytes[22], 1); // views
        assert_eq!(&bytes[24..28], &[2, 0x00, 77, 3]);
        // First minutia: type 01 in the top two bits of x.
        assert_eq!(&bytes[28..34], &[0x40, 10, 0, 20, 0, 80]);
        assert_eq!(&bytes[34..36], &[0xbf, 0xff]);
    }

    #[test]
    fn rejects_malformed_records_without_panicking() {
        let good = encode(&sample());
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(
            decode(&bad),
            Err(TemplateError::FormatIdentifier(_))
        ));
        let mut bad = good.clone();
        bad[5] = b'3';
        assert!(matches!(decode(&bad), Err(TemplateError::Version(_))));
        let mut bad = good.clone();
        bad.push(0);
        assert!(matches!(decode(&bad), Err(TemplateError::Length { .. })));
        let mut bad = good.clone();
        bad[28] |= 0xc0; // minutia type 3 is reserved
        assert!(matches!(
            decode(&bad),
            Err(TemplateError::Field {
                field: "minutia type",
                ..
            })
        ));
        let mut bad = good.clone();
        bad[27] = 200; // more minutiae than the record holds
        assert!(decode(&bad).is_err());
        let mut bad = good;
        bad[22] = 0;
        assert_eq!(decode(&bad), Err(TemplateError::NoView));
        // Arbitrary bytes behind a valid header prefix.
        let mut state = 12345u32;
        for len in 0..200 {
            let mut v = b"FMR\0 20\0".to_vec();
            v.extend_from_slice(&((len + 12) as u32).to_be_bytes());
            for _ in 0..len {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push((state >> 16) as u8);
            }
            let _ = decode(&v);
        }
    }

    #[test]
    fn reads_extended_data_and_extra_views() {
        let mut bytes = encode(&sample());
        // Second view with no minutiae and 3 bytes of extended data.
        bytes[22] = 2;
        bytes.extend_from_slice(&[3, 0x10, 50, 0, 0, 3, 9, 9, 9]);
        let len = bytes.len() as u32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap(), sample());
    }
}

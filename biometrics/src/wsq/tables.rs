//! WSQ marker segments: SOI/EOI, the frame header (SOF), block headers (SOB), the transform
//! (DTT), quantisation (DQT) and Huffman (DHT) tables, and comments (COM).

use super::bitstream::{put_u16, put_u32, ByteReader};
use super::huffman::{HuffmanTable, MAX_CODE_LEN};
use super::quant::BinWidths;
use super::WsqError;

pub(crate) const SOI: u16 = 0xFFA0;
pub(crate) const EOI: u16 = 0xFFA1;
pub(crate) const SOF: u16 = 0xFFA2;
pub(crate) const SOB: u16 = 0xFFA3;
pub(crate) const DTT: u16 = 0xFFA4;
pub(crate) const DQT: u16 = 0xFFA5;
pub(crate) const DHT: u16 = 0xFFA6;
pub(crate) const COM: u16 = 0xFFA8;

/// Huffman table slots a stream may define.
pub(crate) const HUFFMAN_SLOTS: usize = 8;
/// Encoder identification written in the frame header (the standard's value for WSQ 3.1).
const ENCODER_NUMBER: u8 = 2;

/// The frame header: image size and the affine map from coefficients back to pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Frame {
    pub width: u16,
    pub height: u16,
    pub m_shift: f32,
    pub r_scale: f32,
}

/// Decodes a value transmitted as `raw / 10^scale`, dividing step by step in single precision
/// as the reference decoder does so both land on the same float.
pub(crate) fn from_scaled(scale: u8, raw: u32) -> f32 {
    let mut v = raw as f32;
    for _ in 0..scale {
        v /= 10.0;
    }
    v
}

/// Represents a non-negative `v` as `raw / 10^scale` with the most digits that fit below
/// `limit`, or `None` when `v` itself does not fit.
fn to_scaled(v: f64, limit: f64) -> Option<(u8, u32)> {
    if !(v.is_finite() && v >= 0.0 && v < limit) {
        return None;
    }
    if v == 0.0 {
        return Some((0, 0));
    }
    let mut scale = 0i32;
    while scale < 250 && v * 10f64.powi(scale + 1) < limit {
        scale += 1;
    }
    Some((scale as u8, (v * 10f64.powi(scale)).round() as u32))
}

/// Rounds `v` to what the 16-bit scaled form carries, or `None` if it cannot be sent.
pub(crate) fn representable_u16(v: f32) -> Option<f32> {
    to_scaled(f64::from(v), 65535.0).map(|(s, r)| from_scaled(s, r))
}

fn put_scaled_u16(out: &mut Vec<u8>, v: f32) -> Result<(), WsqError> {
    let (scale, raw) = to_scaled(f64::from(v), 65535.0)
        .ok_or_else(|| WsqError::InvalidInput(format!("value {v} too large for a WSQ table")))?;
    out.push(scale);
    put_u16(out, raw as u16);
    Ok(())
}

fn get_scaled_u16(r: &mut ByteReader) -> Result<f32, WsqError> {
    let scale = r.u8()?;
    let raw = r.u16()?;
    Ok(from_scaled(scale, u32::from(raw)))
}

fn put_segment(out: &mut Vec<u8>, marker: u16, body: &[u8]) -> Result<(), WsqError> {
    let len = u16::try_from(body.len() + 2)
        .map_err(|_| WsqError::InvalidInput("marker segment longer than 65535 bytes".into()))?;
    put_u16(out, marker);
    put_u16(out, len);
    out.extend_from_slice(body);
    Ok(())
}

/// Reads a marker segment's length field and returns its body.
pub(crate) fn segment_body<'a>(r: &mut ByteReader<'a>, marker: u16) -> Result<&'a [u8], WsqError> {
    let len = r.u16()?;
    if len < 2 {
        return Err(WsqError::Malformed(format!(
            "segment {marker:04X} with length {len}"
        )));
    }
    r.bytes(usize::from(len) - 2)
}

pub(crate) fn write_frame(out: &mut Vec<u8>, frame: &Frame) -> Result<(), WsqError> {
    let mut body = vec![0, 255];
    put_u16(&mut body, frame.height);
    put_u16(&mut body, frame.width);
    put_scaled_u16(&mut body, frame.m_shift)?;
    put_scaled_u16(&mut body, frame.r_scale)?;
    body.push(ENCODER_NUMBER);
    put_u16(&mut body, 0);
    put_segment(out, SOF, &body)
}

pub(crate) fn read_frame(body: &[u8]) -> Result<Frame, WsqError> {
    let mut r = ByteReader::new(body);
    let _black = r.u8()?;
    let _white = r.u8()?;
    let height = r.u16()?;
    let width = r.u16()?;
    let m_shift = get_scaled_u16(&mut r)?;
    let r_scale = get_scaled_u16(&mut r)?;
    // Encoder number and software id follow; they do not affect decoding.
    Ok(Frame {
        width,
        height,
        m_shift,
        r_scale,
    })
}

/// Writes the analysis filters (centre tap first, symmetric) as the transform table.
pub(crate) fn write_transform(
    out: &mut Vec<u8>,
    low: &[f32],
    high: &[f32],
) -> Result<(), WsqError> {
    let mut body = vec![(2 * low.len() - 1) as u8, (2 * high.len() - 1) as u8];
    for &c in low.iter().chain(high) {
        let (scale, raw) = to_scaled(f64::from(c.abs()), 4_294_967_295.0)
            .ok_or_else(|| WsqError::InvalidInput(format!("filter tap {c} out of range")))?;
        body.push(u8::from(c < 0.0));
        body.push(scale);
        put_u32(&mut body, raw);
    }
    put_segment(out, DTT, &body)
}

/// Reads the transform table: the halves (centre first) of the lowpass and highpass filters.
pub(crate) fn read_transform(body: &[u8]) -> Result<(Vec<f32>, Vec<f32>), WsqError> {
    let mut r = ByteReader::new(body);
    let low_len = r.u8()?;
    let high_len = r.u8()?;
    if low_len % 2 == 0 || high_len % 2 == 0 {
        return Err(WsqError::Unsupported(format!(
            "even-length transform filters ({low_len}/{high_len} taps)"
        )));
    }
    let mut half = |taps: u8| -> Result<Vec<f32>, WsqError> {
        (0..taps.div_ceil(2))
            .map(|_| {
                let negative = r.u8()? != 0;
                let scale = r.u8()?;
                let v = from_scaled(scale, r.u32()?);
                Ok(if negative { -v } else { v })
            })
            .collect()
    };
    let low = half(low_len)?;
    let high = half(high_len)?;
    Ok((low, high))
}

pub(crate) fn write_quantization(
    out: &mut Vec<u8>,
    bins: &BinWidths,
    bin_center: f32,
) -> Result<(), WsqError> {
    let mut body = Vec::with_capacity(3 + 64 * 6);
    put_scaled_u16(&mut body, bin_center)?;
    for k in 0..64 {
        put_scaled_u16(&mut body, bins.q[k])?;
        put_scaled_u16(&mut body, bins.z[k])?;
    }
    put_segment(out, DQT, &body)
}

/// Reads the quantisation table: bin widths per subband and the bin centre.
pub(crate) fn read_quantization(body: &[u8]) -> Result<(BinWidths, f32), WsqError> {
    let mut r = ByteReader::new(body);
    let center = get_scaled_u16(&mut r)?;
    let mut bins = BinWidths {
        q: [0.0; 64],
        z: [0.0; 64],
    };
    for k in 0..64 {
        bins.q[k] = get_scaled_u16(&mut r)?;
        bins.z[k] = get_scaled_u16(&mut r)?;
    }
    Ok((bins, center))
}

pub(crate) fn write_huffman(
    out: &mut Vec<u8>,
    id: u8,
    table: &HuffmanTable,
) -> Result<(), WsqError> {
    let mut body = Vec::with_capacity(1 + MAX_CODE_LEN + table.symbols.len());
    body.push(id);
    body.extend_from_slice(&table.counts);
    body.extend_from_slice(&table.symbols);
    put_segment(out, DHT, &body)
}

/// Reads one DHT segment, which may define several tables.
pub(crate) fn read_huffman(body: &[u8]) -> Result<Vec<(usize, HuffmanTable)>, WsqError> {
    let mut r = ByteReader::new(body);
    let mut tables = Vec::new();
    while r.remaining() > 0 {
        let id = usize::from(r.u8()?);
        if id >= HUFFMAN_SLOTS {
            return Err(WsqError::Malformed(format!("Huffman table id {id}")));
        }
        let mut counts = [0u8; MAX_CODE_LEN];
        counts.copy_from_slice(r.bytes(MAX_CODE_LEN)?);
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = r.bytes(n)?.to_vec();
        let table = HuffmanTable { counts, symbols };
        table.validate()?;
        tables.push((id, table));
    }
    if tables.is_empty() {
        return Err(WsqError::Malformed("empty Huffman table segment".into()));
    }
    Ok(tables)
}

pub(crate) fn write_block_header(out: &mut Vec<u8>, table_id: u8) -> Result<(), WsqError> {
    put_segment(out, SOB, &[table_id])
}

pub(crate) fn read_block_header(body: &[u8]) -> Result<usize, WsqError> {
    let id = usize::from(ByteReader::new(body).u8()?);
    if id >= HUFFMAN_SLOTS {
        return Err(WsqError::Malformed(format!(
            "block uses Huffman table {id}"
        )));
    }
    Ok(id)
}

pub(crate) fn write_comment(out: &mut Vec<u8>, text: &[u8]) -> Result<(), WsqError> {
    put_segment(out, COM, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_values_keep_five_digits() {
        assert_eq!(to_scaled(127.25, 65535.0), Some((2, 12725)));
        assert_eq!(to_scaled(0.44, 65535.0), Some((5, 44000)));
        assert_eq!(to_scaled(0.0, 65535.0), Some((0, 0)));
        assert_eq!(to_scaled(70000.0, 65535.0), None);
        assert!((from_scaled(4, 9980) - 0.998).abs() < 1e-7);
    }

    #[test]
    fn frame_round_trips() {
        let frame = Frame {
            width: 500,
            height: 417,
            m_shift: 171.5,
            r_scale: 1.3359,
        };
        let mut out = Vec::new();
        write_frame(&mut out, &frame).unwrap();
        assert_eq!(&out[..4], &[0xFF, 0xA2, 0x00, 0x11]);
        let back = read_frame(&out[4..]).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn transform_table_matches_the_reference_layout() {
        use crate::wsq::wavelet::{HIGHPASS_HALF, LOWPASS_HALF};
        let mut out = Vec::new();
        write_transform(&mut out, &LOWPASS_HALF, &HIGHPASS_HALF).unwrap();
        // Marker, length 58, 9 lowpass and 7 highpass taps.
        assert_eq!(&out[..6], &[0xFF, 0xA4, 0x00, 58, 9, 7]);
        assert_eq!(out.len(), 60);
        let (low, high) = read_transform(&out[4..]).unwrap();
        for (a, b) in low
            .iter()
            .zip(&LOWPASS_HALF)
            .chain(high.iter().zip(&HIGHPASS_HALF))
        {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn quantization_table_round_trips() {
        let mut bins = BinWidths {
            q: [0.0; 64],
            z: [0.0; 64],
        };
        bins.q[3] = 1.234_56;
        bins.z[3] = 1.481_47;
        let mut out = Vec::new();
        write_quantization(&mut out, &bins, 0.44).unwrap();
        assert_eq!(&out[..4], &[0xFF, 0xA5, 0x01, 0x85]);
        let (back, center) = read_quantization(&out[4..]).unwrap();
        assert!((center - 0.44).abs() < 1e-7);
        assert!((back.q[3] - 1.2346).abs() < 1e-6);
        assert_eq!(back.q[4], 0.0);
    }

    #[test]
    fn huffman_segment_rejects_bad_ids_and_short_data() {
        let mut body = vec![9u8];
        body.extend([0u8; 16]);
        assert!(read_huffman(&body).is_err());
        let mut body = vec![0u8, 2];
        body.extend([0u8; 15]);
        body.push(5); // promises two symbols, holds one
        assert!(read_huffman(&body).is_err());
    }
}

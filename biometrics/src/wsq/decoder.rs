//! The WSQ decoder: walks the marker segments, Huffman-decodes the blocks into one coefficient
//! stream, then dequantises, reconstructs and maps back to 8-bit pixels.

use image::GrayImage;

use super::bitstream::{take_entropy_segment, ByteReader};
use super::huffman::Decoder;
use super::quant::{self, BinWidths};
use super::tables::{self, Frame, COM, DHT, DQT, DTT, EOI, HUFFMAN_SLOTS, SOB, SOF, SOI};
use super::wavelet::{FilterBank, Layout};
use super::{check_dimensions, nistcom, WsqError, WsqHeader, MIN_DECODE_DIMENSION};

/// Tables in force while walking the stream.
#[derive(Default)]
struct State {
    transform: Option<(Vec<f32>, Vec<f32>)>,
    quant: Option<(BinWidths, f32)>,
    huffman: [Option<Decoder>; HUFFMAN_SLOTS],
    nistcom: Option<nistcom::NistCom>,
    /// Set at the first block; like NBIS, only comments before it can carry the NIST_COM.
    in_data: bool,
}

impl State {
    fn table_segment(&mut self, marker: u16, r: &mut ByteReader) -> Result<(), WsqError> {
        let body = tables::segment_body(r, marker)?;
        match marker {
            DTT => self.transform = Some(tables::read_transform(body)?),
            DQT => self.quant = Some(tables::read_quantization(body)?),
            DHT => {
                for (id, table) in tables::read_huffman(body)? {
                    self.huffman[id] = Some(Decoder::new(&table)?);
                }
            }
            COM => {
                if self.nistcom.is_none() && !self.in_data {
                    self.nistcom = nistcom::parse(body);
                }
            }
            other => {
                return Err(WsqError::Malformed(format!(
                    "unexpected marker {other:04X}"
                )))
            }
        }
        Ok(())
    }
}

fn marker(r: &mut ByteReader) -> Result<u16, WsqError> {
    let at = r.position();
    let m = r.u16()?;
    if (m & 0xFF00) != 0xFF00 {
        return Err(WsqError::Malformed(format!(
            "expected a marker at byte {at}, found {m:04X}"
        )));
    }
    Ok(m)
}

/// Reads the SOI and the tables up to and including the frame header.
fn read_to_frame(r: &mut ByteReader, state: &mut State) -> Result<Frame, WsqError> {
    if marker(r)? != SOI {
        return Err(WsqError::Malformed("missing start-of-image marker".into()));
    }
    loop {
        match marker(r)? {
            SOF => return tables::read_frame(tables::segment_body(r, SOF)?),
            m @ (DTT | DQT | DHT | COM) => state.table_segment(m, r)?,
            other => {
                return Err(WsqError::Malformed(format!(
                    "unexpected marker {other:04X} before frame"
                )))
            }
        }
    }
}

pub(crate) fn parse_header(data: &[u8]) -> Result<WsqHeader, WsqError> {
    let mut r = ByteReader::new(data);
    let mut state = State::default();
    let frame = read_to_frame(&mut r, &mut state)?;
    // The NIST comment may also sit between the frame header and the first block.
    while state.nistcom.is_none() {
        match marker(&mut r)? {
            m @ (DTT | DQT | DHT | COM) => state.table_segment(m, &mut r)?,
            _ => break,
        }
    }
    let com = state.nistcom.unwrap_or_default();
    Ok(WsqHeader {
        width: frame.width,
        height: frame.height,
        ppi: com.ppi,
        bitrate: com.bitrate,
    })
}

pub(crate) fn decode(data: &[u8]) -> Result<(GrayImage, Option<u16>), WsqError> {
    let mut r = ByteReader::new(data);
    let mut state = State::default();
    let frame = read_to_frame(&mut r, &mut state)?;
    let (width, height) = check_dimensions(
        u32::from(frame.width),
        u32::from(frame.height),
        MIN_DECODE_DIMENSION,
    )
    .map_err(WsqError::Malformed)?;
    let layout = Layout::new(usize::from(width), usize::from(height));

    let mut symbols: Vec<i16> = Vec::new();
    let mut segment = Vec::new();
    let mut cap = None;
    let mut blocks = 0usize;
    loop {
        match marker(&mut r)? {
            EOI => break,
            SOB => {
                state.in_data = true;
                let id = tables::read_block_header(tables::segment_body(&mut r, SOB)?)?;
                let decoder = state.huffman[id].as_ref().ok_or_else(|| {
                    WsqError::Malformed(format!("block uses undefined Huffman table {id}"))
                })?;
                // Fixed at the first block, from the quantisation table then in force.
                let limit = *cap.get_or_insert_with(|| match &state.quant {
                    Some((bins, _)) => quant::coded_len(&layout, bins),
                    None => layout.width * layout.height,
                });
                let used = take_entropy_segment(r.rest(), &mut segment);
                r.skip(used)?;
                decoder.decode_block(&segment, &mut symbols, limit)?;
                blocks += 1;
            }
            m @ (DTT | DQT | DHT | COM) => state.table_segment(m, &mut r)?,
            other => {
                return Err(WsqError::Malformed(format!(
                    "unexpected marker {other:04X}"
                )))
            }
        }
    }
    if blocks == 0 {
        return Err(WsqError::Malformed("no data blocks".into()));
    }
    let (low, high) = state
        .transform
        .ok_or_else(|| WsqError::Malformed("missing transform table".into()))?;
    let (bins, center) = state
        .quant
        .ok_or_else(|| WsqError::Malformed("missing quantization table".into()))?;
    let expected = quant::coded_len(&layout, &bins);
    if symbols.len() != expected {
        return Err(WsqError::Malformed(format!(
            "{} coefficients decoded, the tables call for {expected}",
            symbols.len()
        )));
    }

    let mut coeffs = quant::dequantize(&symbols, &layout, &bins, center);
    drop(symbols);
    FilterBank::from_halves(&low, &high)?.reconstruct(&mut coeffs, &layout);
    let pixels = coeffs
        .iter()
        .map(|&c| (c * frame.r_scale + frame.m_shift + 0.5).clamp(0.0, 255.0) as u8)
        .collect();
    let image = GrayImage::from_raw(u32::from(width), u32::from(height), pixels)
        .expect("buffer matches dimensions");
    Ok((image, state.nistcom.and_then(|c| c.ppi)))
}

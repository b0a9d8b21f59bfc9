//! The WSQ encoder pipeline: normalise pixels, decompose, allocate bits, quantise, build the
//! two Huffman tables and write the marker segments in the order NBIS does.

use image::GrayImage;

use super::huffman::{count_symbols, encode_block, HuffmanTable};
use super::quant::{self, BinWidths, BIN_CENTER};
use super::tables::{self, representable_u16, Frame, EOI, SOI};
use super::wavelet::{FilterBank, Layout, HIGHPASS_HALF, LOWPASS_HALF};
use super::{check_dimensions, nistcom, WsqError, MAX_BITRATE, MIN_DIMENSION};

pub(crate) fn encode(image: &GrayImage, ppi: u16, bitrate: f32) -> Result<Vec<u8>, WsqError> {
    if !(bitrate.is_finite() && bitrate > 0.0 && bitrate <= MAX_BITRATE) {
        return Err(WsqError::InvalidInput(format!(
            "bit rate {bitrate} outside (0, {MAX_BITRATE}] bits per pixel"
        )));
    }
    let (width, height) = check_dimensions(image.width(), image.height(), MIN_DIMENSION)
        .map_err(WsqError::InvalidInput)?;
    let layout = Layout::new(usize::from(width), usize::from(height));
    let pixels = image.as_raw();

    let (m_shift, r_scale) = shift_and_scale(pixels)?;
    let mut coeffs: Vec<f32> = pixels
        .iter()
        .map(|&p| (f32::from(p) - m_shift) / r_scale)
        .collect();
    FilterBank::standard().decompose(&mut coeffs, &layout);

    let variances = quant::subband_variances(&coeffs, &layout);
    let bins = transmittable(quant::allocate_bins(&variances, f64::from(bitrate)));
    let (symbols, block_len) = quant::quantize(&coeffs, &layout, &bins);
    drop(coeffs);

    let [b1, b2, b3] = block_len;
    let blocks = [
        &symbols[..b1],
        &symbols[b1..b1 + b2],
        &symbols[b1 + b2..b1 + b2 + b3],
    ];
    let mut freq_first = [0u64; 256];
    count_symbols(blocks[0], &mut freq_first);
    let mut freq_rest = [0u64; 256];
    count_symbols(blocks[1], &mut freq_rest);
    count_symbols(blocks[2], &mut freq_rest);
    let table_first = HuffmanTable::from_frequencies(&freq_first);
    let table_rest = HuffmanTable::from_frequencies(&freq_rest);

    let mut out = Vec::with_capacity(pixels.len() / 8 + 1024);
    out.extend_from_slice(&SOI.to_be_bytes());
    let ppi = (ppi > 0).then_some(ppi);
    tables::write_comment(
        &mut out,
        nistcom::build(width, height, ppi, bitrate).as_bytes(),
    )?;
    tables::write_transform(&mut out, &LOWPASS_HALF, &HIGHPASS_HALF)?;
    tables::write_quantization(&mut out, &bins, BIN_CENTER)?;
    tables::write_frame(
        &mut out,
        &Frame {
            width,
            height,
            m_shift,
            r_scale,
        },
    )?;
    tables::write_huffman(&mut out, 0, &table_first)?;
    tables::write_block_header(&mut out, 0)?;
    encode_block(blocks[0], &table_first, &mut out)?;
    tables::write_huffman(&mut out, 1, &table_rest)?;
    for block in &blocks[1..] {
        tables::write_block_header(&mut out, 1)?;
        encode_block(block, &table_rest, &mut out)?;
    }
    out.extend_from_slice(&EOI.to_be_bytes());
    tracing::debug!(width, height, bitrate, bytes = out.len(), "wsq encoded");
    Ok(out)
}

/// The mean and the scale that maps pixels into about ±128, both rounded to what the frame
/// header carries so the decoder undoes exactly the mapping that was applied.
fn shift_and_scale(pixels: &[u8]) -> Result<(f32, f32), WsqError> {
    let sum: u64 = pixels.iter().map(|&p| u64::from(p)).sum();
    let low = pixels.iter().copied().min().unwrap_or(0);
    let high = pixels.iter().copied().max().unwrap_or(0);
    let mean = (sum as f64 / pixels.len() as f64) as f32;
    let spread = (mean - f32::from(low)).max(f32::from(high) - mean) / 128.0;
    let m_shift = representable_u16(mean).expect("a pixel mean fits the header");
    // A flat image has no spread; any positive scale reproduces it exactly.
    let r_scale = representable_u16(spread)
        .filter(|&r| r > 0.0)
        .unwrap_or(1.0);
    Ok((m_shift, r_scale))
}

/// Rounds bin widths to their transmitted precision so the quantiser uses exactly the widths
/// the decoder will see; a subband whose widths cannot be sent is left uncoded.
fn transmittable(mut bins: BinWidths) -> BinWidths {
    for k in 0..64 {
        match (representable_u16(bins.q[k]), representable_u16(bins.z[k])) {
            (Some(q), Some(z)) if q > 0.0 => {
                bins.q[k] = q;
                bins.z[k] = z;
            }
            _ => {
                bins.q[k] = 0.0;
                bins.z[k] = 0.0;
            }
        }
    }
    bins
}

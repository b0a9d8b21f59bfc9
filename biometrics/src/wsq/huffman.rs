//! Huffman coding of quantised coefficients: the WSQ symbol alphabet (zero runs, small values,
//! escapes), length-limited code construction from counts, and a table-driven decoder.

use super::bitstream::{BitReader, BitWriter};
use super::WsqError;

/// Longest code a WSQ Huffman table can describe.
pub(crate) const MAX_CODE_LEN: usize = 16;
/// Symbols 1..=100 are zero runs of that length.
const MAX_SHORT_RUN: u32 = 100;
const ESC_POS_8: u8 = 101;
const ESC_NEG_8: u8 = 102;
const ESC_POS_16: u8 = 103;
const ESC_NEG_16: u8 = 104;
const ESC_RUN_8: u8 = 105;
const ESC_RUN_16: u8 = 106;
/// Coefficients in `-73..=74` are coded directly as `value + 180`.
const VALUE_OFFSET: i32 = 180;
const MAX_DIRECT: i32 = 74;
const MIN_DIRECT: i32 = -73;
/// Symbols in a table (the alphabet is one byte).
const ALPHABET: usize = 256;

/// One coded event: a Huffman symbol plus optional raw extra bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    symbol: u8,
    extra: u16,
    extra_len: u8,
}

fn run_event(run: u32) -> Event {
    debug_assert!((1..=0xFFFF).contains(&run));
    if run <= MAX_SHORT_RUN {
        Event {
            symbol: run as u8,
            extra: 0,
            extra_len: 0,
        }
    } else if run <= 0xFF {
        Event {
            symbol: ESC_RUN_8,
            extra: run as u16,
            extra_len: 8,
        }
    } else {
        Event {
            symbol: ESC_RUN_16,
            extra: run as u16,
            extra_len: 16,
        }
    }
}

fn value_event(v: i16) -> Event {
    let v = i32::from(v);
    let mag = v.unsigned_abs() as u16;
    if (MIN_DIRECT..=MAX_DIRECT).contains(&v) {
        Event {
            symbol: (v + VALUE_OFFSET) as u8,
            extra: 0,
            extra_len: 0,
        }
    } else if mag <= 0xFF {
        let symbol = if v > 0 { ESC_POS_8 } else { ESC_NEG_8 };
        Event {
            symbol,
            extra: mag,
            extra_len: 8,
        }
    } else {
        let symbol = if v > 0 { ESC_POS_16 } else { ESC_NEG_16 };
        Event {
            symbol,
            extra: mag,
            extra_len: 16,
        }
    }
}

/// Turns a block of coefficients into coding events: zero runs (at most 65535 long) and values.
fn for_each_event(block: &[i16], mut f: impl FnMut(Event)) {
    let mut run = 0u32;
    for &v in block {
        if v == 0 {
            run += 1;
            if run == 0xFFFF {
                f(run_event(run));
                run = 0;
            }
            continue;
        }
        if run > 0 {
            f(run_event(run));
            run = 0;
        }
        f(value_event(v));
    }
    if run > 0 {
        f(run_event(run));
    }
}

/// Adds the symbol frequencies of `block` to `counts`.
pub(crate) fn count_symbols(block: &[i16], counts: &mut [u64; ALPHABET]) {
    for_each_event(block, |e| counts[usize::from(e.symbol)] += 1);
}

/// A canonical Huffman table as transmitted: how many codes of each length, and the symbols
/// in code order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HuffmanTable {
    pub counts: [u8; MAX_CODE_LEN],
    pub symbols: Vec<u8>,
}

impl HuffmanTable {
    /// Builds an optimal code limited to 16 bits for the given symbol frequencies. One extra
    /// code point of the longest length is reserved so that no code consists of all ones.
    pub(crate) fn from_frequencies(freq: &[u64; ALPHABET]) -> Self {
        let used: Vec<usize> = (0..ALPHABET).filter(|&s| freq[s] > 0).collect();
        // The reserved point takes part as a symbol of frequency one, ordered after all others.
        let reserved = ALPHABET;
        let mut weights: Vec<(u64, usize)> = used.iter().map(|&s| (freq[s], s)).collect();
        weights.push((1, reserved));
        let lengths = huffman_lengths(&weights);

        // Histogram of lengths, then pull everything into 16 bits the way JPEG does: move
        // pairs of overlong codes up, each time splitting a shorter code to make room.
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let mut hist = vec![0u32; longest.max(MAX_CODE_LEN) + 1];
        for &l in &lengths {
            hist[l] += 1;
        }
        for i in (MAX_CODE_LEN + 1..hist.len()).rev() {
            while hist[i] > 0 {
                let mut j = i - 2;
                while hist[j] == 0 {
                    j -= 1;
                }
                hist[i] -= 2;
                hist[i - 1] += 1;
                hist[j + 1] += 2;
                hist[j] -= 1;
            }
        }
        // Assign lengths shortest-first in (original length, symbol) order; the reserved point
        // sorts last and so gets the last code of the longest length, which is then dropped.
        let mut order: Vec<(usize, usize)> = weights
            .iter()
            .zip(&lengths)
            .map(|(&(_, s), &l)| (l, s))
            .collect();
        order.sort_by_key(|&(l, s)| {
            if s == reserved {
                (usize::MAX, s)
            } else {
                (l, s)
            }
        });
        let mut counts = [0u8; MAX_CODE_LEN];
        for (len, &n) in hist.iter().enumerate().skip(1).take(MAX_CODE_LEN) {
            counts[len - 1] = n as u8;
        }
        if let Some(last) = counts.iter().rposition(|&c| c > 0) {
            counts[last] -= 1;
        }
        let symbols = order
            .iter()
            .filter(|&&(_, s)| s != reserved)
            .map(|&(_, s)| s as u8)
            .collect();
        Self { counts, symbols }
    }

    /// Code (right-aligned) and length for every symbol; length 0 means "no code".
    fn encoder_codes(&self) -> [(u16, u8); ALPHABET] {
        let mut codes = [(0u16, 0u8); ALPHABET];
        let mut code = 0u32;
        let mut syms = self.symbols.iter();
        for (i, &n) in self.counts.iter().enumerate() {
            for _ in 0..n {
                if let Some(&s) = syms.next() {
                    codes[usize::from(s)] = (code as u16, (i + 1) as u8);
                }
                code += 1;
            }
            code <<= 1;
        }
        codes
    }

    /// Checks that the table describes a prefix code over at most 256 distinct symbols.
    pub(crate) fn validate(&self) -> Result<(), WsqError> {
        let total: usize = self.counts.iter().map(|&c| usize::from(c)).sum();
        if total != self.symbols.len() || total > ALPHABET {
            return Err(WsqError::Malformed(format!(
                "Huffman table with {total} codes"
            )));
        }
        let mut code = 0u32;
        for (i, &n) in self.counts.iter().enumerate() {
            code += u32::from(n);
            if code > 1 << (i + 1) {
                return Err(WsqError::Malformed("over-subscribed Huffman table".into()));
            }
            code <<= 1;
        }
        Ok(())
    }
}

/// Code lengths of a Huffman tree over `weights` (frequency, symbol), in input order. Ties merge
/// the larger symbol first so the reserved point ends up among the deepest leaves.
fn huffman_lengths(weights: &[(u64, usize)]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = weights.len();
    if n == 1 {
        return vec![1];
    }
    // Heap entries: (weight, tie-break rank, node id); leaves are 0..n, merged nodes follow.
    let mut heap = BinaryHeap::with_capacity(n);
    for (i, &(w, s)) in weights.iter().enumerate() {
        heap.push(Reverse((w, usize::MAX - s, i)));
    }
    let mut parent = vec![usize::MAX; 2 * n - 1];
    let mut next = n;
    while heap.len() > 1 {
        let Reverse((w1, _, a)) = heap.pop().expect("two entries");
        let Reverse((w2, _, b)) = heap.pop().expect("two entries");
        parent[a] = next;
        parent[b] = next;
        heap.push(Reverse((w1 + w2, usize::MAX - ALPHABET - 1 - next, next)));
        next += 1;
    }
    (0..n)
        .map(|leaf| {
            let mut depth = 0;
            let mut node = leaf;
            while parent[node] != usize::MAX {
                node = parent[node];
                depth += 1;
            }
            depth
        })
        .collect()
}

/// Writes the coefficients of one block with `table`'s codes, padding the final byte.
pub(crate) fn encode_block(
    block: &[i16],
    table: &HuffmanTable,
    out: &mut Vec<u8>,
) -> Result<(), WsqError> {
    let codes = table.encoder_codes();
    let mut w = BitWriter::new(out);
    let mut missing = None;
    for_each_event(block, |e| {
        let (code, len) = codes[usize::from(e.symbol)];
        if len == 0 {
            missing = Some(e.symbol);
            return;
        }
        w.put(u32::from(code), u32::from(len));
        w.put(u32::from(e.extra), u32::from(e.extra_len));
    });
    w.finish();
    match missing {
        Some(s) => Err(WsqError::InvalidInput(format!(
            "no Huffman code for symbol {s}"
        ))),
        None => Ok(()),
    }
}

/// Bits resolved by one table lookup; longer codes take the slow path.
const FAST_BITS: u32 = 10;

/// Decoding tables for one [`HuffmanTable`].
pub(crate) struct Decoder {
    /// `(symbol, length)` indexed by the next FAST_BITS bits; length 0 = longer code.
    fast: Vec<(u8, u8)>,
    /// Per length: largest code (exclusive bound), first code, index of its first symbol.
    limit: [u32; MAX_CODE_LEN + 1],
    first: [u32; MAX_CODE_LEN + 1],
    offset: [usize; MAX_CODE_LEN + 1],
    symbols: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(table: &HuffmanTable) -> Result<Self, WsqError> {
        table.validate()?;
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut limit = [0u32; MAX_CODE_LEN + 1];
        let mut first = [0u32; MAX_CODE_LEN + 1];
        let mut offset = [0usize; MAX_CODE_LEN + 1];
        let mut code = 0u32;
        let mut index = 0usize;
        for len in 1..=MAX_CODE_LEN {
            let n = usize::from(table.counts[len - 1]);
            first[len] = code;
            offset[len] = index;
            limit[len] = code + n as u32;
            for i in 0..n {
                let c = code + i as u32;
                if len as u32 <= FAST_BITS {
                    let shift = FAST_BITS - len as u32;
                    for slot in (c << shift)..((c + 1) << shift) {
                        fast[slot as usize] = (table.symbols[index + i], len as u8);
                    }
                }
            }
            code = (code + n as u32) << 1;
            index += n;
        }
        Ok(Self {
            fast,
            limit,
            first,
            offset,
            symbols: table.symbols.clone(),
        })
    }

    /// The next symbol, or `None` when the remaining bits do not complete a code (the padding
    /// at the end of a block).
    #[inline]
    fn symbol(&self, r: &mut BitReader) -> Option<u8> {
        let bits = r.peek16();
        let (sym, len) = self.fast[(bits >> (16 - FAST_BITS)) as usize];
        if len > 0 {
            if u64::from(len) > r.bits_left() {
                return None;
            }
            r.consume(u32::from(len));
            return Some(sym);
        }
        for len in FAST_BITS as usize + 1..=MAX_CODE_LEN {
            let code = bits >> (16 - len);
            if code < self.limit[len] && code >= self.first[len] {
                if len as u64 > r.bits_left() {
                    return None;
                }
                r.consume(len as u32);
                return Some(self.symbols[self.offset[len] + (code - self.first[len]) as usize]);
            }
        }
        if r.bits_left() < MAX_CODE_LEN as u64 {
            return None;
        }
        // 16 bits that start no code: only possible with an incomplete table.
        Some(0)
    }

    /// Decodes one block's entropy-coded bytes, appending coefficients to `out` but never
    /// beyond `cap` of them.
    pub(crate) fn decode_block(
        &self,
        data: &[u8],
        out: &mut Vec<i16>,
        cap: usize,
    ) -> Result<(), WsqError> {
        let mut r = BitReader::new(data);
        let too_many = || WsqError::Malformed("more coefficients than the image holds".into());
        let truncated = || WsqError::Malformed("escape code cut off by a marker".into());
        while let Some(sym) = self.symbol(&mut r) {
            match sym {
                1..=100 | ESC_RUN_8 | ESC_RUN_16 => {
                    let run = match sym {
                        ESC_RUN_8 => r.read(8).ok_or_else(truncated)? as usize,
                        ESC_RUN_16 => r.read(16).ok_or_else(truncated)? as usize,
                        n => usize::from(n),
                    };
                    if out.len() + run > cap {
                        return Err(too_many());
                    }
                    out.resize(out.len() + run, 0);
                }
                ESC_POS_8 | ESC_NEG_8 | ESC_POS_16 | ESC_NEG_16 => {
                    let len = if sym == ESC_POS_8 || sym == ESC_NEG_8 {
                        8
                    } else {
                        16
                    };
                    // The reference decoder stores the raw bits in a 16-bit signed sample.
                    let mag = r.read(len).ok_or_else(truncated)? as u16 as i16;
                    let v = if sym == ESC_POS_8 || sym == ESC_POS_16 {
                        mag
                    } else {
                        mag.wrapping_neg()
                    };
                    if out.len() >= cap {
                        return Err(too_many());
                    }
                    out.push(v);
                }
                107..=254 => {
                    if out.len() >= cap {
                        return Err(too_many());
                    }
                    out.push((i32::from(sym) - VALUE_OFFSET) as i16);
                }
                other => {
                    return Err(WsqError::Malformed(format!(
                        "invalid Huffman symbol {other}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsq::bitstream::take_entropy_segment;

    fn round_trip(block: &[i16]) -> Vec<i16> {
        let mut freq = [0u64; ALPHABET];
        count_symbols(block, &mut freq);
        let table = HuffmanTable::from_frequencies(&freq);
        table.validate().unwrap();
        let mut bytes = Vec::new();
        encode_block(block, &table, &mut bytes).unwrap();
        let mut seg = Vec::new();
        assert_eq!(take_entropy_segment(&bytes, &mut seg), bytes.len());
        let mut out = Vec::new();
        Decoder::new(&table)
            .unwrap()
            .decode_block(&seg, &mut out, block.len())
            .unwrap();
        out
    }

    #[test]
    fn coefficients_and_runs_round_trip() {
        let mut block = vec![0i16; 70_000];
        block.extend([
            1, -1, 74, -73, 75, -74, 255, -255, 256, -256, 32767, -32767, 0, 0, 5,
        ]);
        block.extend(std::iter::repeat_n(0, 150));
        block.push(3);
        block.extend(std::iter::repeat_n(0, 100));
        assert_eq!(round_trip(&block), block);
    }

    #[test]
    fn single_symbol_and_empty_blocks() {
        assert_eq!(round_trip(&[7; 10]), vec![7; 10]);
        assert_eq!(round_trip(&[]), Vec::<i16>::new());
    }

    #[test]
    fn codes_are_limited_and_never_all_ones() {
        // Fibonacci-like frequencies force a very deep tree.
        let mut freq = [0u64; ALPHABET];
        let (mut a, mut b) = (1u64, 1u64);
        for f in freq.iter_mut().skip(107).take(40) {
            *f = a;
            (a, b) = (b, a + b);
        }
        let table = HuffmanTable::from_frequencies(&freq);
        table.validate().unwrap();
        assert_eq!(table.symbols.len(), 40);
        let codes = table.encoder_codes();
        for (s, &(code, len)) in codes.iter().enumerate().take(147).skip(107) {
            assert!((1..=16).contains(&len));
            assert_ne!(u32::from(code), (1u32 << len) - 1, "all-ones code for {s}");
        }
    }

    #[test]
    fn frequent_symbols_get_short_codes() {
        let mut freq = [0u64; ALPHABET];
        freq[1] = 1000;
        freq[181] = 10;
        freq[179] = 10;
        let codes = HuffmanTable::from_frequencies(&freq).encoder_codes();
        assert_eq!(codes[1].1, 1);
        assert!(codes[181].1 >= 2);
    }

    #[test]
    fn over_subscribed_table_is_rejected() {
        let mut counts = [0u8; MAX_CODE_LEN];
        counts[0] = 3;
        let t = HuffmanTable {
            counts,
            symbols: vec![1, 2, 3],
        };
        assert!(Decoder::new(&t).is_err());
    }

    #[test]
    fn decoder_caps_output() {
        let block = vec![0i16; 500];
        let mut freq = [0u64; ALPHABET];
        count_symbols(&block, &mut freq);
        let table = HuffmanTable::from_frequencies(&freq);
        let mut bytes = Vec::new();
        encode_block(&block, &table, &mut bytes).unwrap();
        let mut seg = Vec::new();
        take_entropy_segment(&bytes, &mut seg);
        let mut out = Vec::new();
        assert!(Decoder::new(&table)
            .unwrap()
            .decode_block(&seg, &mut out, 499)
            .is_err());
    }
}

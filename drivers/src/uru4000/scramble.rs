//! The U.are.U image scrambling: a 32-bit LFSR whose state comes from the device per key
//! number, XORed over the image bytes with a one-byte shift (`spec/devices.md` §1.2 step 6).

/// Feedback taps of the LFSR.
const TAPS: u32 = 0x9248_144d;
/// State bits that make up the XOR byte, bit 0 first.
const XOR_BITS: [u32; 8] = [4, 8, 11, 14, 18, 21, 24, 29];

/// One LFSR step: the parity of the tapped bits enters at bit 31.
pub fn step(key: u32) -> u32 {
    let parity = (key & TAPS).count_ones() & 1;
    (parity << 31) | (key >> 1)
}

/// Advances the LFSR `n` times (a block the device did not scramble still moves the key).
pub fn skip(mut key: u32, n: usize) -> u32 {
    for _ in 0..n {
        key = step(key);
    }
    key
}

fn xor_byte(key: u32) -> u8 {
    XOR_BITS
        .iter()
        .enumerate()
        .fold(0u8, |b, (i, &bit)| b | ((((key >> bit) & 1) as u8) << i))
}

/// Unscrambles one block in place and returns the key for the next block. Byte `i` of the
/// plain block is scrambled byte `i + 1`; the device's last plain byte is not sent, so it
/// becomes 0.
pub fn descramble(data: &mut [u8], mut key: u32) -> u32 {
    let Some(last) = data.len().checked_sub(1) else {
        return key;
    };
    for i in 0..last {
        let x = xor_byte(key);
        key = step(key);
        data[i] = data[i + 1] ^ x;
    }
    data[last] = 0;
    step(key)
}

/// What the device does to a block (the inverse of [`descramble`], for emulators and tests):
/// returns the scrambled bytes, whose first byte is `lead` (the host drops it), and the key for
/// the next block. The block's last plain byte is not carried.
pub fn scramble(plain: &[u8], mut key: u32, lead: u8) -> (Vec<u8>, u32) {
    let mut out = Vec::with_capacity(plain.len());
    let Some(last) = plain.len().checked_sub(1) else {
        return (out, key);
    };
    out.push(lead);
    for &p in &plain[..last] {
        let x = xor_byte(key);
        key = step(key);
        out.push(p ^ x);
    }
    (out, step(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lfsr_shifts_right_and_feeds_the_tap_parity_into_bit_31() {
        assert_eq!(step(0), 0);
        // Bit 0 is a tap: parity 1.
        assert_eq!(step(1), 0x8000_0000);
        // Bit 1 is not a tap.
        assert_eq!(step(2), 1);
        // Two taps cancel.
        assert_eq!(step(0b101), 0b10);
        assert_eq!(skip(1, 3), step(step(step(1))));
    }

    #[test]
    fn the_xor_byte_picks_eight_state_bits() {
        assert_eq!(xor_byte(1 << 4), 0x01);
        assert_eq!(xor_byte(1 << 29), 0x80);
        assert_eq!(xor_byte(!0), 0xff);
        assert_eq!(xor_byte(!((1 << 4) | (1 << 29))), 0x7e);
    }

    #[test]
    fn scrambling_round_trips_except_the_last_byte() {
        let plain: Vec<u8> = (0..768u32).map(|i| (i * 7 % 251) as u8).collect();
        let (mut wire, next) = scramble(&plain, 0x1234_5678, 0xaa);
        assert_ne!(wire[1..], plain[..767]);
        let after = descramble(&mut wire, 0x1234_5678);
        assert_eq!(after, next);
        assert_eq!(after, skip(0x1234_5678, 768));
        assert_eq!(wire[..767], plain[..767]);
        assert_eq!(wire[767], 0);
    }
}

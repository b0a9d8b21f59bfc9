//! Property tests: the AES3500 and U.are.U image parsers take any bytes a device (or a broken
//! cable) may send without panicking, and refuse what does not fit.

use drivers::aes3500::codec;
use drivers::uru4000::frame::{self, Frame, HEADER_LEN, WIDTH};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn aes3500_frames_of_any_length(data in prop::collection::vec(any::<u8>(), 0..9000)) {
        let decoded = codec::decode_frame(&data);
        prop_assert_eq!(decoded.is_ok(), data.len() == codec::FRAME_LEN);
        prop_assert_eq!(codec::strip_headers(&data).is_ok(), data.len() == codec::FRAME_LEN);
        if let Ok(raw) = decoded {
            prop_assert_eq!(codec::libfprint_image(&raw).dimensions(), (256, 256));
        }
    }

    #[test]
    fn aes3500_frames_of_the_right_length(data in prop::collection::vec(any::<u8>(), codec::FRAME_LEN)) {
        let raw = codec::decode_frame(&data).unwrap();
        // Every value is a 4-bit level spread to 8 bits.
        prop_assert!(raw.pixels().all(|p| p[0] % 17 == 0));
    }

    #[test]
    fn uru_transfers_of_random_bytes(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(mut f) = Frame::parse(&data) {
            let _ = f.is_scrambled();
            f.unscramble(|n| Ok::<_, ()>(u32::from(n) * 0x0101_0101)).unwrap();
            prop_assert_eq!(f.assemble().dimensions(), (384, 290));
        }
    }

    /// Random but plausible headers (line counts below the limit, any flags) over random data,
    /// so the block walk, the unscrambler and the assembly all run.
    #[test]
    fn uru_transfers_with_random_headers(
        num_lines in 0u16..300,
        key_number in any::<u8>(),
        blocks in prop::collection::vec((any::<u8>(), any::<u8>()), 15),
        extra in 0usize..2000,
        fill in any::<u8>(),
        short in any::<bool>(),
    ) {
        let mut data = vec![0u8; HEADER_LEN];
        data[4..6].copy_from_slice(&num_lines.to_le_bytes());
        data[6] = key_number;
        for (i, (flags, lines)) in blocks.iter().enumerate() {
            data[16 + 2 * i] = *flags;
            data[17 + 2 * i] = *lines;
        }
        let body = (usize::from(num_lines) * WIDTH).min(frame::FRAME_LEN - HEADER_LEN) + extra;
        let body = if short { body / 2 } else { body };
        data.extend((0..body).map(|i| fill.wrapping_add(i as u8)));
        if let Ok(mut f) = Frame::parse(&data) {
            prop_assert!(num_lines < 290);
            let mut keys = 0;
            f.unscramble(|_| { keys += 1; Ok::<_, ()>(0x1357_9bdf) }).unwrap();
            prop_assert!(keys <= 16);
            prop_assert_eq!(f.assemble().dimensions(), (384, 290));
        }
    }
}

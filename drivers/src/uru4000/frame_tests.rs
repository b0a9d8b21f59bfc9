//! Unit tests of the U.are.U frame codec.

use super::*;

fn header(num_lines: u16, blocks: &[(u8, u8)]) -> FrameHeader {
    let mut h = FrameHeader {
        num_lines,
        key_number: 3,
        blocks: [Block::default(); BLOCKS],
    };
    for (i, &(flags, lines)) in blocks.iter().enumerate() {
        h.blocks[i] = Block { flags, lines };
    }
    h
}

/// Smooth rows, like a real image: row r is a gentle ramp offset by r.
fn smooth_rows(n: usize) -> Vec<u8> {
    (0..n * WIDTH)
        .map(|i| ((i / WIDTH) as u8).wrapping_add((i % WIDTH / 8) as u8))
        .collect()
}

fn keys(n: u8) -> u32 {
    0x9e37_79b9u32.wrapping_mul(u32::from(n) + 1)
}

#[test]
fn the_header_round_trips() {
    let h = header(
        200,
        &[
            (flags::ENCRYPTED, 100),
            (flags::CHANGE_KEY | flags::ENCRYPTED, 100),
        ],
    );
    let bytes = h.encode();
    assert_eq!(&bytes[4..7], &[200, 0, 3]);
    assert_eq!(&bytes[16..20], &[0x02, 100, 0x82, 100]);
    assert_eq!(FrameHeader::decode(&bytes), h);
}

#[test]
fn a_plain_frame_assembles_row_for_row() {
    let h = header(289, &[(0, 200), (0, 89)]);
    let rows = smooth_rows(289);
    let frame = Frame::parse(&device_transfer(&h, &rows, keys)).unwrap();
    assert!(!frame.is_scrambled(), "deviation {}", frame.deviation());
    let img = frame.assemble();
    assert_eq!(img.dimensions(), (384, 290));
    assert_eq!(&img.as_raw()[..rows.len()], &rows[..]);
    // The 290th row was not sent.
    assert!(img.as_raw()[289 * WIDTH..].iter().all(|&p| p == 0));
}

#[test]
fn scrambled_frames_are_detected_and_unscrambled_across_key_changes() {
    let h = header(
        280,
        &[
            (flags::ENCRYPTED, 100),
            (0, 20),
            (flags::NO_KEY_UPDATE, 20),
            (flags::CHANGE_KEY | flags::ENCRYPTED, 140),
        ],
    );
    let rows = smooth_rows(280);
    let wire = device_transfer(&h, &rows, keys);
    let mut frame = Frame::parse(&wire).unwrap();
    assert!(frame.is_scrambled(), "deviation {}", frame.deviation());
    let mut asked = vec![];
    frame
        .unscramble(|n| {
            asked.push(n);
            Ok::<_, ()>(keys(n))
        })
        .unwrap();
    assert_eq!(asked, [3, 4]);
    let img = frame.assemble();
    let mut want = rows.clone();
    // The last byte of each scrambled block does not survive.
    want[100 * WIDTH - 1] = 0;
    want[280 * WIDTH - 1] = 0;
    assert_eq!(&img.as_raw()[..want.len()], &want[..]);
}

#[test]
fn a_wrong_key_leaves_noise() {
    let h = header(100, &[(flags::ENCRYPTED, 100)]);
    let rows = smooth_rows(100);
    let mut frame = Frame::parse(&device_transfer(&h, &rows, keys)).unwrap();
    frame.unscramble(|_| Ok::<_, ()>(0xdead_beef)).unwrap();
    assert_ne!(&frame.assemble().as_raw()[..WIDTH], &rows[..WIDTH]);
}

#[test]
fn not_present_blocks_repeat_the_current_rows() {
    let h = header(20, &[(0, 10), (flags::NOT_PRESENT, 5), (0, 10)]);
    let rows = smooth_rows(20);
    let img = Frame::parse(&device_transfer(&h, &rows, keys))
        .unwrap()
        .assemble();
    let raw = img.as_raw();
    assert_eq!(&raw[..10 * WIDTH], &rows[..10 * WIDTH]);
    assert_eq!(&raw[10 * WIDTH..15 * WIDTH], &rows[10 * WIDTH..15 * WIDTH]);
    assert_eq!(&raw[15 * WIDTH..25 * WIDTH], &rows[10 * WIDTH..20 * WIDTH]);
}

#[test]
fn bad_transfers_are_refused() {
    assert_eq!(
        Frame::parse(&[0; 10]).unwrap_err(),
        FrameError::NoHeader { got: 10 }
    );
    let too_many = header(290, &[(0, 200), (0, 90)]).encode();
    assert_eq!(
        Frame::parse(&too_many).unwrap_err(),
        FrameError::TooManyLines { lines: 290 }
    );
    let short = header(10, &[(0, 10)]).encode();
    assert_eq!(
        Frame::parse(&short).unwrap_err(),
        FrameError::Truncated {
            got: 64,
            need: 64 + 3840
        }
    );
    // A not-present block may not push the output past the frame.
    let mut over = header(10, &[(flags::NOT_PRESENT, 255), (0, 40)])
        .encode()
        .to_vec();
    over.resize(FRAME_LEN, 0);
    assert_eq!(
        Frame::parse(&over).unwrap_err(),
        FrameError::BlockOverrun { block: 1 }
    );
}

#[test]
fn finishing_inverts_and_turns_the_4500_only() {
    let raw = GrayImage::from_fn(384, 290, |x, y| {
        image::Luma([if x == 0 && y == 0 { 200 } else { 0 }])
    });
    let u4000 = finish(&raw, Model::Uru4000);
    assert_eq!(u4000.get_pixel(0, 0)[0], 55);
    assert_eq!(u4000.get_pixel(383, 289)[0], 255);
    let u4500 = finish(&raw, Model::Uru4000B);
    assert_eq!(u4500.get_pixel(383, 289)[0], 55);
    assert_eq!(u4500.get_pixel(0, 0)[0], 255);
}

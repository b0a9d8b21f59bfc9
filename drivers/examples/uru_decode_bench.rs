//! How long decoding a U.are.U frame takes (unscramble + assemble, and the final
//! inversion/turn) next to how long the 111,424-byte image transfer takes on the wire at USB
//! full speed, the device's own limit. Run with
//! `cargo run --release -p drivers --example uru_decode_bench`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use drivers::uru4000::frame::{self, flags, Block, Frame, FrameHeader, BLOCKS, FRAME_LEN, WIDTH};
use drivers::uru4000::Model;

/// Full-speed bulk: 64-byte packets, at most 19 of them in one 1 ms frame once token, handshake
/// and bit-stuffing overhead are paid (the practical maximum of 1,216 B/ms).
const PACKET: usize = 64;
const PACKETS_PER_MS: usize = 19;
const RAW_BITS_PER_SECOND: f64 = 12_000_000.0;

fn key(n: u8) -> u32 {
    0x6d2b_79f5u32.wrapping_mul(u32::from(n) + 1)
}

/// A worst-case frame: all 289 rows sent, all scrambled, with a key change half way.
fn scrambled_transfer() -> Vec<u8> {
    let mut blocks = [Block::default(); BLOCKS];
    blocks[0] = Block {
        flags: flags::ENCRYPTED,
        lines: 145,
    };
    blocks[1] = Block {
        flags: flags::CHANGE_KEY | flags::ENCRYPTED,
        lines: 144,
    };
    let header = FrameHeader {
        num_lines: 289,
        key_number: 1,
        blocks,
    };
    let rows: Vec<u8> = (0..289 * WIDTH)
        .map(|i| (96 + (i * 7 + i / WIDTH) % 64) as u8)
        .collect();
    frame::device_transfer(&header, &rows, key)
}

fn decode(transfer: &[u8]) -> image::GrayImage {
    let mut f = Frame::parse(transfer).expect("a valid frame");
    assert!(f.is_scrambled());
    f.unscramble(|n| Ok::<_, ()>(key(n))).expect("keys");
    frame::finish(&f.assemble(), Model::Uru4000B)
}

fn main() {
    let transfer = scrambled_transfer();
    // Warm up, then time enough runs for a stable median.
    for _ in 0..20 {
        black_box(decode(black_box(&transfer)));
    }
    let mut runs: Vec<Duration> = (0..300)
        .map(|_| {
            let start = Instant::now();
            black_box(decode(black_box(&transfer)));
            start.elapsed()
        })
        .collect();
    runs.sort();
    let median = runs[runs.len() / 2];
    let p95 = runs[runs.len() * 95 / 100];

    let packets = FRAME_LEN.div_ceil(PACKET);
    let wire_ms = packets.div_ceil(PACKETS_PER_MS) as f64;
    let raw_ms = FRAME_LEN as f64 * 8.0 / RAW_BITS_PER_SECOND * 1e3;

    println!("U.are.U frame: {FRAME_LEN} bytes, all 289 rows scrambled, one key change");
    println!(
        "decode (parse + detect + unscramble + assemble + invert/turn): median {:.3} ms, p95 {:.3} ms",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
    println!(
        "wire at USB full speed: {wire_ms:.1} ms ({packets} packets of {PACKET} B, {PACKETS_PER_MS} per 1 ms frame); \
         bare 12 Mbit/s bound {raw_ms:.1} ms"
    );
    println!(
        "decode / wire: {:.1}%",
        median.as_secs_f64() * 1e3 / wire_ms * 100.0
    );
}

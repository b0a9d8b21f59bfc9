//! Benchmark: a ZhianTec 256×288 image upload at 57 600 baud — the time its bytes take on the
//! wire (the module's own limit) next to the time our decode takes (packet parse + 4-bit
//! unpack), measured in the same run.
//!
//!   cargo run --release -p drivers --example zhiantec_upload

use std::time::{Duration, Instant};

use drivers::zhiantec::{
    Ack, Confirmation, Decoder, ImageUpload, Instruction, Packet, PacketKind, DEFAULT_ADDRESS,
};

const WIDTH: usize = 256;
const HEIGHT: usize = 288;
/// The factory data packet size (SysPara 6 = 2).
const PACKET_SIZE: usize = 128;
/// What the session reads from the port per call.
const READ_CHUNK: usize = 512;
const RUNS: usize = 300;

/// The bytes of one UpImage exchange as they cross the line: command, acknowledge, then the
/// data packets of a ridge-like synthetic image.
fn exchange() -> (Vec<u8>, Vec<u8>) {
    let mut host = Vec::new();
    Instruction::UpImage
        .packet(DEFAULT_ADDRESS, &[])
        .encode(&mut host)
        .unwrap();
    let mut module = Vec::new();
    Packet::new(DEFAULT_ADDRESS, PacketKind::Ack, vec![Confirmation::OK.0])
        .encode(&mut module)
        .unwrap();
    let packed: Vec<u8> = (0..WIDTH * HEIGHT / 2)
        .map(|i| {
            let (x, y) = ((2 * i) % WIDTH, (2 * i) / WIDTH);
            let ridge = |x: usize| (((x * x + 3 * x * y + y * y) / 97) % 16) as u8;
            (ridge(x) << 4) | ridge(x + 1)
        })
        .collect();
    let chunks: Vec<&[u8]> = packed.chunks(PACKET_SIZE).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i + 1 == chunks.len() {
            PacketKind::End
        } else {
            PacketKind::Data
        };
        Packet::new(DEFAULT_ADDRESS, kind, chunk.to_vec())
            .encode(&mut module)
            .unwrap();
    }
    (host, module)
}

/// What the session does with the module's bytes: frame them, check the acknowledge, gather
/// the data packets, unpack the image.
fn decode(module: &[u8]) -> drivers::FingerImage {
    let mut decoder = Decoder::new();
    let mut upload = ImageUpload::new();
    let mut acked = false;
    for piece in module.chunks(READ_CHUNK) {
        decoder.push(piece);
        while let Some(packet) = decoder.next_packet() {
            let packet = packet.expect("valid packet");
            if !acked {
                acked = Ack::from_packet(&packet).expect("acknowledge").code == Confirmation::OK;
                continue;
            }
            if upload.push(&packet).expect("data packet") {
                return upload.finish().expect("image");
            }
        }
    }
    panic!("upload ended early");
}

fn wire_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(baud))
}

fn main() {
    let (host, module) = exchange();
    let bytes = host.len() + module.len();
    let image = decode(&module);
    assert_eq!(
        (image.image.width(), image.image.height()),
        (WIDTH as u32, HEIGHT as u32)
    );

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(decode(std::hint::black_box(&module)));
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2];
    let wire = wire_time(bytes, 57_600);

    println!("ZhianTec UpImage, {WIDTH}x{HEIGHT} at 4 bits/pixel, {PACKET_SIZE}-byte data packets");
    println!(
        "  on the wire at 57600 baud : {bytes} bytes ({} packets incl. command and ack, 8N1) = {:.1} ms",
        2 + WIDTH * HEIGHT / 2 / PACKET_SIZE,
        wire.as_secs_f64() * 1e3
    );
    println!(
        "  decode (parse + unpack)   : {:.3} ms median of {RUNS} (min {:.3} ms, max {:.3} ms)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3
    );
    println!(
        "  decode is {:.4}% of the wire time ({:.0}x faster); at 115200 baud the wire takes {:.1} ms",
        median.as_secs_f64() / wire.as_secs_f64() * 100.0,
        wire.as_secs_f64() / median.as_secs_f64(),
        wire_time(bytes, 115_200).as_secs_f64() * 1e3
    );
}

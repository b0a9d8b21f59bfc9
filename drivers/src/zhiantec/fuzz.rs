//! The codec's fuzz body, shared by the cargo-fuzz target (`drivers/fuzz`) and a normal test
//! that runs it over many pseudo-random and mutated streams.

use super::command::Ack;
use super::image::{unpack_4bit, ImageUpload};
use super::packet::{decode, Decoder};
use super::syspara::SystemParameters;

/// Runs `data` through every decoding path and panics when an invariant breaks. The first
/// byte picks the chunk size the stream is fed in; the rest is the stream.
pub fn fuzz_codec(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);

    if let Ok((packet, used)) = decode(stream) {
        assert_eq!(
            packet.to_bytes().expect("a decoded packet encodes"),
            stream[..used]
        );
    }

    let mut decoder = Decoder::new();
    let mut upload = ImageUpload::new();
    let mut in_packets = 0;
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        while let Some(result) = decoder.next_packet() {
            let Ok(packet) = result else { continue };
            let bytes = packet.to_bytes().expect("a decoded packet encodes");
            assert_eq!(decode(&bytes), Ok((packet.clone(), bytes.len())));
            in_packets += bytes.len();
            if let Some(ack) = Ack::from_packet(&packet) {
                let _ = SystemParameters::parse(&ack.params);
            }
            let _ = upload.push(&packet);
        }
    }
    // Every byte is in a packet, was dropped, or waits for more.
    assert_eq!(
        in_packets + decoder.discarded() + decoder.buffered(),
        stream.len()
    );
    while decoder.skip_stalled() {
        while decoder.next_packet().is_some() {}
    }
    assert_eq!(decoder.buffered(), 0);
    if upload.is_done() {
        let _ = upload.finish();
    }

    let width = (chunk as u32) & !1;
    if width > 0 {
        let height = (stream.len() * 2 / width as usize) as u32;
        let _ = unpack_4bit(stream, width, height);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zhiantec::packet::{Packet, PacketKind, DEFAULT_ADDRESS};

    /// xorshift64*: deterministic, dependency-free noise.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn valid_stream(noise: &mut Noise) -> Vec<u8> {
        let mut out = vec![noise.next() as u8];
        for _ in 0..1 + noise.below(6) {
            let kind = [
                PacketKind::Command,
                PacketKind::Data,
                PacketKind::Ack,
                PacketKind::End,
            ][noise.below(4)];
            let content: Vec<u8> = (0..noise.below(260)).map(|_| noise.next() as u8).collect();
            let content = if content.len() > 256 {
                content[..17].to_vec()
            } else {
                content
            };
            Packet::new(DEFAULT_ADDRESS, kind, content)
                .encode(&mut out)
                .unwrap();
            if noise.below(3) == 0 {
                out.extend((0..noise.below(8)).map(|_| [0xEF, 0x01, 0x55, 0x00][noise.below(4)]));
            }
        }
        out
    }

    #[test]
    fn the_fuzz_body_holds_on_random_and_mutated_streams() {
        let mut noise = Noise(0x5EED_2026);
        for _ in 0..20_000 {
            let len = noise.below(600);
            let random: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
            fuzz_codec(&random);
            let mut stream = valid_stream(&mut noise);
            fuzz_codec(&stream);
            for _ in 0..1 + noise.below(4) {
                let at = noise.below(stream.len());
                match noise.below(3) {
                    0 => stream[at] ^= 1 << noise.below(8),
                    1 => {
                        stream.remove(at);
                    }
                    _ => stream.insert(at, noise.next() as u8),
                }
                if stream.is_empty() {
                    break;
                }
            }
            fuzz_codec(&stream);
        }
    }
}

//! Fuzzes the ZhianTec codec: any byte stream, fed in any chunking, yields packets or errors,
//! never a panic; every packet decoded re-encodes to the bytes it came from.
#![no_main]

use drivers::zhiantec::fuzz_codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzz_codec(data));

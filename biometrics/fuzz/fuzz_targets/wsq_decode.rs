//! Fuzzes the WSQ decoder and header reader: any input must yield an image or an error, never
//! a panic, and a decoded image must match the header's size.
#![no_main]

use biometrics::wsq;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let header = wsq::read_header(data);
    if let Ok((img, ppi)) = wsq::decode(data) {
        let header = header.expect("a decodable stream has a readable header");
        assert_eq!(
            (img.width(), img.height()),
            (u32::from(header.width), u32::from(header.height))
        );
        assert_eq!(ppi, header.ppi);
    }
});

//! WSQ speed: encode and decode of a 500×500 synthetic print at 0.75 bpp, our codec next to
//! NIST NBIS timed in the same run through the helper in `SPIDD_WSQ_NBIS`.
//!
//! `scripts/wsq-interop.sh --bench`, or with the variable set:
//! `cargo run --release -p biometrics --example wsq_bench [iterations]`

#[path = "../tests/wsq_support/mod.rs"]
mod wsq_support;

use std::time::Instant;

use biometrics::wsq;
use wsq_support::{field, psnr, scratch_dir, synthetic_print, write_pgm, Nbis, HELPER_ENV};

fn millis_per_run(iterations: u32, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations)
}

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let img = synthetic_print(500, 500, 1);
    let data = wsq::encode(&img, 500, 0.75).expect("encode");
    let (back, _) = wsq::decode(&data).expect("decode");
    let enc_ms = millis_per_run(iterations, || {
        std::hint::black_box(wsq::encode(&img, 500, 0.75).expect("encode"));
    });
    let dec_ms = millis_per_run(iterations, || {
        std::hint::black_box(wsq::decode(&data).expect("decode"));
    });
    println!("WSQ 500x500 synthetic print, 0.75 bpp, {iterations} iterations, single thread");
    println!(
        "ours : {} bytes ({:.1}:1), PSNR {:.2} dB",
        data.len(),
        250_000.0 / data.len() as f64,
        psnr(&img, &back)
    );

    let Some(nbis) = Nbis::from_env() else {
        println!("encode: ours {enc_ms:.2} ms");
        println!("decode: ours {dec_ms:.2} ms");
        println!("NBIS not measured: set {HELPER_ENV} (see scripts/wsq-interop.sh)");
        return;
    };
    let dir = scratch_dir("bench");
    let pgm = dir.join("print.pgm");
    write_pgm(&pgm, &img);
    let iters = iterations.to_string();
    let fields = nbis.run(&["bench", pgm.to_str().expect("UTF-8 path"), &iters]);
    let (nbis_enc, nbis_dec) = (field(&fields, "encode_ms"), field(&fields, "decode_ms"));
    println!("NBIS : {} bytes", field(&fields, "bytes"));
    println!(
        "encode: ours {enc_ms:.2} ms | NBIS {nbis_enc:.2} ms | ours/NBIS {:.2}",
        enc_ms / nbis_enc
    );
    println!(
        "decode: ours {dec_ms:.2} ms | NBIS {nbis_dec:.2} ms | ours/NBIS {:.2}",
        dec_ms / nbis_dec
    );
    println!("goal: ours/NBIS <= 1.50");
}

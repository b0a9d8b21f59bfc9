//! `spid-bio`: the biometrics crate at the command line — fingerprint quality, templates and
//! matching, WSQ coding, face checks. The only place of the crate that does IO.

mod error;
mod face;
mod finger;
mod input;
mod output;
mod wsq_cmd;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use error::CliError;
use output::Report;

/// Exit code of bad input (the same as clap's usage errors).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "spid-bio",
    version,
    about = "Fingerprint and face image tools of spidd"
)]
struct Cli {
    /// Print the result as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Resolution of a fingerprint image input.
#[derive(Args, Debug, Clone, Copy)]
struct PpiArg {
    /// Pixels per inch of the input image; overrides what the file states (default 500).
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=2000))]
    ppi: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Quality score (0–100) of a fingerprint image, with sub-scores and feedback.
    Quality {
        image: PathBuf,
        #[command(flatten)]
        ppi: PpiArg,
    },
    /// Extracts a minutiae template and writes it as an ISO/IEC 19794-2 record.
    Template {
        image: PathBuf,
        output: PathBuf,
        /// ANSI/NIST finger position code to record (0 = unknown, 1–10).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=10))]
        finger: u8,
        #[command(flatten)]
        ppi: PpiArg,
    },
    /// Compares two fingerprints, each an image or an ISO 19794-2 template.
    Match {
        a: PathBuf,
        b: PathBuf,
        #[command(flatten)]
        ppi: PpiArg,
    },
    /// WSQ encoding and decoding of fingerprint images.
    #[command(subcommand)]
    Wsq(WsqCommand),
    /// Face checks of a photo (one face, size, centring, exposure, focus).
    Face { image: PathBuf },
}

#[derive(Subcommand, Debug)]
enum WsqCommand {
    /// Compresses an image to WSQ.
    Encode {
        input: PathBuf,
        output: PathBuf,
        /// Target bits per pixel (0.75 is the FBI's rate for 500 ppi prints).
        #[arg(long, default_value_t = 0.75)]
        bitrate: f32,
        #[command(flatten)]
        ppi: PpiArg,
    },
    /// Decodes a WSQ file to an image (format from the extension, PNG keeps the ppi).
    Decode { input: PathBuf, output: PathBuf },
}

fn run(command: Command) -> Result<Report, CliError> {
    match command {
        Command::Quality { image, ppi } => finger::quality(&image, ppi.ppi),
        Command::Template {
            image,
            output,
            finger,
            ppi,
        } => finger::template(&image, &output, finger, ppi.ppi),
        Command::Match { a, b, ppi } => finger::compare(&a, &b, ppi.ppi),
        Command::Wsq(WsqCommand::Encode {
            input,
            output,
            bitrate,
            ppi,
        }) => wsq_cmd::encode(&input, &output, bitrate, ppi.ppi),
        Command::Wsq(WsqCommand::Decode { input, output }) => wsq_cmd::decode(&input, &output),
        Command::Face { image } => face::check(&image),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(report) => {
            let text = if cli.json {
                format!("{:#}\n", report.json)
            } else {
                report.text
            };
            // A closed pipe (`spid-bio … | head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spid-bio: {}", e.one_line());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

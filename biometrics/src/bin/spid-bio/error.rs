//! Why a `spid-bio` command could not run: every variant is bad input or an unwritable
//! output, reported as one line on stderr with exit code 2.

use std::io;
use std::path::PathBuf;

use biometrics::{fingerprint::TemplateError, wsq::WsqError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {}: {}", .path.display(), io_reason(.source))]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {}", .path.display(), io_reason(.source))]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: not a readable image: {reason}", .path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("{}: {source}", .path.display())]
    Wsq { path: PathBuf, source: WsqError },
    #[error("{}: not a usable ISO 19794-2 template: {source}", .path.display())]
    Template {
        path: PathBuf,
        source: TemplateError,
    },
    #[error("{}: cannot encode: {reason}", .path.display())]
    Encode { path: PathBuf, reason: String },
    #[error("{}: unsupported output format (use .png, .bmp, .tif, .tiff or .pgm)", .path.display())]
    OutputFormat { path: PathBuf },
}

impl CliError {
    /// The message as a single line, whatever the underlying error printed.
    pub fn one_line(&self) -> String {
        self.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The OS message without Rust's " (os error N)" suffix, as other command-line tools print it.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

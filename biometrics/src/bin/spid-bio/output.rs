//! A command's result in both of its forms (text for people, JSON for scripts) and the
//! writing of output files.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::error::CliError;
use crate::input::LoadedImage;

pub struct Report {
    /// Human-readable lines, newline-terminated.
    pub text: String,
    pub json: Value,
}

pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    fs::write(path, bytes).map_err(|source| CliError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// `"500 ppi (file)"`: the resolution an image was analysed at and where it came from.
pub fn ppi_text(image: &LoadedImage) -> String {
    format!("{} ppi ({})", image.ppi, image.ppi_source.name())
}

/// Rounds for display in JSON, so scores read `0.83` rather than `0.8299999833106995`.
pub fn round3(v: f64) -> Value {
    let r = (v * 1000.0).round() / 1000.0;
    serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
}

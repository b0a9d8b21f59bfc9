//! Building the upstream `UserTransaction` and the outbox summary from a finished capture.

use std::io::Cursor;

use base64::Engine;
use serde_json::json;
use state_machine::{KeptSample, TransactionRecord};

use super::samples::{Sample, SampleData, SampleStore};
use crate::upstream::wire;

/// How fingerprints travel upstream (config `capture.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    Png,
    Wsq,
}

/// The WSQ bit rate the FBI specifies for 500 ppi prints.
const WSQ_BITRATE: f32 = 0.75;
/// JPEG files carry no ppi a face matcher would use; 72 is the JFIF default.
const FACE_RESOLUTION: u32 = 72;

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("could not encode the fingerprint image: {0}")]
    Finger(String),
    #[error("could not encode the face image: {0}")]
    Face(String),
}

/// One sample, encoded for the wire.
pub struct EncodedSample {
    pub index: u8,
    pub content: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub resolution: u32,
}

impl EncodedSample {
    pub fn into_wire(self) -> wire::Biometric {
        wire::Biometric {
            index: i32::from(self.index),
            content: base64::engine::general_purpose::STANDARD.encode(&self.content),
            width: self.width,
            height: self.height,
            resolution: self.resolution,
        }
    }
}

/// Copies the kept samples out of the store, in the record's order. Missing ids are skipped
/// (the caller compares lengths).
pub fn collect(store: &SampleStore, kept: &[KeptSample]) -> Vec<Sample> {
    kept.iter().filter_map(|k| store.get(k.sample).cloned()).collect()
}

pub fn encode_all(samples: &[Sample], format: SampleFormat, face_max: usize) -> Result<Vec<EncodedSample>, PayloadError> {
    samples.iter().map(|s| encode(s, format, face_max)).collect()
}

fn encode(sample: &Sample, format: SampleFormat, face_max: usize) -> Result<EncodedSample, PayloadError> {
    match &sample.data {
        SampleData::Finger { image, ppi, .. } => {
            let content = match format {
                SampleFormat::Png => {
                    let mut out = Cursor::new(Vec::new());
                    image
                        .write_to(&mut out, image::ImageFormat::Png)
                        .map_err(|e| PayloadError::Finger(e.to_string()))?;
                    out.into_inner()
                }
                SampleFormat::Wsq => biometrics::wsq::encode(image, *ppi, WSQ_BITRATE)
                    .map_err(|e| PayloadError::Finger(e.to_string()))?,
            };
            Ok(EncodedSample {
                index: sample.position.index(),
                content,
                width: image.width(),
                height: image.height(),
                resolution: u32::from(*ppi),
            })
        }
        SampleData::Face { frame } => Ok(EncodedSample {
            index: 0,
            content: biometrics::face::encode_jpeg(frame, face_max).map_err(|e| PayloadError::Face(e.to_string()))?,
            width: frame.width(),
            height: frame.height(),
            resolution: FACE_RESOLUTION,
        }),
    }
}

/// The upstream body: `{data: UserTransaction}`.
pub fn transaction_body(record: &TransactionRecord, encoded: Vec<EncodedSample>) -> wire::UserTransactionRequest {
    wire::UserTransactionRequest {
        data: wire::UserTransaction {
            biometrics: encoded.into_iter().map(EncodedSample::into_wire).collect(),
            missing_biometrics: record
                .missing
                .iter()
                .map(|m| wire::MissingBiometric {
                    index: i32::from(m.finger.code()),
                    kind: m.kind.as_str().to_string(),
                    reason: format!("declared {} at capture", m.kind.as_str().to_ascii_lowercase()),
                })
                .collect(),
            user_id: record.cpf.digits().to_string(),
            operator_id: record.operator.digits().to_string(),
            timestamp: record.timestamp,
        },
    }
}

/// The station's own record of the transaction (Capture Report `?format=json`): no images.
pub fn summary(record: &TransactionRecord) -> serde_json::Value {
    let kept = |k: &KeptSample| {
        json!({
            "index": k.position.index(),
            "kind": if k.position.is_face() { "FACE" } else { "FINGER" },
            "quality": k.quality,
            "attempts": k.attempts,
            "capturedAt": k.captured_at,
        })
    };
    json!({
        "mode": record.mode.as_str(),
        "cpf": record.cpf.digits(),
        "operatorId": record.operator.digits(),
        "startedAt": record.started_at,
        "timestamp": record.timestamp,
        "positions": record.samples.iter().map(kept).collect::<Vec<_>>(),
        "missing": record.missing.iter().map(|m| json!({"index": m.finger.code(), "type": m.kind.as_str()})).collect::<Vec<_>>(),
        "operatorCapture": kept(&record.operator_sample),
    })
}

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
    kept.iter()
        .filter_map(|k| store.get(k.sample).cloned())
        .collect()
}

pub fn encode_all(
    samples: &[Sample],
    format: SampleFormat,
    face_max: usize,
) -> Result<Vec<EncodedSample>, PayloadError> {
    samples
        .iter()
        .map(|s| encode(s, format, face_max))
        .collect()
}

fn encode(
    sample: &Sample,
    format: SampleFormat,
    face_max: usize,
) -> Result<EncodedSample, PayloadError> {
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
            content: biometrics::face::encode_jpeg(frame, face_max)
                .map_err(|e| PayloadError::Face(e.to_string()))?,
            width: frame.width(),
            height: frame.height(),
            resolution: FACE_RESOLUTION,
        }),
    }
}

/// The upstream body: `{data: UserTransaction}`.
pub fn transaction_body(
    record: &TransactionRecord,
    encoded: Vec<EncodedSample>,
) -> wire::UserTransactionRequest {
    wire::UserTransactionRequest {
        data: wire::UserTransaction {
            biometrics: encoded.into_iter().map(EncodedSample::into_wire).collect(),
            missing_biometrics: record
                .missing
                .iter()
                .map(|m| wire::MissingBiometric {
                    index: i32::from(m.finger.code()),
                    kind: m.kind.as_str().to_string(),
                    reason: format!(
                        "declared {} at capture",
                        m.kind.as_str().to_ascii_lowercase()
                    ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use biometrics::fingerprint::Template;
    use state_machine::{Cpf, Finger, Missing, MissingType, Mode, Position, SampleId};

    fn finger_sample() -> Sample {
        // Vertical ridges with a 9 px period: enough structure for the encoders.
        let image = image::GrayImage::from_fn(200, 240, |x, _| {
            image::Luma([(128.0 + 90.0 * (x as f64 * std::f64::consts::TAU / 9.0).sin()) as u8])
        });
        let template = Template::extract(&image, 500);
        Sample {
            position: Position::Finger(Finger::RIGHT_INDEX),
            quality: 80,
            data: SampleData::Finger {
                image,
                ppi: 500,
                template,
            },
        }
    }

    fn kept(position: Position, sample: u64) -> KeptSample {
        KeptSample {
            position,
            sample: SampleId(sample),
            quality: 80,
            attempts: 2,
            captured_at: 1_000,
        }
    }

    #[test]
    fn fingerprints_travel_as_wsq_or_png() {
        let sample = finger_sample();
        let wsq = encode(&sample, SampleFormat::Wsq, 1 << 20).unwrap();
        assert!(
            wsq.content.starts_with(&[0xFF, 0xA0]),
            "WSQ starts with SOI"
        );
        assert_eq!(
            (wsq.index, wsq.width, wsq.height, wsq.resolution),
            (2, 200, 240, 500)
        );
        let (decoded, ppi) = biometrics::wsq::decode(&wsq.content).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height(), ppi),
            (200, 240, Some(500))
        );
        let png = encode(&sample, SampleFormat::Png, 1 << 20).unwrap();
        assert!(png.content.starts_with(b"\x89PNG"));
    }

    #[test]
    fn the_body_has_the_upstream_shape_and_no_operator_image() {
        let record = TransactionRecord {
            mode: Mode::Enroll,
            cpf: Cpf::parse("390.533.447-05").unwrap(),
            operator: Cpf::parse("529.982.247-25").unwrap(),
            samples: vec![kept(Position::Finger(Finger::RIGHT_INDEX), 1)],
            missing: vec![Missing {
                finger: Finger::LEFT_INDEX,
                kind: MissingType::Amputated,
            }],
            operator_sample: kept(Position::Finger(Finger::RIGHT_INDEX), 2),
            started_at: 500,
            timestamp: 1_795_000_000_123,
        };
        let encoded = encode_all(&[finger_sample()], SampleFormat::Wsq, 1 << 20).unwrap();
        let body = serde_json::to_value(transaction_body(&record, encoded)).unwrap();
        let data = &body["data"];
        assert_eq!(data["userId"], "39053344705");
        assert_eq!(data["operatorId"], "52998224725");
        assert_eq!(data["timestamp"], 1_795_000_000_123u64);
        assert_eq!(data["biometrics"].as_array().unwrap().len(), 1);
        assert_eq!(data["biometrics"][0]["index"], 2);
        assert_eq!(data["missingBiometrics"][0]["index"], 7);
        assert_eq!(data["missingBiometrics"][0]["type"], "AMPUTATED");

        let summary = summary(&record);
        assert_eq!(summary["positions"][0]["attempts"], 2);
        assert_eq!(summary["operatorCapture"]["index"], 2);
        assert!(
            !summary.to_string().contains("content"),
            "no images in the summary"
        );
    }
}

//! One capture attempt on a real or simulated device, judged on the spot.
//!
//! Runs on a blocking thread: waits for a finger (or a face), takes the image, scores it with
//! `biometrics`, and for operator captures matches it 1:1 against the operator's stored
//! templates. The flow decides what the result means.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use biometrics::face::FaceChecker;
use biometrics::fingerprint::{self, Template};
use drivers::{Camera, Cancel, DeviceError, DeviceInfo, FingerprintReader};
use state_machine::{CapturePurpose, CaptureRequest, DeviceFailure, Position};
use tracing::{debug, info, warn};

use crate::runtime::samples::{Sample, SampleData};

/// The station's devices. In simulate mode `scene` lets the simulated devices know whose
/// finger or face the station expects (a real reader has no such hint).
#[derive(Clone)]
pub struct Devices {
    pub reader: Arc<Mutex<Box<dyn FingerprintReader>>>,
    pub camera: Arc<Mutex<Box<dyn Camera>>>,
    pub scene: Option<Arc<simulator::scene::Scene>>,
}

impl Devices {
    pub fn infos(&self) -> Vec<DeviceInfo> {
        let mut out = Vec::new();
        if let Ok(r) = self.reader.lock() {
            out.push(r.info());
        }
        if let Ok(c) = self.camera.lock() {
            out.push(c.info());
        }
        out
    }
}

/// Templates of operators' enrolled fingers, by operator CPF digits.
#[derive(Default)]
pub struct OperatorTemplates {
    by_operator: RwLock<HashMap<String, Vec<(u8, Template)>>>,
}

impl OperatorTemplates {
    pub fn set(&self, operator: &str, templates: Vec<(u8, Template)>) {
        if let Ok(mut map) = self.by_operator.write() {
            map.insert(operator.to_string(), templates);
        }
    }

    pub fn get(&self, operator: &str) -> Vec<(u8, Template)> {
        self.by_operator
            .read()
            .ok()
            .and_then(|m| m.get(operator).cloned())
            .unwrap_or_default()
    }
}

/// Frames with a face judged per attempt before the best one is kept.
const FACE_FRAMES: usize = 5;

/// What one attempt produced.
pub enum CaptureOutcome {
    Captured {
        sample: Sample,
        matched: Option<bool>,
    },
    NothingPresented,
    Failed(DeviceFailure),
    /// Stopped by the flow; nobody waits for the result.
    Cancelled,
}

/// Everything a capture attempt needs besides the device.
pub struct CaptureContext {
    pub devices: Devices,
    pub operators: Arc<OperatorTemplates>,
    pub faces: Arc<FaceChecker>,
    /// Minimum camera resolution.
    pub camera_resolution: (u32, u32),
    /// A face frame at or above this score ends the attempt at once (reloadable).
    pub face_threshold: AtomicU8,
}

impl CaptureContext {
    /// Runs one attempt; blocks. `budget` is the time left before the flow's deadline.
    pub fn run(
        &self,
        request: &CaptureRequest,
        budget: Duration,
        cancel: &Cancel,
    ) -> CaptureOutcome {
        if let Some(scene) = &self.devices.scene {
            let finger = match request.position {
                Position::Face => None,
                Position::Finger(f) => Some(f.code()),
            };
            scene.expect(request.subject.digits(), finger);
        }
        let started = Instant::now();
        let outcome = match request.position {
            Position::Finger(_) => self.finger(request, budget, cancel),
            Position::Face => self.face(budget, cancel),
        };
        // The device manager learns the device's state from these same calls.
        let outcome = outcome.unwrap_or_else(|e| from_device_error(&e));
        crate::status::metrics::METRICS.capture(request.position == Position::Face, &outcome);
        match &outcome {
            CaptureOutcome::Captured { sample, matched } => info!(
                position = %request.position,
                attempt = request.attempt,
                quality = sample.quality,
                matched = ?matched,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "capture judged"
            ),
            CaptureOutcome::NothingPresented => {
                info!(position = %request.position, "nothing presented")
            }
            CaptureOutcome::Failed(f) => {
                warn!(position = %request.position, failure = ?f, "capture failed")
            }
            CaptureOutcome::Cancelled => debug!(position = %request.position, "capture cancelled"),
        }
        outcome
    }

    fn finger(
        &self,
        request: &CaptureRequest,
        budget: Duration,
        cancel: &Cancel,
    ) -> Result<CaptureOutcome, DeviceError> {
        let taken = {
            let mut reader = self.devices.reader.lock().map_err(|_| poisoned())?;
            reader.open()?;
            reader.wait_finger(budget, cancel)?;
            let image = reader.capture()?;
            // The finger may stay on the sensor; the next attempt waits for a new placement.
            let _ = reader.wait_finger_off(Duration::from_millis(200), cancel);
            image
        };
        // One analysis gives both the quality and the template.
        let (report, template) = fingerprint::assess(&taken.image, taken.ppi);
        let quality = report.score;
        let matched = (request.purpose == CapturePurpose::OperatorMatch).then(|| {
            let stored = self.operators.get(request.subject.digits());
            let best = stored
                .iter()
                .map(|(_, t)| fingerprint::compare(&template, t))
                .max_by(|a, b| a.score.total_cmp(&b.score));
            debug!(candidates = stored.len(), score = ?best.map(|b| b.score), "operator 1:1 match");
            best.is_some_and(|b| b.matched)
        });
        Ok(CaptureOutcome::Captured {
            sample: Sample {
                position: request.position,
                quality,
                data: SampleData::Finger {
                    image: taken.image,
                    ppi: taken.ppi,
                    template,
                },
            },
            matched,
        })
    }

    /// Watches the camera until a face appears, then judges up to [`FACE_FRAMES`] frames with
    /// a face and keeps the best: a compliant frame ends the attempt at once. Detector boxes
    /// jitter from frame to frame, so one frame is a poor judge of the face's size.
    fn face(&self, budget: Duration, cancel: &Cancel) -> Result<CaptureOutcome, DeviceError> {
        let deadline = Instant::now() + budget;
        let mut camera = self.devices.camera.lock().map_err(|_| poisoned())?;
        camera.open(self.camera_resolution.0, self.camera_resolution.1)?;
        let result = self.watch(camera.as_mut(), deadline, cancel);
        camera.close();
        result
    }

    fn watch(
        &self,
        camera: &mut dyn Camera,
        deadline: Instant,
        cancel: &Cancel,
    ) -> Result<CaptureOutcome, DeviceError> {
        let mut best: Option<(u8, drivers::RgbImage)> = None;
        let mut judged = 0;
        while judged < FACE_FRAMES {
            if cancel.is_cancelled() {
                return Ok(CaptureOutcome::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let frame = match camera.frame(left.min(Duration::from_secs(1)), cancel) {
                Ok(f) => f,
                Err(DeviceError::Timeout) => continue,
                Err(e) => return Err(e),
            };
            let report = self.faces.check(&frame);
            if report.faces.is_empty() {
                continue;
            }
            judged += 1;
            if best.as_ref().is_none_or(|(score, _)| report.score > *score) {
                best = Some((report.score, frame));
            }
            if report.score >= self.face_threshold.load(Ordering::Relaxed) {
                break;
            }
        }
        Ok(match best {
            Some((quality, frame)) => CaptureOutcome::Captured {
                sample: Sample {
                    position: Position::Face,
                    quality,
                    data: SampleData::Face { frame },
                },
                matched: None,
            },
            None => CaptureOutcome::NothingPresented,
        })
    }
}

fn poisoned() -> DeviceError {
    DeviceError::Io("device lock poisoned by an earlier panic".to_string())
}

fn from_device_error(e: &DeviceError) -> CaptureOutcome {
    match e {
        DeviceError::Timeout => CaptureOutcome::NothingPresented,
        DeviceError::Cancelled => CaptureOutcome::Cancelled,
        DeviceError::Unavailable(_) => CaptureOutcome::Failed(DeviceFailure::Unavailable),
        DeviceError::Protocol(_) | DeviceError::Io(_) => {
            CaptureOutcome::Failed(DeviceFailure::Error)
        }
    }
}

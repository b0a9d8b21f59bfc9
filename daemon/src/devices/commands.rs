//! `spidd devices` and `spidd capture-once`: what a technician runs at the kiosk (and CI runs
//! under umockdev). They open devices directly through the families; no daemon is involved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drivers::{Cancel, Candidate, DeviceError, DeviceKind};
use serde_json::{json, Value};

use super::families::{choose, Families};
use super::DeviceState;
use crate::config::DeviceSettings;

/// The face picture is the last frame of this warm-up, so the camera's exposure has settled.
const CAMERA_WARMUP: Duration = Duration::from_millis(500);
/// The resolution the station's face capture asks for.
const CAMERA_MIN: (u32, u32) = (640, 480);

/// One attached device as `spidd devices` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub candidate: Candidate,
    pub state: DeviceState,
    pub firmware: Option<String>,
    pub error: Option<String>,
    /// The device the daemon would use (the pinned one, else the first of its kind).
    pub selected: bool,
}

/// Lists every attached device and probes it: a reader is opened (powered up) and closed, a
/// camera is opened without streaming. A device held by a running spidd shows as `error`.
pub fn list(families: &Families, settings: &DeviceSettings) -> Vec<Listed> {
    let readers = families.find_readers();
    let cameras = families.find_cameras();
    let chosen_reader =
        choose(&readers, settings.fingerprint.as_deref()).map(|(_, c)| c.id.clone());
    let chosen_camera = choose(&cameras, settings.camera.as_deref()).map(|(_, c)| c.id.clone());
    let mut out = Vec::new();
    for (family, candidate) in readers {
        let probe = family.open(&candidate).and_then(|mut reader| {
            let opened = reader.open().map(|()| reader.info());
            reader.close();
            opened
        });
        let selected = chosen_reader.as_deref() == Some(candidate.id.as_str());
        out.push(listed(candidate, probe.map(|i| i.firmware), selected));
    }
    for (family, candidate) in cameras {
        let probe = family.open(&candidate).map(|camera| camera.info().firmware);
        let selected = chosen_camera.as_deref() == Some(candidate.id.as_str());
        out.push(listed(candidate, probe, selected));
    }
    out
}

fn listed(
    candidate: Candidate,
    probe: Result<Option<String>, DeviceError>,
    selected: bool,
) -> Listed {
    let (state, firmware, error) = match probe {
        Ok(firmware) => (DeviceState::Ready, firmware, None),
        Err(e @ DeviceError::Unavailable(_)) => {
            (DeviceState::Unavailable, None, Some(e.to_string()))
        }
        Err(e) => (DeviceState::Error, None, Some(e.to_string())),
    };
    Listed {
        candidate,
        state,
        firmware,
        error,
        selected,
    }
}

/// `spidd devices --json`: one object per device.
pub fn to_json(listed: &[Listed]) -> Value {
    Value::Array(
        listed
            .iter()
            .map(|l| {
                json!({
                    "kind": l.candidate.kind.as_str(),
                    "driver": l.candidate.driver,
                    "id": l.candidate.id,
                    "address": l.candidate.address,
                    "name": l.candidate.name,
                    "status": l.state.as_str(),
                    "selected": l.selected,
                    "firmware": l.firmware,
                    "error": l.error,
                })
            })
            .collect(),
    )
}

/// `spidd devices`: a table for people.
pub fn to_table(listed: &[Listed]) -> String {
    if listed.is_empty() {
        return "no supported fingerprint reader or camera is attached\n".to_string();
    }
    let rows: Vec<[String; 6]> = listed
        .iter()
        .map(|l| {
            let mut status = l.state.as_str().to_string();
            if let Some(e) = &l.error {
                status = format!("{status}: {e}");
            }
            [
                format!(
                    "{}{}",
                    if l.selected { "* " } else { "  " },
                    l.candidate.kind.as_str()
                ),
                l.candidate.driver.to_string(),
                l.candidate.id.clone(),
                l.candidate.address.clone(),
                l.candidate.name.clone(),
                status,
            ]
        })
        .collect();
    let header = ["  KIND", "DRIVER", "ID", "ADDRESS", "NAME", "STATUS"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 5 {
                    cell.clone()
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("(* = the device spidd uses)\n");
    out
}

/// What `spidd capture-once` was asked to do.
#[derive(Clone, Debug)]
pub struct CaptureOnce {
    /// A candidate id or pin form; default: the configured pin, else the first device.
    pub device: Option<String>,
    pub face: bool,
    pub timeout: Duration,
    pub out: PathBuf,
}

/// What was captured, for the command's message.
#[derive(Clone, Debug)]
pub struct Captured {
    pub id: String,
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Fingerprints only.
    pub ppi: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureOnceError {
    #[error("no {kind}{} is attached", .device.as_ref().map(|d| format!(" matching {d}")).unwrap_or_default())]
    NoDevice {
        kind: &'static str,
        device: Option<String>,
    },
    #[error("{id}: {source}")]
    Device {
        id: String,
        #[source]
        source: DeviceError,
    },
    #[error("{id}: nothing was presented within {}s", .timeout.as_secs_f32())]
    NothingPresented { id: String, timeout: Duration },
    #[error("cannot write {}: {reason}", .path.display())]
    Write { path: PathBuf, reason: String },
}

/// Captures one fingerprint (or, with `face`, one camera frame) and writes it as PNG.
pub fn capture_once(
    families: &Families,
    settings: &DeviceSettings,
    request: &CaptureOnce,
) -> Result<Captured, CaptureOnceError> {
    if request.face {
        let found = families.find_cameras();
        let pin = request.device.as_deref().or(settings.camera.as_deref());
        let (family, candidate) =
            choose(&found, pin).ok_or_else(|| no_device(DeviceKind::Camera, pin))?;
        let fail = device_error(&candidate.id);
        let mut camera = family.open(candidate).map_err(&fail)?;
        let frame = take_frame(camera.as_mut(), request.timeout);
        camera.close();
        let frame = frame.map_err(|e| match e {
            DeviceError::Timeout => nothing(&candidate.id, request.timeout),
            e => fail(e),
        })?;
        save(&request.out, |p| {
            frame.save_with_format(p, image::ImageFormat::Png)
        })?;
        Ok(Captured {
            id: candidate.id.clone(),
            name: candidate.name.clone(),
            width: frame.width(),
            height: frame.height(),
            ppi: None,
        })
    } else {
        let found = families.find_readers();
        let pin = request
            .device
            .as_deref()
            .or(settings.fingerprint.as_deref());
        let (family, candidate) =
            choose(&found, pin).ok_or_else(|| no_device(DeviceKind::FingerprintReader, pin))?;
        let fail = device_error(&candidate.id);
        let mut reader = family.open(candidate).map_err(&fail)?;
        let cancel = Cancel::new();
        let taken = reader
            .open()
            .and_then(|()| reader.wait_finger(request.timeout, &cancel))
            .and_then(|()| reader.capture());
        reader.close();
        let taken = taken.map_err(|e| match e {
            DeviceError::Timeout => nothing(&candidate.id, request.timeout),
            e => fail(e),
        })?;
        save(&request.out, |p| {
            taken.image.save_with_format(p, image::ImageFormat::Png)
        })?;
        Ok(Captured {
            id: candidate.id.clone(),
            name: candidate.name.clone(),
            width: taken.image.width(),
            height: taken.image.height(),
            ppi: Some(taken.ppi),
        })
    }
}

/// Streams for [`CAMERA_WARMUP`] (or the whole timeout if shorter) and keeps the last frame.
fn take_frame(
    camera: &mut dyn drivers::Camera,
    timeout: Duration,
) -> Result<image::RgbImage, DeviceError> {
    let started = Instant::now();
    let deadline = started + timeout;
    camera.open(CAMERA_MIN.0, CAMERA_MIN.1)?;
    let cancel = Cancel::new();
    let mut last = None;
    loop {
        let now = Instant::now();
        let settled = now.duration_since(started) >= CAMERA_WARMUP;
        if last.is_some() && (settled || now >= deadline) {
            break;
        }
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(DeviceError::Timeout);
        }
        last = Some(camera.frame(left, &cancel)?);
    }
    last.ok_or(DeviceError::Timeout)
}

fn no_device(kind: DeviceKind, device: Option<&str>) -> CaptureOnceError {
    CaptureOnceError::NoDevice {
        kind: match kind {
            DeviceKind::FingerprintReader => "fingerprint reader",
            DeviceKind::Camera => "camera",
        },
        device: device.map(str::to_string),
    }
}

fn device_error(id: &str) -> impl Fn(DeviceError) -> CaptureOnceError + '_ {
    move |source| CaptureOnceError::Device {
        id: id.to_string(),
        source,
    }
}

fn nothing(id: &str, timeout: Duration) -> CaptureOnceError {
    CaptureOnceError::NothingPresented {
        id: id.to_string(),
        timeout,
    }
}

fn save(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), image::ImageError>,
) -> Result<(), CaptureOnceError> {
    write(path).map_err(|e| CaptureOnceError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The families a command uses: the simulator's (a fresh scene) or the hardware's.
pub fn families_for(simulate: bool, settings: &DeviceSettings) -> Families {
    if simulate {
        Families::simulated(&Arc::new(simulator::scene::Scene::new()))
    } else {
        Families::hardware(settings)
    }
}

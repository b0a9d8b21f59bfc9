//! Which driver families the station looks for: the one place where they are listed. A family
//! added here is found by the daemon's device manager and by `spidd devices` / `capture-once`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use drivers::camera::V4l2Cameras;
use drivers::serial::SerialFamily;
use drivers::usb::UsbFamily;
use drivers::zhiantec::ZhiantecSettings;
use drivers::{CameraFamily, Candidate, ReaderFamily};
use simulator::families::{SimulatedCameras, SimulatedReaders};
use simulator::scene::Scene;
use tracing::error;

use crate::config::DeviceSettings;

/// The fingerprint reader families of a real station, in order of preference (the first
/// candidate found is used unless `devices.fingerprint` pins one).
///
/// USB readers first (U.are.U 4000/4500, AES3500: the readers kiosks are sold with), then
/// ZhianTec serial modules behind a known USB-serial bridge, or on the port that
/// `devices.fingerprint` names when it is a path (`/dev/ttyS0` has no USB ids to find it by).
pub fn reader_families(settings: &DeviceSettings) -> Vec<Arc<dyn ReaderFamily>> {
    let configured_ports: Vec<PathBuf> = settings
        .fingerprint
        .as_deref()
        .map(|pin| pin.strip_prefix("serial:").unwrap_or(pin))
        .filter(|pin| pin.starts_with('/'))
        .map(PathBuf::from)
        .into_iter()
        .collect();
    vec![
        Arc::new(UsbFamily::new()),
        Arc::new(SerialFamily::new(
            configured_ports,
            ZhiantecSettings::default(),
        )),
    ]
}

/// The camera families of a real station.
pub fn camera_families(_settings: &DeviceSettings) -> Vec<Arc<dyn CameraFamily>> {
    vec![Arc::new(V4l2Cameras::new())]
}

/// Every family the station (or a command) looks through.
#[derive(Clone)]
pub struct Families {
    pub readers: Vec<Arc<dyn ReaderFamily>>,
    pub cameras: Vec<Arc<dyn CameraFamily>>,
}

impl Families {
    pub fn hardware(settings: &DeviceSettings) -> Families {
        Families {
            readers: reader_families(settings),
            cameras: camera_families(settings),
        }
    }

    /// The simulator's reader and camera looking at `scene`.
    pub fn simulated(scene: &Arc<Scene>) -> Families {
        Families {
            readers: vec![Arc::new(SimulatedReaders::new(scene.clone()))],
            cameras: vec![Arc::new(SimulatedCameras::new(scene.clone()))],
        }
    }

    pub fn find_readers(&self) -> Vec<(Arc<dyn ReaderFamily>, Candidate)> {
        self.readers
            .iter()
            .flat_map(|f| {
                guarded(f.name(), || f.enumerate())
                    .into_iter()
                    .map(move |c| (f.clone(), c))
            })
            .collect()
    }

    pub fn find_cameras(&self) -> Vec<(Arc<dyn CameraFamily>, Candidate)> {
        self.cameras
            .iter()
            .flat_map(|f| {
                guarded(f.name(), || f.enumerate())
                    .into_iter()
                    .map(move |c| (f.clone(), c))
            })
            .collect()
    }
}

/// A family's enumeration must never fail, but one that panics anyway (say, a library that
/// expects `/sys/class/tty` inside a umockdev testbed) costs only its own devices.
pub(crate) fn guarded(family: &str, enumerate: impl FnOnce() -> Vec<Candidate>) -> Vec<Candidate> {
    catch_unwind(AssertUnwindSafe(enumerate)).unwrap_or_else(|_| {
        error!(
            family,
            "device enumeration panicked; its devices are ignored"
        );
        Vec::new()
    })
}

/// The candidate `pin` designates, else (no pin) the first one.
pub(crate) fn choose<'a, F>(
    found: &'a [(F, Candidate)],
    pin: Option<&str>,
) -> Option<&'a (F, Candidate)> {
    match pin {
        Some(pin) => found.iter().find(|(_, c)| c.matches(pin)),
        None => found.first(),
    }
}

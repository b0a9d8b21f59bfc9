//! What stands in front of the simulated devices: who presents (the expected person, a named
//! subject or an impostor), how well, and whether each device is there, broken or slow.
//! Shared as `Arc<Scene>` by the simulated devices, the control API and the daemon.

use std::sync::Mutex;
use std::time::Duration;

use drivers::DeviceKind;

use crate::fingerprint::Condition;

/// The synthetic identity that plays every impostor.
pub const IMPOSTOR_SUBJECT: &str = "impostor";
/// Who presents when the station has not said whom it expects.
pub const DEFAULT_SUBJECT: &str = "00000000000";
/// The finger shown when the station expects a face or nothing (ANSI/NIST 2 = right index).
pub const DEFAULT_FINGER: u8 = 2;
/// Live captures use impression numbers from here on; lower numbers are left to enrolled
/// samples, so a live capture is never pixel-identical to a stored one.
pub const LIVE_IMPRESSION_BASE: u32 = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presenter {
    /// Whoever the station expects (see [`Scene::expect`]).
    Expected,
    Subject(String),
    Impostor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quality {
    Good,
    Poor,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Poor => "poor",
        }
    }
}

/// What is presented to the devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presentation {
    pub presenter: Presenter,
    pub quality: Quality,
    /// Nobody at the devices: the reader waits in vain, the camera sees an empty room.
    pub absent: bool,
}

impl Default for Presentation {
    fn default() -> Presentation {
        Presentation {
            presenter: Presenter::Expected,
            quality: Quality::Good,
            absent: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceMode {
    #[default]
    Present,
    /// Unplugged: every call fails with `DeviceError::Unavailable`.
    Absent,
    /// Plugged in but broken: calls fail with IO or protocol errors.
    Failing,
}

impl DeviceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceMode::Present => "present",
            DeviceMode::Absent => "absent",
            DeviceMode::Failing => "failing",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DeviceModes {
    pub fingerprint: DeviceMode,
    pub camera: DeviceMode,
}

/// Whose capture the station is about to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub subject: String,
    /// ANSI/NIST finger code, `None` for the face.
    pub finger: Option<u8>,
}

/// One fingerprint as the simulated reader should image it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FingerShot {
    pub subject: String,
    pub finger: u8,
    pub impression: u32,
    pub condition: Condition,
}

/// One camera view; `subject` is `None` when nobody is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaceShot {
    pub subject: Option<String>,
    pub variation: u32,
}

#[derive(Debug, Default)]
struct SceneState {
    presentation: Presentation,
    devices: DeviceModes,
    expected: Option<Expectation>,
    fingerprint_latency: Duration,
    camera_latency: Duration,
    captures: u32,
    sessions: u32,
}

/// Callbacks run after the device modes change (a simulated plug or unplug).
#[derive(Default)]
struct Watchers(Mutex<Vec<Box<dyn Fn() + Send + Sync>>>);

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|w| w.len()).unwrap_or(0);
        write!(f, "Watchers({n})")
    }
}

#[derive(Debug, Default)]
pub struct Scene {
    state: Mutex<SceneState>,
    watchers: Watchers,
}

/// Subjects are CPFs in practice; `529.982.247-25` and `52998224725` are the same person.
pub fn normalise_subject(subject: &str) -> String {
    subject
        .chars()
        .filter(|c| !matches!(c, '.' | '-'))
        .collect()
}

impl Scene {
    pub fn new() -> Scene {
        Scene::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SceneState> {
        // The state stays consistent under a panic elsewhere: every update is a single store.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The daemon (simulate mode only) says whose capture comes next: `finger` for the reader,
    /// `None` for the face. Each call starts a new camera session (a new pose and lighting).
    pub fn expect(&self, subject: &str, finger: Option<u8>) {
        let mut state = self.lock();
        state.expected = Some(Expectation {
            subject: normalise_subject(subject),
            finger,
        });
        state.sessions = state.sessions.wrapping_add(1);
    }

    pub fn expectation(&self) -> Option<Expectation> {
        self.lock().expected.clone()
    }

    pub fn presentation(&self) -> Presentation {
        self.lock().presentation.clone()
    }

    pub fn set_presentation(&self, presentation: Presentation) {
        self.lock().presentation = presentation;
    }

    pub fn devices(&self) -> DeviceModes {
        self.lock().devices
    }

    pub fn set_devices(&self, devices: DeviceModes) {
        self.lock().devices = devices;
        // Outside the state lock: a watcher may read the scene.
        let watchers = self.watchers.0.lock().unwrap_or_else(|e| e.into_inner());
        for wake in watchers.iter() {
            wake();
        }
    }

    /// Calls `wake` after every change of the device modes, as a hotplug event would.
    pub fn on_devices_changed(&self, wake: Box<dyn Fn() + Send + Sync>) {
        self.watchers
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(wake);
    }

    pub fn mode(&self, kind: DeviceKind) -> DeviceMode {
        let devices = self.lock().devices;
        match kind {
            DeviceKind::FingerprintReader => devices.fingerprint,
            DeviceKind::Camera => devices.camera,
        }
    }

    /// Extra time each capture (reader) or frame (camera) takes; 0 by default.
    pub fn set_latency(&self, kind: DeviceKind, latency: Duration) {
        let mut state = self.lock();
        match kind {
            DeviceKind::FingerprintReader => state.fingerprint_latency = latency,
            DeviceKind::Camera => state.camera_latency = latency,
        }
    }

    pub fn latency(&self, kind: DeviceKind) -> Duration {
        let state = self.lock();
        match kind {
            DeviceKind::FingerprintReader => state.fingerprint_latency,
            DeviceKind::Camera => state.camera_latency,
        }
    }

    fn presenter_subject(state: &SceneState) -> String {
        match &state.presentation.presenter {
            Presenter::Expected => state
                .expected
                .as_ref()
                .map_or_else(|| DEFAULT_SUBJECT.to_owned(), |e| e.subject.clone()),
            Presenter::Subject(subject) => subject.clone(),
            Presenter::Impostor => IMPOSTOR_SUBJECT.to_owned(),
        }
    }

    /// The finger now on the sensor, with a fresh impression number, or `None` when nobody
    /// is there. Whoever presents, it is the finger the station asked for.
    pub fn take_finger(&self) -> Option<FingerShot> {
        let mut state = self.lock();
        if state.presentation.absent {
            return None;
        }
        let impression = LIVE_IMPRESSION_BASE + state.captures;
        state.captures = state.captures.wrapping_add(1);
        Some(FingerShot {
            subject: Scene::presenter_subject(&state),
            finger: state
                .expected
                .as_ref()
                .and_then(|e| e.finger)
                .unwrap_or(DEFAULT_FINGER),
            impression,
            condition: match state.presentation.quality {
                Quality::Good => Condition::Good,
                Quality::Poor => Condition::Poor,
            },
        })
    }

    /// What the camera sees now; stable within one capture session.
    pub fn view(&self) -> FaceShot {
        let state = self.lock();
        FaceShot {
            subject: (!state.presentation.absent).then(|| Scene::presenter_subject(&state)),
            variation: LIVE_IMPRESSION_BASE + state.sessions,
        }
    }

    /// Whether someone stands at the devices now.
    pub fn someone_present(&self) -> bool {
        !self.lock().presentation.absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_subject_presents_the_asked_finger_with_fresh_impressions() {
        let scene = Scene::new();
        scene.expect("529.982.247-25", Some(7));
        let a = scene.take_finger().unwrap();
        let b = scene.take_finger().unwrap();
        assert_eq!(a.subject, "52998224725");
        assert_eq!(a.finger, 7);
        assert_eq!(a.condition, Condition::Good);
        assert!(a.impression >= LIVE_IMPRESSION_BASE);
        assert_ne!(a.impression, b.impression);
    }

    #[test]
    fn presenter_overrides_and_absence() {
        let scene = Scene::new();
        assert_eq!(scene.take_finger().unwrap().subject, DEFAULT_SUBJECT);
        scene.expect("52998224725", Some(2));
        scene.set_presentation(Presentation {
            presenter: Presenter::Impostor,
            quality: Quality::Poor,
            absent: false,
        });
        let shot = scene.take_finger().unwrap();
        assert_eq!(shot.subject, IMPOSTOR_SUBJECT);
        assert_eq!(shot.finger, 2);
        assert_eq!(shot.condition, Condition::Poor);
        scene.set_presentation(Presentation {
            presenter: Presenter::Subject("11144477735".into()),
            ..Presentation::default()
        });
        assert_eq!(scene.view().subject.as_deref(), Some("11144477735"));
        scene.set_presentation(Presentation {
            absent: true,
            ..Presentation::default()
        });
        assert_eq!(scene.take_finger(), None);
        assert_eq!(scene.view().subject, None);
    }

    #[test]
    fn face_view_changes_per_session_only() {
        let scene = Scene::new();
        scene.expect("52998224725", None);
        let first = scene.view();
        assert_eq!(first, scene.view());
        scene.expect("52998224725", None);
        assert_ne!(first.variation, scene.view().variation);
    }

    #[test]
    fn device_modes_and_latency() {
        let scene = Scene::new();
        assert_eq!(scene.mode(DeviceKind::Camera), DeviceMode::Present);
        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Failing,
            camera: DeviceMode::Absent,
        });
        assert_eq!(
            scene.mode(DeviceKind::FingerprintReader),
            DeviceMode::Failing
        );
        assert_eq!(scene.mode(DeviceKind::Camera), DeviceMode::Absent);
        scene.set_latency(DeviceKind::Camera, Duration::from_millis(30));
        assert_eq!(scene.latency(DeviceKind::Camera), Duration::from_millis(30));
        assert_eq!(scene.latency(DeviceKind::FingerprintReader), Duration::ZERO);
    }
}

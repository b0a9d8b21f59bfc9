//! The device manager: finds the reader and the camera, keeps the chosen ones open in the
//! capture slots, and follows them as they are unplugged and plugged back in.
//!
//! A scan lists every family's candidates, picks the pinned one (`devices.fingerprint`,
//! `devices.camera`) or the first, and reconciles the slot: a device that left is marked gone
//! (its calls fail with `Unavailable` at once) and replaced by an absent placeholder; a device
//! that arrived is opened and put in. Scans run every [`POLL_INTERVAL`], at once when a family
//! reports hotplug or a device answers `Unavailable`, and every [`BUSY_RETRY`] while a swap
//! waits for a capture that still holds the slot.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::{
    Camera, CameraFamily, Candidate, DeviceError, DeviceInfo, DeviceKind, FingerprintReader,
    ReaderFamily,
};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::families::{choose, guarded, Families};
use super::slot::{Absent, Cell, TrackedCamera, TrackedReader};
use super::{DeviceState, DeviceStatus};
use crate::capture::Devices;
use crate::config::DeviceSettings;

/// How often the families are listed when no hotplug event comes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How soon a scan is retried when a slot could not be swapped because a capture holds it.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Finds, opens and follows the station's fingerprint reader and camera.
pub struct DeviceManager {
    reader: Tracker<dyn FingerprintReader>,
    camera: Tracker<dyn Camera>,
    scene: Option<Arc<simulator::scene::Scene>>,
    wake: Arc<Notify>,
    /// One scan at a time.
    scanning: Mutex<()>,
}

impl DeviceManager {
    /// Nothing is attached until the first [`scan`](Self::scan). `scene` is the simulator's
    /// (simulate mode), handed on to the capture code through [`Devices`].
    pub fn new(
        families: Families,
        settings: &DeviceSettings,
        scene: Option<Arc<simulator::scene::Scene>>,
    ) -> Arc<DeviceManager> {
        let wake = Arc::new(Notify::new());
        for family in &families.readers {
            let wake = wake.clone();
            let hotplug = family.watch(Box::new(move || wake.notify_one()));
            info!(family = family.name(), hotplug, "watching device family");
        }
        Arc::new(DeviceManager {
            reader: Tracker::new(
                DeviceKind::FingerprintReader,
                settings.fingerprint.clone(),
                families
                    .readers
                    .into_iter()
                    .map(ReaderSource)
                    .map(boxed_reader)
                    .collect(),
            ),
            camera: Tracker::new(
                DeviceKind::Camera,
                settings.camera.clone(),
                families
                    .cameras
                    .into_iter()
                    .map(CameraSource)
                    .map(boxed_camera)
                    .collect(),
            ),
            scene,
            wake,
            scanning: Mutex::new(()),
        })
    }

    /// The slots the capture code uses; the manager swaps what is inside them.
    pub fn devices(&self) -> Devices {
        Devices {
            reader: self.reader.slot.clone(),
            camera: self.camera.slot.clone(),
            scene: self.scene.clone(),
        }
    }

    /// One reconciliation pass; blocks (listing and opening devices is IO). True when a slot
    /// was busy and the pass should be repeated soon.
    pub fn scan(&self) -> bool {
        let _one = self.scanning.lock().unwrap_or_else(|e| e.into_inner());
        let reader_busy = self.reader.scan(&self.wake);
        let camera_busy = self.camera.scan(&self.wake);
        reader_busy || camera_busy
    }

    /// The reader's and the camera's state now (reader first). Never waits for a capture.
    pub fn snapshot(&self) -> Vec<DeviceStatus> {
        vec![self.reader.status(), self.camera.status()]
    }

    /// Every device the families list now, readers first, whether in a slot or not (for the
    /// status socket). Blocks: listing is IO. Opens nothing.
    pub fn detected(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self
            .reader
            .sources
            .iter()
            .flat_map(|s| s.enumerate())
            .collect();
        out.extend(self.camera.sources.iter().flat_map(|s| s.enumerate()));
        out
    }

    /// Scans until `stop` resolves: every [`POLL_INTERVAL`], and at once on a wake.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let me = self.clone();
            let busy = tokio::task::spawn_blocking(move || me.scan())
                .await
                .unwrap_or_else(|e| {
                    warn!(error = %e, "a device scan failed");
                    false
                });
            let pause = if busy { BUSY_RETRY } else { POLL_INTERVAL };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// What the manager needs from a reader or a camera, so one [`Tracker`] serves both.
trait Device: Send {
    fn absent(kind: DeviceKind, why: String) -> Box<Self>;
    fn tracked(inner: Box<Self>, cell: Arc<Cell>) -> Box<Self>;
    /// Readers power up when attached, so a broken one shows at once; cameras stay closed
    /// until a capture (their light would stay on). `None`: nothing to check.
    fn prepare(&mut self) -> Option<Result<(), DeviceError>>;
    fn describe(&self) -> DeviceInfo;
    fn shut(&mut self);
}

impl Device for dyn FingerprintReader {
    fn absent(kind: DeviceKind, why: String) -> Box<Self> {
        Box::new(Absent::new(kind, why))
    }
    fn tracked(inner: Box<Self>, cell: Arc<Cell>) -> Box<Self> {
        Box::new(TrackedReader { inner, cell })
    }
    fn prepare(&mut self) -> Option<Result<(), DeviceError>> {
        Some(self.open())
    }
    fn describe(&self) -> DeviceInfo {
        self.info()
    }
    fn shut(&mut self) {
        self.close()
    }
}

impl Device for dyn Camera {
    fn absent(kind: DeviceKind, why: String) -> Box<Self> {
        Box::new(Absent::new(kind, why))
    }
    fn tracked(inner: Box<Self>, cell: Arc<Cell>) -> Box<Self> {
        Box::new(TrackedCamera { inner, cell })
    }
    fn prepare(&mut self) -> Option<Result<(), DeviceError>> {
        None
    }
    fn describe(&self) -> DeviceInfo {
        self.info()
    }
    fn shut(&mut self) {
        self.close()
    }
}

/// A family of either kind, seen through the slot's device type.
trait Source<D: ?Sized>: Send + Sync {
    fn name(&self) -> &'static str;
    fn enumerate(&self) -> Vec<Candidate>;
    fn open(&self, candidate: &Candidate) -> Result<Box<D>, DeviceError>;
}

struct ReaderSource(Arc<dyn ReaderFamily>);
struct CameraSource(Arc<dyn CameraFamily>);

fn boxed_reader(s: ReaderSource) -> Box<dyn Source<dyn FingerprintReader>> {
    Box::new(s)
}
fn boxed_camera(s: CameraSource) -> Box<dyn Source<dyn Camera>> {
    Box::new(s)
}

impl Source<dyn FingerprintReader> for ReaderSource {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn enumerate(&self) -> Vec<Candidate> {
        guarded(self.0.name(), || self.0.enumerate())
    }
    fn open(&self, candidate: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError> {
        self.0.open(candidate)
    }
}

impl Source<dyn Camera> for CameraSource {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn enumerate(&self) -> Vec<Candidate> {
        guarded(self.0.name(), || self.0.enumerate())
    }
    fn open(&self, candidate: &Candidate) -> Result<Box<dyn Camera>, DeviceError> {
        self.0.open(candidate)
    }
}

/// One slot (the reader or the camera) and what the manager knows about it.
struct Tracker<D: ?Sized + Device> {
    kind: DeviceKind,
    pin: Option<String>,
    sources: Vec<Box<dyn Source<D>>>,
    slot: Arc<Mutex<Box<D>>>,
    state: Mutex<TrackerState>,
}

struct TrackerState {
    attached: Option<Attached>,
    /// Why nothing is attached, and whether that is an absence or a failure to open.
    vacancy: (DeviceState, String),
    last_error: Option<String>,
}

struct Attached {
    candidate: Candidate,
    info: DeviceInfo,
    cell: Arc<Cell>,
}

impl<D: ?Sized + Device> Tracker<D> {
    fn new(kind: DeviceKind, pin: Option<String>, sources: Vec<Box<dyn Source<D>>>) -> Self {
        let why = nothing_attached(kind, pin.as_deref());
        Tracker {
            kind,
            pin,
            sources,
            slot: Arc::new(Mutex::new(D::absent(kind, why.clone()))),
            state: Mutex::new(TrackerState {
                attached: None,
                vacancy: (DeviceState::Unavailable, why),
                last_error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reconciles the slot with what is attached; true when the slot was busy.
    fn scan(&self, wake: &Arc<Notify>) -> bool {
        let found: Vec<(usize, Candidate)> = self
            .sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.enumerate().into_iter().map(move |c| (i, c)))
            .collect();
        let chosen = choose(&found, self.pin.as_deref()).cloned();

        // A device that left, or that answered `Unavailable`, is taken out of the slot.
        let leaving = {
            let state = self.lock();
            state.attached.as_ref().and_then(|a| {
                let listed = chosen.as_ref().is_some_and(|(_, c)| c.id == a.candidate.id);
                (!listed || a.cell.is_gone()).then(|| (a.cell.clone(), a.candidate.clone(), listed))
            })
        };
        if let Some((cell, candidate, listed)) = leaving {
            let why = if listed {
                format!("{} stopped answering", candidate.name)
            } else {
                format!("{} ({}) was unplugged", candidate.name, candidate.address)
            };
            if !cell.is_gone() {
                cell.mark_gone(&why);
            }
            let Ok(mut slot) = self.slot.try_lock() else {
                // A capture holds the slot; its next device call fails with `Unavailable`.
                return true;
            };
            slot.shut();
            let vacancy = nothing_attached(self.kind, self.pin.as_deref());
            *slot = D::absent(self.kind, vacancy.clone());
            drop(slot);
            let mut state = self.lock();
            state.last_error = cell.get().1.or(Some(why.clone()));
            state.attached = None;
            state.vacancy = (DeviceState::Unavailable, vacancy);
            warn!(kind = self.kind.as_str(), id = %candidate.id, reason = %why, "device detached");
        }

        if self.lock().attached.is_some() {
            return self.recheck();
        }
        let Some((source, candidate)) = chosen else {
            let why = nothing_attached(self.kind, self.pin.as_deref());
            let mut state = self.lock();
            state.vacancy = (DeviceState::Unavailable, why);
            return false;
        };
        self.attach(&*self.sources[source], candidate, wake)
    }

    fn attach(&self, source: &dyn Source<D>, candidate: Candidate, wake: &Arc<Notify>) -> bool {
        let opened = source
            .open(&candidate)
            .and_then(|mut device| match device.prepare() {
                Some(Err(e @ DeviceError::Unavailable(_))) => Err(e),
                Some(Err(e)) => Ok((device, Some(e))),
                Some(Ok(())) | None => Ok((device, None)),
            });
        let (device, problem) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                let state_now = match e {
                    DeviceError::Unavailable(_) => DeviceState::Unavailable,
                    _ => DeviceState::Error,
                };
                let why = format!("cannot open {} ({}): {e}", candidate.name, candidate.id);
                let mut state = self.lock();
                if state.vacancy.1 != why {
                    warn!(kind = self.kind.as_str(), id = %candidate.id, family = source.name(), error = %e, "cannot open device");
                }
                state.vacancy = (state_now, why.clone());
                state.last_error = Some(why);
                return false;
            }
        };
        let info = device.describe();
        let cell = Cell::new(wake.clone());
        cell.set(DeviceState::Ready, self.lock().last_error.clone());
        if let Some(e) = &problem {
            cell.set(DeviceState::Error, Some(e.to_string()));
        }
        let mut tracked = D::tracked(device, cell.clone());
        let Ok(mut slot) = self.slot.try_lock() else {
            tracked.shut();
            return true;
        };
        slot.shut();
        *slot = tracked;
        drop(slot);
        info!(
            kind = self.kind.as_str(),
            id = %candidate.id,
            driver = %info.driver,
            address = %info.address,
            firmware = info.firmware.as_deref().unwrap_or("-"),
            state = if problem.is_some() { "error" } else { "ready" },
            "device attached"
        );
        self.lock().attached = Some(Attached {
            candidate,
            info,
            cell,
        });
        false
    }

    /// An attached device in error is tried again (when no capture is using it), so it shows
    /// `ready` as soon as it works.
    fn recheck(&self) -> bool {
        let failing = self
            .lock()
            .attached
            .as_ref()
            .is_some_and(|a| a.cell.get().0 == DeviceState::Error);
        if failing {
            if let Ok(mut slot) = self.slot.try_lock() {
                // Through the wrapper: the outcome updates the device's state.
                let _ = slot.prepare();
            }
        }
        false
    }

    fn status(&self) -> DeviceStatus {
        let state = self.lock();
        match &state.attached {
            Some(a) => {
                let (now, error) = a.cell.get();
                DeviceStatus {
                    kind: self.kind,
                    state: now,
                    driver: a.info.driver.clone(),
                    id: Some(a.candidate.id.clone()),
                    address: a.info.address.clone(),
                    name: a.info.name.clone(),
                    firmware: a.info.firmware.clone(),
                    pin: self.pin.clone(),
                    last_error: error.or_else(|| state.last_error.clone()),
                }
            }
            None => DeviceStatus {
                kind: self.kind,
                state: state.vacancy.0,
                driver: "none".to_string(),
                id: None,
                address: "-".to_string(),
                name: state.vacancy.1.clone(),
                firmware: None,
                pin: self.pin.clone(),
                last_error: state.last_error.clone(),
            },
        }
    }
}

fn nothing_attached(kind: DeviceKind, pin: Option<&str>) -> String {
    let what = match kind {
        DeviceKind::FingerprintReader => "fingerprint reader",
        DeviceKind::Camera => "camera",
    };
    match pin {
        Some(pin) => format!("the pinned {what} {pin} is not attached"),
        None => format!("no supported {what} is attached"),
    }
}

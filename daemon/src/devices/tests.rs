//! The device manager against hand-written fake families: pinning, hotplug wakes, polling,
//! unplug during a capture and replug.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drivers::{
    Camera, CameraFamily, Cancel, Candidate, DeviceError, DeviceInfo, DeviceKind, FingerImage,
    FingerprintReader, GrayImage, ReaderFamily, RgbImage, Wake,
};
use state_machine::{
    CaptureId, CapturePurpose, CaptureRequest, Cpf, DeviceFailure, Finger, Position,
};

use super::{DeviceManager, DeviceState, Families, POLL_INTERVAL};
use crate::capture::{CaptureContext, CaptureOutcome, OperatorTemplates};
use crate::config::DeviceSettings;

/// The fake world: which devices are plugged in, and what the sensor sees.
#[derive(Default)]
struct Bench {
    plugged: Mutex<Vec<Candidate>>,
    finger: AtomicBool,
    opens: AtomicUsize,
    fail_open: Mutex<Option<DeviceError>>,
    watcher: Mutex<Option<Wake>>,
    /// Readers that never notice an unplug by themselves (they block until a finger comes).
    deaf: AtomicBool,
}

impl Bench {
    fn plug(&self, c: Candidate) {
        self.plugged.lock().unwrap().push(c);
        self.hotplug();
    }
    fn unplug(&self, id: &str) {
        self.plugged.lock().unwrap().retain(|c| c.id != id);
        self.hotplug();
    }
    fn hotplug(&self) {
        if let Some(wake) = self.watcher.lock().unwrap().as_ref() {
            wake();
        }
    }
    fn is_plugged(&self, id: &str) -> bool {
        self.plugged.lock().unwrap().iter().any(|c| c.id == id)
    }
}

fn reader(id: &str, name: &str) -> Candidate {
    Candidate {
        kind: DeviceKind::FingerprintReader,
        driver: "fake",
        id: id.to_string(),
        address: id.trim_start_matches("usb:").to_string(),
        name: name.to_string(),
    }
}

struct FakeReaders {
    bench: Arc<Bench>,
    hotplug: bool,
}

impl ReaderFamily for FakeReaders {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn enumerate(&self) -> Vec<Candidate> {
        self.bench.plugged.lock().unwrap().clone()
    }
    fn open(&self, c: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError> {
        if let Some(e) = self.bench.fail_open.lock().unwrap().clone() {
            return Err(e);
        }
        if !self.bench.is_plugged(&c.id) {
            return Err(DeviceError::Unavailable(format!("{} is gone", c.id)));
        }
        self.bench.opens.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeReader {
            bench: self.bench.clone(),
            candidate: c.clone(),
        }))
    }
    fn watch(&self, wake: Wake) -> bool {
        if self.hotplug {
            *self.bench.watcher.lock().unwrap() = Some(wake);
        }
        self.hotplug
    }
}

struct FakeReader {
    bench: Arc<Bench>,
    candidate: Candidate,
}

impl FakeReader {
    fn present(&self) -> Result<(), DeviceError> {
        if self.bench.is_plugged(&self.candidate.id) {
            Ok(())
        } else {
            Err(DeviceError::Unavailable("no such device".into()))
        }
    }
}

impl FingerprintReader for FakeReader {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::FingerprintReader,
            driver: "fake".into(),
            address: self.candidate.address.clone(),
            name: self.candidate.name.clone(),
            firmware: Some("1.2".into()),
        }
    }
    fn open(&mut self) -> Result<(), DeviceError> {
        self.present()
    }
    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.bench.deaf.load(Ordering::SeqCst) {
                self.present()?;
            }
            if self.bench.finger.load(Ordering::SeqCst) {
                return Ok(());
            }
            if cancel.is_cancelled() {
                return Err(DeviceError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(DeviceError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        self.present()?;
        Ok(FingerImage {
            image: GrayImage::from_pixel(64, 64, image::Luma([200])),
            ppi: 500,
        })
    }
    fn wait_finger_off(&mut self, _: Duration, _: &Cancel) -> Result<(), DeviceError> {
        self.present()
    }
    fn close(&mut self) {}
}

struct FakeCameras(Arc<Bench>);

impl CameraFamily for FakeCameras {
    fn name(&self) -> &'static str {
        "fake-camera"
    }
    fn enumerate(&self) -> Vec<Candidate> {
        self.0
            .plugged
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.kind == DeviceKind::Camera)
            .cloned()
            .collect()
    }
    fn open(&self, c: &Candidate) -> Result<Box<dyn Camera>, DeviceError> {
        Ok(Box::new(FakeCamera {
            bench: self.0.clone(),
            id: c.id.clone(),
        }))
    }
}

struct FakeCamera {
    bench: Arc<Bench>,
    id: String,
}

impl Camera for FakeCamera {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::Camera,
            driver: "fake-camera".into(),
            address: format!("/dev/{}", self.id),
            name: "cam".into(),
            firmware: None,
        }
    }
    fn open(&mut self, w: u32, h: u32) -> Result<(u32, u32), DeviceError> {
        Ok((w, h))
    }
    fn frame(&mut self, _: Duration, _: &Cancel) -> Result<RgbImage, DeviceError> {
        if self.bench.is_plugged(&self.id) {
            Ok(RgbImage::new(640, 480))
        } else {
            Err(DeviceError::Unavailable("camera gone".into()))
        }
    }
    fn close(&mut self) {}
}

fn manager(bench: &Arc<Bench>, hotplug: bool, pins: DeviceSettings) -> Arc<DeviceManager> {
    let families = Families {
        readers: vec![Arc::new(FakeReaders {
            bench: bench.clone(),
            hotplug,
        })],
        cameras: vec![Arc::new(FakeCameras(bench.clone()))],
    };
    DeviceManager::new(families, &pins, None)
}

fn reader_status(m: &DeviceManager) -> super::DeviceStatus {
    m.snapshot().remove(0)
}

#[test]
fn the_first_reader_is_used_unless_one_is_pinned() {
    let bench = Arc::new(Bench::default());
    bench.plug(reader("usb:05ba:000a@1-4", "U.are.U 4500"));
    bench.plug(reader("usb:08ff:5731@1-5", "AES3500"));

    let m = manager(&bench, false, DeviceSettings::default());
    m.scan();
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Ready);
    assert_eq!(status.id.as_deref(), Some("usb:05ba:000a@1-4"));
    assert_eq!(status.firmware.as_deref(), Some("1.2"));

    let pinned = manager(
        &bench,
        false,
        DeviceSettings {
            fingerprint: Some("08ff:5731".into()),
            camera: None,
        },
    );
    pinned.scan();
    let status = reader_status(&pinned);
    assert_eq!(status.id.as_deref(), Some("usb:08ff:5731@1-5"));
    assert_eq!(status.pin.as_deref(), Some("08ff:5731"));
    let devices = pinned.devices();
    assert_eq!(devices.reader.lock().unwrap().info().name, "AES3500");
}

#[test]
fn a_missing_pinned_reader_is_unavailable_even_with_others_attached() {
    let bench = Arc::new(Bench::default());
    bench.plug(reader("usb:05ba:000a@1-4", "U.are.U 4500"));
    let m = manager(
        &bench,
        false,
        DeviceSettings {
            fingerprint: Some("serial:/dev/ttyUSB0".into()),
            camera: None,
        },
    );
    m.scan();
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Unavailable);
    assert_eq!(status.driver, "none");
    assert!(
        status.name.contains("serial:/dev/ttyUSB0"),
        "{}",
        status.name
    );
    let err = m.devices().reader.lock().unwrap().open().unwrap_err();
    assert!(matches!(err, DeviceError::Unavailable(m) if m.contains("pinned")));
    assert_eq!(bench.opens.load(Ordering::SeqCst), 0);
}

fn context(m: &DeviceManager) -> Arc<CaptureContext> {
    Arc::new(CaptureContext {
        devices: m.devices(),
        operators: Arc::new(OperatorTemplates::default()),
        faces: Arc::new(biometrics::face::FaceChecker::new(Default::default())),
        camera_resolution: (640, 480),
        face_threshold: 50.into(),
    })
}

fn request() -> CaptureRequest {
    CaptureRequest {
        capture: CaptureId(1),
        position: Position::Finger(Finger::new(2).unwrap()),
        purpose: CapturePurpose::Client,
        subject: Cpf::parse("390.533.447-05").unwrap(),
        attempt: 1,
        deadline: 0,
    }
}

fn is_unavailable(outcome: &CaptureOutcome) -> bool {
    matches!(outcome, CaptureOutcome::Failed(DeviceFailure::Unavailable))
}

/// Waits (really: a capture runs on its own thread) until `done` holds.
fn until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn unplug_mid_capture_fails_it_unavailable_and_replug_opens_again() {
    let bench = Arc::new(Bench::default());
    let id = "usb:05ba:000a@1-4";
    bench.plug(reader(id, "U.are.U 4500"));
    let m = manager(&bench, true, DeviceSettings::default());
    m.scan();
    let ctx = context(&m);

    let capture = {
        let ctx = ctx.clone();
        std::thread::spawn(move || ctx.run(&request(), Duration::from_secs(30), &Cancel::new()))
    };
    // The capture holds the slot while it waits for a finger.
    until("the capture to take the reader", || {
        ctx.devices.reader.try_lock().is_err()
    });
    bench.unplug(id);
    let outcome = capture.join().unwrap();
    assert!(
        is_unavailable(&outcome),
        "the capture must fail DEVICE_UNAVAILABLE"
    );
    // The reader's own answer already marked it; the next scan swaps the slot.
    assert_eq!(reader_status(&m).state, DeviceState::Unavailable);
    assert!(!m.scan());
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Unavailable);
    assert_eq!(status.driver, "none");
    assert!(status.last_error.is_some());
    assert!(is_unavailable(&ctx.run(
        &request(),
        Duration::from_secs(1),
        &Cancel::new()
    )));

    bench.plug(reader(id, "U.are.U 4500"));
    m.scan();
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Ready);
    assert_eq!(status.id.as_deref(), Some(id));
    assert_eq!(
        bench.opens.load(Ordering::SeqCst),
        2,
        "opened again after the replug"
    );
    bench.finger.store(true, Ordering::SeqCst);
    assert!(matches!(
        ctx.run(&request(), Duration::from_secs(5), &Cancel::new()),
        CaptureOutcome::Captured { .. }
    ));
}

#[test]
fn a_reader_that_misses_its_unplug_fails_at_its_next_call() {
    let bench = Arc::new(Bench::default());
    bench.deaf.store(true, Ordering::SeqCst);
    let id = "serial:/dev/ttyUSB0";
    bench.plug(reader(id, "R307"));
    let m = manager(&bench, false, DeviceSettings::default());
    m.scan();
    let ctx = context(&m);
    let capture = {
        let ctx = ctx.clone();
        std::thread::spawn(move || ctx.run(&request(), Duration::from_secs(30), &Cancel::new()))
    };
    until("the capture to take the reader", || {
        ctx.devices.reader.try_lock().is_err()
    });
    bench.unplug(id);
    // The manager sees it leave but cannot swap the slot under a running capture.
    assert!(m.scan(), "a busy slot asks for a quick rescan");
    assert_eq!(reader_status(&m).state, DeviceState::Unavailable);
    // The deaf reader's wait ends; the wrapper fails its next call.
    bench.finger.store(true, Ordering::SeqCst);
    assert!(is_unavailable(&capture.join().unwrap()));
    assert!(!m.scan());
    assert_eq!(reader_status(&m).driver, "none");
}

#[test]
fn a_reader_that_fails_to_open_is_an_error_until_it_recovers() {
    let bench = Arc::new(Bench::default());
    bench.plug(reader("usb:05ba:000a@1-4", "U.are.U 4500"));
    *bench.fail_open.lock().unwrap() = Some(DeviceError::Io("claim interface: busy".into()));
    let m = manager(&bench, false, DeviceSettings::default());
    m.scan();
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Error);
    assert!(status.last_error.unwrap().contains("busy"));
    *bench.fail_open.lock().unwrap() = None;
    m.scan();
    let status = reader_status(&m);
    assert_eq!(status.state, DeviceState::Ready);
    // The last error stays visible for the technician.
    assert!(status.last_error.unwrap().contains("busy"));
}

#[test]
fn the_camera_slot_follows_its_family() {
    let bench = Arc::new(Bench::default());
    let mut cam = reader("camera:0", "cam");
    cam.kind = DeviceKind::Camera;
    bench.plug(cam.clone());
    let m = manager(&bench, false, DeviceSettings::default());
    m.scan();
    let status = m.snapshot().remove(1);
    assert_eq!(
        (status.kind, status.state),
        (DeviceKind::Camera, DeviceState::Ready)
    );
    assert_eq!(status.address, "/dev/camera:0");
    bench.unplug("camera:0");
    m.scan();
    assert_eq!(m.snapshot()[1].state, DeviceState::Unavailable);
    assert!(m.devices().camera.lock().unwrap().open(640, 480).is_err());
}

/// Waits on tokio's paused clock until the reader is ready; returns the virtual time taken.
async fn ready_after(m: &DeviceManager) -> Duration {
    let started = tokio::time::Instant::now();
    while reader_status(m).state != DeviceState::Ready {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never attached"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_hotplug_event_rescans_before_the_next_poll() {
    let bench = Arc::new(Bench::default());
    let m = manager(&bench, true, DeviceSettings::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(m.clone().run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(reader_status(&m).state, DeviceState::Unavailable);
    bench.plug(reader("usb:05ba:000a@1-4", "U.are.U 4500"));
    let took = ready_after(&m).await;
    assert!(took < POLL_INTERVAL / 2, "attached after {took:?}");
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn without_hotplug_the_poll_finds_the_device() {
    let bench = Arc::new(Bench::default());
    let m = manager(&bench, false, DeviceSettings::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(m.clone().run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(100)).await;
    bench.plug(reader("usb:05ba:000a@1-4", "U.are.U 4500"));
    let took = ready_after(&m).await;
    assert!(
        took > POLL_INTERVAL / 2 && took <= POLL_INTERVAL,
        "attached after {took:?}"
    );
    let _ = stop.send(());
    task.await.unwrap();
}

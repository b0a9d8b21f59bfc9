//! Simulated fingerprint reader and camera: `drivers` trait implementations that image
//! whatever the shared [`Scene`] presents, with its device faults and latencies.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drivers::{
    Camera, Cancel, DeviceError, DeviceInfo, DeviceKind, FingerImage, FingerprintReader, RgbImage,
};

use crate::face;
use crate::fingerprint;
use crate::scene::{DeviceMode, FaceShot, Scene};

/// Waits never sleep longer than this, so a cancel is seen within about 10 ms.
const POLL: Duration = Duration::from_millis(10);

/// Sleeps `duration` in short slices, giving up when `cancel` is set or `deadline` passes.
fn pause(duration: Duration, cancel: &Cancel, deadline: Instant) -> Result<(), DeviceError> {
    let end = Instant::now() + duration;
    loop {
        if cancel.is_cancelled() {
            return Err(DeviceError::Cancelled);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        if now >= deadline {
            return Err(DeviceError::Timeout);
        }
        std::thread::sleep(POLL.min(end - now).min(deadline - now));
    }
}

fn check_mode(scene: &Scene, kind: DeviceKind) -> Result<(), DeviceError> {
    match scene.mode(kind) {
        DeviceMode::Present => Ok(()),
        DeviceMode::Absent => Err(DeviceError::Unavailable(format!(
            "simulated {} unplugged",
            kind.as_str()
        ))),
        DeviceMode::Failing => Err(DeviceError::Io(format!(
            "simulated {} transport failure",
            kind.as_str()
        ))),
    }
}

/// A reader that images the scene's presenter; 416×560 at 500 ppi.
pub struct SimulatedReader {
    scene: Arc<Scene>,
    open: bool,
}

impl SimulatedReader {
    pub fn new(scene: Arc<Scene>) -> SimulatedReader {
        SimulatedReader { scene, open: false }
    }

    fn ready(&self) -> Result<(), DeviceError> {
        check_mode(&self.scene, DeviceKind::FingerprintReader)?;
        if self.open {
            Ok(())
        } else {
            Err(DeviceError::Protocol("reader used before open".into()))
        }
    }
}

impl FingerprintReader for SimulatedReader {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::FingerprintReader,
            driver: "simulated".into(),
            address: "sim:fingerprint".into(),
            name: "Simulated optical fingerprint reader".into(),
            firmware: Some(env!("CARGO_PKG_VERSION").into()),
        }
    }

    fn open(&mut self) -> Result<(), DeviceError> {
        check_mode(&self.scene, DeviceKind::FingerprintReader)?;
        self.open = true;
        Ok(())
    }

    fn wait_finger(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.ready()?;
        let deadline = Instant::now() + timeout;
        // Nobody there: keep waiting, as a real sensor does, until someone presents
        // (the control API can change that mid-wait), the timeout, or a cancel.
        while !self.scene.someone_present() {
            pause(POLL, cancel, deadline)?;
            check_mode(&self.scene, DeviceKind::FingerprintReader)?;
        }
        if cancel.is_cancelled() {
            return Err(DeviceError::Cancelled);
        }
        Ok(())
    }

    fn capture(&mut self) -> Result<FingerImage, DeviceError> {
        self.ready()?;
        let latency = self.scene.latency(DeviceKind::FingerprintReader);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let shot = self
            .scene
            .take_finger()
            .ok_or_else(|| DeviceError::Protocol("no finger on the sensor".into()))?;
        tracing::debug!(
            finger = shot.finger,
            impression = shot.impression,
            condition = ?shot.condition,
            "simulated reader captured"
        );
        Ok(fingerprint::impression(
            &shot.subject,
            shot.finger,
            shot.impression,
            shot.condition,
        ))
    }

    fn wait_finger_off(&mut self, timeout: Duration, cancel: &Cancel) -> Result<(), DeviceError> {
        self.ready()?;
        // Simulated fingers lift at once; only a cancel already given is honoured.
        let _ = timeout;
        if cancel.is_cancelled() {
            return Err(DeviceError::Cancelled);
        }
        Ok(())
    }

    fn close(&mut self) {
        self.open = false;
    }
}

/// How many slightly different poses a presentation cycles through, frame after frame.
const MOVEMENTS: u32 = 4;

/// A 640×480 webcam looking at the scene.
pub struct SimulatedCamera {
    scene: Arc<Scene>,
    open: bool,
    /// Rendering a frame costs tens of milliseconds; a preview loop asks for the same view
    /// over and over.
    last: Mutex<Option<(FaceShot, RgbImage)>>,
    /// Frames delivered since creation: a person in front of a camera never holds exactly
    /// still, so consecutive frames differ slightly (a few variations cycle).
    frames: u32,
}

impl SimulatedCamera {
    pub fn new(scene: Arc<Scene>) -> SimulatedCamera {
        SimulatedCamera {
            scene,
            open: false,
            last: Mutex::new(None),
            frames: 0,
        }
    }

    fn render(&self, shot: FaceShot) -> RgbImage {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, image)) = last.as_ref() {
            if *cached == shot {
                return image.clone();
            }
        }
        let image = match &shot.subject {
            Some(subject) => face::frame(subject, shot.variation),
            None => face::empty_frame(shot.variation),
        };
        *last = Some((shot, image.clone()));
        image
    }
}

impl Camera for SimulatedCamera {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::Camera,
            driver: "simulated".into(),
            address: "sim:camera".into(),
            name: "Simulated webcam".into(),
            firmware: None,
        }
    }

    fn open(&mut self, min_width: u32, min_height: u32) -> Result<(u32, u32), DeviceError> {
        check_mode(&self.scene, DeviceKind::Camera)?;
        if min_width > face::FRAME_WIDTH || min_height > face::FRAME_HEIGHT {
            return Err(DeviceError::Protocol(format!(
                "no mode of at least {min_width}x{min_height}; the simulated camera has {}x{}",
                face::FRAME_WIDTH,
                face::FRAME_HEIGHT
            )));
        }
        self.open = true;
        Ok((face::FRAME_WIDTH, face::FRAME_HEIGHT))
    }

    fn frame(&mut self, timeout: Duration, cancel: &Cancel) -> Result<RgbImage, DeviceError> {
        check_mode(&self.scene, DeviceKind::Camera)?;
        if !self.open {
            return Err(DeviceError::Protocol("camera used before open".into()));
        }
        let deadline = Instant::now() + timeout;
        pause(self.scene.latency(DeviceKind::Camera), cancel, deadline)?;
        let mut shot = self.scene.view();
        shot.variation = shot.variation * MOVEMENTS + self.frames % MOVEMENTS;
        self.frames = self.frames.wrapping_add(1);
        Ok(self.render(shot))
    }

    fn close(&mut self) {
        self.open = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{DeviceModes, Presentation, Presenter, Quality};

    fn scene() -> Arc<Scene> {
        Arc::new(Scene::new())
    }

    #[test]
    fn reader_images_the_expected_finger() {
        let scene = scene();
        scene.expect("529.982.247-25", Some(3));
        let mut reader = SimulatedReader::new(scene.clone());
        assert_eq!(reader.info().address, "sim:fingerprint");
        assert_eq!(reader.info().driver, "simulated");
        reader.open().unwrap();
        let cancel = Cancel::new();
        reader.wait_finger(Duration::from_secs(1), &cancel).unwrap();
        let first = reader.capture().unwrap();
        reader
            .wait_finger_off(Duration::from_secs(1), &cancel)
            .unwrap();
        let second = reader.capture().unwrap();
        assert_eq!(first.ppi, 500);
        assert_eq!(
            first,
            fingerprint::impression("52998224725", 3, 100, fingerprint::Condition::Good)
        );
        assert_eq!(
            second,
            fingerprint::impression("52998224725", 3, 101, fingerprint::Condition::Good)
        );
    }

    #[test]
    fn reader_faults_follow_the_scene() {
        let scene = scene();
        let mut reader = SimulatedReader::new(scene.clone());
        assert!(matches!(reader.capture(), Err(DeviceError::Protocol(_))));
        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Absent,
            ..DeviceModes::default()
        });
        assert!(matches!(reader.open(), Err(DeviceError::Unavailable(_))));
        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Failing,
            ..DeviceModes::default()
        });
        assert!(matches!(reader.open(), Err(DeviceError::Io(_))));
        scene.set_devices(DeviceModes::default());
        reader.open().unwrap();
        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Failing,
            ..DeviceModes::default()
        });
        assert!(matches!(reader.capture(), Err(DeviceError::Io(_))));
    }

    #[test]
    fn absent_finger_times_out_or_is_cancelled_promptly() {
        let scene = scene();
        scene.set_presentation(Presentation {
            absent: true,
            ..Presentation::default()
        });
        let mut reader = SimulatedReader::new(scene.clone());
        reader.open().unwrap();
        let started = Instant::now();
        let result = reader.wait_finger(Duration::from_millis(40), &Cancel::new());
        assert_eq!(result, Err(DeviceError::Timeout));
        assert!(started.elapsed() < Duration::from_millis(500));

        let cancel = Cancel::new();
        let stopper = cancel.clone();
        let waiter = std::thread::spawn(move || {
            let started = Instant::now();
            (
                reader.wait_finger(Duration::from_secs(30), &cancel),
                started.elapsed(),
            )
        });
        stopper.cancel();
        let (result, waited) = waiter.join().unwrap();
        assert_eq!(result, Err(DeviceError::Cancelled));
        assert!(waited < Duration::from_secs(1));
    }

    #[test]
    fn finger_placed_during_a_wait_ends_it() {
        let scene = scene();
        scene.set_presentation(Presentation {
            absent: true,
            ..Presentation::default()
        });
        let mut reader = SimulatedReader::new(scene.clone());
        reader.open().unwrap();
        let waiter =
            std::thread::spawn(move || reader.wait_finger(Duration::from_secs(30), &Cancel::new()));
        scene.set_presentation(Presentation::default());
        assert_eq!(waiter.join().unwrap(), Ok(()));
    }

    #[test]
    fn poor_presentation_gives_poor_prints() {
        let scene = scene();
        scene.expect("52998224725", Some(2));
        scene.set_presentation(Presentation {
            presenter: Presenter::Impostor,
            quality: Quality::Poor,
            absent: false,
        });
        let mut reader = SimulatedReader::new(scene);
        reader.open().unwrap();
        let print = reader.capture().unwrap();
        assert_eq!(
            print,
            fingerprint::impression("impostor", 2, 100, fingerprint::Condition::Poor)
        );
    }

    #[test]
    fn camera_shows_the_presenter_or_an_empty_room() {
        let scene = scene();
        scene.expect("52998224725", None);
        let mut camera = SimulatedCamera::new(scene.clone());
        assert!(matches!(
            camera.open(1280, 720),
            Err(DeviceError::Protocol(_))
        ));
        assert_eq!(camera.open(640, 480), Ok((640, 480)));
        let cancel = Cancel::new();
        let frame = camera.frame(Duration::from_secs(1), &cancel).unwrap();
        let view = scene.view();
        // Frame n of a presentation shows movement n (mod MOVEMENTS) of it.
        assert_eq!(
            frame,
            face::frame("52998224725", view.variation * MOVEMENTS)
        );
        let moved = camera.frame(Duration::from_secs(1), &cancel).unwrap();
        assert_eq!(
            moved,
            face::frame("52998224725", view.variation * MOVEMENTS + 1)
        );
        assert_ne!(moved, frame, "the person moves a little between frames");
        scene.set_presentation(Presentation {
            absent: true,
            ..Presentation::default()
        });
        let empty = camera.frame(Duration::from_secs(1), &cancel).unwrap();
        assert_eq!(empty, face::empty_frame(view.variation * MOVEMENTS + 2));
        scene.set_devices(DeviceModes {
            camera: DeviceMode::Absent,
            ..DeviceModes::default()
        });
        assert!(matches!(
            camera.frame(Duration::from_secs(1), &cancel),
            Err(DeviceError::Unavailable(_))
        ));
    }

    #[test]
    fn camera_latency_respects_timeout_and_cancel() {
        let scene = scene();
        scene.set_latency(DeviceKind::Camera, Duration::from_secs(30));
        let mut camera = SimulatedCamera::new(scene);
        camera.open(640, 480).unwrap();
        let started = Instant::now();
        assert_eq!(
            camera.frame(Duration::from_millis(30), &Cancel::new()),
            Err(DeviceError::Timeout)
        );
        let cancel = Cancel::new();
        cancel.cancel();
        assert_eq!(
            camera.frame(Duration::from_secs(30), &cancel),
            Err(DeviceError::Cancelled)
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

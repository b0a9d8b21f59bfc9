//! The simulated reader and camera as device families, so simulate mode finds, loses and
//! reopens them through the same device manager as real hardware. A device set `absent` on
//! the control API is not listed (unplugged); `failing` is listed (plugged in but broken).

use std::sync::Arc;

use drivers::{
    Camera, CameraFamily, Candidate, DeviceError, DeviceKind, FingerprintReader, ReaderFamily, Wake,
};

use crate::devices::{SimulatedCamera, SimulatedReader};
use crate::scene::{DeviceMode, Scene};

pub const READER_ID: &str = "sim:fingerprint";
pub const CAMERA_ID: &str = "sim:camera";

fn listed(scene: &Scene, kind: DeviceKind, id: &str, name: &str) -> Vec<Candidate> {
    if scene.mode(kind) == DeviceMode::Absent {
        return Vec::new();
    }
    vec![Candidate {
        kind,
        driver: "simulated",
        id: id.to_string(),
        address: id.to_string(),
        name: name.to_string(),
    }]
}

fn check(
    scene: &Scene,
    kind: DeviceKind,
    candidate: &Candidate,
    id: &str,
) -> Result<(), DeviceError> {
    if candidate.id != id {
        return Err(DeviceError::Unavailable(format!(
            "{} is not a simulated {}",
            candidate.id,
            kind.as_str()
        )));
    }
    if scene.mode(kind) == DeviceMode::Absent {
        return Err(DeviceError::Unavailable(format!(
            "simulated {} unplugged",
            kind.as_str()
        )));
    }
    Ok(())
}

/// The simulated fingerprint reader, present unless the scene says `absent`.
pub struct SimulatedReaders {
    scene: Arc<Scene>,
}

impl SimulatedReaders {
    pub fn new(scene: Arc<Scene>) -> SimulatedReaders {
        SimulatedReaders { scene }
    }
}

impl ReaderFamily for SimulatedReaders {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn enumerate(&self) -> Vec<Candidate> {
        listed(
            &self.scene,
            DeviceKind::FingerprintReader,
            READER_ID,
            "Simulated optical fingerprint reader",
        )
    }

    fn open(&self, candidate: &Candidate) -> Result<Box<dyn FingerprintReader>, DeviceError> {
        check(
            &self.scene,
            DeviceKind::FingerprintReader,
            candidate,
            READER_ID,
        )?;
        Ok(Box::new(SimulatedReader::new(self.scene.clone())))
    }

    fn watch(&self, wake: Wake) -> bool {
        self.scene.on_devices_changed(wake);
        true
    }
}

/// The simulated webcam, present unless the scene says `absent`.
pub struct SimulatedCameras {
    scene: Arc<Scene>,
}

impl SimulatedCameras {
    pub fn new(scene: Arc<Scene>) -> SimulatedCameras {
        SimulatedCameras { scene }
    }
}

impl CameraFamily for SimulatedCameras {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn enumerate(&self) -> Vec<Candidate> {
        listed(
            &self.scene,
            DeviceKind::Camera,
            CAMERA_ID,
            "Simulated webcam",
        )
    }

    fn open(&self, candidate: &Candidate) -> Result<Box<dyn Camera>, DeviceError> {
        check(&self.scene, DeviceKind::Camera, candidate, CAMERA_ID)?;
        Ok(Box::new(SimulatedCamera::new(self.scene.clone())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::scene::DeviceModes;

    #[test]
    fn unplugged_devices_are_not_listed_and_do_not_open() {
        let scene = Arc::new(Scene::new());
        let readers = SimulatedReaders::new(scene.clone());
        let cameras = SimulatedCameras::new(scene.clone());
        let reader = readers.enumerate().remove(0);
        let camera = cameras.enumerate().remove(0);
        assert_eq!(reader.id, READER_ID);
        assert!(reader.matches("fingerprint"));
        assert_eq!(camera.kind, DeviceKind::Camera);
        assert_eq!(readers.open(&reader).unwrap().info().driver, "simulated");
        assert!(matches!(
            readers.open(&camera),
            Err(DeviceError::Unavailable(_))
        ));

        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Absent,
            camera: DeviceMode::Failing,
        });
        assert!(readers.enumerate().is_empty());
        assert!(matches!(
            readers.open(&reader),
            Err(DeviceError::Unavailable(_))
        ));
        // Broken but plugged in: listed, and its calls fail.
        assert_eq!(cameras.enumerate().len(), 1);
        let mut broken = cameras.open(&camera).unwrap();
        assert!(matches!(broken.open(640, 480), Err(DeviceError::Io(_))));
    }

    #[test]
    fn plugging_wakes_the_watcher() {
        let scene = Arc::new(Scene::new());
        let readers = SimulatedReaders::new(scene.clone());
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = woken.clone();
        assert!(readers.watch(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })));
        scene.set_devices(DeviceModes {
            fingerprint: DeviceMode::Absent,
            ..DeviceModes::default()
        });
        scene.set_devices(DeviceModes::default());
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }
}

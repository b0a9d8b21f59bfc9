//! Webcams over V4L2 (through `nokhwa`, which appears only in this module): the family that
//! lists `/dev/video*` capture nodes, and the camera that streams from one of them.

mod format;
mod v4l2;

use std::fs;
use std::path::{Path, PathBuf};

pub use format::{choose, mjpeg_to_rgb, to_rgb, yuyv_to_rgb, Encoding, Mode};
pub use v4l2::V4l2Camera;

use crate::family::{CameraFamily, Candidate};
use crate::{Camera, DeviceError, DeviceKind};

/// The V4L2 cameras of this machine.
#[derive(Clone, Debug)]
pub struct V4l2Cameras {
    dev: PathBuf,
    sys: PathBuf,
}

impl Default for V4l2Cameras {
    fn default() -> Self {
        V4l2Cameras::new()
    }
}

impl V4l2Cameras {
    pub fn new() -> V4l2Cameras {
        V4l2Cameras::with_roots("/dev", "/sys/class/video4linux")
    }

    /// Looks for nodes under `dev` and their attributes under `sys` (tests use fake trees).
    pub fn with_roots(dev: impl Into<PathBuf>, sys: impl Into<PathBuf>) -> V4l2Cameras {
        V4l2Cameras {
            dev: dev.into(),
            sys: sys.into(),
        }
    }

    /// `videoN` capture nodes, by ascending N. A UVC camera also creates a metadata node
    /// (sysfs `index` 1 and up) that yields no pictures; those are skipped.
    fn nodes(&self) -> Vec<(u32, String)> {
        let Ok(entries) = fs::read_dir(&self.dev) else {
            return Vec::new();
        };
        let mut nodes: Vec<(u32, String)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let number: u32 = name.strip_prefix("video")?.parse().ok()?;
                let attr = |a: &str| {
                    fs::read_to_string(self.sys.join(&name).join(a))
                        .ok()
                        .map(|s| s.trim().to_string())
                };
                if attr("index").is_some_and(|i| i != "0") {
                    return None;
                }
                let label = attr("name")
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("V4L2 camera video{number}"));
                Some((number, label))
            })
            .collect();
        nodes.sort();
        nodes
    }

    fn node_path(&self, index: u32) -> PathBuf {
        self.dev.join(format!("video{index}"))
    }
}

/// The camera index a candidate id (`camera:N`) names.
fn index_of(candidate: &Candidate) -> Result<u32, DeviceError> {
    candidate
        .id
        .strip_prefix("camera:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            DeviceError::Unavailable(format!("{} is not a V4L2 camera id", candidate.id))
        })
}

impl CameraFamily for V4l2Cameras {
    fn name(&self) -> &'static str {
        "v4l2"
    }

    fn enumerate(&self) -> Vec<Candidate> {
        self.nodes()
            .into_iter()
            .map(|(index, name)| Candidate {
                kind: DeviceKind::Camera,
                driver: "v4l2",
                id: format!("camera:{index}"),
                address: self.node_path(index).display().to_string(),
                name,
            })
            .collect()
    }

    fn open(&self, candidate: &Candidate) -> Result<Box<dyn Camera>, DeviceError> {
        let index = index_of(candidate)?;
        let node = self.node_path(index);
        if !node.exists() {
            return Err(DeviceError::Unavailable(format!(
                "{} is not there",
                node.display()
            )));
        }
        Ok(Box::new(V4l2Camera::new(
            index,
            node,
            candidate.name.clone(),
        )))
    }
}

/// True while the device node exists: V4L2 reports an unplugged camera as an IO error, and
/// only the missing node tells it apart from a transient failure.
fn node_present(node: &Path) -> bool {
    node.exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cancel;
    use std::time::Duration;

    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Tree {
            let root =
                std::env::temp_dir().join(format!("drivers-v4l2-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("dev")).unwrap();
            fs::create_dir_all(root.join("sys")).unwrap();
            Tree(root)
        }
        fn node(&self, n: u32, index: Option<&str>, name: Option<&str>) {
            fs::write(self.0.join("dev").join(format!("video{n}")), b"").unwrap();
            let sys = self.0.join("sys").join(format!("video{n}"));
            fs::create_dir_all(&sys).unwrap();
            if let Some(i) = index {
                fs::write(sys.join("index"), format!("{i}\n")).unwrap();
            }
            if let Some(name) = name {
                fs::write(sys.join("name"), format!("{name}\n")).unwrap();
            }
        }
        fn family(&self) -> V4l2Cameras {
            V4l2Cameras::with_roots(self.0.join("dev"), self.0.join("sys"))
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn no_v4l2_means_no_cameras() {
        let family = V4l2Cameras::with_roots("/nonexistent/dev", "/nonexistent/sys");
        assert!(family.enumerate().is_empty());
        // This machine has no V4L2 at all: the real roots give an empty list too, not a panic.
        let _ = V4l2Cameras::new().enumerate();
    }

    #[test]
    fn lists_capture_nodes_and_skips_metadata_nodes() {
        let tree = Tree::new("list");
        tree.node(2, Some("0"), Some("USB2.0 HD UVC WebCam"));
        tree.node(3, Some("1"), Some("USB2.0 HD UVC WebCam"));
        tree.node(0, None, None);
        fs::write(tree.0.join("dev").join("video-loop"), b"").unwrap();
        fs::write(tree.0.join("dev").join("vcs1"), b"").unwrap();
        let found = tree.family().enumerate();
        let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["camera:0", "camera:2"]);
        assert_eq!(found[0].name, "V4L2 camera video0");
        assert_eq!(found[1].name, "USB2.0 HD UVC WebCam");
        assert_eq!(found[1].driver, "v4l2");
        assert!(found[1].address.ends_with("/dev/video2"));
        assert!(found[1].matches("2") && found[1].matches("camera:2"));
    }

    #[test]
    fn opening_a_vanished_node_is_unavailable() {
        let tree = Tree::new("open");
        tree.node(0, Some("0"), Some("cam"));
        let family = tree.family();
        let candidate = family.enumerate().remove(0);
        assert!(family.open(&candidate).is_ok());
        fs::remove_file(tree.0.join("dev").join("video0")).unwrap();
        assert!(matches!(
            family.open(&candidate),
            Err(DeviceError::Unavailable(_))
        ));
        let mut foreign = candidate.clone();
        foreign.id = "camera:x".into();
        assert!(matches!(
            family.open(&foreign),
            Err(DeviceError::Unavailable(_))
        ));
        foreign.id = "usb:05ba:000a".into();
        assert!(matches!(
            family.open(&foreign),
            Err(DeviceError::Unavailable(_))
        ));
    }

    #[test]
    fn a_node_that_is_no_camera_fails_to_open_cleanly() {
        // nokhwa opens /dev/video97 itself, which does not exist; our node does, so this is an
        // IO error (a present but unusable device), not a panic and not "unplugged".
        let tree = Tree::new("bogus");
        tree.node(97, Some("0"), Some("not a camera"));
        let family = tree.family();
        let candidate = family.enumerate().remove(0);
        let mut camera = family.open(&candidate).unwrap();
        assert_eq!(camera.info().address, candidate.address);
        assert!(matches!(
            camera.frame(Duration::from_millis(5), &Cancel::new()),
            Err(DeviceError::Protocol(_))
        ));
        assert!(matches!(camera.open(640, 480), Err(DeviceError::Io(_))));
        fs::remove_file(tree.0.join("dev").join("video97")).unwrap();
        assert!(matches!(
            camera.open(640, 480),
            Err(DeviceError::Unavailable(_))
        ));
        camera.close();
    }
}

//! One V4L2 webcam streamed through `nokhwa` on a worker thread.
//!
//! nokhwa's frame read blocks with no timeout, so a worker thread owns the nokhwa camera (it
//! is not `Send` anyway) and keeps the newest raw frame; [`Camera::frame`] waits for a frame
//! newer than the last one it returned, in short slices so a timeout or cancel is honoured.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::RgbImage;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use super::format::{self, Encoding, Mode};
use super::node_present;
use crate::{Camera, Cancel, DeviceError, DeviceInfo, DeviceKind};

/// How long opening (format negotiation, buffer allocation, stream on) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single wait, so cancel and the deadline are seen promptly.
const SLICE: Duration = Duration::from_millis(10);
/// How long a reopen waits for the previous stream's worker to let go of the device.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

pub struct V4l2Camera {
    index: u32,
    node: PathBuf,
    name: String,
    stream: Option<Stream>,
    /// The worker of a closed stream, still finishing its last frame read.
    closing: Option<JoinHandle<()>>,
}

struct Stream {
    mode: Mode,
    shared: Arc<Shared>,
    worker: JoinHandle<()>,
    /// Sequence number of the last frame returned.
    seen: u64,
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Latest>,
    fresh: Condvar,
    stop: AtomicBool,
}

#[derive(Default)]
struct Latest {
    seq: u64,
    data: Vec<u8>,
    /// Why the worker stopped reading (unplugged, IO error).
    ended: Option<DeviceError>,
}

impl V4l2Camera {
    pub fn new(index: u32, node: PathBuf, name: String) -> V4l2Camera {
        V4l2Camera {
            index,
            node,
            name,
            stream: None,
            closing: None,
        }
    }

    fn gone(&self) -> DeviceError {
        DeviceError::Unavailable(format!("camera {} unplugged", self.node.display()))
    }

    /// An error from nokhwa: a missing node means the camera was unplugged.
    fn classify(&self, what: &str, e: impl std::fmt::Display) -> DeviceError {
        if node_present(&self.node) {
            DeviceError::Io(format!("{what} {}: {e}", self.node.display()))
        } else {
            self.gone()
        }
    }

    fn wait_released(&mut self) {
        if let Some(worker) = self.closing.take() {
            let until = Instant::now() + RELEASE_WAIT;
            while !worker.is_finished() && Instant::now() < until {
                std::thread::sleep(SLICE);
            }
            if worker.is_finished() {
                let _ = worker.join();
            } else {
                self.closing = Some(worker);
            }
        }
    }

    fn start(&mut self, min_width: u32, min_height: u32) -> Result<Stream, DeviceError> {
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let index = self.index;
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name(format!("v4l2-video{index}"))
            .spawn(move || stream_frames(index, min_width, min_height, ready_tx, &worker_shared))
            .map_err(|e| DeviceError::Io(format!("cannot start the camera thread: {e}")))?;
        match ready_rx.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(mode)) => Ok(Stream {
                mode,
                shared,
                worker,
                seen: 0,
            }),
            Ok(Err(Setup::NoMode(offered))) => Err(DeviceError::Protocol(format!(
                "{} offers no MJPEG or YUYV mode of at least {min_width}x{min_height} (offers: {offered})",
                self.node.display()
            ))),
            Ok(Err(Setup::Failed(what, e))) => Err(self.classify(what, e)),
            Err(_) => {
                shared.stop.store(true, Ordering::SeqCst);
                self.closing = Some(worker);
                Err(self.classify("opening", "no answer within 5 s"))
            }
        }
    }
}

enum Setup {
    /// No adequate mode; what the camera offers, for the message.
    NoMode(String),
    Failed(&'static str, String),
}

fn mode_of(format: &CameraFormat) -> Option<Mode> {
    let encoding = match format.format() {
        FrameFormat::MJPEG => Encoding::Mjpeg,
        FrameFormat::YUYV => Encoding::Yuyv,
        _ => return None,
    };
    Some(Mode {
        encoding,
        width: format.width(),
        height: format.height(),
        fps: format.frame_rate(),
    })
}

/// The worker: opens the camera, negotiates, reports the mode, then reads frames until told
/// to stop or the device fails.
fn stream_frames(
    index: u32,
    min_width: u32,
    min_height: u32,
    ready: mpsc::Sender<Result<Mode, Setup>>,
    shared: &Shared,
) {
    let fail = |what: &'static str, e: &dyn std::fmt::Display| {
        let _ = ready.send(Err(Setup::Failed(what, e.to_string())));
    };
    let wanted = [FrameFormat::MJPEG, FrameFormat::YUYV];
    let request = RequestedFormat::with_formats(RequestedFormatType::None, &wanted);
    let mut camera = match nokhwa::Camera::with_backend(
        CameraIndex::Index(index),
        request,
        ApiBackend::Video4Linux,
    ) {
        Ok(c) => c,
        Err(e) => return fail("opening", &e),
    };
    let offered = match camera.compatible_camera_formats() {
        Ok(f) => f,
        Err(e) => return fail("listing the modes of", &e),
    };
    let modes: Vec<(Mode, CameraFormat)> = offered
        .iter()
        .filter_map(|f| mode_of(f).map(|m| (m, *f)))
        .collect();
    let plain: Vec<Mode> = modes.iter().map(|(m, _)| *m).collect();
    let Some(chosen) = format::choose(&plain, min_width, min_height) else {
        let list: Vec<String> = offered.iter().map(ToString::to_string).collect();
        let _ = ready.send(Err(Setup::NoMode(list.join(", "))));
        return;
    };
    let Some(native) = modes.iter().find(|(m, _)| *m == chosen).map(|(_, f)| *f) else {
        return fail("choosing a mode of", &"the chosen mode is not offered");
    };
    let exact = [native.format()];
    if let Err(e) = camera.set_camera_requset(RequestedFormat::with_formats(
        RequestedFormatType::Exact(native),
        &exact,
    )) {
        return fail("setting the mode of", &e);
    }
    if let Err(e) = camera.open_stream() {
        return fail("starting the stream of", &e);
    }
    if ready.send(Ok(chosen)).is_err() {
        // The opener gave up waiting.
        let _ = camera.stop_stream();
        return;
    }
    while !shared.stop.load(Ordering::SeqCst) {
        let read = camera.frame_raw().map(|data| data.into_owned());
        let mut latest = shared.latest.lock().unwrap_or_else(|e| e.into_inner());
        match read {
            Ok(data) => {
                latest.seq += 1;
                latest.data = data;
            }
            Err(e) => {
                latest.ended = Some(DeviceError::Io(format!("reading a frame: {e}")));
                shared.fresh.notify_all();
                break;
            }
        }
        shared.fresh.notify_all();
    }
    let _ = camera.stop_stream();
}

impl Camera for V4l2Camera {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: DeviceKind::Camera,
            driver: "v4l2".into(),
            address: self.node.display().to_string(),
            name: self.name.clone(),
            firmware: None,
        }
    }

    fn open(&mut self, min_width: u32, min_height: u32) -> Result<(u32, u32), DeviceError> {
        if let Some(stream) = &self.stream {
            let alive = stream
                .shared
                .latest
                .lock()
                .map(|l| l.ended.is_none())
                .unwrap_or(false);
            if alive && stream.mode.width >= min_width && stream.mode.height >= min_height {
                return Ok((stream.mode.width, stream.mode.height));
            }
            self.close();
        }
        if !node_present(&self.node) {
            return Err(self.gone());
        }
        self.wait_released();
        let stream = self.start(min_width, min_height)?;
        let size = (stream.mode.width, stream.mode.height);
        self.stream = Some(stream);
        Ok(size)
    }

    fn frame(&mut self, timeout: Duration, cancel: &Cancel) -> Result<RgbImage, DeviceError> {
        let deadline = Instant::now() + timeout;
        let (mode, data) = {
            let Some(stream) = self.stream.as_mut() else {
                return Err(DeviceError::Protocol("camera used before open".into()));
            };
            let shared = stream.shared.clone();
            let mut latest = shared.latest.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if latest.seq > stream.seen {
                    stream.seen = latest.seq;
                    break (stream.mode, latest.data.clone());
                }
                if let Some(e) = latest.ended.clone() {
                    drop(latest);
                    return Err(match e {
                        DeviceError::Io(msg) => self.classify("streaming", msg),
                        other => other,
                    });
                }
                if cancel.is_cancelled() {
                    return Err(DeviceError::Cancelled);
                }
                let now = Instant::now();
                if now >= deadline {
                    drop(latest);
                    // A camera pulled out mid-read may leave the worker blocked; the node says.
                    return Err(if node_present(&self.node) {
                        DeviceError::Timeout
                    } else {
                        self.gone()
                    });
                }
                let wait = SLICE.min(deadline - now);
                latest = shared
                    .fresh
                    .wait_timeout(latest, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        format::to_rgb(&mode, &data)
    }

    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.shared.stop.store(true, Ordering::SeqCst);
            // The worker may be inside a blocking frame read; it exits after that read, so it
            // is not joined here (see `wait_released`).
            self.closing = Some(stream.worker);
        }
    }
}

impl Drop for V4l2Camera {
    fn drop(&mut self) {
        self.close();
    }
}

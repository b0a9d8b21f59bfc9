//! `POST /test-capture {"kind":"finger"|"face"}`: one capture with the station's current
//! device, answered as a PNG with the quality report in `X-Spidd-*` headers. Refused (409)
//! while the flow captures: the technician never takes a device from a customer.

use std::io::Cursor;
use std::sync::TryLockError;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use biometrics::fingerprint;
use drivers::{Cancel, DeviceError};
use serde_json::{json, Value};
use state_machine::CaptureState;

use super::metrics::METRICS;
use super::{StatusError, StatusState};
use crate::capture::CaptureContext;

/// How long a test capture waits for a finger or a face unless told otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Finger,
    Face,
}

/// What one test capture produced.
struct Shot {
    png: Vec<u8>,
    width: u32,
    height: u32,
    ppi: Option<u16>,
    quality: u8,
    report: Value,
}

enum Failure {
    Busy,
    Device(DeviceError),
    Encode(String),
}

/// Cancels the capture when the request goes away (the client hung up).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn parse_request(body: &[u8]) -> Result<(Kind, Duration), StatusError> {
    let usage = "the body must be JSON like {\"kind\": \"finger\"} or {\"kind\": \"face\"}, with an optional \"timeout_ms\" from 1 to 60000";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| StatusError::bad_request(format!("{usage}: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| StatusError::bad_request(usage))?;
    if let Some(k) = map
        .keys()
        .find(|k| !["kind", "timeout_ms"].contains(&k.as_str()))
    {
        return Err(StatusError::bad_request(format!(
            "unknown field `{k}`; {usage}"
        )));
    }
    let kind = match map.get("kind").and_then(Value::as_str) {
        Some("finger") => Kind::Finger,
        Some("face") => Kind::Face,
        _ => {
            return Err(StatusError::bad_request(format!(
                "`kind` must be \"finger\" or \"face\"; {usage}"
            )))
        }
    };
    let timeout = match map.get("timeout_ms") {
        None => DEFAULT_TIMEOUT,
        Some(v) => v
            .as_u64()
            .map(Duration::from_millis)
            .filter(|d| !d.is_zero() && *d <= MAX_TIMEOUT)
            .ok_or_else(|| {
                StatusError::bad_request(format!("`timeout_ms` is out of range; {usage}"))
            })?,
    };
    Ok((kind, timeout))
}

pub async fn test_capture(State(state): State<StatusState>, body: Bytes) -> Response {
    let (kind, timeout) = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if matches!(
        state.flow.snapshot().state,
        CaptureState::ClientCapturing | CaptureState::OperatorCapturing
    ) {
        return busy().into_response();
    }
    let cancel = CancelOnDrop(Cancel::new());
    let ctx = state.capture.clone();
    let c = cancel.0.clone();
    let started = Instant::now();
    let shot = tokio::task::spawn_blocking(move || match kind {
        Kind::Finger => finger(&ctx, timeout, &c),
        Kind::Face => face(&ctx, timeout, &c),
    })
    .await;
    let shot = match shot {
        Ok(Ok(shot)) => shot,
        Ok(Err(Failure::Busy)) => return busy().into_response(),
        Ok(Err(Failure::Device(e))) => {
            if !matches!(e, DeviceError::Timeout | DeviceError::Cancelled) {
                METRICS.device_error(kind == Kind::Face);
            }
            return device_error(kind, &e, timeout).into_response();
        }
        Ok(Err(Failure::Encode(e))) => return StatusError::internal(e).into_response(),
        Err(e) => {
            return StatusError::internal(format!("the test capture failed: {e}")).into_response()
        }
    };
    tracing::info!(
        kind = ?kind,
        quality = shot.quality,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "test capture"
    );
    let mut response = ([(header::CONTENT_TYPE, "image/png")], shot.png).into_response();
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("x-spidd-kind", format!("{kind:?}").to_ascii_lowercase());
    put("x-spidd-quality", shot.quality.to_string());
    put("x-spidd-width", shot.width.to_string());
    put("x-spidd-height", shot.height.to_string());
    if let Some(ppi) = shot.ppi {
        put("x-spidd-ppi", ppi.to_string());
    }
    put("x-spidd-quality-report", shot.report.to_string());
    response
}

fn busy() -> StatusError {
    StatusError::new(
        StatusCode::CONFLICT,
        "CAPTURE_IN_PROGRESS",
        "a capture of the station's flow is in progress; try again when it is over",
    )
}

fn device_error(kind: Kind, e: &DeviceError, timeout: Duration) -> StatusError {
    let what = match kind {
        Kind::Finger => "no finger was placed on the reader",
        Kind::Face => "the camera gave no frame",
    };
    match e {
        DeviceError::Timeout => StatusError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "NOTHING_PRESENTED",
            format!("{what} within {} s", timeout.as_secs_f32()),
        ),
        DeviceError::Cancelled => StatusError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "CANCELLED",
            "the test capture was cancelled",
        ),
        DeviceError::Unavailable(why) => StatusError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DEVICE_UNAVAILABLE",
            why.clone(),
        ),
        other => StatusError::new(StatusCode::BAD_GATEWAY, "DEVICE_ERROR", other.to_string()),
    }
}

fn encode(image: &impl image_writable::Writable) -> Result<Vec<u8>, Failure> {
    let mut png = Vec::new();
    image
        .write_png(&mut Cursor::new(&mut png))
        .map_err(|e| Failure::Encode(format!("cannot encode the PNG: {e}")))?;
    Ok(png)
}

/// The two image types the devices give, written as PNG.
mod image_writable {
    use std::io::Cursor;

    pub trait Writable {
        fn write_png(&self, out: &mut Cursor<&mut Vec<u8>>) -> image::ImageResult<()>;
    }

    impl Writable for image::GrayImage {
        fn write_png(&self, out: &mut Cursor<&mut Vec<u8>>) -> image::ImageResult<()> {
            self.write_to(out, image::ImageFormat::Png)
        }
    }

    impl Writable for image::RgbImage {
        fn write_png(&self, out: &mut Cursor<&mut Vec<u8>>) -> image::ImageResult<()> {
            self.write_to(out, image::ImageFormat::Png)
        }
    }
}

fn finger(ctx: &CaptureContext, timeout: Duration, cancel: &Cancel) -> Result<Shot, Failure> {
    let taken = {
        let mut reader = match ctx.devices.reader.try_lock() {
            Ok(r) => r,
            Err(TryLockError::WouldBlock) => return Err(Failure::Busy),
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        reader.open().map_err(Failure::Device)?;
        reader
            .wait_finger(timeout, cancel)
            .map_err(Failure::Device)?;
        let image = reader.capture().map_err(Failure::Device)?;
        let _ = reader.wait_finger_off(Duration::from_millis(200), cancel);
        image
    };
    let (report, _template) = fingerprint::assess(&taken.image, taken.ppi);
    Ok(Shot {
        png: encode(&taken.image)?,
        width: taken.image.width(),
        height: taken.image.height(),
        ppi: Some(taken.ppi),
        quality: report.score,
        report: json!({
            "score": report.score,
            "foreground_fraction": round(report.foreground_fraction),
            "foreground_area_mm2": round(report.foreground_area_mm2),
            "orientation_certainty": round(report.orientation_certainty),
            "clarity": round(report.clarity),
            "contrast": round(report.contrast),
            "minutiae": report.minutiae_count,
            "feedback": report.feedback.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
        }),
    })
}

/// Frames until one shows a face (or the time is up), and returns the last frame seen.
fn face(ctx: &CaptureContext, timeout: Duration, cancel: &Cancel) -> Result<Shot, Failure> {
    let deadline = Instant::now() + timeout;
    let mut camera = match ctx.devices.camera.try_lock() {
        Ok(c) => c,
        Err(TryLockError::WouldBlock) => return Err(Failure::Busy),
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
    };
    camera
        .open(ctx.camera_resolution.0, ctx.camera_resolution.1)
        .map_err(Failure::Device)?;
    let mut last = None;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || cancel.is_cancelled() {
            break Ok(());
        }
        match camera.frame(left.min(Duration::from_secs(1)), cancel) {
            Ok(frame) => {
                let report = ctx.faces.check(&frame);
                let found = !report.faces.is_empty();
                last = Some((frame, report));
                if found {
                    break Ok(());
                }
            }
            Err(DeviceError::Timeout) => continue,
            Err(e) => break Err(e),
        }
    };
    camera.close();
    drop(camera);
    outcome.map_err(Failure::Device)?;
    let (frame, report) = last.ok_or(Failure::Device(if cancel.is_cancelled() {
        DeviceError::Cancelled
    } else {
        DeviceError::Timeout
    }))?;
    Ok(Shot {
        png: encode(&frame)?,
        width: frame.width(),
        height: frame.height(),
        ppi: None,
        quality: report.score,
        report: json!({
            "score": report.score,
            "passed": report.passed,
            "faces": report.faces.len(),
            "failed_checks": report.failures().map(|c| c.check.name()).collect::<Vec<_>>(),
        }),
    })
}

fn round(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_strictly() {
        assert_eq!(
            parse_request(br#"{"kind":"finger"}"#).unwrap(),
            (Kind::Finger, DEFAULT_TIMEOUT)
        );
        assert_eq!(
            parse_request(br#"{"kind":"face","timeout_ms":2500}"#).unwrap(),
            (Kind::Face, Duration::from_millis(2500))
        );
        for bad in [
            &b""[..],
            b"[]",
            br#"{"kind":"iris"}"#,
            br#"{"kind":"finger","timeout_ms":0}"#,
            br#"{"kind":"finger","timeout_ms":60001}"#,
            br#"{"kind":"finger","extra":1}"#,
        ] {
            let e = parse_request(bad).unwrap_err();
            assert_eq!(
                e.status,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

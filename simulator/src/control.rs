//! The simulator control API: `/sim/present` and `/sim/devices` set and show what the
//! simulated devices see. Bodies are checked by hand so every 400 names the offending field.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use drivers::DeviceKind;
use serde_json::{json, Map, Value};

use crate::scene::{
    normalise_subject, DeviceMode, DeviceModes, Presentation, Presenter, Quality, Scene,
};

/// The control routes, state applied, ready to merge into another router.
pub fn router(scene: Arc<Scene>) -> Router {
    Router::new()
        .route("/sim/present", get(get_present).post(post_present))
        .route("/sim/devices", get(get_devices).post(post_devices))
        .with_state(scene)
}

/// A rejected control request: 400 with `{"error": "..."}`.
#[derive(Debug)]
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": self.0 }))).into_response()
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BadRequest("body must be a JSON object".into())),
        Err(e) => Err(BadRequest(format!("body is not valid JSON: {e}"))),
    }
}

fn reject_unknown(map: &Map<String, Value>, known: &[&str]) -> Result<(), BadRequest> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(BadRequest(format!(
            "unknown field `{key}` (expected one of: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, BadRequest> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(BadRequest(format!("field `{field}` must be a string"))),
    }
}

fn presenter_json(presenter: &Presenter) -> Value {
    match presenter {
        Presenter::Expected => json!("expected"),
        Presenter::Impostor => json!("impostor"),
        Presenter::Subject(subject) => json!(subject),
    }
}

fn present_json(scene: &Scene) -> Value {
    let presentation = scene.presentation();
    let expecting = scene
        .expectation()
        .map(|e| json!({ "subject": e.subject, "finger": e.finger }));
    json!({
        "subject": presenter_json(&presentation.presenter),
        "quality": presentation.quality.as_str(),
        "absent": presentation.absent,
        "expecting": expecting,
    })
}

fn devices_json(scene: &Scene) -> Value {
    let devices = scene.devices();
    json!({
        "fingerprint": devices.fingerprint.as_str(),
        "camera": devices.camera.as_str(),
        "fingerprint_latency_ms": scene.latency(DeviceKind::FingerprintReader).as_millis() as u64,
        "camera_latency_ms": scene.latency(DeviceKind::Camera).as_millis() as u64,
    })
}

async fn get_present(State(scene): State<Arc<Scene>>) -> Json<Value> {
    Json(present_json(&scene))
}

async fn get_devices(State(scene): State<Arc<Scene>>) -> Json<Value> {
    Json(devices_json(&scene))
}

/// Applies every given field or none: a bad field leaves the scene as it was.
fn apply_present(scene: &Scene, body: &[u8]) -> Result<(), BadRequest> {
    let map = parse_object(body)?;
    reject_unknown(&map, &["subject", "quality", "absent"])?;
    let mut next: Presentation = scene.presentation();
    if let Some(subject) = string_field(&map, "subject")? {
        next.presenter = match subject {
            "expected" => Presenter::Expected,
            "impostor" => Presenter::Impostor,
            other => {
                let normal = normalise_subject(other);
                let valid = !normal.is_empty()
                    && normal.len() <= 64
                    && normal.chars().all(|c| c.is_ascii_alphanumeric());
                if !valid {
                    return Err(BadRequest(format!(
                        "field `subject` must be \"expected\", \"impostor\" or a CPF, got {other:?}"
                    )));
                }
                Presenter::Subject(normal)
            }
        };
    }
    if let Some(quality) = string_field(&map, "quality")? {
        next.quality = match quality {
            "good" => Quality::Good,
            "poor" => Quality::Poor,
            other => {
                return Err(BadRequest(format!(
                    "field `quality` must be \"good\" or \"poor\", got {other:?}"
                )))
            }
        };
    }
    match map.get("absent") {
        None => {}
        Some(Value::Bool(absent)) => next.absent = *absent,
        Some(_) => return Err(BadRequest("field `absent` must be a boolean".into())),
    }
    scene.set_presentation(next);
    Ok(())
}

async fn post_present(State(scene): State<Arc<Scene>>, body: Bytes) -> Response {
    match apply_present(&scene, &body) {
        Ok(()) => {
            tracing::info!("simulator presentation changed");
            Json(present_json(&scene)).into_response()
        }
        Err(bad) => bad.into_response(),
    }
}

fn apply_devices(scene: &Scene, body: &[u8]) -> Result<(), BadRequest> {
    let map = parse_object(body)?;
    reject_unknown(
        &map,
        &[
            "fingerprint",
            "camera",
            "fingerprint_latency_ms",
            "camera_latency_ms",
        ],
    )?;
    let mode = |field: &str| -> Result<Option<DeviceMode>, BadRequest> {
        string_field(&map, field)?
            .map(|value| match value {
                "present" => Ok(DeviceMode::Present),
                "absent" => Ok(DeviceMode::Absent),
                "failing" => Ok(DeviceMode::Failing),
                other => Err(BadRequest(format!(
                    "field `{field}` must be \"present\", \"absent\" or \"failing\", got {other:?}"
                ))),
            })
            .transpose()
    };
    let latency = |field: &str| -> Result<Option<Duration>, BadRequest> {
        match map.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|ms| *ms <= 600_000)
                .map(|ms| Some(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    BadRequest(format!(
                        "field `{field}` must be an integer number of milliseconds, 0–600000"
                    ))
                }),
        }
    };
    let mut devices: DeviceModes = scene.devices();
    let fingerprint = mode("fingerprint")?;
    let camera = mode("camera")?;
    let fingerprint_latency = latency("fingerprint_latency_ms")?;
    let camera_latency = latency("camera_latency_ms")?;
    devices.fingerprint = fingerprint.unwrap_or(devices.fingerprint);
    devices.camera = camera.unwrap_or(devices.camera);
    scene.set_devices(devices);
    if let Some(l) = fingerprint_latency {
        scene.set_latency(DeviceKind::FingerprintReader, l);
    }
    if let Some(l) = camera_latency {
        scene.set_latency(DeviceKind::Camera, l);
    }
    Ok(())
}

async fn post_devices(State(scene): State<Arc<Scene>>, body: Bytes) -> Response {
    match apply_devices(&scene, &body) {
        Ok(()) => {
            let devices = scene.devices();
            tracing::info!(
                fingerprint = devices.fingerprint.as_str(),
                camera = devices.camera.as_str(),
                "simulated devices changed"
            );
            Json(devices_json(&scene)).into_response()
        }
        Err(bad) => bad.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(scene: &Arc<Scene>, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = router(scene.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn present_round_trip() {
        let scene = Arc::new(Scene::new());
        let (status, body) = call(&scene, "GET", "/sim/present", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["subject"], "expected");
        assert_eq!(body["quality"], "good");
        assert_eq!(body["absent"], false);

        let (status, body) = call(
            &scene,
            "POST",
            "/sim/present",
            r#"{"subject":"529.982.247-25","quality":"poor"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["subject"], "52998224725");
        assert_eq!(
            scene.presentation().presenter,
            Presenter::Subject("52998224725".into())
        );
        assert_eq!(scene.presentation().quality, Quality::Poor);

        let (_, body) = call(&scene, "POST", "/sim/present", r#"{"absent":true}"#).await;
        assert_eq!(body["absent"], true);
        assert_eq!(body["quality"], "poor");
        let (_, body) = call(&scene, "POST", "/sim/present", r#"{"subject":"impostor"}"#).await;
        assert_eq!(body["subject"], "impostor");
        scene.expect("11144477735", Some(7));
        let (_, body) = call(&scene, "GET", "/sim/present", "").await;
        assert_eq!(body["expecting"]["finger"], 7);
    }

    #[tokio::test]
    async fn present_rejects_bad_fields_without_side_effects() {
        let scene = Arc::new(Scene::new());
        for (body, field) in [
            (r#"{"quality":"great"}"#, "quality"),
            (r#"{"absent":"yes"}"#, "absent"),
            (r#"{"subject":"12 34"}"#, "subject"),
            (r#"{"subject":5}"#, "subject"),
            (r#"{"subjects":"x"}"#, "subjects"),
            (r#"{"subject":"impostor","quality":1}"#, "quality"),
        ] {
            let (status, reply) = call(&scene, "POST", "/sim/present", body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let error = reply["error"].as_str().unwrap();
            assert!(error.contains(field), "{body}: {error}");
        }
        let (status, reply) = call(&scene, "POST", "/sim/present", "{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(reply["error"].as_str().unwrap().contains("JSON"));
        assert_eq!(scene.presentation(), Presentation::default());
    }

    #[tokio::test]
    async fn devices_round_trip_and_errors() {
        let scene = Arc::new(Scene::new());
        let (status, body) = call(&scene, "GET", "/sim/devices", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["fingerprint"], "present");
        assert_eq!(body["camera"], "present");

        let (status, body) = call(
            &scene,
            "POST",
            "/sim/devices",
            r#"{"fingerprint":"failing","camera_latency_ms":25}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["fingerprint"], "failing");
        assert_eq!(body["camera"], "present");
        assert_eq!(body["camera_latency_ms"], 25);
        assert_eq!(scene.devices().fingerprint, DeviceMode::Failing);
        assert_eq!(scene.latency(DeviceKind::Camera), Duration::from_millis(25));

        let (status, reply) = call(&scene, "POST", "/sim/devices", r#"{"camera":"broken"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(reply["error"].as_str().unwrap().contains("camera"));
        let (status, reply) = call(
            &scene,
            "POST",
            "/sim/devices",
            r#"{"fingerprint_latency_ms":-1}"#,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(reply["error"]
            .as_str()
            .unwrap()
            .contains("fingerprint_latency_ms"));
        assert_eq!(scene.devices().camera, DeviceMode::Present);
    }
}

//! Devices coming and going under a running station (the simulator's `/sim/devices` plugs and
//! unplugs them), and the `spidd devices` / `spidd capture-once` commands.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::station::{workspace_binary, Station, OPERATOR, PERSON_UNKNOWN};

/// The Health entry of the fingerprint reader.
async fn reader_health(s: &Station) -> (Value, Value) {
    let health = s.ok("/health").await;
    let reader = health["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .find(|d| d["kind"] == "fingerprint")
        .cloned()
        .expect("a fingerprint entry");
    (health, reader)
}

/// Polls Health until the reader's state is `state`; the manager rescans on the simulator's
/// hotplug event, so this takes milliseconds, not the 2 s poll.
async fn reader_becomes(s: &Station, state: &str) -> (Value, Value) {
    reader_until(s, state, |r| r["state"] == state).await
}

/// Polls Health until the reader is unplugged and detached from its slot. A device marked
/// gone reads `unavailable` under its own driver for the moment before the manager's rescan
/// swaps it out, so the state alone does not say the detach is done.
async fn reader_detached(s: &Station) -> (Value, Value) {
    reader_until(s, "unavailable and detached", |r| {
        r["state"] == "unavailable" && r["driver"] == "none"
    })
    .await
}

async fn reader_until(s: &Station, what: &str, done: impl Fn(&Value) -> bool) -> (Value, Value) {
    let started = Instant::now();
    loop {
        let (health, reader) = reader_health(s).await;
        if done(&reader) {
            return (health, reader);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reader not {what}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_are_reported_by_health_while_the_station_runs() {
    let s = Station::start_with("[capture]\nenroll_plan = [2]\n").await;
    let (_, reader) = reader_health(&s).await;
    assert_eq!(reader["state"], "ready", "{reader}");
    assert_eq!(reader["id"], "sim:fingerprint");
    assert_eq!(reader["driver"], "simulated");

    for round in 0..2 {
        s.sim("/sim/devices", json!({"fingerprint": "absent"}))
            .await;
        let (health, reader) = reader_detached(&s).await;
        assert_eq!(health["status"], "DEGRADED", "round {round}: {health}");
        assert_eq!(reader["driver"], "none");
        assert!(
            reader["last_error"]
                .as_str()
                .unwrap_or("")
                .contains("unplugged"),
            "{reader}"
        );
        s.sim("/sim/devices", json!({"fingerprint": "present"}))
            .await;
        let (_, reader) = reader_becomes(&s, "ready").await;
        assert_eq!(reader["id"], "sim:fingerprint", "round {round}");
    }

    // The reopened reader captures.
    s.login(OPERATOR).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_pulled_out_mid_capture_fails_it_and_is_used_again_once_back() {
    let s = Station::start_with("[capture]\nenroll_plan = [2]\ntimeout = \"30s\"\n").await;
    s.login(OPERATOR).await;
    // Nobody touches the reader: the capture waits on the sensor.
    s.sim("/sim/present", json!({"absent": true})).await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    s.wait_for(&["CLIENT_CAPTURING"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.sim("/sim/devices", json!({"fingerprint": "absent"}))
        .await;
    let failed = s.wait_for(&["CLIENT_CAPTURE_FAILED"]).await;
    assert_eq!(failed["failure"]["code"], "DEVICE_UNAVAILABLE", "{failed}");
    reader_becomes(&s, "unavailable").await;

    s.sim("/sim/devices", json!({"fingerprint": "present"}))
        .await;
    s.sim("/sim/present", json!({"absent": false})).await;
    reader_becomes(&s, "ready").await;
    s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    s.wait_for(&["CLIENT_CAPTURE_DONE"]).await;
    let (health, _) = reader_health(&s).await;
    assert!(
        health["devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "ready"),
        "{health}"
    );
    s.stop().await;
}

/// Runs `spidd <args>` with an empty configuration (no machine-wide config is read).
fn spidd(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    let config = dir.path().join("spidd.toml");
    std::fs::write(&config, "").unwrap();
    Command::new(workspace_binary("spidd"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("spidd runs")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn devices_lists_the_simulated_reader_and_camera_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = spidd(&dir, &["devices", "--simulate", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["kind"], "fingerprint");
    assert_eq!(listed[0]["id"], "sim:fingerprint");
    assert_eq!(listed[1]["kind"], "camera");
    assert_eq!(listed[1]["id"], "sim:camera");
    for device in listed {
        assert_eq!(device["status"], "ready", "{device}");
        assert_eq!(device["driver"], "simulated");
        assert_eq!(device["selected"], true);
    }
    let table = spidd(&dir, &["devices", "--simulate"]);
    assert_eq!(table.status.code(), Some(0));
    assert!(text(&table.stdout).contains("sim:fingerprint"));
}

#[test]
fn capture_once_writes_a_fingerprint_png() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("finger.png");
    let out = spidd(
        &dir,
        &["capture-once", "--simulate", "--out", png.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("500 ppi"),
        "{}",
        text(&out.stdout)
    );
    let image = image::open(&png).expect("a valid PNG");
    assert_eq!(image.color(), image::ColorType::L8);
    assert_eq!((image.width(), image.height()), (416, 560));
    let grey = image.to_luma8();
    let (min, max) = grey
        .pixels()
        .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
    assert!(
        max - min > 100,
        "a print has ridges and valleys ({min}..{max})"
    );
}

#[test]
fn capture_once_face_writes_a_camera_frame() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("face.png");
    let out = spidd(
        &dir,
        &[
            "capture-once",
            "--simulate",
            "--face",
            "--device",
            "sim:camera",
            "--timeout",
            "20s",
            "--out",
            png.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let image = image::open(&png).expect("a valid PNG");
    assert_eq!(image.color(), image::ColorType::Rgb8);
    assert_eq!((image.width(), image.height()), (640, 480));
}

#[test]
fn capture_once_exit_codes_tell_usage_from_device_errors() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let png = png.to_str().unwrap();
    // Bad usage: 2, and nothing written.
    for args in [
        vec!["capture-once", "--simulate", "--out", "x.jpg"],
        vec![
            "capture-once",
            "--simulate",
            "--timeout",
            "soon",
            "--out",
            png,
        ],
        vec!["capture-once", "--simulate"],
        vec![
            "--listen",
            "127.0.0.1:1",
            "capture-once",
            "--simulate",
            "--out",
            png,
        ],
    ] {
        let out = spidd(&dir, &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // No such device: 1 with a message naming it.
    let out = spidd(
        &dir,
        &[
            "capture-once",
            "--simulate",
            "--device",
            "usb:ffff:ffff",
            "--out",
            png,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("usb:ffff:ffff"),
        "{}",
        text(&out.stderr)
    );
    assert!(!std::path::Path::new(png).exists());
}

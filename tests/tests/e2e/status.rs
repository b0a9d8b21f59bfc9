//! The technician status socket and `spidctl` against a `--simulate` station: every endpoint,
//! every command (the real binary), Resend All progress over many transactions, test
//! captures and masked CPFs. Who may open the socket: `status_access.rs`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::station::*;

/// A client for the status socket (`http://spidd/...` over the Unix socket).
struct StatusClient {
    http: reqwest::Client,
}

impl StatusClient {
    fn new(socket: &Path) -> StatusClient {
        StatusClient {
            http: reqwest::Client::builder()
                .unix_socket(socket)
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("http://spidd{path}"))
            .send()
            .await
            .expect("status socket answers");
        (r.status(), r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let (code, body) = self.get(path).await;
        assert_eq!(code, StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("http://spidd{path}"))
            .json(&body)
            .send()
            .await
            .expect("status socket answers")
    }
}

fn spidctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(workspace_binary("spidctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("spidctl runs")
}

/// Runs spidctl off the async threads, so the in-process station keeps serving.
pub(crate) async fn spidctl_async(socket: &Path, args: &[&str]) -> Output {
    let socket = socket.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spidctl(&socket, &args)
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "spidctl failed ({:?}): {}{}",
        o.status,
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

/// No full CPF of the test's people anywhere in `text`.
fn assert_masked(text: &str, what: &str) {
    for cpf in [OPERATOR, PERSON_UNKNOWN, PERSON_ENROLLED, OPERATOR_PENDING] {
        assert!(
            !text.contains(cpf),
            "{what} holds the full CPF {cpf}:\n{text}"
        );
    }
}

fn decode_png(bytes: &[u8]) -> image::DynamicImage {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a valid PNG")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_command() {
    let s = Station::start().await;
    let socket = s.status_socket();
    assert!(
        socket.starts_with(s.data_dir()),
        "simulate puts the socket in the data directory"
    );
    let c = StatusClient::new(&socket);

    let status = c.json("/status").await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["flow"]["state"], "NOT_LOGGED_IN");
    assert_eq!(status["operator"], Value::Null);
    assert_eq!(status["upstream"]["reachable"], true, "{status}");
    assert!(status["upstream"]["latency_ms"]
        .as_f64()
        .is_some_and(|ms| ms >= 0.0));
    assert_eq!(status["outbox"]["undelivered"], 0);
    assert_eq!(status["resend"]["last"], Value::Null);
    // The daily Resend All (default `0 30 2 * * *`, local time): its next run, an RFC 3339 time.
    let next = status["resend"]["next_scheduled"]
        .as_str()
        .unwrap_or_default();
    assert!(
        next.len() >= 20 && next.contains('T') && next.ends_with('Z'),
        "{status}"
    );
    let devices = status["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices.iter().all(|d| d["state"] == "ready"), "{status}");

    s.login(OPERATOR).await;
    let status = c.json("/status").await;
    assert_eq!(status["flow"]["state"], "IDLE");
    assert_eq!(status["operator"]["cpf"], "529.***.***-25");
    assert_eq!(status["operator"]["status"], "OPERATOR_OK");

    let devices = c.json("/devices").await;
    let list = devices["devices"].as_array().unwrap();
    assert!(
        list.iter().any(|d| d["kind"] == "fingerprint"
            && d["in_use"] == true
            && d["driver"] == "simulated"),
        "{devices}"
    );
    assert!(
        list.iter()
            .any(|d| d["kind"] == "camera" && d["in_use"] == true),
        "{devices}"
    );

    for (query, word) in [
        ("/outbox?state=LOST", "state"),
        ("/outbox?limit=0", "limit"),
        ("/outbox?limit=abc", "limit"),
        ("/outbox?limit=1001", "limit"),
        ("/outbox?colour=red", "colour"),
        ("/logs?lines=0", "lines"),
    ] {
        let (code, body) = c.get(query).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "BAD_REQUEST");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(word),
            "{query}: {body}"
        );
    }
    let (code, _) = c.get("/nothing-here").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let outbox = c.json("/outbox?state=pending&limit=5").await;
    assert_eq!(outbox["state"], "PENDING");
    assert_eq!(outbox["count"], 0);

    // Test captures: a PNG each, with the quality report in headers.
    let r = c.post("/test-capture", json!({ "kind": "finger" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    let quality: u8 = r.headers()["x-spidd-quality"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let report: Value =
        serde_json::from_str(r.headers()["x-spidd-quality-report"].to_str().unwrap()).unwrap();
    assert_eq!(report["score"], quality);
    let width: u32 = r.headers()["x-spidd-width"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let finger = decode_png(&r.bytes().await.unwrap());
    assert_eq!(finger.width(), width);
    assert!(quality > 0, "a simulated good finger scores above 0");
    let r = c.post("/test-capture", json!({ "kind": "face" })).await;
    assert_eq!(r.status(), StatusCode::OK);
    let face = decode_png(&r.bytes().await.unwrap());
    assert!(face.width() >= 640 && face.color().has_color());
    let r = c.post("/test-capture", json!({ "kind": "iris" })).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let metrics = c.get("/metrics").await.1;
    for family in [
        "# TYPE spidd_captures_total counter",
        "# TYPE spidd_send_latency_seconds histogram",
        "# TYPE spidd_upstream_errors_total counter",
        "# TYPE spidd_device_errors_total counter",
        "spidd_outbox_depth 0",
    ] {
        assert!(metrics.contains(family), "{family} missing:\n{metrics}");
    }
    let logs = c.json("/logs?lines=1000").await;
    let lines = logs["lines"].as_array().unwrap();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().contains("test capture")),
        "{logs}"
    );
    assert!(
        c.json("/logs?lines=3").await["lines"]
            .as_array()
            .unwrap()
            .len()
            <= 3
    );

    // spidctl, the real binary, every command.
    let page = ok(&spidctl_async(&socket, &["status"]).await);
    for part in [
        "IDLE",
        "529.***.***-25",
        "reachable",
        "undelivered",
        "fingerprint",
        "camera",
    ] {
        assert!(page.contains(part), "{part} missing in\n{page}");
    }
    let v: Value =
        serde_json::from_str(&ok(&spidctl_async(&socket, &["--json", "status"]).await)).unwrap();
    assert_eq!(v["operator"]["cpf"], "529.***.***-25");
    assert!(ok(&spidctl_async(&socket, &["devices"]).await).contains("simulated"));
    let v: Value =
        serde_json::from_str(&ok(&spidctl_async(&socket, &["devices", "--json"]).await)).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), list.len());
    assert_eq!(
        ok(&spidctl_async(&socket, &["outbox", "--state", "pending", "--limit", "3"]).await),
        "no transactions\n"
    );
    let bad = spidctl_async(&socket, &["outbox", "--state", "lost"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`state` must be one of"));
    assert!(ok(&spidctl_async(&socket, &["metrics"]).await)
        .contains("spidd_captures_total{kind=\"finger\""));
    let logs = ok(&spidctl_async(&socket, &["logs", "-n", "4"]).await);
    assert!((1..=4).contains(&logs.lines().count()), "{logs}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("finger.png");
    let said = ok(&spidctl_async(
        &socket,
        &["test-capture", "finger", "--out", out.to_str().unwrap()],
    )
    .await);
    assert!(said.contains("quality"), "{said}");
    decode_png(&std::fs::read(&out).unwrap());
    let out = dir.path().join("face.png");
    let said = ok(&spidctl_async(
        &socket,
        &[
            "--json",
            "test-capture",
            "face",
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .await);
    let v: Value = serde_json::from_str(&said).unwrap();
    assert!(v["quality"].is_u64(), "{said}");
    assert_eq!(
        decode_png(&std::fs::read(&out).unwrap()).width(),
        v["width"].as_u64().unwrap() as u32
    );

    // A flow capture in progress (nobody at the reader): the test capture is refused.
    s.sim("/sim/present", json!({ "absent": true })).await;
    let body = s.ok(&format!("/enroll/{PERSON_UNKNOWN}")).await;
    assert_eq!(body["status"], "CLIENT_CAPTURING", "{body}");
    let r = c.post("/test-capture", json!({ "kind": "finger" })).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "CAPTURE_IN_PROGRESS");
    let refused = spidctl_async(
        &socket,
        &[
            "test-capture",
            "face",
            "--out",
            dir.path().join("x.png").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in progress"));
    assert!(!dir.path().join("x.png").exists());
    assert_eq!(c.json("/status").await["flow"]["state"], "CLIENT_CAPTURING");
    s.ok("/capture/cancel").await;
    s.sim("/sim/present", json!({ "absent": false })).await;

    for path in ["/status", "/devices", "/outbox", "/logs?lines=1000"] {
        assert_masked(&c.get(path).await.1, path);
    }
    s.stop().await;
    assert!(!socket.exists(), "the socket is removed on a clean stop");
}

/// Copies each stored payload under new capture times, so the server sees distinct
/// transactions: `n` pending transactions for the price of one capture flow.
fn seed_pending(data_dir: &Path, n: usize) -> usize {
    use daemon::outbox::{NewTransaction, Outbox, SealKey, DEFAULT_KEY_FILE};
    // The station's own key: under --simulate, the file it created in its data directory.
    let key = SealKey::read(&data_dir.join(DEFAULT_KEY_FILE)).unwrap();
    let outbox = Outbox::open_in(data_dir, key).unwrap();
    let all = outbox.list(None, 10).unwrap();
    let template = all
        .iter()
        .find(|t| t.state.is_undelivered())
        .unwrap_or_else(|| panic!("no undelivered transaction to copy: {all:?}"))
        .clone();
    let stored = outbox.get(&template.id).unwrap().unwrap();
    let payload: Value =
        serde_json::from_slice(&outbox.payload(&template.id).unwrap().unwrap()).unwrap();
    let later = daemon::outbox::now_millis() + 3_600_000;
    for i in 1..=n as u64 {
        let mut copy = payload.clone();
        let timestamp = stored.timestamp + i;
        copy["data"]["timestamp"] = json!(timestamp);
        let id = outbox
            .enqueue(NewTransaction {
                mode: stored.mode,
                cpf: stored.cpf.clone(),
                operator: stored.operator.clone(),
                timestamp,
                payload: copy.to_string().into_bytes(),
                summary: json!({}),
            })
            .unwrap();
        // Not due for an hour: the retry loop leaves them to Resend All.
        outbox
            .mark_pending(&id, "seeded by the test", later)
            .unwrap();
    }
    n + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_all_streams_progress_and_spidctl_joins_it() {
    let s = Station::start().await;
    let socket = s.status_socket();
    let c = StatusClient::new(&socket);
    s.login(OPERATOR).await;
    s.upstream_mode("down").await;
    let sent = s.enroll_flow(PERSON_UNKNOWN).await;
    assert_eq!(sent["status"], "CAPTURE_PENDING", "{sent}");
    let data_dir = s.data_dir();
    let total = tokio::task::spawn_blocking(move || seed_pending(&data_dir, 59))
        .await
        .unwrap();
    let outbox = &c.json("/status").await["outbox"];
    assert_eq!(outbox["undelivered"], total, "{outbox}");
    let pending = c.json("/outbox?state=PENDING&limit=1000").await;
    assert!(pending["count"].as_u64().unwrap() >= total as u64 - 1);
    assert!(pending["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["cpf"] == "390.***.***-05"));
    // A server taking 30 ms an answer, as over a branch link: the run lasts long enough for
    // its outcomes to be recorded (and progress to advance) in many group commits.
    s.sim("/sim/upstream", json!({ "mode": "up", "latency_ms": 30 }))
        .await;

    let mut response = c.post("/outbox/resend", json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut lines: Vec<Value> = Vec::new();
    let mut buffer = String::new();
    let mut joined = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            lines.push(serde_json::from_str(line.trim()).unwrap());
        }
        if joined.is_none() && lines.last().is_some_and(|l| l["finished"].is_null()) {
            // Streaming, not buffered: the run is still going while its first lines arrive.
            let status = c.json("/status").await;
            assert_eq!(status["resend"]["running"], true, "{status}");
            // spidctl arriving now joins the run under way.
            let socket = socket.clone();
            joined = Some(tokio::task::spawn_blocking(move || {
                spidctl(&socket, &["--json", "resend"])
            }));
        }
    }
    let last = lines.pop().expect("a final line");
    assert_eq!(last["finished"], true, "{last}");
    assert_eq!(last["delivered"], total, "{last}");
    assert_eq!(last["failed"], 0);
    assert_eq!(last["remaining"], 0);
    assert!(
        lines.len() >= 10,
        "progress comes in many lines: {}",
        lines.len()
    );
    let mut done = 0;
    for l in &lines {
        let n = l["done"].as_u64().unwrap();
        assert!(n >= done && n <= l["total"].as_u64().unwrap(), "{l}");
        assert!(l["total"].as_u64().unwrap() >= total as u64, "{l}");
        assert_eq!(
            l["done"].as_u64().unwrap(),
            l["delivered"].as_u64().unwrap() + l["failed"].as_u64().unwrap()
        );
        done = n;
    }

    let joined = joined.expect("spidctl started").await.unwrap();
    let out = ok(&joined);
    let final_line: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(final_line["finished"], true);
    assert_eq!(
        final_line["delivered"], total,
        "spidctl joined the same run: {out}"
    );

    let status = c.json("/status").await;
    assert_eq!(status["resend"]["last"]["result"], "ok");
    assert_eq!(status["resend"]["last"]["delivered"], total);
    assert_eq!(status["outbox"]["undelivered"], 0);
    let delivered = c.json("/outbox?state=delivered&limit=1000").await;
    assert_eq!(delivered["count"], total);
    let metrics = c.get("/metrics").await.1;
    let sends: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("spidd_send_latency_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    // The first (failed) attempt of the original, then every transaction once.
    assert!(sends > total as u64, "{sends} sends counted");

    // Nothing left: spidctl's human resend is quick, and its summary says so.
    let out = ok(&spidctl_async(&socket, &["resend"]).await);
    assert!(out.contains("Resend All done: 0 taken up"), "{out}");
    for path in ["/status", "/outbox?limit=1000", "/logs?lines=1000"] {
        assert_masked(&c.get(path).await.1, path);
    }
    assert_masked(
        &ok(&spidctl_async(&socket, &["outbox", "--limit", "1000"]).await),
        "spidctl outbox",
    );
    assert_masked(
        &ok(&spidctl_async(&socket, &["logs", "-n", "1000"]).await),
        "spidctl logs",
    );
    assert_masked(&out, "spidctl resend");
    s.stop().await;
}

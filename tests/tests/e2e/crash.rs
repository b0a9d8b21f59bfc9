//! Crash test of the outbox: `spidd` runs as a child process (simulated devices) against a
//! flaky `spid-sim server` process; the harness performs N enroll flows and kill -9s the
//! daemon at seeded random moments, restarting it on the same data directory; finally the
//! upstream is healthy and Capture Resend All runs. Every transaction that was answered
//! CAPTURE_ENQUEUED or CAPTURE_PENDING must be at the server exactly once, and no capture may
//! be there twice.
//!
//! N is 20 by default; `SPIDD_CRASH_N` raises it (`scripts/soak-outbox.sh` runs 200) and
//! `SPIDD_CRASH_SEED` replays a run.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::station::{workspace_binary, OPERATOR};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `n`-th valid CPF of a series no fixture uses.
fn cpf(n: u32) -> String {
    let base = format!("{:09}", 700_000_000 + n);
    let mut digits: Vec<u32> = base.chars().map(|c| c.to_digit(10).unwrap()).collect();
    for len in [9, 10] {
        let sum: u32 = digits[..len]
            .iter()
            .enumerate()
            .map(|(i, d)| d * (len as u32 + 1 - i as u32))
            .sum();
        digits.push(sum * 10 % 11 % 10);
    }
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect()
}

struct Daemon {
    process: Option<Process>,
    api: String,
    sim_port: u16,
    api_port: u16,
}

impl Daemon {
    fn spawn(&mut self, dir: &Path, upstream: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("spidd.log"))
            .unwrap();
        let child = Command::new(workspace_binary("spidd"))
            .args(["--simulate", "--config"])
            .arg(dir.join("spidd.toml"))
            .args(["--upstream", upstream, "--listen"])
            .arg(format!("127.0.0.1:{}", self.api_port))
            .arg("--sim-control")
            .arg(format!("127.0.0.1:{}", self.sim_port))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("SPIDD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spidd starts");
        self.process = Some(Process(child));
    }

    fn kill9(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill(); // SIGKILL
            let _ = p.0.wait();
        }
    }
}

async fn wait_up(http: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while http.get(url).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{url} did not answer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET/POST on the station; `None` when the daemon is gone or answers an error.
async fn call(http: &reqwest::Client, method: reqwest::Method, url: String) -> Option<Value> {
    let response = http.request(method, url).send().await.ok()?;
    let ok = response.status() == StatusCode::OK;
    let body: Value = response.json().await.ok()?;
    ok.then_some(body)
}

async fn wait_status(http: &reqwest::Client, api: &str, want: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        match call(http, reqwest::Method::GET, format!("{api}/capture/status")).await {
            Some(s) if s["status"] == want => return true,
            Some(s) if s["status"] == "IDLE" || s["status"] == "ERROR" => return false,
            Some(_) => {}
            None => return false,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// One enroll flow; the Send answer's (status, id) when the flow got that far.
async fn enroll(http: &reqwest::Client, api: &str, cpf: &str) -> Option<(String, String)> {
    use reqwest::Method;
    let status = call(http, Method::GET, format!("{api}/login/status")).await?;
    let mut logged_in =
        status["status"] == "OPERATOR_OK" || status["status"] == "OPERATOR_OFFLINE_OK";
    for _ in 0..20 {
        if logged_in {
            break;
        }
        if let Some(l) = call(http, Method::GET, format!("{api}/login/{OPERATOR}")).await {
            if l["status"] == "OPERATOR_OK" || l["status"] == "OPERATOR_OFFLINE_OK" {
                logged_in = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !logged_in {
        return None;
    }
    let started = call(http, Method::GET, format!("{api}/enroll/{cpf}")).await?;
    if started["status"] != "CLIENT_CAPTURING"
        || !wait_status(http, api, "CLIENT_CAPTURE_DONE").await
    {
        return None;
    }
    call(http, Method::GET, format!("{api}/operator/capture")).await?;
    if !wait_status(http, api, "OPERATOR_CAPTURE_DONE").await {
        return None;
    }
    let sent = call(http, Method::POST, format!("{api}/capture/send")).await?;
    Some((
        sent["status"].as_str()?.to_string(),
        sent["id"].as_str()?.to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transaction_is_lost_or_doubled_across_kill_9() {
    let n: u32 = std::env::var("SPIDD_CRASH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("SPIDD_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_0005);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spidd.toml"),
        "[upstream]\nrequest_timeout = \"1500ms\"\nconnect_timeout = \"500ms\"\n\
         [outbox]\nretry_initial = \"200ms\"\nretry_max = \"2s\"\n",
    )
    .unwrap();

    let sim_port = free_port();
    let _server = Process(
        Command::new(workspace_binary("spid-sim"))
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
                "--enroll-delay-ms",
                "0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spid-sim starts"),
    );
    let server = format!("http://127.0.0.1:{sim_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    wait_up(&http, &format!("{server}/sim/upstream")).await;
    let set_mode = |body: Value| {
        let (http, url) = (http.clone(), format!("{server}/sim/upstream"));
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert!(r.status().is_success(), "{body} → {}", r.status());
        }
    };
    let upstream = format!("{server}/gbs-spid-server");

    let mut daemon = Daemon {
        process: None,
        api: String::new(),
        sim_port: free_port(),
        api_port: free_port(),
    };
    daemon.api = format!("http://127.0.0.1:{}/gbs-spid-services/api", daemon.api_port);
    daemon.spawn(dir.path(), &upstream);
    wait_up(&http, &format!("{}/health", daemon.api)).await;
    // The operator's first login needs a healthy server; flaky from then on.
    assert!(enroll_login(&http, &daemon.api).await);
    set_mode(json!({"mode": "flaky", "seed": seed, "timeout_ms": 2500,
                    "p_timeout": 0.15, "p_reset": 0.15, "p_5xx": 0.1, "burst": 3}))
    .await;

    // cpf → station id, for every Send that answered CAPTURE_ENQUEUED or CAPTURE_PENDING.
    let mut answered: BTreeMap<String, String> = BTreeMap::new();
    let mut kills = 0;
    for i in 0..n {
        let cpf = cpf(i);
        // About a third of the flows are cut by a kill -9 somewhere in them.
        let kill_after =
            (rng.gen_range(0.0..1.0) < 0.35).then(|| Duration::from_millis(rng.gen_range(0..4000)));
        let flow = enroll(&http, &daemon.api, &cpf);
        let outcome = match kill_after {
            None => flow.await,
            Some(after) => {
                tokio::pin!(flow);
                tokio::select! {
                    r = &mut flow => r,
                    _ = tokio::time::sleep(after) => None,
                }
            }
        };
        if let Some((status, id)) = outcome {
            assert!(
                status == "CAPTURE_ENQUEUED" || status == "CAPTURE_PENDING",
                "flow {i}: Send answered {status}"
            );
            answered.insert(cpf.clone(), id);
        }
        if kill_after.is_some() {
            daemon.kill9();
            kills += 1;
            daemon.spawn(dir.path(), &upstream);
            wait_up(&http, &format!("{}/health", daemon.api)).await;
        }
    }

    set_mode(json!({"mode": "up"})).await;
    let mut remaining = u64::MAX;
    for _ in 0..10 {
        let r = call(
            &http,
            reqwest::Method::POST,
            format!("{}/capture/resend-all", daemon.api),
        )
        .await
        .expect("resend all answers");
        remaining = r["remaining"].as_u64().unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(remaining, 0, "undelivered transactions left");

    let requests: Vec<Value> = http
        .get(format!("{server}/sim/upstream/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut at_server: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for r in &requests {
        if r["method"] == "POST" && r["path"] == "/gbs-spid-server/people" {
            let user = r["body"]["data"]["userId"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let ts = r["body"]["data"]["timestamp"].as_u64().unwrap_or(0);
            *at_server.entry((user, ts)).or_default() += 1;
        }
    }
    for ((user, ts), copies) in &at_server {
        assert_eq!(
            *copies, 1,
            "{user} @ {ts} reached the server {copies} times"
        );
    }
    for (cpf, id) in &answered {
        let held = at_server.keys().filter(|(u, _)| u == cpf).count();
        assert_eq!(
            held, 1,
            "transaction {id} of {cpf} is at the server {held} times"
        );
        let result = call(
            &http,
            reqwest::Method::GET,
            format!("{}/capture/result/{id}", daemon.api),
        )
        .await
        .expect("result");
        assert_ne!(result["status"], "CAPTURE_PENDING", "{id}: {result}");
    }
    eprintln!(
        "crash test: seed {seed}, {n} flows, {kills} kill -9, {} answered, {} at the server",
        answered.len(),
        at_server.len()
    );
    assert!(
        answered.len() as u32 >= n / 3,
        "too few flows completed to mean anything: {} of {n}",
        answered.len()
    );
    daemon.kill9();
}

async fn enroll_login(http: &reqwest::Client, api: &str) -> bool {
    call(
        http,
        reqwest::Method::GET,
        format!("{api}/login/{OPERATOR}"),
    )
    .await
    .is_some_and(|l| l["status"] == "OPERATOR_OK")
}

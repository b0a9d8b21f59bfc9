//! Crash test: `spidd --simulate` runs as a child process against an external `spid-sim server`
//! in flaky mode (held answers past the station's timeout, resets after the body, 5xx bursts)
//! while the harness runs enroll flows and kill -9s the daemon at seeded random moments,
//! restarting it on the same data directory. At the end the upstream heals and Capture Resend
//! All runs. Every transaction the station acknowledged (`CAPTURE_ENQUEUED` or
//! `CAPTURE_PENDING`) must be at the server exactly once, and nothing may reach it twice.
//!
//! `SPIDD_CRASH_FLOWS` sets the number of flows (CI: 20; `scripts/soak-outbox.sh`: 200) and
//! `SPIDD_CRASH_SEED` the seed (printed, so a failure can be replayed).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::station::{workspace_binary, OPERATOR};

const DEFAULT_FLOWS: usize = 20;
/// The station gives up on an upstream answer after this long; the flaky server holds some
/// answers longer, so those sends end with an unknown outcome (`AMBIGUOUS`).
const STATION_CONFIG: &str = r#"
[upstream]
connect_timeout = "1s"
request_timeout = "2s"

[outbox]
retry_initial = "1s"
retry_max = "4s"
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

/// A valid CPF (check digits computed) from a number; never one of the simulator's fixtures,
/// whose bases start with 1, 3 or 5.
fn cpf(n: u64) -> String {
    let base = 700_000_000 + n % 100_000_000;
    let mut digits: Vec<u32> = base
        .to_string()
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    for len in [9usize, 10] {
        let sum: u32 = digits
            .iter()
            .take(len)
            .enumerate()
            .map(|(i, d)| d * (len as u32 + 1 - i as u32))
            .sum();
        let rest = sum * 10 % 11;
        digits.push(if rest == 10 { 0 } else { rest });
    }
    digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect()
}

/// A child process killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon under test: started, killed and restarted on one data directory.
struct Daemon {
    child: Arc<Mutex<Option<Process>>>,
    args: Vec<String>,
    log: PathBuf,
    api: String,
    starts: u32,
}

impl Daemon {
    fn new(dir: &Path, upstream: &str) -> Daemon {
        let config = dir.join("spidd.toml");
        std::fs::write(&config, STATION_CONFIG).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let args = vec![
            "--simulate".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--upstream".into(),
            upstream.into(),
            "--listen".into(),
            listen.clone(),
            "--sim-control".into(),
            format!("127.0.0.1:{}", free_port()),
            "--data-dir".into(),
            dir.join("data").display().to_string(),
            "--status-socket".into(),
            dir.join("status.sock").display().to_string(),
        ];
        Daemon {
            child: Arc::new(Mutex::new(None)),
            args,
            log: dir.join("spidd.log"),
            api: format!("http://{listen}/gbs-spid-services/api"),
            starts: 0,
        }
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(workspace_binary("spidd"))
            .args(&self.args)
            .env("SPIDD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spidd starts");
        *self.child.lock().unwrap() = Some(Process(child));
        self.starts += 1;
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.api)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.exited() {
                panic!("spidd exited at start ({status}); log:\n{}", self.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "spidd did not answer /health in 60 s; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `Some(status)` once the running child has exited.
    fn exited(&self) -> Option<String> {
        let mut guard = self.child.lock().unwrap();
        let process = guard.as_mut()?;
        process
            .0
            .try_wait()
            .expect("waiting for spidd")
            .map(|s| s.to_string())
    }

    fn alive(&self) -> bool {
        self.child.lock().unwrap().is_some() && self.exited().is_none()
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(80).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// SIGKILL, as a power cut would: no handler runs.
fn kill(child: &Mutex<Option<Process>>) {
    if let Some(process) = child.lock().unwrap().as_mut() {
        let _ = process.0.kill();
        let _ = process.0.wait();
    }
}

/// Why a flow stopped short.
#[derive(Debug)]
enum Broken {
    /// The daemon went away (killed): nothing can be concluded about this flow.
    Gone(String),
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str) -> Result<(u16, Value), Broken> {
        let response = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .send()
            .await
            .map_err(|e| Broken::Gone(format!("{path}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .json::<Value>()
            .await
            .map_err(|e| Broken::Gone(format!("{path}: body: {e}")))?;
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> Result<(u16, Value), Broken> {
        self.call(reqwest::Method::GET, path).await
    }

    async fn wait_for(&self, state: &str) -> Result<(), Broken> {
        let started = Instant::now();
        loop {
            let (_, body) = self.get("/capture/status").await?;
            if body["status"] == state {
                return Ok(());
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "still {body} after 90 s waiting for {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Logs the operator in (online or offline); the flaky upstream may refuse a few times.
    async fn login(&self) -> Result<(), Broken> {
        for _ in 0..20 {
            let (_, body) = self.get("/login/status").await?;
            if matches!(
                body["status"].as_str(),
                Some("OPERATOR_OK") | Some("OPERATOR_OFFLINE_OK")
            ) {
                return Ok(());
            }
            let (_, body) = self.get(&format!("/login/{OPERATOR}")).await?;
            if matches!(
                body["status"].as_str(),
                Some("OPERATOR_OK") | Some("OPERATOR_OFFLINE_OK")
            ) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the operator could not log in 20 times in a row");
    }

    /// One enroll flow; the Send answer's status and station id.
    async fn enroll(&self, cpf: &str) -> Result<(String, Option<String>), Broken> {
        self.login().await?;
        let (code, body) = self.get(&format!("/enroll/{cpf}")).await?;
        assert_eq!(code, 200, "enroll {cpf}: {body}");
        assert_eq!(body["status"], "CLIENT_CAPTURING", "{body}");
        self.wait_for("CLIENT_CAPTURE_DONE").await?;
        self.get("/operator/capture").await?;
        self.wait_for("OPERATOR_CAPTURE_DONE").await?;
        let (code, body) = self.call(reqwest::Method::POST, "/capture/send").await?;
        assert_eq!(code, 200, "send {cpf}: {body}");
        let status = body["status"].as_str().unwrap_or_default().to_string();
        Ok((status, body["id"].as_str().map(str::to_string)))
    }
}

/// The enroll requests the fake server processed, by userId: (stored, refused as duplicates).
fn server_enrolls(requests: &[Value]) -> BTreeMap<String, (u32, u32)> {
    let mut by_cpf: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for r in requests {
        if r["method"] != "POST" || !r["path"].as_str().unwrap_or("").ends_with("/people") {
            continue;
        }
        let Some(cpf) = r["body"]["data"]["userId"].as_str() else {
            continue;
        };
        let entry = by_cpf.entry(cpf.to_string()).or_default();
        match r["status"].as_u64() {
            Some(s) if (200..300).contains(&s) => entry.0 += 1,
            Some(409) => entry.1 += 1,
            _ => {}
        }
    }
    by_cpf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_daemon_delivers_every_acknowledged_transaction_exactly_once() {
    let flows = env_number("SPIDD_CRASH_FLOWS").map_or(DEFAULT_FLOWS, |n| n as usize);
    let seed = env_number("SPIDD_CRASH_SEED").unwrap_or(0x5eed_0001);
    println!("crash test: {flows} flows, seed {seed} (SPIDD_CRASH_SEED to replay)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();

    let sim_port = free_port();
    let sim = format!("http://127.0.0.1:{sim_port}");
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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let started = Instant::now();
    while http.get(format!("{sim}/sim/upstream")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "spid-sim did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let set_mode = |body: Value| {
        let http = http.clone();
        let url = format!("{sim}/sim/upstream");
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert!(r.status().is_success(), "{body}: {}", r.status());
        }
    };
    set_mode(json!({
        "mode": "flaky", "seed": seed, "timeout_ms": 3000,
        "p_timeout": 0.12, "p_reset": 0.12, "p_5xx": 0.08, "burst": 3
    }))
    .await;

    let mut daemon = Daemon::new(dir.path(), &format!("{sim}/gbs-spid-server"));
    daemon.start().await;
    let api = Api {
        http: http.clone(),
        base: daemon.api.clone(),
    };

    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new(); // cpf → station id
    let mut attempted: BTreeSet<String> = BTreeSet::new();
    let mut kills = 0u32;
    for i in 0..flows {
        let cpf = cpf(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        attempted.insert(cpf.clone());
        // About half of the flows get a kill, anywhere from the flow's first call to a few
        // seconds after it (during the retry loop's sends).
        let killer = rng.gen_bool(0.5).then(|| {
            let at = Duration::from_millis(rng.gen_range(0..5_000));
            let child = daemon.child.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                kill(&child);
            })
        });
        match api.enroll(&cpf).await {
            Ok((status, id)) => {
                assert!(
                    status == "CAPTURE_ENQUEUED" || status == "CAPTURE_PENDING",
                    "flow {i}: Send answered {status}"
                );
                acknowledged.insert(cpf.clone(), id.expect("Send answers the station id"));
            }
            Err(Broken::Gone(why)) => {
                assert!(
                    !daemon.alive() || killer.is_some(),
                    "flow {i} broke without a kill: {why}; log:\n{}",
                    daemon.log_text()
                );
            }
        }
        if let Some(killer) = killer {
            killer.await.unwrap();
            kills += 1;
        }
        if !daemon.alive() {
            daemon.start().await;
        }
    }

    // The upstream heals; Resend All until nothing is left (AMBIGUOUS ones are checked first).
    set_mode(json!({ "mode": "up" })).await;
    let started = Instant::now();
    loop {
        let (code, body) = api
            .call(reqwest::Method::POST, "/capture/resend-all")
            .await
            .expect("resend all");
        assert_eq!(code, 200, "{body}");
        if body["remaining"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "Resend All still leaves {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let requests: Vec<Value> = http
        .get(format!("{sim}/sim/upstream/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at_server = server_enrolls(&requests);
    let mut problems = Vec::new();
    for (cpf, id) in &acknowledged {
        let (stored, _) = at_server.get(cpf).copied().unwrap_or_default();
        if stored != 1 {
            problems.push(format!("{cpf} (station id {id}) is at the server {stored} times"));
        }
        let (_, result) = api
            .get(&format!("/capture/result/{id}"))
            .await
            .expect("capture result");
        if result["status"] == "CAPTURE_PENDING" || result["tguid"].is_null() {
            problems.push(format!("{cpf} ({id}) not delivered at the end: {result}"));
        }
    }
    for (cpf, (stored, duplicates)) in &at_server {
        if !attempted.contains(cpf) {
            continue;
        }
        if *stored > 1 || *duplicates > 0 {
            problems.push(format!(
                "{cpf}: stored {stored} times, {duplicates} duplicate sends refused by the server"
            ));
        }
    }
    println!(
        "crash test: {flows} flows, {} acknowledged, {kills} kills, {} starts, {} at the server",
        acknowledged.len(),
        daemon.starts,
        at_server.keys().filter(|c| attempted.contains(*c)).count()
    );
    assert!(
        problems.is_empty(),
        "exactly-once violated (seed {seed}):\n{}\nlog:\n{}",
        problems.join("\n"),
        daemon.log_text()
    );
    assert!(
        !acknowledged.is_empty(),
        "no flow was acknowledged: the test proved nothing"
    );
}

#[test]
fn generated_cpfs_are_valid_and_distinct() {
    let all: BTreeSet<String> = (0..1000).map(cpf).collect();
    assert_eq!(all.len(), 1000);
    for c in &all {
        assert!(state_machine::Cpf::parse(c).is_ok(), "{c}");
    }
}

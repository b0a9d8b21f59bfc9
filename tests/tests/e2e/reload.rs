//! SIGHUP on the real binary: capture settings and the log level change in place, the rest is
//! reported as needing a restart, and an invalid file changes nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn hup(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_log(path: &std::path::Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return line.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no `{needle}` in the log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_capture_settings_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spidd.toml");
    std::fs::write(&config, "[capture]\ntimeout = \"60s\"\nenroll_plan = [2]\n").unwrap();
    let (api_port, sim_port) = (free_port(), free_port());
    let log = dir.path().join("stderr.log");
    let exe = std::env::current_exe().unwrap();
    let spidd = exe.parent().and_then(|d| d.parent()).unwrap().join("spidd");
    let child = Command::new(&spidd)
        .arg("--config")
        .arg(&config)
        .args(["--simulate", "--listen", &format!("127.0.0.1:{api_port}")])
        .args([
            "--sim-control",
            &format!("127.0.0.1:{sim_port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env_remove("SPIDD_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spidd starts");
    let daemon = Daemon(child);
    let api = format!("http://127.0.0.1:{api_port}/gbs-spid-services/api");
    let http = reqwest::Client::new();
    wait_log(&log, "spidd ready").await;

    // An invalid file is refused and changes nothing.
    std::fs::write(&config, "[capture]\ntimeout = \"soon\"\n").unwrap();
    hup(&daemon.0);
    let refused = wait_log(&log, "was not reloaded").await;
    assert!(refused.contains("capture.timeout"), "{refused}");

    // A valid one: the capture timeout applies in place; the retry policy needs a restart.
    std::fs::write(
        &config,
        "[outbox]\nretry_max = \"2h\"\n[capture]\ntimeout = \"1s\"\nenroll_plan = [2]\n[log]\nlevel = \"debug\"\n",
    )
    .unwrap();
    hup(&daemon.0);
    let reloaded = wait_log(&log, "SIGHUP: configuration reloaded").await;
    assert!(
        reloaded.contains("\"capture\"") && reloaded.contains("\"log.level\""),
        "{reloaded}"
    );
    assert!(
        reloaded.contains("needs_restart=[\"outbox\"]"),
        "{reloaded}"
    );

    let get = |path: String| {
        let http = http.clone();
        let api = api.clone();
        async move {
            http.get(format!("{api}{path}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get("/login/52998224725".into()).await["status"],
        "OPERATOR_OK"
    );
    http.post(format!("http://127.0.0.1:{sim_port}/sim/present"))
        .json(&json!({"absent": true}))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        get("/enroll/39053344705".into()).await["status"],
        "CLIENT_CAPTURING"
    );
    loop {
        let status = get("/capture/status".into()).await;
        if status["status"] == "CLIENT_CAPTURE_FAILED" {
            assert_eq!(status["failure"]["code"], "TIMEOUT");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the 1 s timeout did not apply: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get("/health".into()).await["state"],
        "CLIENT_CAPTURE_FAILED"
    );
}

//! `spidd --simulate --upstream URL`: the simulated station against a `spid-sim server` running
//! as its own process, seeded with the same fixtures.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::station::*;

struct SpidSim(Child);

impl Drop for SpidSim {
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

async fn wait_listening(base: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{base}/sim/upstream"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "spid-sim did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn station_uses_an_external_spid_sim_server() {
    let port = free_port();
    let _server = SpidSim(
        Command::new(workspace_binary("spid-sim"))
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--enroll-delay-ms",
                "0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spid-sim starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_listening(&base).await;

    let s = Station::start_external(&format!("{base}/gbs-spid-server")).await;
    s.login(OPERATOR).await;
    assert_eq!(
        s.ok(&format!("/verify/{PERSON_UNKNOWN}")).await["status"],
        "PERSON_NOT_FOUND"
    );
    let sent = s.enroll_flow(PERSON_UNKNOWN).await;
    assert_eq!(sent["status"], "CAPTURE_ENQUEUED", "{sent}");

    let requests: Vec<Value> = reqwest::get(format!("{base}/sim/upstream/requests"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let enrolls = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/gbs-spid-server/people")
        .count();
    assert_eq!(enrolls, 1, "{requests:?}");
    s.stop().await;
}

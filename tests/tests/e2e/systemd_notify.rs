//! The daemon under systemd: `READY=1` once the API answers, watchdog pings while the flow task
//! is alive, and silence once it hangs (through the test-only stall hook).

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::station::workspace_binary;

/// `WATCHDOG_USEC` for the tests: short, so that the test is quick.
const WATCHDOG: Duration = Duration::from_millis(400);

struct Daemon {
    child: Child,
    socket: UnixDatagram,
    api: String,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(stall_after: Option<Duration>) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let port = free_port();
    let mut command = Command::new(workspace_binary("spidd"));
    command
        .args(["--simulate", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--sim-control", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(after) = stall_after {
        command.env(
            "SPIDD_TEST_STALL_FLOW_AFTER_MS",
            after.as_millis().to_string(),
        );
    }
    let child = command.spawn().expect("spidd starts");
    Daemon {
        child,
        socket,
        api: format!("http://127.0.0.1:{port}/gbs-spid-services/api"),
        _dir: dir,
    }
}

/// The next notification within `within`, or `None`.
fn next(socket: &UnixDatagram, within: Duration) -> Option<String> {
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn health_answers(api: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::get(format!("{api}/health"))
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    })
}

fn wait_ready(d: &Daemon) {
    let started = Instant::now();
    loop {
        let message =
            next(&d.socket, Duration::from_secs(60)).expect("a notification before READY=1");
        if message.lines().any(|l| l == "READY=1") {
            assert!(
                health_answers(&d.api),
                "READY=1 came before the API answers"
            );
            // The status socket (in the data directory under --simulate) accepts connections.
            let status = d._dir.path().join("data").join("status.sock");
            assert!(
                std::os::unix::net::UnixStream::connect(&status).is_ok(),
                "READY=1 came before the status socket listens"
            );
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no READY=1");
    }
}

/// WATCHDOG=1 messages received during `window`.
fn pings_during(socket: &UnixDatagram, window: Duration) -> usize {
    let end = Instant::now() + window;
    let mut pings = 0;
    while let Some(left) = end
        .checked_duration_since(Instant::now())
        .filter(|l| !l.is_zero())
    {
        match next(socket, left) {
            Some(m) if m.lines().any(|l| l == "WATCHDOG=1") => pings += 1,
            Some(_) => {}
            None => break,
        }
    }
    pings
}

#[test]
fn ready_then_watchdog_pings() {
    let d = start(None);
    wait_ready(&d);
    let pings = pings_during(&d.socket, 2 * WATCHDOG);
    assert!(
        pings >= 2,
        "{pings} watchdog pings within {:?}",
        2 * WATCHDOG
    );
}

#[test]
fn a_hung_flow_task_silences_the_watchdog() {
    let d = start(Some(Duration::from_secs(3)));
    wait_ready(&d);
    assert!(
        pings_during(&d.socket, 2 * WATCHDOG) >= 2,
        "pings before the stall"
    );
    // Let the stall begin, then there must be no ping for several intervals.
    let settle_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < settle_until {
        let _ = next(&d.socket, Duration::from_millis(100));
    }
    assert_eq!(
        pings_during(&d.socket, 3 * WATCHDOG),
        0,
        "pings went on while the flow task hung"
    );
}

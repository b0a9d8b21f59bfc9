//! Benchmarks of the outbox, printed side by side with their baselines from the same run:
//!
//! 1. Durable enqueue of a 1 MB transaction (sealed, SQLite WAL, `synchronous = FULL`) next to
//!    write + fsync of the same bytes to a new file (goal: ≤ 2.0×), back to back and with a
//!    pause between enqueues as at a station. Creating a file costs ext4 an allocation and a
//!    journal commit, and that cost drifts (0.6 ms to 3 ms on this VM from one day to the
//!    next), so an overwrite of an existing file + fsync is printed beside it for reference.
//! 2. Capture Resend All draining Q pending transactions from a `spidd` child process to a
//!    `spid-sim server` process, next to a plain loop posting the same bodies with the same
//!    HTTP client code at the same concurrency (goal: ≥ 0.8× its throughput), with the
//!    daemon's peak RSS (goal: < 64 MB, flat in Q: shown for 500 and 2,000).
//!
//! The bodies are a real enroll transaction (captured once through a simulated station) with
//! a fresh CPF and timestamp each. Run: `cargo bench -p spidd-tests --bench outbox`;
//! `OUTBOX_BENCH=enqueue` or `OUTBOX_BENCH=drain` runs only that part.
//!
//! This machine is a shared 2-core VM whose speed drifts from one second to the next, so each
//! side is measured several times, interleaved with its baseline, and the goals are judged on
//! medians: the median enqueue next to the median write+fsync, and the median of the drain
//! rounds' ratios. Means and every round are printed too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{io::Write, os::unix::fs::FileExt, sync::Arc};

use daemon::app::Options;
use daemon::outbox::{NewTransaction, Outbox, SealKey};
use serde_json::Value;
use state_machine::{Cpf, Mode};

const ENQUEUES: usize = 40;
/// Drain rounds per queue length, each spidd then the plain loop. Single rounds' ratios
/// swing by up to ±0.15 with the machine; the median of nine is steadier than that of five.
const ROUNDS: usize = 9;
/// Between two enqueues "a capture apart": far less than a real capture flow takes, more
/// than the outbox's background checkpoint waits for writes to pause.
const ENQUEUE_GAP: Duration = Duration::from_millis(300);
const CONCURRENCY: usize = 4;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

/// `cargo bench` builds this crate's dependencies as libraries only: the `spidd` and
/// `spid-sim` executables the bench runs are built (or found fresh) here, in the same profile.
fn build_binaries() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "-p", "daemon", "-p", "simulator"])
        .args(["--bin", "spidd", "--bin", "spid-sim"]);
    // What cargo sets for this bench's own run, not for a build. ring's build script watches
    // CARGO_MANIFEST_DIR and CARGO_PKG_NAME: left in, the bench's build and this one would
    // each see them changed and rebuild ring and everything above it, every run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_target = ["CARGO_MANIFEST_", "CARGO_PKG_"]
            .iter()
            .any(|p| name.starts_with(p))
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&&*name);
        if per_target {
            build.env_remove(&*name);
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building spidd and spid-sim failed");
}

/// `N` distinct free ports (all held open while choosing, so none is picked twice).
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// CPU time (user + system) a process has used so far, in milliseconds: from the process's
/// CPU-time clock, to the nanosecond (`/proc/<pid>/stat` counts 10 ms ticks, a tenth of what
/// a drain of 500 costs spidd), dead threads included.
fn cpu_ms(pid: u32) -> f64 {
    let mut clock: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both are valid out-pointers for the duration of the calls.
    unsafe {
        assert_eq!(libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock), 0);
        assert_eq!(libc::clock_gettime(clock, &mut ts), 0);
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Context switches (voluntary and not) of a process's live threads so far.
fn switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

fn cpf(n: u32) -> String {
    let mut d: Vec<u32> = format!("{:09}", 600_000_000 + n)
        .chars()
        .map(|c| c.to_digit(10).unwrap())
        .collect();
    for len in [9, 10] {
        let sum: u32 = d[..len]
            .iter()
            .enumerate()
            .map(|(i, x)| x * (len as u32 + 1 - i as u32))
            .sum();
        d.push(sum * 10 % 11 % 10);
    }
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap())
        .collect()
}

fn new_tx(cpf_digits: &str, timestamp: u64, payload: Vec<u8>, summary: Value) -> NewTransaction {
    NewTransaction {
        mode: Mode::Enroll,
        cpf: Cpf::parse(cpf_digits).unwrap(),
        operator: Cpf::parse("52998224725").unwrap(),
        timestamp,
        payload,
        summary,
    }
}

/// Durable enqueue of 1 MB next to write + fsync of the same bytes, `ENQUEUES` of each:
/// back to back, and a capture apart (as at a station, where a whole capture flow separates
/// two Capture Sends and the outbox checkpoints its WAL in between). The enqueues and their
/// baselines take turns, so that both see the same moments of the machine's drift.
fn bench_enqueue(dir: &Path) {
    let payload: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for (label, gap) in [
        ("back to back", Duration::ZERO),
        ("a capture apart", ENQUEUE_GAP),
    ] {
        let db = dir.join(format!("enqueue-{}.db", gap.as_millis()));
        let outbox = Outbox::open(&db, SealKey::from_bytes([3; 32])).unwrap();
        // A station's outbox in service: its WAL file has grown before and been checkpointed,
        // keeping its blocks (up to `journal_size_limit`); a new file has none.
        for i in 0..ENQUEUES {
            outbox
                .enqueue(new_tx(
                    "11144477735",
                    1 + i as u64,
                    payload.clone(),
                    serde_json::json!({}),
                ))
                .unwrap();
        }
        // For reference, the cheapest durable write there is: the same bytes over an existing
        // file's blocks (no allocation, no new directory entry), as a WAL reused in place.
        let f = std::fs::File::create(dir.join(format!("overwrite-{}", gap.as_millis()))).unwrap();
        // Its blocks allocated before the first timed write.
        f.write_all_at(&payload, 0).unwrap();
        f.sync_all().unwrap();
        std::thread::sleep(ENQUEUE_GAP);
        let [enqueue, fsync, overwrite] = taking_turns(
            gap,
            [
                &mut |i| {
                    let tx = new_tx(
                        "52998224725",
                        1 + i as u64,
                        payload.clone(),
                        serde_json::json!({}),
                    );
                    timed(|| outbox.enqueue(tx).unwrap())
                },
                &mut |i| {
                    let path = dir.join(format!("plain-{}-{i}", gap.as_millis()));
                    timed(|| {
                        let mut f = std::fs::File::create(path).unwrap();
                        f.write_all(&payload).unwrap();
                        f.sync_all().unwrap();
                    })
                },
                &mut |_| {
                    timed(|| {
                        f.write_all_at(&payload, 0).unwrap();
                        f.sync_all().unwrap();
                    })
                },
            ],
        );
        println!(
            "durable enqueue of 1 MB, {label:<15}: median {:>5.2} ms (mean {:>5.2}) | write+fsync 1 MB: median {:>5.2} ms (mean {:>5.2}) | ratio {:.2}x (of means {:.2}x) (goal <= 2.0x)",
            enqueue.median,
            enqueue.mean,
            fsync.median,
            fsync.mean,
            enqueue.median / fsync.median,
            enqueue.mean / fsync.mean,
        );
        println!(
            "    for reference, overwrite of an existing 1 MB file + fsync: median {:>5.2} ms (enqueue {:.2}x of it)",
            overwrite.median,
            enqueue.median / overwrite.median,
        );
    }
}

/// `ENQUEUES` turns of the operations in order, each `gap` after the last; an operation
/// prepares its input for turn `i` and answers how long its timed part took.
fn taking_turns<const N: usize>(
    gap: Duration,
    mut ops: [&mut dyn FnMut(usize) -> Duration; N],
) -> [Millis; N] {
    let mut took: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(ENQUEUES));
    for i in 0..ENQUEUES {
        for (op, took) in ops.iter_mut().zip(&mut took) {
            std::thread::sleep(gap);
            took.push(op(i));
        }
    }
    took.map(Millis::of)
}

fn timed<R>(op: impl FnOnce() -> R) -> Duration {
    let started = Instant::now();
    let done = op();
    let took = started.elapsed();
    drop(done);
    took
}

/// Median and mean of durations, in milliseconds.
struct Millis {
    median: f64,
    mean: f64,
}

impl Millis {
    fn of(durations: Vec<Duration>) -> Millis {
        let mut ms: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Millis {
            median: median(&mut ms),
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n % 2 {
        1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One real enroll transaction from a simulated station's outbox: the body it sends and the
/// summary it keeps beside it.
async fn harvest(dir: &Path) -> Harvest {
    let data = dir.join("harvest");
    let running = daemon::app::start(Options {
        simulate: true,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_control: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data.clone()),
        ..Options::default()
    })
    .await
    .unwrap();
    let api = format!("http://{}/gbs-spid-services/api", running.api_addr);
    let http = reqwest::Client::new();
    let get = |p: String| {
        let (http, api) = (http.clone(), api.clone());
        async move {
            http.get(format!("{api}{p}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let wait = |want: &'static str| async move {
        while get("/capture/status".into()).await["status"] != want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    get("/login/52998224725".into()).await;
    get("/enroll/39053344705".into()).await;
    wait("CLIENT_CAPTURE_DONE").await;
    get("/operator/capture".into()).await;
    wait("OPERATOR_CAPTURE_DONE").await;
    let sent: Value = http
        .post(format!("{api}/capture/send"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    running.stop().await;
    let key = SealKey::read(&data.join(daemon::outbox::DEFAULT_KEY_FILE)).unwrap();
    let outbox = Outbox::open_in(&data, key).unwrap();
    let id = sent["id"].as_str().unwrap();
    let body = outbox.payload(id).unwrap().unwrap();
    Harvest {
        body: serde_json::from_slice(&body).unwrap(),
        summary: outbox.summary(id).unwrap().unwrap(),
    }
}

struct Harvest {
    body: Value,
    summary: Value,
}

/// One transaction of a drain, made from the harvested one with its own CPF and timestamp.
struct Body {
    cpf: String,
    timestamp: u64,
    bytes: Vec<u8>,
    summary: Value,
}

fn bodies(template: &Harvest, q: usize) -> Vec<Body> {
    (0..q)
        .map(|i| {
            let (mut body, mut summary) = (template.body.clone(), template.summary.clone());
            let (cpf, timestamp) = (cpf(i as u32), 1_700_000_000_000 + i as u64);
            body["data"]["userId"] = Value::String(cpf.clone());
            body["data"]["timestamp"] = Value::from(timestamp);
            summary["cpf"] = Value::String(cpf.clone());
            summary["timestamp"] = Value::from(timestamp);
            Body {
                cpf,
                timestamp,
                bytes: serde_json::to_vec(&body).unwrap(),
                summary,
            }
        })
        .collect()
}

async fn spid_sim(http: &reqwest::Client) -> (Process, String) {
    let [port] = free_ports();
    let p = Process(
        Command::new(binary("spid-sim"))
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
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    while http
        .get(format!("{base}/sim/upstream"))
        .send()
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (p, base)
}

/// What one drain took.
struct Drain {
    seconds: f64,
    /// CPU milliseconds of the sender (spidd, or this process for the plain loop).
    sender_cpu: f64,
    /// CPU milliseconds of the `spid-sim` server.
    server_cpu: f64,
    /// Context switches of the sender's threads.
    sender_switches: u64,
}

/// What a drain is measured by, from its start: the sender's and the server's CPU-time
/// clocks and the sender's context switches.
struct Meter {
    sender: u32,
    server: u32,
    cpu: (f64, f64),
    switches: u64,
    started: Instant,
}

impl Meter {
    fn start(sender: u32, server: u32) -> Meter {
        Meter {
            sender,
            server,
            cpu: (cpu_ms(sender), cpu_ms(server)),
            switches: switches(sender),
            started: Instant::now(),
        }
    }

    fn stop(self) -> Drain {
        Drain {
            seconds: self.started.elapsed().as_secs_f64(),
            sender_cpu: cpu_ms(self.sender) - self.cpu.0,
            server_cpu: cpu_ms(self.server) - self.cpu.1,
            sender_switches: switches(self.sender) - self.switches,
        }
    }
}

/// Resend All in a spidd child, with its peak RSS in kB.
async fn drain_daemon(dir: &Path, bodies: &[Body], http: &reqwest::Client) -> (Drain, u64) {
    let data = dir.join(format!("drain-{}", bodies.len()));
    let key = SealKey::read_or_create(&data.join(daemon::outbox::DEFAULT_KEY_FILE)).unwrap();
    {
        let outbox = Outbox::open_in(&data, key).unwrap();
        for b in bodies {
            let tx = new_tx(&b.cpf, b.timestamp, b.bytes.clone(), b.summary.clone());
            outbox.enqueue(tx).unwrap();
        }
        // Not yet due, as after an outage: only Resend All sends them.
        let conn = rusqlite::Connection::open(outbox.path()).unwrap();
        conn.execute(
            "UPDATE transactions SET next_attempt_at = 9000000000000",
            [],
        )
        .unwrap();
    }
    let (sim, base) = spid_sim(http).await;
    let cfg = dir.join("bench.toml");
    std::fs::write(
        &cfg,
        format!("[outbox]\nresend_concurrency = {CONCURRENCY}\n"),
    )
    .unwrap();
    let [port, control] = free_ports();
    let daemon = Process(
        Command::new(binary("spidd"))
            .args(["--simulate", "--config"])
            .arg(&cfg)
            .args(["--upstream", &format!("{base}/gbs-spid-server")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--sim-control", &format!("127.0.0.1:{control}")])
            .arg("--data-dir")
            .arg(&data)
            .env("SPIDD_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{port}/gbs-spid-services/api");
    while http.get(format!("{api}/health")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let meter = Meter::start(daemon.0.id(), sim.0.id());
    let r: Value = http
        .post(format!("{api}/capture/resend-all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let drain = meter.stop();
    assert_eq!(r["delivered"].as_u64(), Some(bodies.len() as u64), "{r}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.0.id())).unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (drain, hwm)
}

/// The baseline: the same bodies posted by the same client code, CONCURRENCY at a time.
async fn drain_plain(bodies: &[Body], http: &reqwest::Client) -> Drain {
    let (sim, base) = spid_sim(http).await;
    let config = daemon::config::Config::from_toml_str(&format!(
        "[upstream]\nurl = \"{base}/gbs-spid-server\"\n"
    ))
    .unwrap();
    let client = Arc::new(
        daemon::upstream::UpstreamClient::new(
            &config.upstream,
            Some(daemon::simulate::Simulation::default_password()),
        )
        .unwrap(),
    );
    let bodies: Arc<Vec<bytes::Bytes>> =
        Arc::new(bodies.iter().map(|b| b.bytes.clone().into()).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let meter = Meter::start(std::process::id(), sim.0.id());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                client
                    .submit_raw(Mode::Enroll, body.clone())
                    .await
                    .expect("posted");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    meter.stop()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // The enqueue part runs the outbox in this process: with spidd's allocator settings.
    daemon::app::tune_allocator();
    build_binaries();
    let dir = tempfile::tempdir_in(
        std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir),
    )
    .unwrap();
    let only = std::env::var("OUTBOX_BENCH").ok();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if runs("enqueue") {
        bench_enqueue(dir.path());
    }
    if !runs("drain") {
        return;
    }
    let template = harvest(dir.path()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1800))
        .build()
        .unwrap();
    for q in [500usize, 2000] {
        let bodies = bodies(&template, q);
        let size = bodies[0].bytes.len() as f64 / 1024.0;
        let (mut ratios, mut peak_kb) = (Vec::new(), 0);
        for round in 1..=ROUNDS {
            let dir = dir.path().join(format!("round-{round}"));
            let (daemon, rss_kb) = drain_daemon(&dir, &bodies, &http).await;
            let plain = drain_plain(&bodies, &http).await;
            let _ = std::fs::remove_dir_all(&dir);
            ratios.push(plain.seconds / daemon.seconds);
            peak_kb = peak_kb.max(rss_kb);
            let per_tx = |ms: f64| ms / q as f64;
            println!(
                "resend all of {q:>5} x {size:.0} kB, round {round}: spidd {:>7.1} tx/s | plain loop {:>7.1} tx/s | ratio {:.2}x | spidd peak RSS {:.1} MB",
                q as f64 / daemon.seconds,
                q as f64 / plain.seconds,
                plain.seconds / daemon.seconds,
                rss_kb as f64 / 1024.0
            );
            println!(
                "    CPU per tx: spidd {:.3} ms + spid-sim {:.3} ms | plain loop {:.3} ms + spid-sim {:.3} ms | sender context switches per tx: spidd {:.1}, plain loop {:.1}",
                per_tx(daemon.sender_cpu),
                per_tx(daemon.server_cpu),
                per_tx(plain.sender_cpu),
                per_tx(plain.server_cpu),
                per_tx(daemon.sender_switches as f64),
                per_tx(plain.sender_switches as f64),
            );
        }
        println!(
            "resend all of {q:>5} x {size:.0} kB: median ratio {:.2}x over {ROUNDS} rounds (goal >= 0.8x) | spidd peak RSS {:.1} MB (goal < 64 MB)",
            median(&mut ratios),
            peak_kb as f64 / 1024.0
        );
    }
}

//! Benchmarks of the local API, printed side by side with their baselines from the same run:
//!
//! 1. Capture Status throughput and p99 latency with 64 concurrent keep-alive clients, next to a
//!    bare axum handler that returns a body of the same size (goal: ≥ 0.8× the bare handler).
//! 2. The full enroll flow (Login → Enroll → 5 positions → Operator Capture → Send) on the
//!    simulator with zero device latency, next to the same image work done directly (synthesis
//!    of fresh prints and faces, quality, templates, matching, face checks, WSQ/JPEG encoding and
//!    the fake server's decoding); the difference is the station's own overhead (goal: < 50 ms).
//!
//! Run: `cargo bench -p spidd-tests --bench flow` (release build).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use daemon::app::Options;
use serde_json::Value;
use tokio::net::TcpListener;

const CLIENTS: usize = 64;
const REQUESTS_PER_CLIENT: usize = 400;
const FLOWS: usize = 5;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let running = daemon::app::start(Options {
        config: None,
        simulate: true,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_control: Some("127.0.0.1:0".parse().unwrap()),
        upstream: None,
        data_dir: Some(dir.path().join("data")),
        status_socket: None,
    })
    .await
    .expect("station starts");
    let api = format!("http://{}/gbs-spid-services/api", running.api_addr);

    // -- 1. Capture Status vs a bare axum handler ---------------------------------------------
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let sample = client
        .get(format!("{api}/capture/status"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let bare = bare_server(sample.to_vec()).await;
    // Warm both up.
    load(&client, &format!("{api}/capture/status"), CLIENTS, 20).await;
    load(&client, &bare, CLIENTS, 20).await;
    let ours = load(
        &client,
        &format!("{api}/capture/status"),
        CLIENTS,
        REQUESTS_PER_CLIENT,
    )
    .await;
    let base = load(&client, &bare, CLIENTS, REQUESTS_PER_CLIENT).await;
    println!(
        "Capture Status, {CLIENTS} concurrent clients, {} requests each run",
        CLIENTS * REQUESTS_PER_CLIENT
    );
    println!(
        "  spidd /capture/status : {:>9.0} req/s   p99 {:>6.2} ms",
        ours.rate, ours.p99_ms
    );
    println!(
        "  bare axum handler     : {:>9.0} req/s   p99 {:>6.2} ms",
        base.rate, base.p99_ms
    );
    println!("  ratio (goal >= 0.80)  : {:>9.2}", ours.rate / base.rate);

    // -- 2. Enroll flow overhead ----------------------------------------------------------------
    let get = |path: String| {
        let client = client.clone();
        let api = api.clone();
        async move {
            client
                .get(format!("{api}{path}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mut flow_times = Vec::new();
    for i in 0..FLOWS {
        let cpf = [
            "39053344705",
            "12345678909",
            "98765432100",
            "11122233396",
            "44455566619",
        ][i % 5];
        let started = Instant::now();
        assert_eq!(
            get("/login/52998224725".into()).await["status"],
            "OPERATOR_OK"
        );
        assert_eq!(
            get(format!("/enroll/{cpf}")).await["status"],
            "CLIENT_CAPTURING"
        );
        wait(&get, "CLIENT_CAPTURE_DONE").await;
        get("/operator/capture".into()).await;
        wait(&get, "OPERATOR_CAPTURE_DONE").await;
        let sent = get("/capture/send".into()).await;
        assert_eq!(sent["status"], "CAPTURE_ENQUEUED", "{sent}");
        flow_times.push(started.elapsed());
    }
    let direct = tokio::task::spawn_blocking(|| {
        (0..FLOWS)
            .map(|i| direct_work(i as u32))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let flow_ms = median(&flow_times);
    let work_ms = median(&direct);
    println!("Enroll flow on the simulator, zero device latency (median of {FLOWS})");
    println!("  whole flow over the API      : {flow_ms:>8.1} ms");
    println!("  same image work done directly: {work_ms:>8.1} ms");
    println!(
        "  station overhead (goal < 50) : {:>8.1} ms",
        flow_ms - work_ms
    );
    running.stop().await;
}

struct Load {
    rate: f64,
    p99_ms: f64,
}

async fn load(client: &reqwest::Client, url: &str, clients: usize, each: usize) -> Load {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(each);
            for _ in 0..each {
                let t = Instant::now();
                let r = client.get(&url).send().await.unwrap();
                let _ = r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    let p99 = all[(all.len() * 99 / 100).min(all.len() - 1)];
    Load {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p99_ms: p99.as_secs_f64() * 1e3,
    }
}

async fn bare_server(body: Vec<u8>) -> String {
    let body: Arc<[u8]> = body.into();
    let app = axum::Router::new().route(
        "/status",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body.to_vec()) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/status")
}

async fn wait<F, Fut>(get: &F, state: &str)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let started = Instant::now();
    loop {
        let status = get("/capture/status".into()).await;
        if status["status"] == state {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "stuck: {status}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The image work of one enroll flow done directly, without the station: everything the
/// flow's wall time contains that is not the station's own overhead. A fresh subject each time,
/// as in the flows, so the simulator pays for a new master finger just as it does there.
fn direct_work(i: u32) -> Duration {
    use biometrics::fingerprint::{assess, compare, Template};
    use simulator::fingerprint::{impression, Condition};
    let subject = format!("bench-direct-{i}");
    let started = Instant::now();
    // Login: the station decodes the operator's two enrolled prints and extracts templates.
    let mut enrolled = Vec::new();
    for finger in [2u8, 7] {
        let print = impression("52998224725", finger, 0, Condition::Good);
        let mut png = Vec::new();
        print
            .image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let decoded = image::load_from_memory(&png).unwrap().to_luma8();
        enrolled.push(Template::extract(&decoded, print.ppi));
    }
    // Client capture: the face, then four fingers, each judged once.
    let frame = simulator::face::frame(&subject, i);
    let checker = biometrics::face::FaceChecker::new(Default::default());
    let _ = checker.check(&frame);
    let mut prints = Vec::new();
    for finger in [2u8, 3, 7, 8] {
        let print = impression(&subject, finger, 100 + i, Condition::Good);
        let _ = assess(&print.image, print.ppi);
        prints.push(print);
    }
    // Operator capture: one finger, matched against the stored templates.
    let live = impression("52998224725", 2, 200 + i, Condition::Good);
    let (_, probe) = assess(&live.image, live.ppi);
    for t in &enrolled {
        let _ = compare(&probe, t);
    }
    // Send: WSQ and JPEG encoding on the station, decoding on the (fake) server.
    for print in &prints {
        let wsq = biometrics::wsq::encode(&print.image, print.ppi, 0.75).unwrap();
        let _ = biometrics::wsq::decode(&wsq).unwrap();
    }
    let jpeg = biometrics::face::encode_jpeg(&frame, 800 * 1024).unwrap();
    let _ = image::load_from_memory(&jpeg).unwrap();
    started.elapsed()
}

fn median(times: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms[ms.len() / 2]
}

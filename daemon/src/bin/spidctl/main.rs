//! `spidctl`: the technician's view of a running spidd, over its status socket.
//!
//! Exit status: 0 done; 1 spidd refused or failed the request (its message is printed);
//! 2 bad usage; 3 spidd is not reachable (no socket, nobody listening); 4 permission denied
//! on the socket; 5 `resend` finished but some transactions are still undelivered.

mod client;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use hyper::Method;
use serde_json::{json, Value};

use client::{Client, ClientError};

const DEFAULT_SOCKET: &str = "/run/spidd/status.sock";
const SOCKET_ENV: &str = "SPIDD_STATUS_SOCKET";

const EXIT_REFUSED: u8 = 1;
const EXIT_UNREACHABLE: u8 = 3;
const EXIT_PERMISSION: u8 = 4;
const EXIT_UNDELIVERED: u8 = 5;

/// Look at a running spidd: devices, upstream, outbox, logs; resend pending transactions and
/// make a test capture.
///
/// Exit status: 0 done; 1 spidd refused or failed the request; 2 bad usage; 3 spidd not
/// reachable; 4 permission denied on the socket; 5 resend left transactions undelivered.
#[derive(Parser, Debug)]
#[command(name = "spidctl", version)]
struct Cli {
    /// The status socket (default: $SPIDD_STATUS_SOCKET, else /run/spidd/status.sock).
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,
    /// Print JSON (one object; NDJSON lines for `resend`) instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The station at a glance: flow, operator, devices, upstream, outbox, Resend All.
    Status,
    /// Every detected fingerprint reader and camera.
    Devices,
    /// Transactions in the outbox, newest first (no biometric data, CPFs masked).
    Outbox {
        /// Only this state: pending, sending, ambiguous, delivered, rejected.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// At most this many (1–1000, default 50).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Send every pending transaction now (or follow the Resend All already running).
    Resend,
    /// Capture once with the station's device and save the image.
    TestCapture {
        #[arg(value_enum)]
        kind: CaptureKind,
        /// Where to write the PNG.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
        /// How long to wait for a finger or a face, in seconds (default 15, at most 60).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u32>,
    },
    /// Prometheus metrics, as scraped.
    Metrics,
    /// The newest log lines.
    Logs {
        /// How many lines (1–1000).
        #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 100)]
        lines: u32,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CaptureKind {
    Finger,
    Face,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = cli
        .socket
        .clone()
        .or_else(|| {
            std::env::var_os(SOCKET_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spidctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = Client::new(socket);
    match runtime.block_on(run(&client, cli.command, cli.json)) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Client(e)) => {
            eprintln!("spidctl: {e}");
            ExitCode::from(match e {
                ClientError::Unreachable { .. } => EXIT_UNREACHABLE,
                ClientError::PermissionDenied { .. } => EXIT_PERMISSION,
                ClientError::Protocol { .. } | ClientError::Refused { .. } => EXIT_REFUSED,
            })
        }
        Err(Failure::Other(message)) => {
            eprintln!("spidctl: {message}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

enum Failure {
    Client(ClientError),
    Other(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

async fn run(client: &Client, command: Command, json: bool) -> Result<u8, Failure> {
    match command {
        Command::Status => {
            let v = client.get_json("/status").await?;
            print!(
                "{}",
                if json {
                    pretty(&v) + "\n"
                } else {
                    render::status(&v)
                }
            );
        }
        Command::Devices => {
            let v = client.get_json("/devices").await?;
            print!(
                "{}",
                if json {
                    pretty(&v) + "\n"
                } else {
                    render::devices(&v)
                }
            );
        }
        Command::Outbox { state, limit } => {
            let mut query = Vec::new();
            if let Some(s) = state {
                query.push(format!("state={}", s.to_ascii_uppercase()));
            }
            if let Some(n) = limit {
                query.push(format!("limit={n}"));
            }
            let path = if query.is_empty() {
                "/outbox".to_string()
            } else {
                format!("/outbox?{}", query.join("&"))
            };
            let v = client.get_json(&path).await?;
            print!(
                "{}",
                if json {
                    pretty(&v) + "\n"
                } else {
                    render::outbox(&v)
                }
            );
        }
        Command::Resend => return resend(client, json).await,
        Command::TestCapture { kind, out, timeout } => {
            return test_capture(client, kind, &out, timeout, json).await
        }
        Command::Metrics => print!("{}", client.get_text("/metrics").await?),
        Command::Logs { lines } => {
            let v = client.get_json(&format!("/logs?lines={lines}")).await?;
            if json {
                println!("{}", pretty(&v));
            } else {
                for line in v["lines"].as_array().into_iter().flatten() {
                    println!("{}", line.as_str().unwrap_or_default());
                }
            }
        }
    }
    Ok(0)
}

async fn resend(client: &Client, json: bool) -> Result<u8, Failure> {
    use indicatif::{ProgressBar, ProgressStyle};
    let response = client.send(Method::POST, "/outbox/resend", None).await?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        // Drawn on stderr, and only at a terminal.
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("Resend All {bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let mut last = Value::Null;
    client
        .lines(response, |line| {
            if json {
                println!("{line}");
            }
            bar.set_length(line["total"].as_u64().unwrap_or(0));
            bar.set_position(line["done"].as_u64().unwrap_or(0));
            bar.set_message(format!(
                "delivered {}, failed {}",
                render::cell(&line["delivered"]),
                render::cell(&line["failed"])
            ));
            last = line;
        })
        .await?;
    bar.finish_and_clear();
    if last["finished"] != true {
        return Err(Failure::Other(
            "the progress stream ended before Resend All finished; see `spidctl status`".into(),
        ));
    }
    if let Some(error) = last["error"].as_str() {
        return Err(Failure::Other(format!("Resend All failed: {error}")));
    }
    if !json {
        println!(
            "Resend All done: {} taken up, {} delivered, {} failed; {} still undelivered",
            render::cell(&last["done"]),
            render::cell(&last["delivered"]),
            render::cell(&last["failed"]),
            render::cell(&last["remaining"])
        );
    }
    Ok(if last["remaining"].as_u64().unwrap_or(0) > 0 {
        EXIT_UNDELIVERED
    } else {
        0
    })
}

async fn test_capture(
    client: &Client,
    kind: CaptureKind,
    out: &std::path::Path,
    timeout: Option<u32>,
    json: bool,
) -> Result<u8, Failure> {
    let kind = match kind {
        CaptureKind::Finger => "finger",
        CaptureKind::Face => "face",
    };
    let mut body = json!({ "kind": kind });
    if let Some(secs) = timeout {
        body["timeout_ms"] = json!(u64::from(secs) * 1000);
    }
    if !json {
        eprintln!(
            "{}",
            if kind == "finger" {
                "Place a finger on the reader..."
            } else {
                "Look at the camera..."
            }
        );
    }
    let response = client
        .send(Method::POST, "/test-capture", Some(&body))
        .await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let quality = header("x-spidd-quality");
    let (width, height, ppi) = (
        header("x-spidd-width"),
        header("x-spidd-height"),
        header("x-spidd-ppi"),
    );
    let report: Value = header("x-spidd-quality-report")
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(Value::Null);
    let png = client.body(response).await?;
    std::fs::write(out, &png)
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", out.display())))?;
    if json {
        println!(
            "{}",
            pretty(&json!({
                "file": out.display().to_string(),
                "kind": kind,
                "bytes": png.len(),
                "width": width.and_then(|w| w.parse::<u32>().ok()),
                "height": height.and_then(|h| h.parse::<u32>().ok()),
                "ppi": ppi.and_then(|p| p.parse::<u32>().ok()),
                "quality": quality.and_then(|q| q.parse::<u32>().ok()),
                "report": report,
            }))
        );
    } else {
        println!(
            "saved {} ({}x{}{}), quality {}",
            out.display(),
            width.unwrap_or_default(),
            height.unwrap_or_default(),
            ppi.map(|p| format!(", {p} ppi")).unwrap_or_default(),
            quality.unwrap_or_else(|| "-".into())
        );
        if let Some(feedback) = report["feedback"].as_array().filter(|f| !f.is_empty()) {
            let list: Vec<String> = feedback.iter().map(render::cell).collect();
            println!("feedback: {}", list.join(", "));
        }
        if let Some(failed) = report["failed_checks"].as_array().filter(|f| !f.is_empty()) {
            let list: Vec<String> = failed.iter().map(render::cell).collect();
            println!("failed checks: {}", list.join(", "));
        }
    }
    Ok(0)
}

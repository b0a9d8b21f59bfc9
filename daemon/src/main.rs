//! `spidd`: the SPID capture station daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Worker threads of the async runtime (see `main`).
const ASYNC_WORKERS: usize = 1;

/// The SPID capture station: drives fingerprint readers and a camera for the kiosk's
/// application and delivers every transaction to the SPID Server.
#[derive(Parser, Debug)]
#[command(name = "spidd", version)]
struct Cli {
    /// The TOML configuration file (default: /etc/spidd/spidd.toml if it exists).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Run on simulated devices with an in-process fake SPID Server (unless --upstream).
    /// With a command: use the simulated reader and camera.
    #[arg(long, global = true)]
    simulate: bool,
    /// Where the local API listens (overrides `api.listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Where the simulator control API listens (with --simulate; default 127.0.0.1:19981).
    #[arg(long, value_name = "ADDR")]
    sim_control: Option<SocketAddr>,
    /// The SPID Server base URL (overrides `upstream.url`), e.g.
    /// http://127.0.0.1:8082/gbs-spid-server. With --simulate: use it instead of the in-process fake.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Where the database and keys live (overrides `outbox.data_dir`; with --simulate the default
    /// is a fresh temporary directory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the technician status socket goes (overrides `status.socket`; default
    /// /run/spidd/status.sock, with --simulate status.sock in the data directory).
    #[arg(long, value_name = "PATH")]
    status_socket: Option<PathBuf>,
    /// Without a command, spidd runs the station.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the attached fingerprint readers and cameras (opens each briefly).
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Capture one fingerprint (or, with --face, one camera frame) into a PNG file, without
    /// the daemon. Exit status: 0 captured, 1 device or capture error, 2 bad usage.
    CaptureOnce {
        /// The device: an id from `spidd devices` (usb:05ba:000a, serial:/dev/ttyUSB0,
        /// camera:0, sim:fingerprint), a VID:PID, port path or camera index. Default: the
        /// configured pin, else the first device found.
        #[arg(long, value_name = "ID")]
        device: Option<String>,
        /// Capture a camera frame instead of a fingerprint.
        #[arg(long)]
        face: bool,
        /// How long to wait for a finger (or a frame), e.g. 10s (default: capture.timeout).
        #[arg(long, value_name = "DUR", value_parser = parse_timeout)]
        timeout: Option<std::time::Duration>,
        /// Where to write the image (a .png file).
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
    },
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    daemon::config::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("expected a duration such as 500ms, 10s or 1m, got {text:?}"))
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        return daemon::devices::cli::run(command.into_request(&cli));
    }
    daemon::app::tune_allocator();
    let options = daemon::app::Options {
        config: cli.config,
        simulate: cli.simulate,
        listen: cli.listen,
        sim_control: cli.sim_control,
        upstream: cli.upstream,
        data_dir: cli.data_dir,
        status_socket: cli.status_socket,
    };
    // One async worker thread. The async side only moves bytes and waits: every CPU-heavy
    // or blocking step (image work, SQLite, sealing, device I/O) runs on the blocking pool,
    // which has its own threads. A second worker mostly woke up to steal a task from the
    // first: during a Resend All on a 2-core station it took 2.3 context switches per
    // delivered transaction instead of 1.2, and ~15% more CPU (`cargo bench --bench outbox`).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(ASYNC_WORKERS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("spidd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::app::run(options, daemon::app::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spidd: {e}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    fn into_request(self, cli: &Cli) -> daemon::devices::cli::Request {
        use daemon::devices::cli::{Action, Request};
        // The daemon's own flags mean nothing to a command; saying so beats ignoring them.
        let daemon_only = [
            ("--listen", cli.listen.is_some()),
            ("--sim-control", cli.sim_control.is_some()),
            ("--upstream", cli.upstream.is_some()),
            ("--data-dir", cli.data_dir.is_some()),
            ("--status-socket", cli.status_socket.is_some()),
        ];
        let stray = daemon_only
            .iter()
            .filter(|(_, given)| *given)
            .map(|(flag, _)| *flag)
            .collect();
        let action = match self {
            Command::Devices { json } => Action::List { json },
            Command::CaptureOnce {
                device,
                face,
                timeout,
                out,
            } => Action::CaptureOnce {
                device,
                face,
                timeout,
                out,
            },
        };
        Request {
            config: cli.config.clone(),
            simulate: cli.simulate,
            daemon_only_flags: stray,
            action,
        }
    }
}

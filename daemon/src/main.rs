//! `spidd`: the SPID capture station daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The SPID capture station: drives fingerprint readers and a camera for the kiosk's
/// application and delivers every transaction to the SPID Server.
#[derive(Parser, Debug)]
#[command(name = "spidd", version)]
struct Cli {
    /// The TOML configuration file (default: /etc/spidd/spidd.toml if it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run on simulated devices with an in-process fake SPID Server (unless --upstream).
    #[arg(long)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = daemon::app::Options {
        config: cli.config,
        simulate: cli.simulate,
        listen: cli.listen,
        sim_control: cli.sim_control,
        upstream: cli.upstream,
        data_dir: cli.data_dir,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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

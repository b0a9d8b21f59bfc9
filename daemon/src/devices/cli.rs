//! The edge of `spidd devices` and `spidd capture-once`: configuration, logging, output and
//! exit codes (0 done, 1 device or capture error, 2 bad usage).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::commands::{self, CaptureOnce};
use crate::app::{load_config, Options};

pub const EXIT_OK: u8 = 0;
pub const EXIT_DEVICE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A parsed command line.
#[derive(Clone, Debug)]
pub struct Request {
    pub config: Option<PathBuf>,
    pub simulate: bool,
    /// Daemon flags given with a command (they would be ignored, so they are refused).
    pub daemon_only_flags: Vec<&'static str>,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub enum Action {
    List {
        json: bool,
    },
    CaptureOnce {
        device: Option<String>,
        face: bool,
        timeout: Option<Duration>,
        out: PathBuf,
    },
}

pub fn run(request: Request) -> ExitCode {
    ExitCode::from(execute(request))
}

fn usage(message: &str) -> u8 {
    eprintln!("spidd: {message}");
    EXIT_USAGE
}

/// Runs the command, printing to stdout/stderr; returns the exit status.
pub fn execute(request: Request) -> u8 {
    if let Some(flag) = request.daemon_only_flags.first() {
        return usage(&format!(
            "{flag} applies to the daemon only, not to a command"
        ));
    }
    if let Action::CaptureOnce { out, .. } = &request.action {
        let png = out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if !png {
            return usage(&format!(
                "--out must name a .png file, got {}",
                out.display()
            ));
        }
    }
    let config = match load_config(&Options {
        config: request.config.clone(),
        ..Options::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spidd: {e}");
            return EXIT_DEVICE;
        }
    };
    init_logging();
    let families = commands::families_for(request.simulate, &config.devices);
    match request.action {
        Action::List { json } => {
            let listed = commands::list(&families, &config.devices);
            if json {
                println!("{:#}", commands::to_json(&listed));
            } else {
                print!("{}", commands::to_table(&listed));
            }
            EXIT_OK
        }
        Action::CaptureOnce {
            device,
            face,
            timeout,
            out,
        } => {
            let wanted = CaptureOnce {
                device,
                face,
                timeout: timeout.unwrap_or(config.capture.timeout),
                out,
            };
            match commands::capture_once(&families, &config.devices, &wanted) {
                Ok(c) => {
                    let ppi = c.ppi.map(|p| format!(" at {p} ppi")).unwrap_or_default();
                    println!(
                        "spidd: captured {}x{}{ppi} from {} ({}) into {}",
                        c.width,
                        c.height,
                        c.id,
                        c.name,
                        wanted.out.display()
                    );
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("spidd: {e}");
                    EXIT_DEVICE
                }
            }
        }
    }
}

/// Warnings and errors on stderr (`SPIDD_LOG` overrides), so a family's complaints show.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPIDD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

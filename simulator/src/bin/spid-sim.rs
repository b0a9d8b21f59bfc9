//! `spid-sim`: the simulator's command line. `spid-sim server` runs the fake SPID Server with
//! its `/sim/*` control routes on one listener until SIGINT or SIGTERM; `spid-sim providers`
//! runs the fake cloud identity providers (Unico, faceverify.ai, Claro) the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use simulator::server::{seed_fixtures, serve, FakeSpidServer, ServerConfig};

#[derive(Parser)]
#[command(
    name = "spid-sim",
    version,
    about = "The SPID capture station's simulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fake SPID Server (upstream API under /gbs-spid-server, control under /sim).
    Server(ServerArgs),
    /// Run the fake identity providers (under /unico-identity, /unico-id, /unico-cadastro,
    /// /faceverify, /claro; control under /sim/providers).
    Providers(ProvidersArgs),
}

#[derive(Args)]
struct ProvidersArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The station's Unico service account public key, DER RSAPublicKey
    /// (`openssl rsa -in key.pem -RSAPublicKey_out -outform DER -out key.der`).
    #[arg(long)]
    unico_public_key_der: Option<PathBuf>,
    /// Accepted assertion issuer, `<account>@<tenant>.iam.acesso.io`.
    #[arg(long)]
    unico_issuer: Option<String>,
    /// Accepted assertion audience; default `http://<listen>/unico-identity`.
    #[arg(long)]
    unico_audience: Option<String>,
    /// Files holding the secrets the fakes accept (the same files the station reads).
    #[arg(long)]
    unico_api_key_file: Option<PathBuf>,
    #[arg(long)]
    faceverify_api_key_file: Option<PathBuf>,
    #[arg(long)]
    faceverify_secret_file: Option<PathBuf>,
    #[arg(long)]
    claro_key_file: Option<PathBuf>,
    #[arg(long)]
    claro_secret_file: Option<PathBuf>,
    /// Time from a by Unico process's creation to its (authenticated) end; omit with
    /// --unico-manual.
    #[arg(long, default_value_t = 5000)]
    unico_process_delay_ms: u64,
    /// Processes finish only through POST /sim/providers/unico/processes/{id}/complete.
    #[arg(long)]
    unico_manual: bool,
}

fn read_secret(path: &Option<PathBuf>) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .transpose()
}

async fn run_providers(args: ProvidersArgs) -> Result<(), String> {
    use simulator::providers::{FakeProviders, ProvidersConfig, UNICO_IDENTITY};
    let public_key = args
        .unico_public_key_der
        .as_ref()
        .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .transpose()?;
    let config = ProvidersConfig {
        unico_audience: args
            .unico_audience
            .clone()
            .unwrap_or_else(|| format!("http://{}{UNICO_IDENTITY}", args.listen)),
        unico_issuer: args.unico_issuer.clone(),
        unico_public_key_der: public_key,
        unico_api_key: read_secret(&args.unico_api_key_file)?,
        unico_token_ttl: Duration::from_secs(3600),
        unico_process_delay: (!args.unico_manual)
            .then(|| Duration::from_millis(args.unico_process_delay_ms)),
        unico_link_base: "https://cadastro.unico.invalid/process/".to_string(),
        faceverify_api_key: read_secret(&args.faceverify_api_key_file)?,
        faceverify_secret: read_secret(&args.faceverify_secret_file)?,
        claro_key: read_secret(&args.claro_key_file)?,
        claro_secret: read_secret(&args.claro_secret_file)?,
    };
    let fake = FakeProviders::new(config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(address = %args.listen, "fake identity providers listening");
    axum::serve(listener, fake.router().merge(fake.control_router()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// Start with the fixture operators and individual (`--seed-fixtures false` to start empty).
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    seed_fixtures: bool,
    /// JSON file to load the state from (if it exists) and save it to after every change.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Time from an enroll to its final status.
    #[arg(long, default_value_t = 2000)]
    enroll_delay_ms: u64,
    /// Time from a verify to its final status.
    #[arg(long, default_value_t = 0)]
    verify_delay_ms: u64,
    /// Time from an operator's biometrics upload to the status VERIFIED.
    #[arg(long, default_value_t = 2000)]
    operator_delay_ms: u64,
    /// Time from a remote capture's creation to its completion; omit with --remote-manual.
    #[arg(long, default_value_t = 3000)]
    remote_delay_ms: u64,
    /// Remote captures complete only through POST /sim/remote-capture/{tguid}/complete.
    #[arg(long)]
    remote_manual: bool,
    /// User name accepted by the token endpoint.
    #[arg(long, default_value = "spid")]
    user: String,
    /// Password accepted by the token endpoint.
    #[arg(long, default_value = "spid")]
    password: String,
    /// Path of the token endpoint.
    #[arg(long, default_value = "/gbs-spid-server/auth/login")]
    token_path: String,
    /// Lifetime of an issued token, seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_s: u64,
}

impl ServerArgs {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            username: self.user.clone(),
            password: self.password.clone(),
            token_path: self.token_path.clone(),
            token_ttl: Duration::from_secs(self.token_ttl_s),
            enroll_delay: Duration::from_millis(self.enroll_delay_ms),
            verify_delay: Duration::from_millis(self.verify_delay_ms),
            operator_delay: Duration::from_millis(self.operator_delay_ms),
            remote_capture_delay: (!self.remote_manual)
                .then(|| Duration::from_millis(self.remote_delay_ms)),
            state_file: self.state.clone(),
            ..ServerConfig::default()
        }
    }
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

async fn run_server(args: ServerArgs) -> Result<(), String> {
    let server = FakeSpidServer::new(args.config()).map_err(|e| e.to_string())?;
    if args.seed_fixtures {
        seed_fixtures(&server);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    serve(listener, server, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("spid-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Server(args) => runtime.block_on(run_server(args)),
        Command::Providers(args) => runtime.block_on(run_providers(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "spid-sim failed");
            ExitCode::FAILURE
        }
    }
}

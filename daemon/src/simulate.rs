//! `--simulate`: simulated reader and camera (as device families), the in-process fake SPID Server (unless
//! `--upstream` names another), and the simulator control API beside the station.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use simulator::providers::{FakeProviders, ProvidersConfig};
use simulator::scene::Scene;
use simulator::server::{FakeSpidServer, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::app::{wait_stop, AppError, Options};
use crate::config::Config;
use crate::devices::Families;

/// The running simulated world.
pub struct Simulation {
    scene: Arc<Scene>,
    server: Option<FakeSpidServer>,
    control_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    /// A temporary data directory made for this run, removed at stop.
    temp_dir: Option<PathBuf>,
}

impl Simulation {
    /// Starts the fake server (unless `options.upstream`) and the control API, and points
    /// `config` at them: upstream URL and, without `--data-dir`, a fresh temporary data directory.
    pub async fn start(
        config: &mut Config,
        options: &Options,
        control: SocketAddr,
        stop: watch::Receiver<bool>,
    ) -> Result<Simulation, AppError> {
        let scene = Arc::new(Scene::new());
        let mut tasks = Vec::new();

        let server = if options.upstream.is_none() {
            let fake = FakeSpidServer::new(ServerConfig::default())
                .map_err(|e| AppError::Simulator(e.to_string()))?;
            simulator::server::seed_fixtures(&fake);
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
                AppError::Simulator(format!("cannot bind the fake SPID server: {e}"))
            })?;
            let addr = listener
                .local_addr()
                .map_err(|e| AppError::Simulator(e.to_string()))?;
            config.upstream.url = format!("http://{addr}{}", simulator::server::BASE_PATH);
            config.upstream.username = fake.config().username.clone();
            config.upstream.token_path = fake
                .config()
                .token_path
                .strip_prefix(simulator::server::BASE_PATH)
                .unwrap_or(&fake.config().token_path)
                .to_string();
            let serving = fake.clone();
            let stopped = wait_stop(stop.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = simulator::server::serve(listener, serving, stopped).await {
                    warn!(error = %e, "the fake SPID server failed");
                }
            }));
            Some(fake)
        } else {
            None
        };

        let temp_dir = if options.data_dir.is_none() {
            let dir = std::env::temp_dir().join(format!("spidd-sim-{}", uuid::Uuid::new_v4()));
            config.outbox.data_dir = dir.clone();
            Some(dir)
        } else {
            None
        };

        let mut control_router = simulator::control::router(scene.clone());
        if let Some(fake) = &server {
            control_router = control_router.merge(fake.control_router());
        }
        if let Some((fake, task)) = start_fake_providers(config, stop.clone()).await? {
            control_router = control_router.merge(fake.control_router());
            tasks.push(task);
        }
        let listener = TcpListener::bind(control)
            .await
            .map_err(|source| AppError::Bind {
                addr: control,
                source,
            })?;
        let control_addr = listener.local_addr().map_err(|source| AppError::Bind {
            addr: control,
            source,
        })?;
        let stopped = wait_stop(stop);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, control_router)
                .with_graceful_shutdown(stopped)
                .await
            {
                warn!(error = %e, "the simulator control API failed");
            }
        }));
        info!(control = %control_addr, upstream = %config.upstream.url, "simulation started");
        Ok(Simulation {
            scene,
            server,
            control_addr,
            tasks,
            temp_dir,
        })
    }

    /// The password a fake server has unless told otherwise.
    pub fn default_password() -> String {
        ServerConfig::default().password
    }

    /// The in-process fake server's password (the station logs in with it).
    pub fn upstream_password(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.config().password.clone())
            .unwrap_or_default()
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// What the simulated devices look at (the device manager hands it to the capture code).
    pub fn scene(&self) -> Arc<Scene> {
        self.scene.clone()
    }

    /// The simulated reader and camera as device families, found and followed by the device
    /// manager like real hardware (`/sim/devices` plugs and unplugs them).
    pub fn families(&self) -> Families {
        Families::simulated(&self.scene)
    }

    /// Waits for the simulator's tasks (the caller raised the stop flag) and removes the
    /// temporary data directory.
    pub async fn stop(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(dir) = self.temp_dir {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                warn!(dir = %dir.display(), error = %e, "could not remove the temporary data directory");
            }
        }
    }
}

/// When any cloud provider is configured: the fake providers on their own port, every
/// configured provider pointed at them, and the fakes given the same secrets (read from the
/// same files) so that they check the station's signatures and credentials for real. One Unico
/// service account is registered with the fake (by Unico's, else IDToken's).
async fn start_fake_providers(
    config: &mut Config,
    stop: watch::Receiver<bool>,
) -> Result<Option<(FakeProviders, JoinHandle<()>)>, AppError> {
    use simulator::providers::{BY_UNICO, CLARO, FACEVERIFY, UNICO_IDENTITY, UNICO_IDTOKEN};
    let p = &mut config.providers;
    if p.by_unico.is_none()
        && p.faceverify.is_none()
        && p.unico_idtoken.is_none()
        && p.claro.is_none()
    {
        return Ok(None);
    }
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| AppError::Simulator(format!("cannot bind the fake providers: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Simulator(e.to_string()))?;
    let base = format!("http://{addr}");
    let account = p
        .by_unico
        .as_ref()
        .map(|s| s.account.clone())
        .or_else(|| p.unico_idtoken.as_ref().map(|s| s.account.clone()));
    let mut fake_config = ProvidersConfig {
        unico_audience: format!("{base}{UNICO_IDENTITY}"),
        unico_token_ttl: Duration::from_secs(3600),
        unico_process_delay: Some(Duration::from_secs(5)),
        unico_link_base: "https://cadastro.unico.invalid/process/".to_string(),
        ..ProvidersConfig::default()
    };
    if let Some(account) = &account {
        fake_config.unico_issuer = Some(format!(
            "{}@{}.iam.acesso.io",
            account.service_account, account.tenant
        ));
        fake_config.unico_public_key_der = read(&account.private_key_file)
            .and_then(|pem| crate::providers::jwt::RsaSigner::from_pem(&pem).ok())
            .map(|signer| signer.public_key_der());
    }
    if let Some(s) = p.by_unico.as_mut() {
        s.base_url = format!("{base}{BY_UNICO}");
        s.account.identity_url = format!("{base}{UNICO_IDENTITY}");
    }
    if let Some(s) = p.unico_idtoken.as_mut() {
        s.api_url = format!("{base}{UNICO_IDTOKEN}");
        s.account.identity_url = format!("{base}{UNICO_IDENTITY}");
        fake_config.unico_api_key = read(&s.api_key_file);
    }
    if let Some(s) = p.faceverify.as_mut() {
        s.base_url = format!("{base}{FACEVERIFY}");
        fake_config.faceverify_api_key = read(&s.api_key_file);
        fake_config.faceverify_secret = read(&s.secret_file);
    }
    if let Some(s) = p.claro.as_mut() {
        s.base_url = format!("{base}{CLARO}");
        fake_config.claro_key = read(&s.key_file);
        fake_config.claro_secret = read(&s.secret_file);
    }
    let fake = FakeProviders::new(fake_config);
    let router = fake.router();
    let stopped = wait_stop(stop);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            warn!(error = %e, "the fake providers failed");
        }
    });
    info!(providers = %base, "fake identity providers started");
    Ok(Some((fake, task)))
}

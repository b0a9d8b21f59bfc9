//! Wiring: configuration → outbox, upstream, devices, flow → the local API; and the shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::api::{self, AppState};
use crate::capture::{CaptureContext, OperatorTemplates};
use crate::config::{self, Config, ConfigError, ImageFormat};
use crate::courier::schedule::{run_schedule, ResendSchedule, SchedulerHandle};
use crate::courier::{Courier, RetryPolicy};
use crate::devices::{DeviceManager, Families};
use crate::link::Link;
use crate::outbox::{KeySource, Outbox};
use crate::runtime::payload::SampleFormat;
use crate::runtime::{Flow, Services};
use crate::simulate::Simulation;
use crate::upstream::UpstreamClient;

/// Command-line choices that override or extend the configuration file.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub simulate: bool,
    pub listen: Option<SocketAddr>,
    pub sim_control: Option<SocketAddr>,
    pub upstream: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Where the technician status socket goes (overrides `status.socket`).
    pub status_socket: Option<PathBuf>,
}

/// The default address of the simulator control API.
pub const DEFAULT_SIM_CONTROL: &str = "127.0.0.1:19981";
/// How long sends already on the wire may take to finish at shutdown (the unit's
/// `TimeoutStopSec` is 30 s); unfinished ones become AMBIGUOUS.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// Largest face JPEG sent upstream.
const FACE_JPEG_MAX: usize = 800 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot open the database {path}: {reason}")]
    Outbox { path: PathBuf, reason: String },
    #[error("{0}")]
    Key(String),
    #[error("cannot set up the SPID server client: {0}")]
    Upstream(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the simulator: {0}")]
    Simulator(String),
    #[error("{0}")]
    StatusSocket(#[from] crate::status::SocketError),
    #[error("cannot set up the identity providers: {0}")]
    Providers(String),
}

/// glibc's malloc gives freed memory back to the kernel eagerly: a thread's arena is trimmed
/// (`madvise`) whenever its top grows past 128 KiB, and blocks from 128 KiB up are `mmap`ed
/// and unmapped one by one. Each delivery handles a few buffers of that size (a sealed
/// payload, its opened copy, the request body), so every send paid for a round of page
/// faults on fresh zeroed pages. Fixed thresholds keep such buffers in the arenas, and at
/// most two arenas per core bound what they keep; memory is still given back past 8 MiB.
/// Call it first thing in `main`, so that every allocation follows it.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const TRIM_THRESHOLD: libc::c_int = 8 << 20;
        const MMAP_THRESHOLD: libc::c_int = 4 << 20;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // SAFETY: mallopt only sets allocator parameters (under glibc's own arena lock).
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_ARENA_MAX, (2 * cores) as libc::c_int);
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Changes the log filter of the running subscriber (`log.level` on reload).
pub type LogReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Installs the log subscriber (once per process) and returns how to change its level later.
/// Besides stderr, every line that passes the filter goes to the status socket's ring
/// (`GET /logs`).
fn init_logging(config: &Config) -> Option<LogReload> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SPIDD_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    // Colours only for a person at a terminal; journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(crate::status::logring::LogRing);
    fn reloader<L, S>(handle: tracing_subscriber::reload::Handle<L, S>) -> LogReload
    where
        L: From<tracing_subscriber::EnvFilter> + Send + Sync + 'static,
        S: Send + Sync + 'static,
    {
        Box::new(move |level: &str| {
            let filter =
                tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
            handle.reload(filter).map_err(|e| e.to_string())
        })
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match config.log.format {
        config::LogFormat::Json => registry.with(fmt.json()).try_init(),
        config::LogFormat::Text => registry.with(fmt).try_init(),
    };
    installed.ok().map(|()| reloader(handle))
}

pub fn load_config(options: &Options) -> Result<Config, ConfigError> {
    let path = options.config.clone().or_else(|| {
        let default = PathBuf::from(config::DEFAULT_PATH);
        default.exists().then_some(default)
    });
    let mut config = Config::load(path.as_deref())?;
    if let Some(listen) = options.listen {
        config.api.listen = listen;
    }
    if let Some(url) = &options.upstream {
        config.upstream.url = url.trim_end_matches('/').to_string();
    }
    if let Some(dir) = &options.data_dir {
        config.outbox.data_dir = dir.clone();
    }
    if let Some(socket) = &options.status_socket {
        config.status.socket = Some(socket.clone());
    }
    Ok(config)
}

/// A started station: where it listens, and how to stop it.
pub struct Running {
    pub api_addr: SocketAddr,
    pub sim_control_addr: Option<SocketAddr>,
    pub upstream_url: String,
    pub data_dir: PathBuf,
    /// The technician status socket.
    pub status_socket: PathBuf,
    /// Removes the status socket file when the station stops.
    status_guard: Option<crate::status::StatusListener>,
    stop_tx: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    simulation: Option<Simulation>,
    /// What SIGHUP needs to apply a changed configuration.
    reload: Option<crate::reload::Reloader>,
    /// The daily Capture Resend All: `resend_schedule.next_run()` for status reports.
    pub resend_schedule: SchedulerHandle,
    /// Delivery, for the graceful stop (and `spidctl resend` through `resend_all`).
    pub courier: Arc<Courier>,
}

impl Running {
    /// Stops accepting requests and starting sends, lets in-flight ones finish (abandoned
    /// sends become AMBIGUOUS), waits for the tasks and checkpoints the database.
    pub async fn stop(self) {
        info!("shutting down");
        let _ = self.stop_tx.send(true);
        self.courier.shutdown(SHUTDOWN_GRACE).await;
        for task in self.tasks {
            if let Err(e) = task.await {
                warn!(error = %e, "a task failed while stopping");
            }
        }
        drop(self.status_guard);
        if let Some(sim) = self.simulation {
            sim.stop().await;
        }
    }
}

/// Runs the station until `shutdown` resolves.
pub async fn run(
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AppError> {
    let mut running = start(options).await?;
    #[cfg(unix)]
    if let Some(reloader) = running.reload.take() {
        crate::reload::on_sighup(reloader);
    }
    println!(
        "spidd: local API on http://{}{}",
        running.api_addr,
        api::BASE_PATH
    );
    if let Some(addr) = running.sim_control_addr {
        println!("spidd: simulator control API on http://{addr}");
    }
    println!(
        "spidd: status socket on {}",
        running.status_socket.display()
    );
    println!("spidd: SPID server {}", running.upstream_url);
    println!("spidd: data directory {}", running.data_dir.display());
    crate::notify::ready(&format!("serving on {}", running.api_addr));
    shutdown.await;
    crate::notify::stopping();
    running.stop().await;
    Ok(())
}

/// Starts the station and returns once the local API accepts connections.
pub async fn start(options: Options) -> Result<Running, AppError> {
    let mut config = load_config(&options)?;
    let loaded = config.clone();
    let log_reload = init_logging(&config);
    let (stop_tx, stop_rx) = watch::channel(false);

    let simulation = if options.simulate {
        let control = options
            .sim_control
            .unwrap_or_else(|| DEFAULT_SIM_CONTROL.parse().expect("valid address"));
        Some(Simulation::start(&mut config, &options, control, stop_rx.clone()).await?)
    } else {
        None
    };
    let password = match &simulation {
        Some(sim) if options.upstream.is_none() => Some(sim.upstream_password()),
        // An external simulator (`spid-sim server`) uses the simulator's default credentials
        // unless the configuration names a password.
        Some(_) => config
            .upstream
            .read_password()?
            .or_else(|| Some(Simulation::default_password())),
        None => config.upstream.read_password()?,
    };

    let db_path = config.outbox.database_path();
    if let Some(dir) = db_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Outbox {
            path: db_path.clone(),
            reason: e.to_string(),
        })?;
    }
    let key_source = KeySource::resolve(
        config.outbox.key_file.as_deref(),
        config::Environment::from_process()
            .credentials_directory
            .as_deref(),
        &config.outbox.data_dir,
    );
    let key = {
        let source = key_source.clone();
        tokio::task::spawn_blocking(move || source.load())
            .await
            .map_err(|e| AppError::Key(e.to_string()))?
            .map_err(|e| AppError::Key(e.to_string()))?
    };
    info!(key_file = %key_source.path().display(), key_id = %key.id(), "outbox key loaded");
    let outbox = {
        let path = db_path.clone();
        tokio::task::spawn_blocking(move || Outbox::open(&path, key))
            .await
            .map_err(|e| AppError::Outbox {
                path: db_path.clone(),
                reason: e.to_string(),
            })?
            .map_err(|e| AppError::Outbox {
                path: db_path.clone(),
                reason: e.to_string(),
            })?
    };
    let upstream = Arc::new(
        UpstreamClient::new(&config.upstream, password)
            .map_err(|e| AppError::Upstream(e.to_string()))?,
    );
    let providers = crate::providers::Providers::from_settings(&config.providers)
        .map_err(|e| AppError::Providers(e.to_string()))?;
    let remote = Arc::new(crate::providers::remote::RemoteService::new(
        &config.remote,
        upstream.clone(),
        &providers,
        outbox.clone(),
    ));
    let signals = Arc::new(crate::providers::signals::Signals::new(
        outbox.clone(),
        providers.idtoken.clone(),
        providers.claro.clone(),
    ));
    let courier = Arc::new(Courier::new(
        outbox.clone(),
        upstream.clone(),
        RetryPolicy {
            initial: config.outbox.retry_initial,
            max: config.outbox.retry_max,
            concurrency: config.outbox.resend_concurrency,
        },
    ));

    let device_manager = match &simulation {
        Some(sim) => DeviceManager::new(sim.families(), &config.devices, Some(sim.scene())),
        None => DeviceManager::new(Families::hardware(&config.devices), &config.devices, None),
    };
    // The first scan before the API answers, so Health and the first capture see the devices.
    {
        let manager = device_manager.clone();
        let _ = tokio::task::spawn_blocking(move || manager.scan()).await;
    }
    let devices = device_manager.devices();
    for status in device_manager.snapshot() {
        info!(kind = status.kind.as_str(), driver = %status.driver, address = %status.address, state = status.state.as_str(), "device");
    }
    let operators = Arc::new(OperatorTemplates::default());
    let capture = Arc::new(CaptureContext {
        devices,
        operators: operators.clone(),
        faces: Arc::new(biometrics::face::FaceChecker::new(
            biometrics::face::FaceCheckConfig::default(),
        )),
        camera_resolution: (640, 480),
        face_threshold: config.capture.face_quality_threshold.into(),
    });
    let services = Arc::new(Services {
        upstream: upstream.clone(),
        outbox: outbox.clone(),
        courier: courier.clone(),
        capture: capture.clone(),
        operators,
        format: match config.capture.format {
            ImageFormat::Png => SampleFormat::Png,
            ImageFormat::Wsq => SampleFormat::Wsq,
        },
        face_jpeg_max: FACE_JPEG_MAX,
        remote: remote.clone(),
        signals,
    });
    let flow = Flow::start(config.flow_config(), services);

    let token = match &config.api.token_file {
        Some(path) => Some(Arc::<str>::from(
            std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Invalid {
                    key: "api.token_file".to_string(),
                    expected: "a readable file holding the bearer token".to_string(),
                    got: format!("{} ({e})", path.display()),
                })?
                .trim(),
        )),
        None => None,
    };
    let (reload_flow, reload_capture) = (flow.clone(), capture.clone());
    let link = Arc::new(Link::new(upstream.clone()));
    let resend_schedule = SchedulerHandle::default();
    let status_state = crate::status::StatusState {
        started: std::time::Instant::now(),
        started_at: std::time::SystemTime::now(),
        flow: flow.clone(),
        outbox: outbox.clone(),
        courier: courier.clone(),
        link: link.clone(),
        devices: device_manager.clone(),
        capture: capture.clone(),
        upstream_url: config.upstream.url.clone(),
        next_scheduled_run: Some({
            let schedule = resend_schedule.clone();
            Arc::new(move || schedule.next_run())
        }),
    };
    let state = AppState {
        flow,
        outbox,
        courier: courier.clone(),
        upstream: upstream.clone(),
        capture,
        link,
        token,
        devices: device_manager.clone(),
        remote: remote.clone(),
    };
    // Bound before the API, so READY=1 (sent once `start` returns) finds both listening.
    let status_path = match (&config.status.socket, options.simulate) {
        (Some(path), _) => path.clone(),
        (None, true) => config.outbox.data_dir.join("status.sock"),
        (None, false) => config.status.socket_path(),
    };
    let mut status_guard =
        crate::status::bind(&status_path, config.status.mode, &config.status.group)?;

    let listener = TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| AppError::Bind {
            addr: config.api.listen,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| AppError::Bind {
        addr: config.api.listen,
        source,
    })?;
    info!(listen = %local, base = api::BASE_PATH, simulate = options.simulate, "spidd ready");
    let retry = tokio::spawn(courier.clone().run_retry_loop(wait_stop(stop_rx.clone())));
    let mut tasks = vec![retry];
    tasks.push(tokio::spawn(remote.run_poller(wait_stop(stop_rx.clone()))));
    {
        let schedule = ResendSchedule::parse(&config.outbox.resend_cron).map_err(|e| {
            ConfigError::Invalid {
                key: "outbox.resend_cron".to_string(),
                expected: "a cron expression of 6 fields (sec min hour day month weekday)"
                    .to_string(),
                got: e,
            }
        })?;
        info!(cron = %schedule.expression(), "daily resend all scheduled (local time)");
        let courier = courier.clone();
        tasks.push(tokio::spawn(run_schedule(
            schedule,
            resend_schedule.clone(),
            chrono::Local::now,
            move || {
                let courier = courier.clone();
                async move {
                    if let Err(e) = courier.resend_all().await {
                        warn!(error = %e, "the scheduled resend all failed");
                    }
                }
            },
            wait_stop(stop_rx.clone()),
        )));
    }
    tasks.push(tokio::spawn(courier.clone().run_retention(
        config.outbox.retention,
        wait_stop(stop_rx.clone()),
    )));
    tasks.push(tokio::spawn(device_manager.run(wait_stop(stop_rx.clone()))));
    if let Some(interval) = crate::notify::watchdog_interval() {
        info!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog enabled"
        );
        tasks.push(tokio::spawn(crate::notify::watchdog(
            state.flow.clone(),
            interval,
            wait_stop(stop_rx.clone()),
        )));
    }
    if let Some(status_listener) = status_guard.take_listener() {
        let stop = stop_rx.clone();
        tasks.push(tokio::spawn(crate::status::serve(
            status_listener,
            status_state,
            move || wait_stop(stop.clone()),
        )));
    }
    let server = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(wait_stop(stop_rx.clone()));
    let server = tokio::spawn(async move {
        if let Err(e) = server.await {
            warn!(error = %e, "the local API server failed");
        }
    });
    Ok(Running {
        api_addr: local,
        sim_control_addr: simulation.as_ref().map(Simulation::control_addr),
        upstream_url: config.upstream.url.clone(),
        data_dir: config.outbox.data_dir.clone(),
        status_socket: status_path,
        status_guard: Some(status_guard),
        stop_tx,
        tasks: {
            tasks.push(server);
            tasks
        },
        simulation,
        resend_schedule,
        courier,
        reload: Some(crate::reload::Reloader::new(
            options,
            loaded,
            reload_flow,
            reload_capture,
            log_reload,
        )),
    })
}

/// Resolves when the stop flag is raised.
pub async fn wait_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

//! SIGHUP: re-read the configuration file and apply what can change safely while running —
//! the flow's capture and operator settings and the log level. Everything else (addresses, the
//! upstream, the data directory, devices, the fingerprint format, the log format) needs a
//! restart; the log says which changed keys those are.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::{error, info, warn};

use crate::app::{load_config, LogReload, Options};
use crate::capture::CaptureContext;
use crate::config::Config;
use crate::notify;
use crate::runtime::Flow;

pub struct Reloader {
    options: Options,
    /// The file's settings as they run now (before any simulate-mode adjustment).
    running: Config,
    flow: Flow,
    capture: Arc<CaptureContext>,
    log: Option<LogReload>,
}

/// What one reload did.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub applied: Vec<&'static str>,
    pub needs_restart: Vec<&'static str>,
}

impl Reloader {
    pub fn new(
        options: Options,
        running: Config,
        flow: Flow,
        capture: Arc<CaptureContext>,
        log: Option<LogReload>,
    ) -> Reloader {
        Reloader {
            options,
            running,
            flow,
            capture,
            log,
        }
    }

    /// Reads the file again; an invalid file changes nothing.
    pub async fn reload(&mut self) -> Result<Outcome, String> {
        let new = load_config(&self.options).map_err(|e| e.to_string())?;
        let mut outcome = Outcome::default();
        let mut flow_settings = self.running.clone();
        flow_settings.capture = new.capture.clone();
        flow_settings.capture.format = self.running.capture.format;
        flow_settings.operator = new.operator.clone();
        if new.capture.format != self.running.capture.format {
            outcome.needs_restart.push("capture.format");
        }
        if flow_settings.capture != self.running.capture
            || flow_settings.operator != self.running.operator
        {
            self.flow
                .reconfigure(flow_settings.flow_config())
                .await
                .map_err(|e| e.to_string())?;
            self.capture.face_threshold.store(
                flow_settings.capture.face_quality_threshold,
                Ordering::Relaxed,
            );
            self.running.capture = flow_settings.capture;
            self.running.operator = flow_settings.operator;
            outcome.applied.extend(["capture", "operator"]);
        }
        if new.log.level != self.running.log.level {
            match &self.log {
                Some(set_level) => {
                    set_level(&new.log.level)?;
                    self.running.log.level = new.log.level.clone();
                    outcome.applied.push("log.level");
                }
                None => outcome.needs_restart.push("log.level"),
            }
        }
        if new.log.format != self.running.log.format {
            outcome.needs_restart.push("log.format");
        }
        for (name, changed) in [
            ("api", new.api != self.running.api),
            ("upstream", new.upstream != self.running.upstream),
            ("outbox", new.outbox != self.running.outbox),
            ("devices", new.devices != self.running.devices),
            ("status", new.status != self.running.status),
            ("remote", new.remote != self.running.remote),
            ("providers", new.providers != self.running.providers),
        ] {
            if changed {
                outcome.needs_restart.push(name);
            }
        }
        Ok(outcome)
    }
}

/// Reloads on every SIGHUP until the process ends.
#[cfg(unix)]
pub fn on_sighup(mut reloader: Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot watch SIGHUP; configuration reload is off");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            notify::send_reloading();
            match reloader.reload().await {
                Ok(outcome) => {
                    info!(applied = ?outcome.applied, needs_restart = ?outcome.needs_restart, "SIGHUP: configuration reloaded");
                    notify::ready("configuration reloaded");
                }
                Err(e) => {
                    error!(error = %e, "SIGHUP: the configuration was not reloaded; the running settings stay");
                    notify::ready("configuration reload failed; running settings kept");
                }
            }
        }
    });
}

//! systemd integration: `READY=1` once the station serves, `STATUS=` lines, and watchdog pings
//! that stop when the flow task stops answering. Everything is a no-op without `NOTIFY_SOCKET`.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use crate::runtime::Flow;

/// Tells systemd the station is ready, with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `RELOADING=1`: systemd waits for the next `READY=1`.
pub fn send_reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        warn!(error = %e, "cannot notify systemd");
    }
}

/// The watchdog interval systemd asked for, as sd_watchdog_enabled(3) reads it:
/// `WATCHDOG_USEC`, applying to this process unless `WATCHDOG_PID` names another.
pub fn watchdog_interval() -> Option<Duration> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let usec: u64 = std::env::var("WATCHDOG_USEC")
        .ok()?
        .parse()
        .ok()
        .filter(|u| *u > 0)?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Pings the watchdog at half its interval for as long as the flow task answers a ping within
/// that half interval; a hung flow task silences the pings and systemd restarts the station.
pub async fn watchdog(flow: Flow, interval: Duration, stop: impl std::future::Future<Output = ()>) {
    let period = interval / 2;
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        match tokio::time::timeout(period, flow.ping()).await {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            _ => debug!("flow task did not answer; watchdog ping withheld"),
        }
    }
}

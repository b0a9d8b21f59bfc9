//! Call 17, Health: devices, outbox depth and the upstream link at a glance.

use axum::extract::State;
use axum::Json;

use super::dto::{DeviceJson, HealthAnswer, OutboxJson};
use super::AppState;

/// Health: `OK`, or `DEGRADED` when a device is missing or the upstream is unreachable.
#[utoipa::path(get, path = "/health", tag = "station", responses((status = 200, body = HealthAnswer)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthAnswer> {
    let capture = &state.capture;
    let devices: Vec<DeviceJson> = capture
        .devices
        .infos()
        .into_iter()
        .map(|info| DeviceJson {
            kind: info.kind.as_str(),
            state: capture.states.get(info.kind),
            driver: info.driver,
            address: info.address,
            name: info.name,
        })
        .collect();
    let outbox = state.outbox.clone();
    let pending = tokio::task::spawn_blocking(move || outbox.counts())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|counts| {
            counts
                .iter()
                .filter(|(state, _)| matches!(state.as_str(), "PENDING" | "SENDING" | "AMBIGUOUS"))
                .map(|(_, n)| *n)
                .sum()
        })
        .unwrap_or(0);
    let reachable = state.link.reachable().await;
    let degraded = !reachable || devices.iter().any(|d| d.state != "ready");
    Json(HealthAnswer {
        status: if degraded { "DEGRADED" } else { "OK" },
        version: env!("CARGO_PKG_VERSION"),
        state: state.flow.snapshot().state.as_str(),
        devices,
        outbox: OutboxJson { pending },
        upstream: if reachable {
            "reachable"
        } else {
            "unreachable"
        },
    })
}

//! Call 17, Health: devices, outbox depth and the upstream link at a glance.

use axum::extract::State;
use axum::Json;

use super::dto::{DeviceJson, HealthAnswer, OutboxJson};
use super::AppState;

/// Health: `OK`, or `DEGRADED` when a device is missing or the upstream is unreachable.
#[utoipa::path(get, path = "/health", tag = "station", responses((status = 200, body = HealthAnswer)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthAnswer> {
    let devices: Vec<DeviceJson> = state
        .devices
        .snapshot()
        .into_iter()
        .map(|status| DeviceJson {
            kind: status.kind.as_str(),
            state: status.state.as_str(),
            driver: status.driver,
            id: status.id,
            address: status.address,
            name: status.name,
            firmware: status.firmware,
            last_error: status.last_error,
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

//! The read-only status routes: `/status`, `/devices`, `/outbox`, `/metrics`, `/logs`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::logring::{self, mask_cpfs};
use super::metrics::METRICS;
use super::{rfc3339, rfc3339_millis, StatusError, StatusState};
use crate::devices::DeviceStatus;
use crate::outbox::TxState;

/// `/outbox` answers at most this many transactions.
const OUTBOX_MAX: usize = 1000;
const OUTBOX_DEFAULT: usize = 50;
const LOGS_DEFAULT: usize = 100;

async fn outbox_counts(state: &StatusState) -> Result<BTreeMap<TxState, u64>, StatusError> {
    let outbox = state.outbox.clone();
    tokio::task::spawn_blocking(move || outbox.counts())
        .await
        .map_err(|e| StatusError::internal(e.to_string()))?
        .map_err(|e| StatusError::internal(format!("cannot read the outbox: {e}")))
}

fn counts_json(counts: &BTreeMap<TxState, u64>) -> Value {
    let by_state: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), json!(n)))
        .collect();
    let undelivered: u64 = counts
        .iter()
        .filter(|(s, _)| s.is_undelivered())
        .map(|(_, n)| n)
        .sum();
    json!({ "by_state": by_state, "undelivered": undelivered })
}

fn device_json(d: &DeviceStatus) -> Value {
    json!({
        "kind": d.kind.as_str(),
        "state": d.state.as_str(),
        "driver": d.driver,
        "id": d.id,
        "address": d.address,
        "name": d.name,
        "firmware": d.firmware,
        "pin": d.pin,
        "last_error": d.last_error.as_deref().map(mask_cpfs),
    })
}

/// `GET /status`: the station at a glance.
pub async fn status(State(state): State<StatusState>) -> Json<Value> {
    let snapshot = state.flow.snapshot();
    let login = &snapshot.login;
    let operator = login.operator.as_ref().map(|cpf| {
        json!({
            "cpf": cpf.masked(),
            "status": login.status.map(|s| s.as_str()),
            "logged_in_at": login.logged_in_at.map(rfc3339_millis),
            "offline": login.offline,
        })
    });
    let devices: Vec<Value> = state.devices.snapshot().iter().map(device_json).collect();
    let link = state.link.report().await;
    // A failing disk is exactly when the technician needs this page: it still answers.
    let outbox = match outbox_counts(&state).await {
        Ok(counts) => counts_json(&counts),
        Err(e) => json!({ "error": mask_cpfs(&e.message) }),
    };
    let board = state.courier.resend_progress();
    let progress = board.current();
    let last = board.last_run().map(|r| {
        let mut v = json!({
            "started_at": rfc3339(r.started_at),
            "finished_at": rfc3339(r.finished_at),
        });
        match r.outcome {
            Ok(s) => {
                v["result"] = json!("ok");
                v["attempted"] = json!(s.attempted);
                v["delivered"] = json!(s.delivered);
                v["failed"] = json!(s.failed);
                v["remaining"] = json!(s.remaining);
            }
            Err(e) => {
                v["result"] = json!("error");
                v["error"] = json!(mask_cpfs(&e));
            }
        }
        v
    });
    let next = state
        .next_scheduled_run
        .as_ref()
        .and_then(|f| f())
        .map(rfc3339);
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": rfc3339(state.started_at),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "flow": {
            "state": snapshot.state.as_str(),
        },
        "operator": operator,
        "devices": devices,
        "upstream": {
            "url": state.upstream_url,
            "reachable": link.reachable,
            "latency_ms": (link.latency.as_secs_f64() * 10_000.0).round() / 10.0,
            "checked_at": rfc3339(link.checked_at),
            "last_error": link.last_error.as_deref().map(mask_cpfs),
            "last_error_at": link.last_error_at.map(rfc3339),
        },
        "outbox": outbox,
        "resend": {
            "running": progress.running,
            "progress": progress.running.then(|| super::resend::progress_json(&progress)),
            "last": last,
            "next_scheduled": next,
        },
    }))
}

/// `GET /devices`: the reader and camera slots, and every other device the families see.
pub async fn devices(State(state): State<StatusState>) -> Result<Json<Value>, StatusError> {
    let manager = state.devices.clone();
    let detected = tokio::task::spawn_blocking(move || manager.detected())
        .await
        .map_err(|e| StatusError::internal(e.to_string()))?;
    let slots = state.devices.snapshot();
    let mut out: Vec<Value> = Vec::new();
    for slot in &slots {
        let mut v = device_json(slot);
        v["in_use"] = json!(slot.id.is_some());
        add_location(&mut v, slot.id.as_deref());
        out.push(v);
    }
    for candidate in detected {
        if slots
            .iter()
            .any(|s| s.id.as_deref() == Some(candidate.id.as_str()))
        {
            continue;
        }
        let mut v = json!({
            "kind": candidate.kind.as_str(),
            "state": "detected",
            "driver": candidate.driver,
            "id": candidate.id,
            "address": candidate.address,
            "name": candidate.name,
            "firmware": null,
            "pin": null,
            "last_error": null,
            "in_use": false,
        });
        add_location(&mut v, Some(&candidate.id));
        out.push(v);
    }
    Ok(Json(json!({ "devices": out })))
}

/// `vid_pid` for USB devices, `port` for serial ones, from the candidate id.
fn add_location(v: &mut Value, id: Option<&str>) {
    let id = id.unwrap_or_default();
    v["vid_pid"] = id
        .strip_prefix("usb:")
        .map(|rest| json!(rest.split('@').next().unwrap_or(rest)))
        .unwrap_or(Value::Null);
    v["port"] = id
        .strip_prefix("serial:")
        .map(|p| json!(p))
        .unwrap_or(Value::Null);
}

fn only_keys(query: &HashMap<String, String>, known: &[&str]) -> Result<(), StatusError> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(StatusError::bad_request(format!(
            "unknown query parameter `{k}`; known: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn count_param(
    query: &HashMap<String, String>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize, StatusError> {
    match query.get(key) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                StatusError::bad_request(format!(
                    "`{key}` must be a whole number from 1 to {max}, got {text:?}"
                ))
            }),
    }
}

/// `GET /outbox?state=&limit=`: the newest transactions, without biometric data.
pub async fn outbox(
    State(state): State<StatusState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, StatusError> {
    only_keys(&query, &["state", "limit"])?;
    let wanted = match query.get("state").filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(TxState::parse(&text.to_ascii_uppercase()).ok_or_else(|| {
            StatusError::bad_request(format!(
                "`state` must be one of {}, got {text:?}",
                TxState::ALL.map(TxState::as_str).join(", ")
            ))
        })?),
    };
    let limit = count_param(&query, "limit", OUTBOX_DEFAULT, OUTBOX_MAX)?;
    let outbox = state.outbox.clone();
    let entries = tokio::task::spawn_blocking(move || outbox.list(wanted, limit))
        .await
        .map_err(|e| StatusError::internal(e.to_string()))?
        .map_err(|e| StatusError::internal(format!("cannot read the outbox: {e}")))?;
    let transactions: Vec<Value> = entries
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "mode": t.mode.as_str(),
                "cpf": t.cpf.masked(),
                "state": t.state.as_str(),
                "attempts": t.attempts,
                "last_error": t.last_error.as_deref().map(mask_cpfs),
                "captured_at": rfc3339_millis(t.timestamp),
                "created_at": rfc3339_millis(t.created_at),
                "next_attempt_at": t.state.is_undelivered().then(|| rfc3339_millis(t.next_attempt_at)),
                "delivered_at": t.delivered_at.map(rfc3339_millis),
                "tguid": t.tguid,
            })
        })
        .collect();
    Ok(Json(json!({
        "state": wanted.map(TxState::as_str),
        "limit": limit,
        "count": transactions.len(),
        "transactions": transactions,
    })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<StatusState>) -> impl IntoResponse {
    // The counters still answer when the outbox cannot be read; only the depth is missing.
    let counts = outbox_counts(&state).await.ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(counts.as_ref()),
    )
}

/// `GET /logs?lines=N`: the newest log lines, oldest first.
pub async fn logs(
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, StatusError> {
    only_keys(&query, &["lines"])?;
    let n = count_param(&query, "lines", LOGS_DEFAULT, logring::CAPACITY)?;
    let lines = logring::last_lines(n);
    Ok(Json(json!({ "count": lines.len(), "lines": lines })))
}

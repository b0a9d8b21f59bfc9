//! Capture Report `?format=json`: the station's own record of a transaction (no images).

use serde_json::{json, Value};

use super::dto::rfc3339;
use crate::outbox::{DeliveryAttempt, StoredTransaction};

/// `summary`: the capture summary stored with the transaction (`Outbox::summary`).
pub fn station_record(
    tx: &StoredTransaction,
    attempts: &[DeliveryAttempt],
    summary: &Value,
) -> Value {
    let mut record = json!({
        "status": "OK",
        "id": tx.id,
        "tguid": tx.tguid,
        "mode": tx.mode.as_str(),
        "cpf": tx.cpf.digits(),
        "operatorId": tx.operator.digits(),
        "timestamp": tx.timestamp,
        "createdAt": rfc3339(tx.created_at),
        "delivery": {
            "state": tx.state.as_str(),
            "attempts": tx.attempts,
            "lastError": tx.last_error,
            "deliveredAt": tx.delivered_at.map(rfc3339),
            "result": tx.result_status,
            "resultMessage": tx.result_message,
            "history": attempts.iter().map(|a| json!({
                "at": rfc3339(a.at),
                "outcome": a.outcome,
                "error": a.error,
            })).collect::<Vec<_>>(),
        },
    });
    // The capture summary written at Send: positions, qualities, attempts, missing fingers.
    if let (Some(out), Some(summary)) = (record.as_object_mut(), summary.as_object()) {
        for key in ["positions", "missing", "operatorCapture", "startedAt"] {
            if let Some(v) = summary.get(key) {
                out.insert(key.to_string(), v.clone());
            }
        }
    }
    record
}

/// The cloud providers' outcomes under `providers` (always present, possibly empty).
pub fn add_providers(record: &mut Value, providers: Vec<super::remote::ProviderJson>) {
    if let Some(out) = record.as_object_mut() {
        out.insert(
            "providers".to_string(),
            serde_json::to_value(providers).unwrap_or(Value::Array(Vec::new())),
        );
    }
}

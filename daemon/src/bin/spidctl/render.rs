//! Human output: the status page and aligned tables, from the socket's JSON.

use serde_json::Value;

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// `spidctl status`.
pub fn status(v: &Value) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<10} {text}\n"));
    };
    line(
        "spidd",
        format!(
            "{}, up {} (since {})",
            cell(&v["version"]),
            duration(v["uptime_seconds"].as_u64().unwrap_or(0)),
            cell(&v["started_at"])
        ),
    );
    line("Flow", cell(&v["flow"]["state"]));
    let op = &v["operator"];
    line(
        "Operator",
        if op.is_null() {
            "nobody logged in".to_string()
        } else {
            format!(
                "{} {} since {}{}",
                cell(&op["cpf"]),
                cell(&op["status"]),
                cell(&op["logged_in_at"]),
                if op["offline"] == true {
                    " (offline login)"
                } else {
                    ""
                }
            )
        },
    );
    let up = &v["upstream"];
    let mut upstream = if up["reachable"] == true {
        format!("reachable, {} ms", cell(&up["latency_ms"]))
    } else {
        "UNREACHABLE".to_string()
    };
    upstream.push_str(&format!(" ({})", cell(&up["url"])));
    if !up["last_error"].is_null() {
        upstream.push_str(&format!(
            "\n{:<10} last error at {}: {}",
            "",
            cell(&up["last_error_at"]),
            cell(&up["last_error"])
        ));
    }
    line("Upstream", upstream);
    let by_state = &v["outbox"]["by_state"];
    let states = ["PENDING", "SENDING", "AMBIGUOUS", "DELIVERED", "REJECTED"]
        .iter()
        .map(|s| format!("{} {}", s.to_ascii_lowercase(), cell(&by_state[*s])))
        .collect::<Vec<_>>()
        .join(", ");
    match v["outbox"]["error"].as_str() {
        Some(error) => line("Outbox", format!("UNREADABLE: {error}")),
        None => line(
            "Outbox",
            format!(
                "{} undelivered ({states})",
                cell(&v["outbox"]["undelivered"])
            ),
        ),
    }
    let resend = &v["resend"];
    let mut text = if resend["running"] == true {
        let p = &resend["progress"];
        format!(
            "running: {}/{} done, {} delivered, {} failed",
            cell(&p["done"]),
            cell(&p["total"]),
            cell(&p["delivered"]),
            cell(&p["failed"])
        )
    } else {
        let last = &resend["last"];
        if last.is_null() {
            "not run since start".to_string()
        } else if last["result"] == "ok" {
            format!(
                "last run {}: {} delivered, {} failed, {} remaining",
                cell(&last["finished_at"]),
                cell(&last["delivered"]),
                cell(&last["failed"]),
                cell(&last["remaining"])
            )
        } else {
            format!(
                "last run {} FAILED: {}",
                cell(&last["finished_at"]),
                cell(&last["error"])
            )
        }
    };
    text.push_str(&format!(
        "; next scheduled: {}",
        resend["next_scheduled"].as_str().unwrap_or("none")
    ));
    line("Resend", text);
    out.push_str("Devices:\n");
    let rows: Vec<Vec<String>> = v["devices"]
        .as_array()
        .map(|a| a.iter().map(device_row).collect())
        .unwrap_or_default();
    for l in table(
        &["  KIND", "STATE", "DRIVER", "ADDRESS", "NAME", "LAST ERROR"],
        &rows,
    )
    .lines()
    {
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn device_row(d: &Value) -> Vec<String> {
    vec![
        format!("  {}", cell(&d["kind"])),
        cell(&d["state"]),
        cell(&d["driver"]),
        cell(&d["address"]),
        cell(&d["name"]),
        cell(&d["last_error"]),
    ]
}

/// `spidctl devices`.
pub fn devices(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["devices"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let location = if !d["vid_pid"].is_null() {
                        cell(&d["vid_pid"])
                    } else if !d["port"].is_null() {
                        cell(&d["port"])
                    } else {
                        cell(&d["address"])
                    };
                    vec![
                        format!(
                            "{}{}",
                            if d["in_use"] == true { "* " } else { "  " },
                            cell(&d["kind"])
                        ),
                        cell(&d["state"]),
                        cell(&d["driver"]),
                        location,
                        cell(&d["name"]),
                        cell(&d["firmware"]),
                        cell(&d["last_error"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = table(
        &[
            "  KIND",
            "STATE",
            "DRIVER",
            "VID:PID/PORT",
            "NAME",
            "FIRMWARE",
            "LAST ERROR",
        ],
        &rows,
    );
    out.push_str("(* = in use by the station)\n");
    out
}

/// `spidctl outbox`.
pub fn outbox(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["transactions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    vec![
                        cell(&t["id"]),
                        cell(&t["mode"]),
                        cell(&t["cpf"]),
                        cell(&t["state"]),
                        cell(&t["attempts"]),
                        cell(&t["created_at"]),
                        cell(&t["last_error"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return "no transactions\n".to_string();
    }
    table(
        &[
            "ID",
            "MODE",
            "CPF",
            "STATE",
            "ATTEMPTS",
            "CREATED",
            "LAST ERROR",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_null_is_a_dash() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), cell(&Value::Null)]]);
        assert_eq!(t, "A    LONGER\nxyz  -\n");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(duration(2 * 86_400 + 3600), "2d 1h");
    }

    #[test]
    fn status_page_shows_every_part() {
        let v = json!({
            "version": "0.1.0", "uptime_seconds": 61, "started_at": "2026-01-01T00:00:00.000Z",
            "flow": {"state": "IDLE"},
            "operator": {"cpf": "529.***.***-25", "status": "OPERATOR_OK", "logged_in_at": "t", "offline": false},
            "upstream": {"reachable": false, "latency_ms": 2, "url": "http://x", "last_error": "refused", "last_error_at": "t2"},
            "outbox": {"undelivered": 3, "by_state": {"PENDING": 3}},
            "resend": {"running": false, "last": null, "next_scheduled": null},
            "devices": [{"kind": "fingerprint", "state": "ready", "driver": "simulated", "address": "sim:0", "name": "Sim", "last_error": null}]
        });
        let page = status(&v);
        for part in [
            "up 1m 1s",
            "IDLE",
            "529.***.***-25",
            "UNREACHABLE",
            "refused",
            "3 undelivered",
            "not run since start",
            "next scheduled: none",
            "fingerprint  ready",
        ] {
            assert!(page.contains(part), "{part} missing in\n{page}");
        }
        let mut broken = v.clone();
        broken["outbox"] = json!({"error": "disk I/O error"});
        assert!(status(&broken).contains("UNREADABLE: disk I/O error"));
    }
}

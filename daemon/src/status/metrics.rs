//! Prometheus counters for the technician: captures by outcome, send latency, upstream and
//! device errors. Process-wide atomics (one station per process), written by one-line calls
//! in the capture and courier code, and a hand-written text exposition (format 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::capture::CaptureOutcome;
use crate::outbox::TxState;
use crate::upstream::UpstreamError;

/// Capture outcomes, as the `outcome` label.
const OUTCOMES: [&str; 4] = ["captured", "nothing_presented", "failed", "cancelled"];
/// Capture kinds, as the `kind` label.
const KINDS: [&str; 2] = ["finger", "face"];
/// Upper bounds (seconds) of the send latency histogram's buckets; `+Inf` follows.
const LATENCY_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upstream failures, as the `kind` label.
const UPSTREAM_KINDS: [&str; 7] = [
    "unreachable",
    "ambiguous",
    "server",
    "rejected",
    "credentials",
    "malformed",
    "other",
];
/// Device kinds, as the `device` label.
const DEVICES: [&str; 2] = ["fingerprint", "camera"];

/// Every counter of the process.
pub struct Metrics {
    captures: [[AtomicU64; OUTCOMES.len()]; KINDS.len()],
    /// Cumulative per bucket is computed at exposition; these are per-bucket counts.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_micros: AtomicU64,
    latency_count: AtomicU64,
    upstream_errors: [AtomicU64; UPSTREAM_KINDS.len()],
    device_errors: [AtomicU64; DEVICES.len()],
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics::new();

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZEROS: [AtomicU64; OUTCOMES.len()] = [ZERO; OUTCOMES.len()];

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            captures: [ZEROS; KINDS.len()],
            latency_buckets: [ZERO; LATENCY_BUCKETS.len() + 1],
            latency_sum_micros: ZERO,
            latency_count: ZERO,
            upstream_errors: [ZERO; UPSTREAM_KINDS.len()],
            device_errors: [ZERO; DEVICES.len()],
        }
    }

    /// One capture attempt ended (`face`: a camera capture). A failure counts as a device error.
    pub fn capture(&self, face: bool, outcome: &CaptureOutcome) {
        let o = match outcome {
            CaptureOutcome::Captured { .. } => 0,
            CaptureOutcome::NothingPresented => 1,
            CaptureOutcome::Failed(_) => 2,
            CaptureOutcome::Cancelled => 3,
        };
        self.captures[usize::from(face)][o].fetch_add(1, Relaxed);
        if o == 2 {
            self.device_error(face);
        }
    }

    /// A device call failed (`face`: the camera).
    pub fn device_error(&self, face: bool) {
        self.device_errors[usize::from(face)].fetch_add(1, Relaxed);
    }

    /// One submit to the SPID server finished after `elapsed`; `error` when it failed.
    pub fn send(&self, elapsed: Duration, error: Option<&UpstreamError>) {
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[bucket].fetch_add(1, Relaxed);
        self.latency_sum_micros.fetch_add(
            elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
            Relaxed,
        );
        self.latency_count.fetch_add(1, Relaxed);
        if let Some(e) = error {
            self.upstream_error(e);
        }
    }

    /// A call to the SPID server failed.
    pub fn upstream_error(&self, error: &UpstreamError) {
        let kind = match error {
            UpstreamError::Unreachable(_) => 0,
            UpstreamError::Ambiguous(_) => 1,
            UpstreamError::Server { .. } => 2,
            UpstreamError::Rejected { .. } => 3,
            UpstreamError::Unauthorized | UpstreamError::Login(_) => 4,
            UpstreamError::Malformed(_) => 5,
            _ => 6,
        };
        self.upstream_errors[kind].fetch_add(1, Relaxed);
    }

    /// The exposition: these counters plus the outbox depth by state (read by the caller).
    pub fn render(&self, outbox: Option<&BTreeMap<TxState, u64>>) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        header(
            w,
            "spidd_captures_total",
            "counter",
            "Capture attempts by kind and outcome.",
        );
        for (k, kind) in KINDS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.captures[k][o].load(Relaxed);
                let _ = writeln!(
                    w,
                    "spidd_captures_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        header(
            w,
            "spidd_send_latency_seconds",
            "histogram",
            "Time to submit one transaction to the SPID server, failures included.",
        );
        let mut cumulative = 0;
        for (i, counter) in self.latency_buckets.iter().enumerate() {
            cumulative += counter.load(Relaxed);
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                w,
                "spidd_send_latency_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(w, "spidd_send_latency_seconds_sum {sum}");
        let _ = writeln!(
            w,
            "spidd_send_latency_seconds_count {}",
            self.latency_count.load(Relaxed)
        );
        header(
            w,
            "spidd_upstream_errors_total",
            "counter",
            "Failed calls to the SPID server by kind.",
        );
        for (i, kind) in UPSTREAM_KINDS.iter().enumerate() {
            let n = self.upstream_errors[i].load(Relaxed);
            let _ = writeln!(w, "spidd_upstream_errors_total{{kind=\"{kind}\"}} {n}");
        }
        header(
            w,
            "spidd_device_errors_total",
            "counter",
            "Failed device calls by device.",
        );
        for (i, device) in DEVICES.iter().enumerate() {
            let n = self.device_errors[i].load(Relaxed);
            let _ = writeln!(w, "spidd_device_errors_total{{device=\"{device}\"}} {n}");
        }
        if let Some(counts) = outbox {
            header(
                w,
                "spidd_outbox_transactions",
                "gauge",
                "Transactions in the outbox by state.",
            );
            for (state, n) in counts {
                let _ = writeln!(
                    w,
                    "spidd_outbox_transactions{{state=\"{}\"}} {n}",
                    state.as_str()
                );
            }
            let depth: u64 = counts
                .iter()
                .filter(|(s, _)| s.is_undelivered())
                .map(|(_, n)| n)
                .sum();
            header(
                w,
                "spidd_outbox_depth",
                "gauge",
                "Transactions not yet delivered (PENDING, SENDING, AMBIGUOUS).",
            );
            let _ = writeln!(w, "spidd_outbox_depth {depth}");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}");
    let _ = writeln!(w, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use state_machine::DeviceFailure;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in\n{text}"))
    }

    #[test]
    fn counters_histogram_and_gauges_render() {
        let m = Metrics::new();
        m.capture(false, &CaptureOutcome::NothingPresented);
        m.capture(true, &CaptureOutcome::Failed(DeviceFailure::Error));
        m.send(Duration::from_millis(80), None);
        m.send(
            Duration::from_secs(3),
            Some(&UpstreamError::Unreachable("refused".into())),
        );
        m.send(Duration::from_secs(120), None);
        let counts: BTreeMap<TxState, u64> = [
            (TxState::Pending, 2),
            (TxState::Delivered, 5),
            (TxState::Ambiguous, 1),
        ]
        .into();
        let text = m.render(Some(&counts));
        assert_eq!(
            value(
                &text,
                "spidd_captures_total{kind=\"finger\",outcome=\"nothing_presented\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &text,
                "spidd_captures_total{kind=\"face\",outcome=\"failed\"}"
            ),
            1.0
        );
        assert_eq!(
            value(&text, "spidd_device_errors_total{device=\"camera\"}"),
            1.0
        );
        assert_eq!(
            value(&text, "spidd_device_errors_total{device=\"fingerprint\"}"),
            0.0
        );
        assert_eq!(
            value(&text, "spidd_send_latency_seconds_bucket{le=\"0.05\"}"),
            0.0
        );
        assert_eq!(
            value(&text, "spidd_send_latency_seconds_bucket{le=\"0.1\"}"),
            1.0
        );
        assert_eq!(
            value(&text, "spidd_send_latency_seconds_bucket{le=\"5\"}"),
            2.0
        );
        assert_eq!(
            value(&text, "spidd_send_latency_seconds_bucket{le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(value(&text, "spidd_send_latency_seconds_count"), 3.0);
        assert!((value(&text, "spidd_send_latency_seconds_sum") - 123.08).abs() < 1e-6);
        assert_eq!(
            value(&text, "spidd_upstream_errors_total{kind=\"unreachable\"}"),
            1.0
        );
        assert_eq!(value(&text, "spidd_outbox_depth"), 3.0);
        assert_eq!(
            value(&text, "spidd_outbox_transactions{state=\"DELIVERED\"}"),
            5.0
        );
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}

//! Whether the upstream answers, probed at most every few seconds and shared by every caller.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;
use tracing::info;

use crate::upstream::UpstreamClient;

/// How long a probe's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// A probe that takes longer than this counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last probe found (Health reads `reachable`; the status socket all of it).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkReport {
    pub reachable: bool,
    /// How long the probe took.
    pub latency: Duration,
    pub checked_at: SystemTime,
    /// The most recent failure, kept after the link recovers.
    pub last_error: Option<String>,
    pub last_error_at: Option<SystemTime>,
}

pub struct Link {
    upstream: Arc<UpstreamClient>,
    last: Mutex<Option<(Instant, LinkReport)>>,
}

impl Link {
    pub fn new(upstream: Arc<UpstreamClient>) -> Link {
        Link {
            upstream,
            last: Mutex::new(None),
        }
    }

    pub async fn reachable(&self) -> bool {
        self.report().await.reachable
    }

    /// The last probe's findings, probing again when they are older than a few seconds.
    pub async fn report(&self) -> LinkReport {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = &*last {
            if at.elapsed() < FRESH_FOR {
                return report.clone();
            }
        }
        let started = Instant::now();
        let error = match tokio::time::timeout(PROBE_TIMEOUT, self.upstream.ping()).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "no answer within {} s",
                PROBE_TIMEOUT.as_secs_f32()
            )),
        };
        let ok = error.is_none();
        let was = last.as_ref().map(|(_, r)| r.reachable);
        if was != Some(ok) {
            info!(reachable = ok, "upstream link changed");
        }
        let now = SystemTime::now();
        let (last_error, last_error_at) = match error {
            Some(e) => (Some(e), Some(now)),
            None => last
                .as_ref()
                .map(|(_, r)| (r.last_error.clone(), r.last_error_at))
                .unwrap_or_default(),
        };
        let report = LinkReport {
            reachable: ok,
            latency: started.elapsed(),
            checked_at: now,
            last_error,
            last_error_at,
        };
        *last = Some((Instant::now(), report.clone()));
        report
    }
}

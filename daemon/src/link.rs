//! Whether the upstream answers, probed at most every few seconds and shared by every caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tracing::info;

use crate::upstream::UpstreamClient;

/// How long a probe's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// A probe that takes longer than this counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Link {
    upstream: Arc<UpstreamClient>,
    last: Mutex<Option<(Instant, bool)>>,
}

impl Link {
    pub fn new(upstream: Arc<UpstreamClient>) -> Link {
        Link {
            upstream,
            last: Mutex::new(None),
        }
    }

    pub async fn reachable(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ok)) = *last {
            if at.elapsed() < FRESH_FOR {
                return ok;
            }
        }
        let ok = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, self.upstream.ping()).await,
            Ok(Ok(_))
        );
        if last.map(|(_, was)| was) != Some(ok) {
            info!(reachable = ok, "upstream link changed");
        }
        *last = Some((Instant::now(), ok));
        ok
    }
}

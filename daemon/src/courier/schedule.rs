//! The daily Capture Resend All (`outbox.resend_cron`, local time) and its next run time.
//!
//! The expression is parsed by the `cron` crate; the loop is ours, so that it sleeps on tokio's
//! clock (tests run it on a paused clock) and re-reads the wall clock at least every minute:
//! a clock set forward or back (NTP, a kiosk that slept, DST) moves the next run with it.
//! A run that is due while another Resend All is under way joins it (the courier's
//! single-flight), so there is only ever one run at a time.

use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local};

/// Longest sleep between two looks at the wall clock.
const RECHECK: Duration = Duration::from_secs(60);

/// A parsed `outbox.resend_cron`.
#[derive(Clone, Debug)]
pub struct ResendSchedule {
    expr: String,
    schedule: cron::Schedule,
}

impl ResendSchedule {
    /// Six fields, seconds first: `sec min hour day-of-month month day-of-week`.
    pub fn parse(expr: &str) -> Result<ResendSchedule, String> {
        if expr.split_whitespace().count() != 6 {
            return Err(format!(
                "{expr:?} has {} fields, not 6",
                expr.split_whitespace().count()
            ));
        }
        let schedule = cron::Schedule::from_str(expr).map_err(|e| e.to_string())?;
        Ok(ResendSchedule {
            expr: expr.to_string(),
            schedule,
        })
    }

    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The first run strictly after `now`.
    pub fn next_after(&self, now: &DateTime<Local>) -> Option<DateTime<Local>> {
        self.schedule.after(now).next()
    }
}

/// The running scheduler's view for others (`GET /status`): when it fires next.
#[derive(Clone, Debug, Default)]
pub struct SchedulerHandle {
    next: Arc<Mutex<Option<SystemTime>>>,
}

impl SchedulerHandle {
    /// The next scheduled Resend All; `None` before the scheduler started or after it stopped.
    pub fn next_run(&self) -> Option<SystemTime> {
        *self.next.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, next: Option<DateTime<Local>>) {
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = next.map(SystemTime::from);
    }
}

/// Runs `job` at every time of `schedule` until `shutdown` completes. `clock` reads the wall
/// clock (`Local::now` in the daemon). A job is awaited before the next time is computed, so
/// a run longer than the period skips the times it overran instead of queueing them.
pub async fn run_schedule<J, F>(
    schedule: ResendSchedule,
    handle: SchedulerHandle,
    clock: impl Fn() -> DateTime<Local>,
    mut job: J,
    shutdown: impl Future<Output = ()>,
) where
    J: FnMut() -> F,
    F: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut after = clock();
    loop {
        let Some(next) = schedule.next_after(&after) else {
            tracing::warn!(cron = %schedule.expression(), "the resend schedule has no future run");
            break;
        };
        handle.set(Some(next));
        tracing::debug!(next = %next.to_rfc3339(), "next scheduled resend all");
        loop {
            let now = clock();
            if now >= next {
                break;
            }
            let wait = (next - now).to_std().unwrap_or_default().min(RECHECK);
            tokio::select! {
                _ = &mut shutdown => {
                    handle.set(None);
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(cron = %schedule.expression(), "scheduled resend all starting");
        tokio::select! {
            _ = &mut shutdown => {
                handle.set(None);
                return;
            }
            _ = job() => {}
        }
        after = clock().max(next);
    }
    handle.set(None);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn expressions_need_six_valid_fields() {
        assert!(ResendSchedule::parse("0 30 2 * * *").is_ok());
        assert!(ResendSchedule::parse("0 */15 8-18 * * Mon-Fri").is_ok());
        assert!(ResendSchedule::parse("30 2 * * *").is_err(), "five fields");
        assert!(ResendSchedule::parse("0 61 2 * * *").is_err());
        assert!(ResendSchedule::parse("every night").is_err());
    }

    /// The wall clock of a test: `start` plus the time tokio's (paused) clock has advanced.
    fn virtual_clock(start: DateTime<Local>) -> impl Fn() -> DateTime<Local> + Clone {
        let origin = tokio::time::Instant::now();
        move || start + chrono::Duration::from_std(origin.elapsed()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_daily_resend_fires_at_its_local_time_once_a_day() {
        let start = Local.with_ymd_and_hms(2026, 3, 10, 23, 0, 0).unwrap();
        let clock = virtual_clock(start);
        let runs = Arc::new(AtomicUsize::new(0));
        let fired_at = Arc::new(Mutex::new(Vec::new()));
        let handle = SchedulerHandle::default();
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let task = {
            let (runs, fired_at, clock, handle) = (
                runs.clone(),
                fired_at.clone(),
                clock.clone(),
                handle.clone(),
            );
            let job_clock = clock.clone();
            tokio::spawn(run_schedule(
                ResendSchedule::parse("0 30 2 * * *").unwrap(),
                handle,
                clock,
                move || {
                    let (runs, fired_at, now) = (runs.clone(), fired_at.clone(), job_clock());
                    async move {
                        fired_at.lock().unwrap().push(now);
                        // A run takes a while; the schedule must not fire again meanwhile.
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        runs.fetch_add(1, Ordering::SeqCst);
                    }
                },
                async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                },
            ))
        };
        tokio::task::yield_now().await;
        let first = Local.with_ymd_and_hms(2026, 3, 11, 2, 30, 0).unwrap();
        assert_eq!(handle.next_run(), Some(SystemTime::from(first)));

        // 3 h 29 min later: not yet.
        tokio::time::sleep(Duration::from_secs(3 * 3600 + 29 * 60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        // Past 02:30 and past the run's 10 minutes: one run, and the next is tomorrow.
        tokio::time::sleep(Duration::from_secs(12 * 60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            handle.next_run(),
            Some(SystemTime::from(first + chrono::Duration::days(1)))
        );
        // Two more days: two more runs, each at 02:30:00 local time.
        tokio::time::sleep(Duration::from_secs(2 * 24 * 3600)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let fired = fired_at.lock().unwrap().clone();
        for (day, at) in fired.iter().enumerate() {
            assert_eq!(*at, first + chrono::Duration::days(day as i64), "run {day}");
        }

        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(
            handle.next_run(),
            None,
            "a stopped scheduler has no next run"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_jump_moves_the_next_run() {
        // The wall clock is read through a cell the test can set forward, as NTP would.
        let offset = Arc::new(Mutex::new(chrono::Duration::zero()));
        let start = Local.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        let base = virtual_clock(start);
        let clock = {
            let offset = offset.clone();
            move || base() + *offset.lock().unwrap()
        };
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let handle = SchedulerHandle::default();
        let task = tokio::spawn(run_schedule(
            ResendSchedule::parse("0 0 13 * * *").unwrap(),
            handle.clone(),
            clock,
            move || {
                let r = r.clone();
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                }
            },
            std::future::pending(),
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
        *offset.lock().unwrap() = chrono::Duration::minutes(59) + chrono::Duration::seconds(30);
        // Within one re-check of the wall clock the job runs, long before tokio's 1 h.
        tokio::time::sleep(RECHECK + Duration::from_secs(1)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        task.abort();
    }
}

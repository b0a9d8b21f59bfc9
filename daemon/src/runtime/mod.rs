//! The flow's driver: one task owns the [`Station`] state machine, feeds it commands, device
//! results and upstream answers, and carries out the effects it returns.
//!
//! Reads (Capture Status, Login Status) never wait on the task: after every step it publishes a
//! snapshot on a `watch` channel.

mod effects;
pub mod operators;
pub mod payload;
pub mod samples;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use state_machine::{
    Answer, CaptureId, CaptureState, CaptureStatus, Command, CommandId, DeviceEvent, Effect,
    FlowConfig, FlowError, Input, LoginState, Millis, Station,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::capture::CaptureOutcome;
pub use effects::Services;
use samples::SampleStore;

/// The wall clock in milliseconds since the epoch: the flow's `now`.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// What the API reads without asking the flow task.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub state: CaptureState,
    pub capture: CaptureStatus,
    pub login: LoginState,
}

/// Messages into the flow task.
pub(crate) enum Msg {
    Command(Command, oneshot::Sender<Result<Answer, FlowError>>),
    Capture(CaptureId, CaptureOutcome),
    Input(Input),
    /// New flow settings (configuration reload).
    Reconfigure(FlowConfig),
    /// Liveness probe for the watchdog: answered at once by a healthy flow task.
    Ping(oneshot::Sender<()>),
}

/// A cheap handle on the running flow.
#[derive(Clone)]
pub struct Flow {
    tx: mpsc::Sender<Msg>,
    status: watch::Receiver<Arc<Snapshot>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the flow task has stopped")]
pub struct FlowStopped;

impl Flow {
    /// Starts the flow task. It ends when every `Flow` handle is dropped.
    pub fn start(config: FlowConfig, services: Arc<Services>) -> Flow {
        let station = Station::new(config);
        let snapshot = Arc::new(snapshot_of(&station));
        let (status_tx, status) = watch::channel(snapshot);
        let (tx, rx) = mpsc::channel(256);
        let driver = Driver {
            station,
            rx,
            tx: tx.downgrade(),
            replies: HashMap::new(),
            next_command: 0,
            samples: SampleStore::default(),
            captures: HashMap::new(),
            services,
            status_tx,
        };
        tokio::spawn(driver.run());
        Flow { tx, status }
    }

    /// Runs one API command through the flow and waits for its answer.
    pub async fn command(
        &self,
        command: Command,
    ) -> Result<Result<Answer, FlowError>, FlowStopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Command(command, reply))
            .await
            .map_err(|_| FlowStopped)?;
        answer.await.map_err(|_| FlowStopped)
    }

    /// Applies new flow settings from the next decision on (see [`Station::set_config`]).
    pub async fn reconfigure(&self, config: FlowConfig) -> Result<(), FlowStopped> {
        self.tx
            .send(Msg::Reconfigure(config))
            .await
            .map_err(|_| FlowStopped)
    }

    /// Answers when the flow task has taken a message off its queue.
    pub async fn ping(&self) -> Result<(), FlowStopped> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Ping(reply))
            .await
            .map_err(|_| FlowStopped)?;
        answer.await.map_err(|_| FlowStopped)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.status.borrow().clone()
    }

    /// Waits until the published state satisfies `pred` or `timeout` passes.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Snapshot) -> bool,
    ) -> Arc<Snapshot> {
        let mut rx = self.status.clone();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await;
        self.snapshot()
    }
}

/// Test-only hook: with `SPIDD_TEST_STALL_FLOW_AFTER_MS=N`, the flow task hangs for good once
/// the station has run N ms, so that a test can see the watchdog pings stop.
fn stall_for_tests() {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let started = *STARTED.get_or_init(std::time::Instant::now);
    let Some(after) = std::env::var("SPIDD_TEST_STALL_FLOW_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if started.elapsed() >= Duration::from_millis(after) {
        warn!("SPIDD_TEST_STALL_FLOW_AFTER_MS: the flow task hangs on purpose");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn snapshot_of(station: &Station) -> Snapshot {
    Snapshot {
        state: station.state(),
        capture: station.capture_status(),
        login: station.login_status(),
    }
}

struct Driver {
    station: Station,
    rx: mpsc::Receiver<Msg>,
    /// Weak, so that the task ends when the last [`Flow`] handle is dropped.
    tx: mpsc::WeakSender<Msg>,
    replies: HashMap<CommandId, oneshot::Sender<Result<Answer, FlowError>>>,
    next_command: u64,
    samples: SampleStore,
    captures: HashMap<CaptureId, drivers::Cancel>,
    services: Arc<Services>,
    status_tx: watch::Sender<Arc<Snapshot>>,
}

impl Driver {
    async fn run(mut self) {
        loop {
            let deadline = self.station.next_deadline();
            let msg = match deadline {
                Some(at) => {
                    let wait = Duration::from_millis(at.saturating_sub(now_millis()));
                    tokio::select! {
                        msg = self.rx.recv() => msg,
                        _ = tokio::time::sleep(wait) => { self.step(Input::Tick); continue; }
                    }
                }
                None => self.rx.recv().await,
            };
            let Some(msg) = msg else { break };
            match msg {
                Msg::Command(command, reply) => {
                    self.next_command += 1;
                    let id = CommandId(self.next_command);
                    self.replies.insert(id, reply);
                    self.step(Input::Command(id, command));
                }
                Msg::Capture(capture, outcome) => {
                    if let Some(event) = self.device_event(capture, outcome) {
                        self.step(Input::Device(event));
                    }
                }
                Msg::Input(input) => self.step(input),
                Msg::Reconfigure(config) => self.station.set_config(config),
                Msg::Ping(reply) => {
                    stall_for_tests();
                    let _ = reply.send(());
                }
            }
        }
        for cancel in self.captures.values() {
            cancel.cancel();
        }
        debug!("flow task stopped");
    }

    fn device_event(&mut self, capture: CaptureId, outcome: CaptureOutcome) -> Option<DeviceEvent> {
        // A capture stopped before it finished is no longer wanted by the flow.
        self.captures.remove(&capture)?;
        Some(match outcome {
            CaptureOutcome::Captured { sample, matched } => {
                let quality = sample.quality;
                let sample = self.samples.insert(sample);
                DeviceEvent::Captured {
                    capture,
                    sample,
                    quality,
                    matched,
                }
            }
            CaptureOutcome::NothingPresented => DeviceEvent::NothingPresented { capture },
            CaptureOutcome::Failed(failure) => DeviceEvent::Failed { capture, failure },
            CaptureOutcome::Cancelled => return None,
        })
    }

    fn step(&mut self, input: Input) {
        let effects = self.station.handle(now_millis(), input);
        for effect in effects {
            self.carry_out(effect);
        }
        self.status_tx
            .send_replace(Arc::new(snapshot_of(&self.station)));
    }

    fn carry_out(&mut self, effect: Effect) {
        match effect {
            Effect::Reply { to, reply } => match self.replies.remove(&to) {
                Some(tx) => {
                    let _ = tx.send(reply);
                }
                None => warn!(command = to.0, "reply for an unknown command"),
            },
            Effect::StartCapture(request) => {
                let cancel = drivers::Cancel::new();
                self.captures.insert(request.capture, cancel.clone());
                let Some(tx) = self.tx.upgrade() else { return };
                let ctx = self.services.capture.clone();
                let budget = Duration::from_millis(request.deadline.saturating_sub(now_millis()));
                tokio::task::spawn_blocking(move || {
                    let outcome = ctx.run(&request, budget, &cancel);
                    let _ = tx.blocking_send(Msg::Capture(request.capture, outcome));
                });
            }
            Effect::StopCapture { capture } => {
                if let Some(cancel) = self.captures.remove(&capture) {
                    cancel.cancel();
                }
            }
            Effect::DiscardSamples { samples } => self.samples.discard(&samples),
            Effect::Upstream { request, call } => {
                let Some(tx) = self.tx.upgrade() else { return };
                let job =
                    effects::upstream_job(self.services.clone(), &self.samples, request, call);
                tokio::spawn(async move {
                    let answer = job.await;
                    let _ = tx.send(Msg::Input(Input::Upstream(answer))).await;
                });
            }
            Effect::Persist {
                request,
                transaction,
            } => {
                let Some(tx) = self.tx.upgrade() else { return };
                let job = effects::persist_job(self.services.clone(), &self.samples, transaction);
                tokio::spawn(async move {
                    let result = job.await;
                    let _ = tx
                        .send(Msg::Input(Input::Persisted { request, result }))
                        .await;
                });
            }
        }
    }
}

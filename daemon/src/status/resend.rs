//! `POST /outbox/resend`: starts Resend All (or joins the one running) and streams its
//! progress as NDJSON, one line per finished transaction, then one final line.
//!
//! The run belongs to the courier, not to the request: a client that disconnects stops
//! reading, never the delivery.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::logring::mask_cpfs;
use super::StatusState;
use crate::courier::progress::ResendProgress;

/// A progress line: `{"done":n,"total":m,"delivered":..,"failed":..}`.
pub(super) fn progress_json(p: &ResendProgress) -> Value {
    json!({ "done": p.done, "total": p.total, "delivered": p.delivered, "failed": p.failed })
}

fn line(v: &Value) -> Bytes {
    let mut text = v.to_string();
    text.push('\n');
    Bytes::from(text)
}

pub async fn resend(State(state): State<StatusState>) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let courier = state.courier.clone();
    // Subscribed before the run starts, so its first update is not missed.
    let mut progress = courier.resend_progress().subscribe();
    tokio::spawn(async move {
        let run = {
            let courier = courier.clone();
            tokio::spawn(async move { courier.resend_all().await })
        };
        tokio::pin!(run);
        let mut last_sent: Option<ResendProgress> = None;
        // Joining a run under way: say where it stands at once.
        let now = *progress.borrow_and_update();
        if now.running {
            last_sent = Some(now);
            if tx.send(line(&progress_json(&now))).await.is_err() {
                return;
            }
        }
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                changed = progress.changed() => {
                    if changed.is_err() {
                        break (&mut run).await;
                    }
                    let p = *progress.borrow_and_update();
                    if p.running && last_sent != Some(p) {
                        last_sent = Some(p);
                        if tx.send(line(&progress_json(&p))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let last = match result {
            Ok(Ok(s)) => json!({
                "done": s.attempted,
                "total": s.attempted.max(last_sent.map_or(0, |p| p.total)),
                "delivered": s.delivered,
                "failed": s.failed,
                "remaining": s.remaining,
                "finished": true,
            }),
            Ok(Err(e)) => json!({ "finished": true, "error": mask_cpfs(&e.to_string()) }),
            Err(e) => json!({ "finished": true, "error": format!("resend all failed: {e}") }),
        };
        let _ = tx.send(line(&last)).await;
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(Lines(rx)),
    )
        .into_response()
}

/// The lines as a body stream.
struct Lines(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Lines {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|line| line.map(Ok))
    }
}

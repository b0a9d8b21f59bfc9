//! Serving the fake server over TCP with hyper directly, so that a request handler can have its
//! connection dropped without an answer (the `down` and `reset_after_body` faults).
//!
//! Each connection runs in its own task next to a [`ConnectionKill`] handle that the request
//! carries in its extensions; triggering it makes the task drop the hyper connection (and the
//! socket) while the handler's answer is still pending, so the client reads EOF (or a reset)
//! where it expected a status line.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::FakeSpidServer;

/// How long open connections get to finish their answers after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Lets a request's handler close its connection without answering.
#[derive(Clone, Debug, Default)]
pub struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    fn trigger(&self) {
        // `notify_one` keeps a permit when the connection task is not waiting yet.
        self.0.notify_one();
    }
    async fn triggered(&self) {
        self.0.notified().await
    }
}

/// Drops the request's connection and never answers. Without a [`ConnectionKill`] (the router
/// served by something other than [`serve`]) the answer is held back forever instead.
pub(super) async fn drop_unanswered(kill: Option<ConnectionKill>) -> Response {
    match kill {
        Some(kill) => kill.trigger(),
        None => tracing::warn!(
            "connection faults need simulator::server::serve; holding the answer back"
        ),
    }
    std::future::pending().await
}

/// Serves `server` on `listener` until `shutdown` completes, then lets open connections finish
/// for up to 5 s and closes the rest.
pub async fn serve(
    listener: TcpListener,
    server: FakeSpidServer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = server.router();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    tracing::info!(address = %listener.local_addr()?, "fake SPID Server listening");
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let kill = ConnectionKill::default();
                let request_kill = kill.clone();
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(request_kill.clone());
                    let router = router.clone();
                    async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|e| match e {})) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    tokio::select! {
                        result = connection => {
                            if let Err(e) = result {
                                tracing::debug!(%peer, error = %e, "connection ended with an error");
                            }
                        }
                        _ = kill.triggered() => tracing::debug!(%peer, "connection dropped unanswered"),
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("connections still open after the grace period; closing them");
    }
    connections.shutdown().await;
    Ok(())
}

//! The accept loop: connections served by hyper, and a graceful stop that never resets a
//! connection it accepted.
//!
//! axum's own `serve` closes every idle connection the moment a stop begins, and a
//! connection whose request has not been read yet counts as idle: its client gets a
//! reset (3–10 per stop under load). Here a stop first accepts what waits in the
//! listen backlog, then closes the listener; every connection then has
//! [`FIRST_REQUEST_GRACE`] to send a request, which is served (the engine still runs)
//! with `Connection: close`; only then are connections still idle closed.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// How long, once a stop begins, a connection may take to send its request.
pub(crate) const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(2);

/// How long the stop takes connections from the listen backlog before it closes it.
const BACKLOG_WAIT: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `stop` resolves; then calls `on_stop`, drains
/// the backlog, closes the listener, and returns once every connection has closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    stop: impl Future<Output = ()>,
    on_stop: impl FnOnce(),
) -> std::io::Result<()> {
    let (stopping, _) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn(&mut connections, stream, &router, &stopping),
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    on_stop();
    stopping.send_replace(true);
    // Clients whose connections the kernel completed are owed an answer, not a reset.
    // Bounded in time: new clients keep coming until the listener is closed.
    let drained = tokio::time::Instant::now() + BACKLOG_WAIT;
    while let Ok(Ok((stream, _))) = tokio::time::timeout_at(drained, listener.accept()).await {
        spawn(&mut connections, stream, &router, &stopping);
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

fn spawn(
    connections: &mut JoinSet<()>,
    stream: tokio::net::TcpStream,
    router: &Router,
    stopping: &watch::Sender<bool>,
) {
    let router = router.clone();
    let mut stop = stopping.subscribe();
    let marks = stopping.subscribe();
    connections.spawn(async move {
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            let router = router.clone();
            let marks = marks.clone();
            let stopping = *marks.borrow();
            async move {
                let mut response = router.oneshot(request.map(axum::body::Body::new)).await?;
                if stopping || *marks.borrow() {
                    // The last request of this connection: hyper closes it after the
                    // response.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        // HTTP/1.1 only, as the server always spoke (axum's default features).
        let connection = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        tokio::pin!(connection);
        let grace = async {
            let _ = stop.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(FIRST_REQUEST_GRACE).await;
        };
        tokio::pin!(grace);
        let mut closing = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "a connection ended with an error");
                    }
                    return;
                }
                () = &mut grace, if !closing => {
                    // Finishes a request in flight, closes an idle connection.
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    });
}

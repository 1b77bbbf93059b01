//! The ingest scenario's second baseline, `boxtrace-bench bare-sled-server`: what sled
//! allows for durable ingest, without authentication or the engine.
//!
//! An axum handler parses and validates the event (`Command::from_json`, as the first
//! baseline and `boxtrace serve` do) and hands the body to one writer thread. The writer
//! takes every request that queued up while it was busy (at most [`MAX_BATCH`], the
//! engine's default `maxBatch`), appends them to one sled tree as one batch under a
//! sequence number, flushes once, and only then answers every request of the batch: each
//! 202 means the event is on disk, as with `boxtrace serve`.

use std::net::SocketAddr;
use std::path::Path;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use boxtrace::Command;
use tokio::sync::{mpsc, oneshot};

/// Most requests applied and flushed as one batch: the engine's default `maxBatch`.
pub const MAX_BATCH: usize = 256;

/// One request waiting for its batch's flush.
struct Pending {
    body: Bytes,
    done: oneshot::Sender<Result<(), String>>,
}

/// `boxtrace-bench bare-sled-server --listen ADDR --data-dir DIR`.
pub fn main(listen: SocketAddr, data_dir: &Path, cache_capacity: u64) -> anyhow::Result<()> {
    let db = sled::Config::new()
        .path(data_dir)
        .cache_capacity(cache_capacity)
        .open()?;
    let tree = db.open_tree("events")?;
    // Bounded as the engine's queue (maxBatch × 8): a full queue holds handlers back.
    let (tx, rx) = mpsc::channel::<Pending>(MAX_BATCH * 8);
    let writer = std::thread::Builder::new()
        .name("bare-sled-writer".into())
        .spawn(move || write_batches(&db, &tree, rx))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let router = axum::Router::new()
            .route("/api/events", post(accept))
            .with_state(tx);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, router).await?;
        anyhow::Ok(())
    })?;
    // Reached only if the server stops by itself; the harness kills the process.
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))
}

async fn accept(State(writer): State<mpsc::Sender<Pending>>, body: Bytes) -> (StatusCode, String) {
    let command = match Command::from_json(&body) {
        Ok(command) => command,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (done, flushed) = oneshot::channel();
    if writer.send(Pending { body, done }).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the writer stopped".into());
    }
    match flushed.await {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            format!("{{\"action\":\"{:?}\"}}", command.action()),
        ),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the writer stopped".into()),
    }
}

/// The group-commit loop: wait for one request, take what else queued up, apply, flush,
/// answer.
fn write_batches(db: &sled::Db, tree: &sled::Tree, mut rx: mpsc::Receiver<Pending>) {
    let mut seq: u64 = 0;
    let mut pending = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        pending.push(first);
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => pending.push(next),
                Err(_) => break,
            }
        }
        let mut batch = sled::Batch::default();
        for request in &pending {
            seq += 1;
            batch.insert(&seq.to_be_bytes(), request.body.as_ref());
        }
        let outcome = tree
            .apply_batch(batch)
            .and_then(|()| db.flush().map(drop))
            .map_err(|e| e.to_string());
        for request in pending.drain(..) {
            let _ = request.done.send(outcome.clone());
        }
    }
}

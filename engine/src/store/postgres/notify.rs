//! Wake-ups across processes with LISTEN/NOTIFY: a coalescing sender, and a listener on a
//! dedicated connection that reconnects when it drops.
//!
//! The NOTIFY is sent after the transaction that made a job due has committed, from a task
//! of its own, rather than inside that transaction: PostgreSQL serializes the commits of
//! all transactions that notify (one lock on the notification queue), which would undo
//! group commit at high publish rates. Pokes that arrive while a NOTIFY is on its way
//! coalesce into one more, so a burst of publishes sends a handful of notifications.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::error::{describe, pool_reason};

/// The channel every boxtrace store notifies on; the payload is the schema, so stores on
/// other schemas of the same database ignore it.
const CHANNEL: &str = "boxtrace_wake";

/// The least time between two NOTIFYs of one process: a burst of publishes wakes the
/// other processes a few times, not once per publish.
const SPACING: Duration = Duration::from_millis(5);

/// How often the listener checks that its connection is alive: a silently dead one would
/// otherwise only be noticed by TCP keep-alive.
const PING_EVERY: Duration = Duration::from_secs(10);

/// Starts the task that sends a NOTIFY after each poke (coalesced); it stops at `stop`.
pub(super) fn spawn_notifier(pool: Pool, schema: String, stop: CancellationToken) -> Arc<Notify> {
    let pokes = Arc::new(Notify::new());
    let woken = pokes.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = woken.notified() => {}
                _ = stop.cancelled() => return,
            }
            let sent = async {
                let client = pool.get().await.map_err(|e| pool_reason(&e))?;
                client
                    .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &schema])
                    .await
                    .map_err(|e| describe(&e))
            };
            if let Err(reason) = sent.await {
                // Other processes find the work at their next poll (`maxIdle`) instead.
                tracing::debug!(%reason, "sending a wake-up to other processes failed");
            }
            // Pokes meanwhile are kept (one permit) and sent after the pause.
            tokio::select! {
                _ = tokio::time::sleep(SPACING) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
    pokes
}

/// Starts the listener: it marks `wake` changed on every NOTIFY for `schema`, and once
/// each time it (re)connects, since notifications sent while it was away are lost.
pub(super) fn spawn_listener(
    mut config: tokio_postgres::Config,
    schema: String,
    wake: Arc<watch::Sender<()>>,
    stop: CancellationToken,
) {
    // Named, so that an operator (or a test) can tell it from pooled connections.
    config.application_name(format!("boxtrace listener {schema}"));
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        let mut was_up = false;
        loop {
            let outcome = tokio::select! {
                outcome = listen(&config, &schema, &wake, &mut was_up) => outcome,
                _ = stop.cancelled() => return,
            };
            if was_up {
                tracing::warn!(
                    reason = %outcome,
                    "the PostgreSQL wake-up listener lost its connection; reconnecting (dispatchers poll every maxIdle meanwhile)"
                );
                backoff = Duration::from_millis(50);
                was_up = false;
            } else {
                tracing::debug!(reason = %outcome, retry_in = ?backoff, "the PostgreSQL wake-up listener cannot connect");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

/// One connection's life: LISTEN, forward notifications, ping. Returns why it ended.
async fn listen(
    config: &tokio_postgres::Config,
    schema: &str,
    wake: &watch::Sender<()>,
    was_up: &mut bool,
) -> String {
    let (client, mut connection) = match config.connect(tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(e) => return describe(&e),
    };
    // The connection must be polled for the client's queries to make progress, and its
    // polling is also where notifications arrive.
    let forward = async {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.channel() == CHANNEL && n.payload() == schema {
                        wake.send_replace(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return describe(&e),
                None => return "the server closed the connection".to_owned(),
            }
        }
    };
    let listen = format!("LISTEN {CHANNEL}");
    let keep = async {
        if let Err(e) = client.batch_execute(&listen).await {
            return describe(&e);
        }
        *was_up = true;
        tracing::debug!(schema, "listening for wake-ups from other processes");
        // Whatever was notified while this listener was down is found by looking now.
        wake.send_replace(());
        loop {
            tokio::time::sleep(PING_EVERY).await;
            // LISTEN again is a no-op for a listening session, and keeps the session's
            // `pg_stat_activity` entry saying what it is for.
            match tokio::time::timeout(PING_EVERY, client.batch_execute(&listen)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return describe(&e),
                Err(_) => return "the server did not answer a ping".to_owned(),
            }
        }
    };
    tokio::select! {
        reason = forward => reason,
        reason = keep => reason,
    }
}

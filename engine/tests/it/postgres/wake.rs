//! Wake-ups across processes: a publish in one process wakes another's dispatcher within
//! milliseconds (LISTEN/NOTIFY), also after the listener's connection was killed.

use std::time::{Duration, Instant};

use boxtrace::testing::{container, t0, ScriptedTracer};
use boxtrace::{EngineConfig, JobStore, ManualClock};

use super::{engine, eventually, export, TestDb};

/// The listener's backend process id, once it is listening.
async fn listener_pid(db: &TestDb, sql: &tokio_postgres::Client) -> Option<i32> {
    let name = format!("boxtrace listener {}", db.schema);
    sql.query_opt(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'",
        &[&name],
    )
    .await
    .unwrap()
    .map(|row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_elsewhere_wakes_the_dispatcher_at_once() {
    let Some(db) = TestDb::new("a_publish_elsewhere_wakes_the_dispatcher_at_once") else {
        return;
    };
    // The clock never moves, so the dispatcher's own timers never fire: only a wake-up
    // from the database can make it look.
    let clock = ManualClock::new(t0());
    let tracer = ScriptedTracer::new("scripted");
    let engine = engine(&db, &tracer, &clock, EngineConfig::default()).await;
    let running = engine.start();
    let sql = db.sql().await;
    eventually("the listener is up", Duration::from_secs(10), || async {
        listener_pid(&db, &sql).await.is_some()
    })
    .await;

    let other = db.store().await;
    for (round, n) in [1u32, 2, 3].into_iter().enumerate() {
        let published = Instant::now();
        other.publish(export(n), true, t0()).await.unwrap();
        eventually(
            "the other process's job is traced",
            Duration::from_secs(5),
            || async { tracer.calls(container(n).as_str()) == 1 },
        )
        .await;
        eprintln!(
            "wake-up {round}: traced {:?} after the publish",
            published.elapsed()
        );
    }

    // The listener's connection dies; it reconnects and wake-ups work again.
    let pid = listener_pid(&db, &sql).await.unwrap();
    sql.execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    eventually("the listener is back", Duration::from_secs(10), || async {
        listener_pid(&db, &sql).await.is_some_and(|p| p != pid)
    })
    .await;
    other.publish(export(4), true, t0()).await.unwrap();
    eventually(
        "traced after the reconnect",
        Duration::from_secs(5),
        || async { tracer.calls(container(4).as_str()) == 1 },
    )
    .await;
    running.shutdown().await;
}

#[tokio::test]
async fn wake_ups_come_from_other_stores_and_sled_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let sled = boxtrace::SledStore::open_path(dir.path()).unwrap();
    assert!(sled.wake_ups().is_none(), "sled serves one process");
    let Some(db) = TestDb::new("wake_ups_come_from_other_stores_and_sled_has_none") else {
        return;
    };
    let store = db.store().await;
    let mut wake = store.wake_ups().expect("a PostgreSQL store has wake-ups");
    // The listener announces itself once connected.
    tokio::time::timeout(Duration::from_secs(10), wake.changed())
        .await
        .expect("the listener connects")
        .unwrap();
    let other = db.store().await;
    other.publish(export(9), true, t0()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake.changed())
        .await
        .expect("a publish elsewhere wakes")
        .unwrap();
}

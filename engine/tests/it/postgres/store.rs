//! The store on its own: the conformance suite, migrations, fencing, and claims by several
//! stores (processes) at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use boxtrace::testing::{store_conformance, t0};
use boxtrace::{
    EmitReason, Fenced, JobStore, Outbox, PostgresError, PostgresStore, Settlement, Status,
    StoreError, TraceCommit, TraceResult, Verdict, RESULTS_QUEUE,
};
use chrono::Duration;

use super::{export, TestDb};

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

#[tokio::test]
async fn postgres_passes_the_store_conformance_suite() {
    if TestDb::new("postgres_passes_the_store_conformance_suite").is_none() {
        return;
    }
    let started = Instant::now();
    // Every check gets a fresh schema; they are dropped when the test ends.
    let schemas: Mutex<Vec<TestDb>> = Mutex::new(Vec::new());
    let kept = &schemas;
    store_conformance::run_all(move || async move {
        let db = TestDb::new("conformance").unwrap();
        let store = db.store().await;
        kept.lock().unwrap().push(db);
        store
    })
    .await;
    assert_eq!(schemas.lock().unwrap().len(), 32, "every check ran");
    eprintln!("conformance on PostgreSQL: {:?}", started.elapsed());
}

#[tokio::test]
async fn migrations_create_rerun_and_race() {
    let Some(db) = TestDb::new("migrations_create_rerun_and_race") else {
        return;
    };
    // Two processes starting together on an empty schema: one migrates, the other waits
    // for the advisory lock and finds the work done.
    let (a, b) = tokio::join!(
        PostgresStore::connect(db.config()),
        PostgresStore::connect(db.config())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let sql = db.sql().await;
    let versions: Vec<i32> = sql
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = (1..=PostgresStore::schema_version()).collect();
    assert_eq!(versions, expected, "each migration applied once");
    let instance: String = sql
        .query_one("SELECT value FROM meta WHERE name = 'instance'", &[])
        .await
        .unwrap()
        .get(0);

    a.publish(export(1), true, t0()).await.unwrap();
    drop((a, b));
    // A re-run is a no-op: same versions, same instance, data kept.
    let again = db.store().await;
    assert!(again.get(&export(1).key).await.unwrap().is_some());
    assert_eq!(
        db.count(&sql, "SELECT count(*) FROM schema_migrations")
            .await,
        i64::from(PostgresStore::schema_version())
    );
    let same: String = sql
        .query_one("SELECT value FROM meta WHERE name = 'instance'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(same, instance, "the instance id is kept");

    // A schema from a newer boxtrace is refused, and the error says what to do.
    sql.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')",
        &[],
    )
    .await
    .unwrap();
    let err = PostgresStore::connect(db.config()).await.unwrap_err();
    assert!(
        matches!(err, PostgresError::SchemaTooNew { found: 999, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("run a boxtrace at least as new"),
        "{err}"
    );

    // A missing database is not worth retrying.
    let missing = boxtrace::PostgresConfig::new(db.url_of_database("boxtrace_no_such_db"));
    let err = PostgresStore::connect(missing).await.unwrap_err();
    assert!(matches!(err, PostgresError::NoDatabase { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_database_is_a_retryable_error_without_the_password() {
    let config = boxtrace::PostgresConfig::new("postgres://bt:hunter2@127.0.0.1:1/none");
    let err = PostgresStore::connect(config).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("bt@127.0.0.1:1/none"), "{message}");
    assert!(message.contains("retry"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
    let bad = boxtrace::PostgresConfig::new("postgres://x@127.0.0.1/x").with_schema("No-Such");
    assert!(matches!(
        PostgresStore::connect(bad).await,
        Err(PostgresError::Config(_))
    ));
}

#[tokio::test]
async fn a_stale_lease_holder_is_fenced_and_changes_nothing() {
    let Some(db) = TestDb::new("a_stale_lease_holder_is_fenced_and_changes_nothing") else {
        return;
    };
    let (first, second) = (db.store().await, db.store().await);
    let r = export(7);
    first.publish(r.clone(), true, t0()).await.unwrap();
    let stale = first
        .claim_due(t0(), 1, t0() + mins(1))
        .await
        .unwrap()
        .remove(0);
    // The first process stalls past its lease; the second takes the job over.
    let fresh = second
        .claim_due(t0() + mins(1), 1, t0() + mins(2))
        .await
        .unwrap()
        .remove(0);
    assert!(fresh.token > stale.token);
    let before = second.get(&r.key).await.unwrap().unwrap();

    let mut late = stale.job.clone();
    late.last_result = Some(TraceResult::new(Status::Loaded, t0()));
    late.trace_count += 1;
    late.due_at = Some(t0() + mins(600));
    let err = first
        .complete(TraceCommit {
            token: stale.token,
            job: late,
            emit: Some(EmitReason::Changed),
            now: t0() + mins(1),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Fenced(Fenced::LeaseLost)),
        "{err:?}"
    );
    assert_eq!(
        second.get(&r.key).await.unwrap().unwrap(),
        before,
        "the fenced commit changed nothing"
    );
    assert!(second.history(&r.key, 10).await.unwrap().is_empty());
    assert_eq!(second.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 0);
    assert!(matches!(
        first.renew(stale.job.id, stale.token, t0() + mins(9)).await,
        Err(StoreError::Fenced(_))
    ));

    // The new holder commits; then the same for an outbox lease.
    let mut next = fresh.job.clone();
    next.last_result = Some(TraceResult::new(Status::GatedIn, t0()));
    next.due_at = Some(t0() + mins(120));
    second
        .complete(TraceCommit {
            token: fresh.token,
            job: next,
            emit: Some(EmitReason::FirstResult),
            now: t0() + mins(1),
        })
        .await
        .unwrap();
    let old = first
        .claim_outbox(RESULTS_QUEUE, t0() + mins(1), 10, t0() + mins(2))
        .await
        .unwrap()
        .remove(0);
    let new = second
        .claim_outbox(RESULTS_QUEUE, t0() + mins(2), 10, t0() + mins(3))
        .await
        .unwrap()
        .remove(0);
    assert!(new.token > old.token);
    for refused in [
        first
            .ack_outbox(RESULTS_QUEUE, old.entry.seq, old.token)
            .await,
        first
            .fan_out(
                RESULTS_QUEUE,
                old.entry.seq,
                old.token,
                &["hook".into()],
                t0(),
            )
            .await,
        first
            .bury_outbox(RESULTS_QUEUE, old.entry.seq, old.token, "x".into())
            .await,
    ] {
        assert!(
            matches!(refused, Err(StoreError::Fenced(Fenced::LeaseLost))),
            "{refused:?}"
        );
    }
    assert_eq!(second.outbox_stats("hook").await.unwrap().pending, 0);
    second
        .ack_outbox(RESULTS_QUEUE, new.entry.seq, new.token)
        .await
        .unwrap();
    assert!(matches!(
        second
            .ack_outbox(RESULTS_QUEUE, new.entry.seq, new.token)
            .await,
        Err(StoreError::Fenced(Fenced::Missing))
    ));
}

#[tokio::test]
async fn stores_claiming_at_once_never_share_a_job() {
    let Some(db) = TestDb::new("stores_claiming_at_once_never_share_a_job") else {
        return;
    };
    let stores = [db.store().await, db.store().await, db.store().await];
    for n in 0..1500 {
        stores[0].publish(export(n), true, t0()).await.unwrap();
    }
    let claimed: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for store in &stores {
        for _ in 0..2 {
            let (store, claimed) = (store.clone(), claimed.clone());
            tasks.spawn(async move {
                loop {
                    let batch = store.claim_due(t0(), 40, t0() + mins(1)).await.unwrap();
                    if batch.is_empty() {
                        return;
                    }
                    claimed
                        .lock()
                        .unwrap()
                        .extend(batch.iter().map(|c| c.job.id.0));
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let claimed = claimed.lock().unwrap();
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 1500, "every due job claimed");
    assert_eq!(distinct.len(), 1500, "and none twice");
}

#[tokio::test]
async fn deliverers_in_several_processes_keep_each_jobs_order() {
    let Some(db) = TestDb::new("deliverers_in_several_processes_keep_each_jobs_order") else {
        return;
    };
    let store = db.store().await;
    // 20 jobs with 5 events each: a first result, then changes.
    for n in 0..20 {
        store.publish(export(n), true, t0()).await.unwrap();
    }
    for round in 0..5i64 {
        let now = t0() + mins(10 * round);
        for c in store.claim_due(now, 100, now + mins(1)).await.unwrap() {
            let mut next = c.job.clone();
            next.last_result = Some(TraceResult::new(Status::GatedIn, now));
            next.due_at = Some(now + mins(10));
            let emit = if round == 0 {
                EmitReason::FirstResult
            } else {
                EmitReason::Changed
            };
            store
                .complete(TraceCommit {
                    token: c.token,
                    job: next,
                    emit: Some(emit),
                    now,
                })
                .await
                .unwrap();
        }
    }
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        100
    );

    let in_flight: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let delivered: Arc<Mutex<HashMap<u64, Vec<u64>>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let store = db.store().await;
        let (in_flight, delivered) = (in_flight.clone(), delivered.clone());
        tasks.spawn(async move {
            let now = t0() + mins(60);
            let mut idle = 0;
            while idle < 5 {
                let claims = store
                    .claim_outbox(RESULTS_QUEUE, now, 7, now + mins(1))
                    .await
                    .unwrap();
                if claims.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for c in &claims {
                    assert!(
                        in_flight.lock().unwrap().insert(c.entry.job_id.0),
                        "two entries of job {} in flight at once",
                        c.entry.job_id
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                for c in claims {
                    delivered
                        .lock()
                        .unwrap()
                        .entry(c.entry.job_id.0)
                        .or_default()
                        .push(c.entry.seq.0);
                    // Out of flight before the ack: once acked, the next may be claimed.
                    in_flight.lock().unwrap().remove(&c.entry.job_id.0);
                    store
                        .ack_outbox(RESULTS_QUEUE, c.entry.seq, c.token)
                        .await
                        .unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let delivered = delivered.lock().unwrap();
    assert_eq!(delivered.len(), 20);
    for (job, seqs) in delivered.iter() {
        assert_eq!(seqs.len(), 5, "job {job}: every event once");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "job {job}: in order {seqs:?}"
        );
    }
}

#[tokio::test]
async fn settlements_applied_one_by_one_each_get_their_own_result() {
    let Some(db) = TestDb::new("settlements_applied_one_by_one_each_get_their_own_result") else {
        return;
    };
    let store = db.store().await;
    for n in [8, 9] {
        store.publish(export(n), true, t0()).await.unwrap();
    }
    for c in store.claim_due(t0(), 10, t0() + mins(1)).await.unwrap() {
        let mut next = c.job.clone();
        next.last_result = Some(TraceResult::new(Status::GatedIn, t0()));
        next.due_at = Some(t0() + mins(120));
        store
            .complete(TraceCommit {
                token: c.token,
                job: next,
                emit: Some(EmitReason::FirstResult),
                now: t0(),
            })
            .await
            .unwrap();
    }
    let claims = store
        .claim_outbox(RESULTS_QUEUE, t0(), 10, t0() + mins(1))
        .await
        .unwrap();
    assert_eq!(claims.len(), 2);
    // One entry twice: no single statement can take them, so they go one by one. The
    // second carries a token no statement can (past BIGINT), and fails alone.
    let settlements = [
        Settlement {
            seq: claims[0].entry.seq,
            token: claims[0].token,
            verdict: Verdict::Ack,
        },
        Settlement {
            seq: claims[1].entry.seq,
            token: u64::MAX,
            verdict: Verdict::Release,
        },
        Settlement {
            seq: claims[0].entry.seq,
            token: claims[0].token,
            verdict: Verdict::Ack,
        },
    ];
    let results = store.settle(RESULTS_QUEUE, &settlements).await;
    assert!(results[0].is_ok(), "the first ack was applied: {results:?}");
    assert!(
        !matches!(results[1], Ok(()) | Err(StoreError::Unavailable(_))),
        "the bad token fails alone: {results:?}"
    );
    assert!(
        matches!(results[2], Err(StoreError::Fenced(Fenced::Missing))),
        "acked already: {results:?}"
    );
    assert_eq!(store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending, 1);
}

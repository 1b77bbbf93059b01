//! Three engines, each with its own pool, share 10k jobs over several due cycles: every
//! job is traced exactly once per due time, and every engine does part of the work.

use std::time::{Duration, Instant};

use boxtrace::testing::{container, t0, ScriptedTracer};
use boxtrace::{EngineConfig, ManualClock, RESULTS_QUEUE};

use super::{engine, eventually, export, TestDb};

const JOBS: u32 = 10_000;
const CYCLES: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_engines_trace_every_job_once_per_due_time() {
    let Some(db) = TestDb::new("three_engines_trace_every_job_once_per_due_time") else {
        return;
    };
    let started = Instant::now();
    // One clock for all three, advanced by the test: within a cycle no lease lapses, so a
    // second trace of a job could only come from two engines claiming it at once.
    let clock = ManualClock::new(t0());
    let config = EngineConfig {
        lease: Duration::from_secs(60),
        claim_batch: 100,
        max_in_flight: 200,
        ..EngineConfig::default()
    };
    let tracers: Vec<ScriptedTracer> = (0..3).map(|_| ScriptedTracer::new("scripted")).collect();
    let mut engines = Vec::new();
    for tracer in &tracers {
        engines.push(engine(&db, tracer, &clock, config.clone()).await);
    }
    let handles: Vec<_> = engines.iter().map(|e| e.start()).collect();

    // Publishes spread over the engines, 48 at a time; each engine's dispatcher starts on
    // its own publishes and the others' (LISTEN/NOTIFY).
    let mut publishing = tokio::task::JoinSet::new();
    for n in 0..JOBS {
        let engine = engines[n as usize % engines.len()].clone();
        publishing.spawn(async move { engine.publish(export(n)).await.map(drop) });
        if publishing.len() >= 48 {
            publishing.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = publishing.join_next().await {
        done.unwrap().unwrap();
    }
    eprintln!("published {JOBS} jobs: {:?}", started.elapsed());

    let sql = db.sql().await;
    for cycle in 1..=CYCLES {
        let cycle_started = Instant::now();
        // The tracers' counters first (cheap to poll), then the commits in SQL.
        let traced = JOBS as u64 * cycle as u64;
        eventually(
            &format!("cycle {cycle}: every job traced"),
            Duration::from_secs(45),
            || async { tracers.iter().map(ScriptedTracer::total_calls).sum::<u64>() >= traced },
        )
        .await;
        let done = format!(
            "SELECT count(*) FROM jobs WHERE trace_count >= {cycle} AND lease_token IS NULL"
        );
        eventually(
            &format!("cycle {cycle}: every job traced and committed"),
            Duration::from_secs(45),
            || async { db.count(&sql, &done).await == i64::from(JOBS) },
        )
        .await;
        let over = format!("SELECT count(*) FROM jobs WHERE trace_count <> {cycle}");
        assert_eq!(
            db.count(&sql, &over).await,
            0,
            "cycle {cycle}: a job traced twice"
        );
        for n in 0..JOBS {
            let c = container(n);
            let calls: u32 = tracers.iter().map(|t| t.calls(c.as_str())).sum();
            assert_eq!(
                i64::from(calls),
                cycle,
                "container {c}: traces in cycle {cycle}"
            );
        }
        let split: Vec<u64> = tracers.iter().map(ScriptedTracer::total_calls).collect();
        eprintln!(
            "cycle {cycle}: {:?}, traces per engine so far {split:?}",
            cycle_started.elapsed()
        );
        // The next due times are at most a few hours away (policy intervals): a day later
        // every job is due again, exactly once.
        if cycle < CYCLES {
            clock.advance(chrono::Duration::hours(24));
        }
    }
    for handle in handles {
        handle.shutdown().await;
    }

    for (i, tracer) in tracers.iter().enumerate() {
        assert!(tracer.total_calls() > 0, "engine {i} did part of the work");
        assert_eq!(
            tracer.max_overlap(),
            1,
            "engine {i} never overlapped a job's traces"
        );
    }
    let total: u64 = tracers.iter().map(ScriptedTracer::total_calls).sum();
    assert_eq!(total, u64::from(JOBS) * CYCLES as u64);
    // Only the first result is news: one event per job, in history and outbox alike.
    let store = engines[0].outbox().expect("a full backend");
    assert_eq!(
        store.outbox_stats(RESULTS_QUEUE).await.unwrap().pending,
        JOBS as usize
    );
    assert_eq!(
        db.count(&sql, "SELECT count(DISTINCT job_id) FROM history")
            .await,
        i64::from(JOBS)
    );
    assert_eq!(
        db.count(&sql, "SELECT count(*) FROM history").await,
        i64::from(JOBS)
    );
    eprintln!(
        "three engines, {JOBS} jobs, {CYCLES} cycles: {:?}",
        started.elapsed()
    );
}

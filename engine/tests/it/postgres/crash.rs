//! An engine dropped without shutdown mid-trace: another engine on the same database retakes
//! its leased jobs and outbox entries when the leases lapse, every acknowledged publish
//! gets its result delivered, and no trace's result is written twice.

use std::collections::HashMap;
use std::time::Duration;

use boxtrace::testing::{container, t0, ScriptedTracer};
use boxtrace::{Engine, EngineConfig, ManualClock};

use super::{engine, eventually, export, TestDb};

fn config(max_in_flight: usize) -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(60),
        max_in_flight,
        ..EngineConfig::default()
    }
}

/// Claims and acknowledges every deliverable entry; returns the containers delivered.
async fn deliver(engine: &Engine, delivered: &mut HashMap<String, Vec<String>>) {
    loop {
        let claims = engine
            .claim_outbox(100, Duration::from_secs(60))
            .await
            .unwrap();
        if claims.is_empty() {
            return;
        }
        for c in claims {
            delivered
                .entry(c.entry.event.payload.container_number.clone())
                .or_default()
                .push(c.entry.event.id.clone());
            engine.ack_outbox(c.entry.seq, c.token).await.unwrap();
        }
    }
}

#[test]
fn an_engine_dropped_mid_trace_loses_nothing() {
    let Some(db) = TestDb::new("an_engine_dropped_mid_trace_loses_nothing") else {
        return;
    };
    let clock = ManualClock::new(t0());
    let crashed = ScriptedTracer::new("scripted");

    // The first process traces four jobs, claims their four deliveries and does not
    // acknowledge them; then five traces are in flight (paused) and a sixth job is
    // acknowledged but not claimed, the engine being at capacity. Then it dies: its runtime
    // is dropped with every task and connection in it, and no shutdown runs.
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        let engine = engine(&db, &crashed, &clock, config(5)).await;
        for n in 10..14 {
            engine.publish(export(n)).await.unwrap();
        }
        assert_eq!(engine.run_due().await.unwrap(), 4);
        let claims = engine
            .claim_outbox(10, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            claims.len(),
            4,
            "deliveries in flight when the process dies"
        );
        crashed.pause();
        for n in 0..5 {
            engine.publish(export(n)).await.unwrap();
        }
        let _running = engine.start();
        while crashed.running() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        engine.publish(export(5)).await.unwrap();
    });
    drop(first);
    assert_eq!(crashed.total_calls(), 9);

    // The second process, on the same database, at the same moment.
    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let tracer = ScriptedTracer::new("scripted");
        let engine = engine(&db, &tracer, &clock, config(1024)).await;
        for n in 0..6 {
            let job = engine.get(&export(n).key).await.unwrap();
            let job = job.expect("every acknowledged publish is there");
            assert_eq!(
                job.trace_count, 0,
                "no result of the dead process was written"
            );
        }
        let running = engine.start();
        let mut delivered = HashMap::new();

        // The unclaimed job is traced at once; the dead process's leases hold.
        eventually(
            "the unclaimed job is traced",
            Duration::from_secs(10),
            || async {
                let job = engine.get(&export(5).key).await.unwrap().unwrap();
                job.trace_count == 1 && job.lease.is_none()
            },
        )
        .await;
        deliver(&engine, &mut delivered).await;
        assert_eq!(
            delivered.keys().cloned().collect::<Vec<_>>(),
            vec![container(5).to_string()],
            "the dead process's deliveries are leased until their leases lapse"
        );
        for n in 0..5 {
            assert_eq!(tracer.calls(container(n).as_str()), 0, "leases hold");
        }

        // Both kinds of lease lapse: jobs come due by themselves, entries are claimable.
        clock.advance(chrono::Duration::seconds(60));
        eventually(
            "the dead process's jobs are retaken",
            Duration::from_secs(10),
            || async {
                let mut all = true;
                for n in 0..5 {
                    let job = engine.get(&export(n).key).await.unwrap().unwrap();
                    all &= job.trace_count == 1 && job.lease.is_none();
                }
                all
            },
        )
        .await;
        deliver(&engine, &mut delivered).await;
        running.shutdown().await;

        for n in (0..6).chain(10..14) {
            let key = export(n).key;
            let history = engine.history(&key, 10).await.unwrap();
            assert_eq!(history.len(), 1, "job {n}: one result, never two");
            let ids = &delivered[container(n).as_str()];
            assert_eq!(
                ids,
                &vec![history[0].id.clone()],
                "job {n}: its result delivered"
            );
        }
        assert_eq!(delivered.len(), 10);
        assert_eq!(
            tracer.total_calls(),
            6,
            "only the unfinished traces ran again"
        );
    });
}
